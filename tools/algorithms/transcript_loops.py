"""Repetition loops and prompt echoes in decoded text: the two ways Whisper hallucinates words.

A *loop* is one phrase of 1 to :data:`MAX_PHRASE_WORDS` words said again and again in a row
("like, thinking, like, thinking, like, thinking, ..."), more often than people repeat themselves:
:func:`min_repeats` asks for at least 8 of one filler word (six "uh" in a row do happen: the
disfluency corpus has one), 6 of any other single word (Whisper base wrote "Montreal Force 2 -1 -1
-1 -1 -1 -1" for a held-out corpus clip; people rarely say a word more than four or five times in a
row), 4 of a two-word phrase and 3 of a longer one. A transcript can also loop with
small variations, so a long stretch with very few distinct words (:data:`MIN_DIVERSITY`) counts
too. A *prompt echo* is the decoder copying its initial prompt into the output: a run of the
prompt's words, at least :data:`ECHO_SHARE` of the prompt and at least 3 words (the whole prompt
when it is shorter).

Words are compared by :func:`word_key` (lower case, letters, digits and inner apostrophes), so
punctuation and capitals do not hide a loop. Written by hand because the checks are a few lines
over word lists; faster-whisper itself only offers a gzip compression-ratio threshold, which
needs long text to say anything and does not say where the loop is.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from tools.algorithms.transcript import filler_form

MAX_PHRASE_WORDS = 8
MIN_DIVERSITY = 0.25  # distinct words / words, over a stretch of DIVERSITY_WORDS
DIVERSITY_WORDS = 24
ECHO_SHARE = 0.6
_KEY = re.compile(r"[^\w']+|_")


def word_key(text: str) -> str:
    """``"Thinking,"`` -> ``"thinking"``; empty for pure punctuation."""
    return _KEY.sub("", text.lower().replace("’", "'")).strip("'")


def keys(texts: Sequence[str]) -> list[str]:
    """The non-empty :func:`word_key` of every text (whitespace-separated words of each)."""
    return [k for text in texts for k in (word_key(w) for w in text.split()) if k]


LEXICAL_WORD_REPEATS = 6  # one word that is not a filler: this many in a row is a loop


def min_repeats(size: int, phrase: Sequence[str] = ()) -> int:
    """How many times in a row a phrase of ``size`` words (``phrase``, when known) must come to be
    a loop: a single non-filler word needs :data:`LEXICAL_WORD_REPEATS`."""
    if size == 1 and phrase and filler_form(phrase[0]) is None:
        return LEXICAL_WORD_REPEATS
    return max(3, math.ceil(8 / size))


@dataclass(frozen=True)
class Loop:
    """``phrase`` said ``repeats`` times in a row from word ``start`` (indices into the keys)."""

    start: int
    phrase: tuple[str, ...]
    repeats: int

    @property
    def stop(self) -> int:
        return self.start + len(self.phrase) * self.repeats

    def describe(self) -> str:
        return f"{' '.join(self.phrase)!r} x{self.repeats}"


def find_loop(words: Sequence[str]) -> Loop | None:
    """The loop covering most words in ``words`` (keys, see :func:`keys`), or None."""
    best: Loop | None = None
    count = len(words)
    for size in range(1, MAX_PHRASE_WORDS + 1):
        fewest = min(min_repeats(size), LEXICAL_WORD_REPEATS) if size == 1 else min_repeats(size)
        start = 0
        while start + size * fewest <= count:
            phrase = tuple(words[start:start + size])
            need = min_repeats(size, phrase)
            repeats = 1
            while tuple(words[start + repeats * size:start + (repeats + 1) * size]) == phrase:
                repeats += 1
            if repeats >= need and len(set(phrase)) == size and (
                    best is None or size * repeats > len(best.phrase) * best.repeats):
                best = Loop(start, phrase, repeats)
            start += max(repeats - 1, 1) * size if repeats >= need else 1
    if best is None:
        best = _low_diversity(words)
    return best


def _low_diversity(words: Sequence[str]) -> Loop | None:
    """A near-loop: a stretch of :data:`DIVERSITY_WORDS` with few distinct words."""
    for start in range(0, len(words) - DIVERSITY_WORDS + 1, DIVERSITY_WORDS // 2):
        stretch = words[start:start + DIVERSITY_WORDS]
        distinct = set(stretch)
        if len(distinct) / len(stretch) < MIN_DIVERSITY:
            return Loop(start, tuple(dict.fromkeys(stretch)), len(stretch) // len(distinct))
    return None


def find_echo(words: Sequence[str], prompt: str | None) -> tuple[int, int] | None:
    """``(start, stop)`` of the longest run of ``prompt``'s words copied into ``words``, when it is
    long enough to be an echo (see the module docstring), else None."""
    wanted = keys([prompt]) if prompt else []
    if not wanted or not words:
        return None
    need = min(len(wanted), max(3, math.ceil(ECHO_SHARE * len(wanted))))
    best, where = 0, None
    # longest common substring by dynamic programming: prompts and clips are short
    previous = [0] * (len(wanted) + 1)
    for i, word in enumerate(words):
        current = [0] * (len(wanted) + 1)
        for j, target in enumerate(wanted):
            if word == target:
                current[j + 1] = previous[j] + 1
                if current[j + 1] > best:
                    best, where = current[j + 1], (i + 1 - current[j + 1], i + 1)
        previous = current
    return where if best >= need else None


def problem(texts: Sequence[str], prompt: str | None = None) -> str | None:
    """What is wrong with a decoded clip (its words' texts), in a few words, or None."""
    words = keys(texts)
    loop = find_loop(words)
    if loop is not None:
        return f"repetition loop {loop.describe()}"
    echo = find_echo(words, prompt)
    if echo is not None:
        return f"prompt echo {' '.join(words[echo[0]:echo[1]])!r}"
    return None


def collapse(texts: Sequence[str]) -> tuple[list[int], int]:
    """Indices of ``texts`` (one word each) to keep so that no loop is left: each loop keeps its
    first saying of the phrase. Returns ``(kept indices, words dropped)``."""
    index = [i for i, text in enumerate(texts) if word_key(text)]
    keep = set(range(len(texts)))
    while True:
        words = [word_key(texts[i]) for i in index]
        loop = find_loop(words)
        if loop is None:
            break
        first = loop.start + len(loop.phrase)
        dropped = index[first:loop.stop] if loop.repeats > 1 else index[loop.start + 1:loop.stop]
        if not dropped:
            break
        keep.difference_update(dropped)
        index = [i for i in index if i in keep]
    return sorted(keep), len(texts) - len(keep)
