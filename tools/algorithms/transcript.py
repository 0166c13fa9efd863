"""Transcripts with word timings: the types every speech tool shares, and the Transcriber protocol.

Small frozen dataclasses in the manner of faster-whisper's ``Word``/``Segment``. Times are seconds
from the start of the audio that was transcribed. ``backend`` says which engine produced the words
(e.g. ``"faster-whisper:small"``, ``"pocketsphinx"``) so output can say plainly when a fallback ran.

:func:`normalise_timeline` is the one place where an engine's raw word times are made safe: real
timelines have words at 0.0 s, negative or non-finite times, reversed spans (end before start),
words overlapping or going back in time, and words past the end of the audio. Every engine adapter
passes its segments through it, so every consumer may rely on ``0 <= start_s <= end_s <=
duration_s`` with starts in order and no two words of a transcript overlapping.

Fillers: :func:`filler_form` names the hesitation a token is ("Umm," -> "um", "Hmmm." -> "hmm",
"Mm" -> "mm", "Mhm" -> "mhm"); :attr:`Word.is_filler` is that test, for the filler tools.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

FILLERS_EN = frozenset({"um", "uh", "er", "erm", "ah", "eh", "hmm", "hm", "mm", "mhm", "uhm", "umm",
                        "mmm", "hmmm", "uhh", "ahh", "ehm"})
CLOSED_MOUTH_FILLERS = frozenset({"hmm", "hm", "mm", "mhm", "mmm", "hmmm", "um", "umm", "uhm"})
_NOT_LETTERS = re.compile(r"[^a-z]+")
_RUN = re.compile(r"(.)\1+")


def filler_form(text: str) -> str | None:
    """The filler ``text`` is, in :data:`FILLERS_EN` spelling, or None for a lexical word.

    Case, punctuation and stretching are ignored: "Umm," -> "umm", "Hmmmm..." -> "hmm",
    "Uhhhh" -> "uhh", "MM" -> "mm". Backchannels with a hyphen ("mm-hmm", "uh-huh") are words.
    """
    lowered = text.lower().strip()
    if "-" in lowered.strip("-"):
        return None
    word = _NOT_LETTERS.sub("", lowered)
    if not word:
        return None
    for form in (word, _RUN.sub(r"\1\1", word), _RUN.sub(r"\1", word)):
        if form in FILLERS_EN:
            return form
    return None


@dataclass(frozen=True)
class Word:
    text: str
    start_s: float
    end_s: float
    probability: float = 1.0

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s

    @property
    def is_filler(self) -> bool:
        """A hesitation ("um", "uh", "hmm", "mm", ...; see :func:`filler_form`)."""
        return filler_form(self.text) is not None


@dataclass(frozen=True)
class Segment:
    text: str
    start_s: float
    end_s: float
    words: tuple[Word, ...] = ()


@dataclass(frozen=True)
class Transcript:
    segments: tuple[Segment, ...]
    language: str = "en"
    backend: str = ""
    duration_s: float = 0.0
    notes: tuple[str, ...] = field(default=())

    @property
    def words(self) -> tuple[Word, ...]:
        return tuple(w for s in self.segments for w in s.words)

    @property
    def fillers(self) -> tuple[Word, ...]:
        return tuple(w for w in self.words if w.is_filler)

    @property
    def text(self) -> str:
        return " ".join(s.text.strip() for s in self.segments if s.text.strip())

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Transcript:
        segments = tuple(
            Segment(text=s["text"], start_s=s["start_s"], end_s=s["end_s"],
                    words=tuple(Word(**w) for w in s.get("words", ())))
            for s in data.get("segments", ())
        )
        return cls(segments=segments, language=data.get("language", "en"),
                   backend=data.get("backend", ""), duration_s=data.get("duration_s", 0.0),
                   notes=tuple(data.get("notes", ())))


class Transcriber(Protocol):
    """Anything that turns audio into a word-timed transcript (faster-whisper, pocketsphinx).

    ``audio`` is anything with ``sample_rate``, ``num_samples``, ``duration_s`` and
    ``read(start, stop)`` (an :class:`~tools.core.audio.Audio` or a session's track view)."""

    name: str

    def transcribe(self, audio, *, language: str | None = None,
                   progress=None) -> Transcript: ...


# ----------------------------------------------------------------------------- timelines


def _finite(value: float, default: float) -> float:
    value = float(value)
    return value if math.isfinite(value) else default


def _clamp(value: float, duration_s: float) -> float:
    return round(min(max(value, 0.0), duration_s), 3)


def normalise_timeline(segments: Iterable[Segment], duration_s: float) -> tuple[Segment, ...]:
    """``segments`` with safe times, in order (see the module docstring):

    - non-finite times become the previous word's end (or the segment's start);
    - a reversed span (end before start) is swapped: both ends came from the model;
    - times are clamped to ``[0, duration_s]`` (a word past the end becomes zero-length there)
      and rounded to the millisecond;
    - segments are sorted by start; a word starting before the previous word (Whisper's times
      jitter at clip edges) starts where that one starts, and where two words overlap the earlier
      one ends where the later one starts;
    - a segment spans its words; one with neither text nor words is dropped.
    Probabilities are clamped to ``[0, 1]``.
    """
    duration_s = max(float(duration_s), 0.0)
    staged: list[tuple[Segment, list[list]]] = []
    for segment in segments:
        seg_start = _clamp(_finite(segment.start_s, 0.0), duration_s)
        seg_end = _clamp(_finite(segment.end_s, seg_start), duration_s)
        seg_start, seg_end = min(seg_start, seg_end), max(seg_start, seg_end)
        at, words = seg_start, []
        for word in segment.words:
            text = word.text.strip()
            if not text:
                continue
            start = _finite(word.start_s, at)
            end = _finite(word.end_s, start)
            start, end = _clamp(min(start, end), duration_s), _clamp(max(start, end), duration_s)
            words.append([text, start, end, min(max(_finite(word.probability, 0.0), 0.0), 1.0)])
            at = end
        if words or segment.text.strip():
            staged.append((Segment(segment.text.strip(), seg_start, seg_end), words))
    staged.sort(key=lambda item: item[1][0][1] if item[1] else item[0].start_s)
    out: list[Segment] = []
    previous: list | None = None
    last_start = 0.0
    for segment, words in staged:
        for word in words:
            word[1] = max(word[1], last_start)
            word[2] = max(word[2], word[1])
            if previous is not None and previous[2] > word[1]:
                previous[2] = word[1]
            previous, last_start = word, word[1]
        start = words[0][1] if words else max(segment.start_s, last_start)
        out.append((segment.text, start, segment.end_s, words))
    result = []
    for text, start, seg_end, words in out:
        frozen = tuple(Word(*w) for w in words)
        end = frozen[-1].end_s if frozen else seg_end
        result.append(Segment(text, start, max(end, start), frozen))
    return tuple(result)
