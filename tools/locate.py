"""locate: find events in a track and return their time spans, for other tools to act on.

Transcript kinds (the words come from :func:`tools.transcribe.get_transcript`, cached):

- ``word`` / ``phrase``: the text, matched loosely (case and punctuation ignored; exact matches
  first, else close spellings, "colour" ~ "color"), in time order or nearest ``near_s`` first;
  ``occurrence`` picks one (1 = first, 2 = second, -1 = last).
- ``fillers``: um, uh, er, hmm, ... (:data:`tools.algorithms.transcript.FILLERS_EN` and their stretched forms).
- ``repeats``: a word or a run of up to 3 words said twice in a row ("the the", "I think I think");
  the span covers the first copy up to the start of the second, i.e. what to cut to keep one.

Signal kinds (:mod:`tools.algorithms.detect`, no transcript needed): ``pauses`` (between speech, at least
``min_pause_s``), ``silence``, ``speech``, ``non_speech``, ``breaths``, ``clicks``, ``clipping``.
"""

from __future__ import annotations

import re
from difflib import SequenceMatcher
from typing import Literal

from pydantic import Field, model_validator

from tools.algorithms import detect
from tools.algorithms.detect import Span, describe_spans
from tools.algorithms.transcript import FILLERS_EN, Transcript, Word
from tools.algorithms.vad import speech_activity
from tools.core.audio import Audio
from tools.core.errors import ToolArgumentError
from tools.core.session import Session
from tools.core.tool import Tool, ToolArgs, ToolResult, track_field
from tools.core.versions import TrackView

WORD_KINDS = ("word", "phrase", "fillers", "repeats")
SIGNAL_KINDS = ("pauses", "silence", "speech", "non_speech", "breaths", "clicks", "clipping")
FUZZY_MIN_RATIO = 0.75
MAX_REPEAT_WORDS = 3
_STRETCHED_FILLER = re.compile(r"^(u+[hm]+|e+r+m*|a+h+|h+m+|m+h*m+|u+h+m+)$")

Kind = Literal["word", "phrase", "fillers", "repeats", "pauses", "silence", "speech", "non_speech",
               "breaths", "clicks", "clipping"]


class Args(ToolArgs):
    what: Kind = Field(description="What to find: 'word' or 'phrase' (needs text), 'fillers' (um, uh), 'repeats' (the the), 'pauses' (gaps between speech), 'silence', 'speech', 'non_speech', 'breaths', 'clicks', 'clipping'.")
    text: str | None = Field(default=None, max_length=200, description="The word or phrase to find (what=word or phrase), matched loosely; 1 to 200 characters.")
    occurrence: int | None = Field(default=None, ge=-1, le=10_000, description="Which match to return: 1 = first, 2 = second, ..., -1 = last (counting in time order, or nearest first when near_s is given); null for all matches.")
    near_s: float | None = Field(default=None, ge=0, description="Prefer matches nearest this time, in seconds from the start (>= 0; 'near 1:23' is 83); null for no preference.")
    min_pause_s: float = Field(default=0.5, ge=0.05, le=60, description="Shortest pause, silence or non-speech stretch to report, in seconds (0.05 to 60).")
    track: str | None = track_field()

    @model_validator(mode="after")
    def _needs_text(self) -> Args:
        if self.what in ("word", "phrase") and not (self.text or "").strip():
            raise ValueError(f"what={self.what!r} needs text: the word or phrase to find")
        return self


def normalize(text: str) -> str:
    """Lower case, letters, digits and inner apostrophes only: ``"Budget,"`` -> ``"budget"``."""
    return re.sub(r"[^\w']+|_", "", text.lower().replace("’", "'")).strip("'")


def is_filler(text: str) -> bool:
    word = normalize(text)
    return word in FILLERS_EN or bool(_STRETCHED_FILLER.match(word))


def _span(words: tuple[Word, ...] | list[Word], kind: str, confidence: float) -> Span:
    return Span(words[0].start_s, words[-1].end_s, kind, " ".join(w.text for w in words),
                confidence)


def find_phrase(words: tuple[Word, ...], text: str) -> list[Span]:
    """Every place ``text`` is said: exact (normalised) matches if any, else close ones."""
    target = [normalize(t) for t in text.split() if normalize(t)]
    if not target:
        raise ToolArgumentError(f"text={text!r} has no words to look for")
    keys = [normalize(w.text) for w in words]
    size = len(target)
    exact, close = [], []
    for i in range(len(words) - size + 1):
        window = keys[i:i + size]
        probability = sum(w.probability for w in words[i:i + size]) / size
        if window == target:
            exact.append(_span(words[i:i + size], "word" if size == 1 else "phrase", probability))
            continue
        ratio = SequenceMatcher(None, " ".join(window), " ".join(target)).ratio()
        if ratio >= FUZZY_MIN_RATIO:
            close.append(_span(words[i:i + size], "word" if size == 1 else "phrase",
                               probability * ratio))
    return exact or close


def find_fillers(words: tuple[Word, ...]) -> list[Span]:
    return [_span([w], "filler", w.probability) for w in words if is_filler(w.text)]


def find_repeats(words: tuple[Word, ...]) -> list[Span]:
    """Runs of 1 to 3 words said twice in a row; the span is the first copy up to the second."""
    keys = [normalize(w.text) for w in words]
    spans, i = [], 0
    while i < len(words):
        for size in range(MAX_REPEAT_WORDS, 0, -1):
            first, second = keys[i:i + size], keys[i + size:i + 2 * size]
            if len(second) == size and first == second and all(first) \
                    and not all(is_filler(k) for k in first):
                copy = words[i:i + size]
                spans.append(Span(copy[0].start_s, words[i + size].start_s, "repeat",
                                  " ".join(w.text for w in words[i:i + 2 * size]),
                                  min(w.probability for w in words[i:i + 2 * size])))
                i += size
                break
        else:
            i += 1
    return spans


def choose(spans: list[Span], *, occurrence: int | None, near_s: float | None) -> list[Span]:
    """Order by time (or by distance to ``near_s``) and keep the ``occurrence``-th (1-based, -1
    for the last) when asked."""
    ordered = sorted(spans, key=lambda s: s.start_s)
    if near_s is not None:
        ordered.sort(key=lambda s: min(abs(s.start_s - near_s), abs(s.end_s - near_s))
                     if not s.start_s <= near_s <= s.end_s else 0.0)
    if occurrence is None:
        return ordered
    if occurrence == 0:
        raise ToolArgumentError("occurrence=0: count from 1 (first), or -1 for the last")
    index = occurrence - 1 if occurrence > 0 else len(ordered) + occurrence
    if not 0 <= index < len(ordered):
        raise ToolArgumentError(f"occurrence={occurrence}: only {len(ordered)} found")
    return [ordered[index]]


def locate_in_transcript(transcript: Transcript, *, what: str, text: str | None = None) -> list[Span]:
    """Word-level events in ``transcript`` (``what`` in :data:`WORD_KINDS`)."""
    words = transcript.words
    if what in ("word", "phrase"):
        if not text or not text.strip():
            raise ToolArgumentError(f"what={what!r} needs text: the word or phrase to find")
        return find_phrase(words, text)
    if what == "fillers":
        return find_fillers(words)
    if what == "repeats":
        return find_repeats(words)
    raise ToolArgumentError(f"what={what!r} is not a transcript kind; expected one of: "
                            f"{', '.join(WORD_KINDS)}")


def locate_in_signal(audio: Audio | TrackView, *, what: str, min_pause_s: float = 0.5) -> list[Span]:
    """Signal-level events in ``audio`` (``what`` in :data:`SIGNAL_KINDS`), read window by window."""
    if what == "clicks":
        return detect.clicks(audio)
    if what == "clipping":
        return detect.clipping(audio)
    if what == "silence":
        return detect.silences(audio, min_silence_s=min_pause_s)
    activity = speech_activity(audio)
    if what == "pauses":
        return detect.pauses(audio, min_pause_s=min_pause_s, activity=activity)
    if what == "speech":
        return detect.speech(audio, activity=activity, min_silence_s=min_pause_s)
    if what == "non_speech":
        return detect.non_speech(audio, activity=activity, min_silence_s=min_pause_s)
    if what == "breaths":
        return detect.breaths(audio, activity=activity)
    raise ToolArgumentError(f"what={what!r}; expected one of: {', '.join(WORD_KINDS + SIGNAL_KINDS)}")


def _run(session: Session, args: Args) -> ToolResult:
    from tools.transcribe import get_transcript

    name = session.resolve_track(args.track)
    data: dict = {"track": name, "what": args.what}
    notes: list[str] = []
    if args.what in WORD_KINDS:
        transcript = get_transcript(session, name)
        spans = locate_in_transcript(transcript, what=args.what, text=args.text)
        data["backend"] = transcript.backend
        if transcript.backend.startswith("pocketsphinx"):
            notes.append("words from pocketsphinx (offline fallback): it misses and mishears "
                         "words and rarely hears fillers, so matches may be missing")
    else:
        spans = locate_in_signal(session.track(name), what=args.what, min_pause_s=args.min_pause_s)
    total = len(spans)
    spans = choose(spans, occurrence=args.occurrence, near_s=args.near_s)
    label = args.what if args.what not in ("word", "phrase") else f"{args.what} {args.text!r}"
    picked = f" (occurrence {args.occurrence} of {total})" if args.occurrence is not None else ""
    text = f"{name}: {len(spans)} {label}{picked}: {describe_spans(spans)}"
    text += "".join(f"\nNote: {note}" for note in notes)
    data.update(count=len(spans), total=total, spans=[s.to_dict() for s in spans], notes=notes)
    if args.what in WORD_KINDS:  # words heard in the audio: the agent treats these as untrusted
        data["transcript"] = [s.text for s in spans]
    return ToolResult(text=text, data=data)


TOOL = Tool(
    name="locate",
    description=(
        "Find where something happens and get its time spans, without changing anything: a word "
        "or phrase ('find the word budget', 'the second the', 'near 1:23'), fillers (um, uh), "
        "repeated words, long pauses, silence, speech or non-speech, breaths, clicks, clipping. "
        "Use before cutting or fixing something by what is said or heard."
    ),
    args_model=Args,
    run=_run,
    edits=False,
)
