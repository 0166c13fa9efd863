"""Word and stem targets of editing requests: "the second 'um'", "every uh near 1:23", "the
vocals" (what :mod:`agent.phrases` tokenized, read for the word and stem tools)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from agent.phrases import Clause, T, normalize, tokenize

ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7,
            "eighth": 8, "ninth": 9, "tenth": 10, "last": -1, "final": -1}
FILLERS = r"um+|uh+|umm+|uhm+|erm?|ah+|hmm+|mm+"
STEMS = {
    "vocals": r"vocals?|singing|singer|lead vocals?|acapella|a cappella",
    "drums": r"drums?|percussion|beat",
    "bass": r"bass(?: ?line| guitar)?",
    "guitar": r"guitars?",
    "piano": r"piano|keys|keyboards?",
    "accompaniment": r"instrumental|accompaniment|backing(?: track)?|karaoke|background music",
}
_STEM = re.compile(r"\b(?:the |my |his |her |their )?(" + "|".join(STEMS.values()) + r")\b")


@dataclass(frozen=True)
class Target:
    """What a request points at inside the audio, for the word and stem tools.

    ``text``: a word or phrase to find ("um"); ``occurrence``: 1-based, -1 for the last, None when
    not said; ``every``: all occurrences; ``near_s``: a time it is near (seconds, as written);
    ``stem``: a source name (vocals, drums, bass, guitar, piano, accompaniment)."""

    text: str | None = None
    occurrence: int | None = None
    every: bool = False
    near_s: float | None = None
    stem: str | None = None


def parse_target(clause: Clause | str) -> Target | None:
    """The word or stem target of ``clause`` ("the second 'um'", "every uh near 1:23", "the
    vocals"), or None when it names neither."""
    if isinstance(clause, str):
        phrase = tokenize(normalize(clause))
        clause = Clause(phrase.text, phrase)
    word_pattern = rf"<q(\d+)>|\bthe words? (\w+)|\b((?:{FILLERS})s?)\b"
    word = clause.search(word_pattern)
    stem = _STEM.search(clause.text)
    if not word and not stem:
        return None
    text = occurrence = None
    every = False
    if word:
        if word.group(1) is not None:
            text = clause.take(word.group(1)).text
        else:
            text = word.group(2) or re.sub(r"(?<=[a-z])s$", "", word.group(3))
        before = clause.text[:word.start()]
        ordinal = re.search(r"\b(" + "|".join(ORDINALS) + r"|\d+(?:st|nd|rd|th))\s+(?:one\s+)?$", before)
        if ordinal:
            name = ordinal.group(1)
            occurrence = ORDINALS.get(name) or int(re.sub(r"\D", "", name))
        every = bool(re.search(r"\b(?:every|all|each|any)\b(?: (?:the|of the))?\s*$", before)
                     or (word.group(3) and word.group(3).endswith("s")))
    near = clause.search(rf"\b(?:near|around|about|at|close to)\s+{T}")
    near_s = clause.take(near.group(1)).seconds() if near else None
    stem_name = next((name for name, p in STEMS.items()
                      if stem and re.fullmatch(p, stem.group(1))), None)
    return Target(text=text, occurrence=occurrence, every=every, near_s=near_s, stem=stem_name)
