"""Transcripts with word timings: the types every speech tool shares, and the Transcriber protocol.

Small frozen dataclasses in the manner of faster-whisper's ``Word``/``Segment``. Times are seconds
from the start of the audio that was transcribed. ``backend`` says which engine produced the words
(e.g. ``"faster-whisper:small"``, ``"pocketsphinx"``) so output can say plainly when a fallback ran.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from tools.core.audio import Audio

FILLERS_EN = frozenset({"um", "uh", "er", "erm", "ah", "eh", "hmm", "hm", "mm", "mhm", "uhm", "umm"})


@dataclass(frozen=True)
class Word:
    text: str
    start_s: float
    end_s: float
    probability: float = 1.0

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


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
    """Anything that turns audio into a word-timed transcript (faster-whisper, pocketsphinx)."""

    name: str

    def transcribe(self, audio: Audio, *, language: str | None = None,
                   progress=None) -> Transcript: ...
