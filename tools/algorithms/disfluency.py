"""Find disfluencies and turn them into a cut list: fillers, repetitions, false starts, long pauses.

Two independent sources, merged:

- **lexical**, from a word-timed :class:`~tools.algorithms.transcript.Transcript`: filler words (per
  language), repeated words and phrases ("I I think", "the the"), cut-off words ("mon-") and false
  starts ("mont montreal"), and at the aggressive level discourse fillers ("you know", "I mean",
  "like", "sort of", "kind of") where the context says they are fillers (not "I like it").
  A transcript from a weak engine (pocketsphinx free decoding) counts for less: its confidence is
  scaled by the backend's trust.
- **acoustic**, from the signal (:mod:`tools.algorithms.acoustic_fillers`): steady voiced "uh"/"um" sounds,
  also where a transcript has no word (Whisper often leaves fillers out of its timeline), and
  pauses (:func:`tools.algorithms.speech_frames.silences`) longer than the level allows.

Acoustic fillers and pauses count only where Silero VAD hears speech (held notes of music are
steady and voiced too). A lexical and an acoustic filler that overlap become one detection with
``source="both"``; with a trusted transcript no detection reaches into a word it heard.
:func:`tools.remove_disfluencies.plan_cuts` then makes the cuts: each removal swallows the
silence around it and leaves a natural gap (the silence that was there, at most ``keep_pause_s``),
partly the recording's own edges, the rest room tone; pauses are shortened the same way.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from dataclasses import dataclass, replace

from tools.algorithms.acoustic_fillers import detect_acoustic_fillers
from tools.algorithms.speech_frames import FrameFeatures, frame_features, silences, sound_extent
from tools.algorithms.transcript import FILLERS_EN, Transcript, Word
from tools.core.audio import Audio
from tools.core.errors import ToolArgumentError

LEVELS = ("light", "normal", "aggressive")
KINDS = ("filler", "repetition", "false_start", "pause", "phrase")


@dataclass(frozen=True)
class LevelRules:
    kinds: frozenset[str]
    min_confidence: float  # a detection at or above this is cut; weaker ones are listed, disabled
    max_pause_s: float  # pauses longer than this are shortened
    keep_pause_s: float  # ... to this


RULES = {
    "light": LevelRules(frozenset({"filler", "repetition", "pause"}), 0.8, 1.5, 0.8),
    "normal": LevelRules(frozenset({"filler", "repetition", "false_start", "pause"}), 0.6, 1.0, 0.6),
    "aggressive": LevelRules(frozenset(KINDS), 0.45, 0.7, 0.4),
}
LISTED_CONFIDENCE = 0.3  # weaker candidates are not even listed
MIN_SPEECH_PROBABILITY = 0.2  # Silero VAD's mean over an acoustic filler, or around a pause
EDGE_KEEP_S = 0.08  # of a removed silence, this much of its own audio stays at each side

FILLER_WORDS = {
    "en": FILLERS_EN,
    "de": frozenset({"äh", "ähm", "öh", "öhm", "hm", "hmm", "äm", "ähh"}),
    "fr": frozenset({"euh", "heu", "euhm", "hum", "hmm", "bah"}),
    "es": frozenset({"eh", "em", "ehm", "mm", "mmm", "hmm"}),
    "it": frozenset({"ehm", "eh", "mm", "hmm", "uhm"}),
    "nl": frozenset({"eh", "ehm", "uh", "uhm", "hm", "hmm"}),
    "pt": frozenset({"hum", "hã", "ahn", "éh", "hmm"}),
}
# repeated on purpose ("that that", "very very", "no no", "bye bye")
INTENDED_REPEATS = frozenset({"that", "had", "very", "really", "so", "no", "yes", "yeah", "bye",
                              "ha", "okay", "ok", "well", "many", "much", "more", "far", "long",
                              "again", "over", "round", "knock", "tick", "blah", "go"})
# words after which "like" is a verb or a preposition, not a filler
_LIKE_WORDS = frozenset({"i", "you", "we", "they", "would", "'d", "to", "don't", "didn't", "doesn't",
                         "do", "does", "did", "feel", "feels", "felt", "look", "looks", "looked",
                         "seem", "seems", "sound", "sounds", "something", "anything", "nothing",
                         "more", "less", "just", "exactly", "much", "not", "really", "also",
                         "people", "kids", "dogs", "things", "who", "would've", "i'd", "you'd",
                         "we'd", "they'd", "she", "he", "it", "what", "whatever", "looking",
                         "is", "was", "were", "are", "am", "be", "been", "it's", "that's"})
_OBJECT_WORDS = frozenset({"what", "that", "how", "why", "where", "who", "when", "the", "a", "an",
                           "him", "her", "it", "them", "me", "us", "this", "those", "these", "if"})
_DETERMINERS = frozenset({"a", "the", "this", "that", "what", "which", "some", "any", "every",
                          "one", "no", "each", "all", "these", "those", "same", "different"})
_PUNCT = re.compile(r"[^\w'\-]+")
# held and closed-mouth hesitations as ASR spells them: "ummm", "uhhh", "hmmm", "mmm", "erm"
_HELD_FILLER = re.compile(r"(?:u+[hm]+|u+h+m+|h+m+|m+h*m+|e+r+m*|a+h+|e+h+m*|m+-?h+m+)")
STEADY_SHARE = 0.3  # a lexical filler whose sound holds less than this is doubted


@dataclass(frozen=True)
class Detection:
    """One disfluency: ``kind`` (one of :data:`KINDS`), span in seconds, 0..1 confidence,
    ``source`` ("lexical", "acoustic" or "both") and the words or a description."""

    kind: str
    start_s: float
    end_s: float
    confidence: float
    source: str
    text: str = ""


def check_level(level: str) -> LevelRules:
    if level not in RULES:
        raise ToolArgumentError(f"level={level!r}; expected one of: {', '.join(LEVELS)}")
    return RULES[level]


def backend_trust(backend: str) -> float:
    """How far lexical evidence from ``backend`` is trusted: Whisper and forced alignment to a known
    text 1, pocketsphinx free decoding 0.5."""
    name = backend.lower()
    if "whisper" in name or "align" in name:
        return 1.0
    if "sphinx" in name:
        return 0.5
    return 0.8


# ----------------------------------------------------------------------------- lexical


def _norm(word: Word) -> str:
    text = re.sub(r"\(\d+\)$", "", word.text.strip().lower())  # pocketsphinx "forest(2)"
    return _PUNCT.sub("", text).strip("-'")


def _words(transcript: Transcript) -> list[Word]:
    """Real words only: no ``<s>``, ``<sil>``, ``[NOISE]`` tokens, no empty ones."""
    return [w for w in transcript.words
            if _norm(w) and not re.fullmatch(r"\s*[<\[].*[>\]]\s*", w.text) and w.end_s > w.start_s]


def is_filler(name: str, fillers: frozenset[str] = FILLERS_EN) -> bool:
    """``name`` (a normalised word) is a hesitation: one of ``fillers`` or a held spelling of one
    ("ummm", "uhhh", "hmmm", "mmm")."""
    return name in fillers or bool(_HELD_FILLER.fullmatch(name))


def _loop_artefacts(words: tuple[Word, ...] | list[Word]) -> set[int]:
    """``id()`` of the filler tokens a decoding loop produced: a filler sharing its start or end
    with a zero-length copy of itself (Whisper's loops emit runs of "uh, uh, uh" at one time)."""
    zero = [(w.start_s, _norm(w)) for w in words if w.end_s - w.start_s <= 1e-3]
    out = set()
    for w in words:
        name = _norm(w)
        if is_filler(name) and any(n == name and min(abs(t - w.start_s), abs(t - w.end_s)) < 0.01
                                   for t, n in zero):
            out.add(id(w))
    return out


def _comma_after(word: Word) -> bool:
    return bool(re.search(r"[,;:.!?…]\s*$", word.text))


def _pause_between(a: Word, b: Word, at_least_s: float = 0.2) -> bool:
    return b.start_s - a.end_s >= at_least_s


def lexical_detections(transcript: Transcript, *, aggressive: bool = False) -> list[Detection]:
    """Fillers, repetitions, false starts and (``aggressive``) filler phrases in the transcript."""
    looped = _loop_artefacts(transcript.words)
    words = [w for w in _words(transcript) if id(w) not in looped]
    fillers = FILLER_WORDS.get((transcript.language or "en")[:2], FILLER_WORDS["en"])
    trust = backend_trust(transcript.backend)
    names = [_norm(w) for w in words]
    out: list[Detection] = []

    def add(kind: str, first: int, last: int, confidence: float) -> None:
        text = " ".join(w.text.strip() for w in words[first:last + 1])
        out.append(Detection(kind, words[first].start_s, words[last].end_s,
                             round(confidence * trust * min(1.0, 0.5 + words[first].probability), 3),
                             "lexical", text))

    taken: set[int] = set()
    for i, name in enumerate(names):
        if is_filler(name, fillers):
            add("filler", i, i, 0.95)
            taken.add(i)
        elif words[i].text.strip().endswith(("-", "—", "–")) and i + 1 < len(words):
            add("false_start", i, i, 0.85)  # a cut-off word, as Whisper writes it
            taken.add(i)
        elif (i + 1 < len(names) and len(name) >= 2 and names[i + 1].startswith(name)
              and len(names[i + 1]) >= len(name) + 2 and words[i].probability < 0.6):
            add("false_start", i, i, 0.7)  # "mont montreal": an unsure fragment of the next word
            taken.add(i)
    for size in (3, 2, 1):  # "I think I think", "I I", "the the": cut all but the last
        for i in range(len(names) - 2 * size + 1):
            span = range(i, i + size)
            if any(j in taken for j in span) or names[i:i + size] != names[i + size:i + 2 * size]:
                continue
            if size == 1 and names[i] in INTENDED_REPEATS:
                continue
            if words[i + size].start_s - words[i + size - 1].end_s > 1.0:
                continue
            add("repetition", i, i + size - 1, 0.9 if size > 1 else 0.85)
            taken.update(span)
    if aggressive:
        out += [d for d in _phrase_fillers(words, names, taken, trust)]
    return sorted(out, key=lambda d: d.start_s)


def _phrase_fillers(words: list[Word], names: list[str], taken: set[int],
                    trust: float) -> list[Detection]:
    """"you know", "I mean", "like", "sort of", "kind of" where they are fillers by context."""
    out = []

    def found(first: int, last: int, confidence: float) -> None:
        text = " ".join(w.text.strip() for w in words[first:last + 1])
        out.append(Detection("phrase", words[first].start_s, words[last].end_s,
                             round(confidence * trust, 3), "lexical", text))

    for i, name in enumerate(names):
        if i in taken:
            continue
        prev = names[i - 1] if i > 0 else ""
        nxt = names[i + 1] if i + 1 < len(names) else ""
        set_off = i == 0 or _comma_after(words[i - 1]) or _pause_between(words[i - 1], words[i])

        def closes(last: int) -> bool:  # a comma or a pause after word ``last``, or the end
            return (_comma_after(words[last]) or last + 1 >= len(words)
                    or _pause_between(words[last], words[last + 1]))

        if name == "like":
            if prev not in _LIKE_WORDS and (set_off or closes(i) or nxt in FILLERS_EN or nxt == "like"):
                found(i, i, 0.7)
        elif (name, nxt) in {("you", "know"), ("i", "mean")}:
            after = names[i + 2] if i + 2 < len(names) else ""
            if closes(i + 1) and after not in _OBJECT_WORDS:
                found(i, i + 1, 0.75 if set_off else 0.6)
        elif name in ("sort", "kind") and nxt == "of" and prev not in _DETERMINERS:
            found(i, i + 1, 0.55)
    return out


# ----------------------------------------------------------------------------- acoustic


def acoustic_detections(audio: Audio, features: FrameFeatures, transcript: Transcript | None,
                        *, progress=None) -> list[Detection]:
    """Acoustic fillers; with a trusted transcript, one inside a word it heard counts for less and
    one in a gap of its word timeline (where Whisper drops fillers) for more."""
    found = detect_acoustic_fillers(audio, features=features, min_confidence=LISTED_CONFIDENCE,
                                    progress=progress)
    words = sorted((w for w in _words(transcript) if not is_filler(_norm(w))),
                   key=lambda w: w.start_s) if transcript is not None else []
    starts = [w.start_s for w in words]
    longest = max((w.duration_s for w in words), default=0.0)
    trusted = transcript is not None and backend_trust(transcript.backend) >= 1.0
    out = []
    for f in found:
        confidence = f.confidence
        if trusted:
            near = words[bisect_left(starts, f.start_s - longest):bisect_left(starts, f.end_s)]
            inside = max((min(w.end_s, f.end_s) - max(w.start_s, f.start_s) for w in near),
                         default=0.0)
            share = inside / max(f.end_s - f.start_s, 1e-9)
            confidence += 0.1 if share < 0.2 else -0.25 * share
            start, end = _clip(f.start_s, f.end_s, (f.start_s + f.end_s) / 2, near)
            if end - start < 0.05:
                continue  # the words fill it: nothing left to cut
            f = replace(f, start_s=start, end_s=end)
        out.append(Detection("filler", f.start_s, f.end_s, round(min(max(confidence, 0.0), 1.0), 3),
                             "acoustic", f.label))
    return out


def _clip(start_s: float, end_s: float, anchor_s: float, words: list[Word]) -> tuple[float, float]:
    """``start_s..end_s`` kept off the transcript's ``words``: a word that overlaps it is left
    whole, on whichever side of ``anchor_s`` (the filler's own middle) it lies."""
    for w in words:
        if w.end_s <= start_s or w.start_s >= end_s:
            continue
        if (w.start_s + w.end_s) / 2 < anchor_s:
            start_s = max(start_s, w.end_s)
        else:
            end_s = min(end_s, w.start_s)
    return start_s, max(end_s, start_s)


def _merge_fillers(lexical: list[Detection], acoustic: list[Detection],
                   words: list[Word] | None = None) -> list[Detection]:
    """A lexical filler and an acoustic one that overlap by a third of either become one, "both",
    spanning both; with a trusted transcript's other ``words`` it never reaches into them."""
    out, used = [], set()
    for lex in lexical:
        match = None
        if lex.kind == "filler":
            for k, ac in enumerate(acoustic):
                overlap = min(lex.end_s, ac.end_s) - max(lex.start_s, ac.start_s)
                shorter = min(lex.end_s - lex.start_s, ac.end_s - ac.start_s)
                if k not in used and overlap > 0.33 * shorter:
                    match = k
                    break
        if match is None:
            out.append(lex)
            continue
        used.add(match)
        ac = acoustic[match]
        both = 1.0 - (1.0 - lex.confidence) * (1.0 - ac.confidence)
        start, end = min(lex.start_s, ac.start_s), max(lex.end_s, ac.end_s)
        if words:
            start, end = _clip(start, end, (lex.start_s + lex.end_s) / 2, words)
        out.append(Detection("filler", start, end, round(both, 3), "both", lex.text))
    out += [ac for k, ac in enumerate(acoustic) if k not in used]
    return sorted(out, key=lambda d: d.start_s)


def fit_fillers(lexical: list[Detection], features: FrameFeatures,
                words: list[Word]) -> list[Detection]:
    """Lexical fillers fitted to the whole held sound they lie on (ASR filler times are short;
    :func:`~tools.algorithms.speech_frames.sound_extent`), never into the other ``words``; one
    over no held sound (a mislabelled word, or silence) keeps its span and counts for half."""
    starts = [w.start_s for w in words]
    out = []
    for d in lexical:
        if d.kind != "filler":
            out.append(d)
            continue
        k = bisect_left(starts, d.start_s)
        lo = max((w.end_s for w in words[:k] if w.end_s <= d.start_s + 0.05), default=0.0)
        hi = min((w.start_s for w in words[k:] if w.start_s >= d.end_s - 0.05), default=float("inf"))
        found = sound_extent(features, d.start_s, d.end_s, lo_s=lo, hi_s=hi)
        if found is None or found[2] < STEADY_SHARE:
            out.append(replace(d, confidence=round(d.confidence * 0.5, 3)))
            continue
        start, end, _ = found
        quiet = silences(features)  # the word's own silent edges go too
        if max(d.start_s, lo) < start and _silent(quiet, max(d.start_s, lo), start):
            start = max(d.start_s, lo)
        if min(d.end_s, hi) > end and _silent(quiet, end, min(d.end_s, hi)):
            end = min(d.end_s, hi)
        out.append(replace(d, start_s=round(start, 3), end_s=round(end, 3)))
    return out


def _silent(quiet: list[tuple[float, float]], start_s: float, end_s: float) -> bool:
    inside = sum(max(0.0, min(b, end_s) - max(a, start_s)) for a, b in quiet)
    return end_s - start_s <= 0.02 or inside >= end_s - start_s - 0.03


# ----------------------------------------------------------------------------- all together


def pause_detections(quiet: list[tuple[float, float]], *, max_pause_s: float,
                     duration_s: float) -> list[Detection]:
    """Silences longer than ``max_pause_s`` between sounds (not the file's leading or trailing
    silence, which is trimming's business)."""
    return [Detection("pause", round(a, 3), round(b, 3), 1.0, "acoustic", f"{b - a:.1f} s pause")
            for a, b in quiet if b - a > max_pause_s and a > 0.02 and b < duration_s - 0.02]


def _speech_probability(audio: Audio):
    """``(start_s, end_s) -> mean speech probability`` from Silero VAD (:mod:`tools.algorithms.vad`), so that
    sustained notes of music are not taken for "uh" nor musical rests for pauses; without the
    VAD, everything counts as speech."""
    try:
        from tools.algorithms.vad import speech_activity

        activity = speech_activity(audio, method="silero")
    except ImportError:
        return lambda start_s, end_s: 1.0
    return activity.mean_probability


def detect_disfluencies(audio: Audio, transcript: Transcript | None = None, *,
                        level: str = "normal", kinds: list[str] | None = None,
                        max_pause_s: float | None = None, min_confidence: float | None = None,
                        features: FrameFeatures | None = None, progress=None) -> list[Detection]:
    """Disfluencies in ``audio`` (with its ``transcript`` if there is one), sorted by time.

    ``level`` picks the kinds and the confidence needed (:data:`RULES`); ``kinds`` narrows the
    kinds; ``min_confidence`` overrides the level's threshold (use :data:`LISTED_CONFIDENCE` to
    list the weaker candidates too).
    """
    rules = check_level(level)
    wanted = set(rules.kinds if kinds is None else kinds)
    unknown = wanted - set(KINDS)
    if unknown:
        raise ToolArgumentError(f"kinds={sorted(unknown)}; expected any of: {', '.join(KINDS)}")
    threshold = rules.min_confidence if min_confidence is None else min_confidence
    features = features if features is not None else frame_features(audio)
    lexical = lexical_detections(transcript, aggressive="phrase" in wanted) if transcript else []
    if lexical:
        others = sorted((w for w in _words(transcript) if not is_filler(_norm(w))),
                        key=lambda w: w.start_s)
        lexical = fit_fillers(lexical, features, others)
    acoustic = (acoustic_detections(audio, features, transcript, progress=progress)
                if "filler" in wanted else [])
    speech = _speech_probability(audio)
    acoustic = [d for d in acoustic if speech(d.start_s, d.end_s) >= MIN_SPEECH_PROBABILITY]
    trusted = transcript is not None and backend_trust(transcript.backend) >= 1.0
    content = [w for w in _words(transcript) if not is_filler(_norm(w))] if trusted else None
    found = _merge_fillers(lexical, acoustic, content)
    if "pause" in wanted:
        longest = rules.max_pause_s if max_pause_s is None else max_pause_s
        found += [p for p in pause_detections(silences(features), duration_s=audio.duration_s,
                                              max_pause_s=longest)
                  if min(speech(p.start_s - 1.0, p.start_s),
                         speech(p.end_s, p.end_s + 1.0)) >= MIN_SPEECH_PROBABILITY]
    return sorted((d for d in found if d.kind in wanted and d.confidence >= threshold),
                  key=lambda d: (d.start_s, d.end_s))
