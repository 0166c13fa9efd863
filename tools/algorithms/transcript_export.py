"""Transcript exports: JSON (every word with start, end, probability), SubRip (SRT), WebVTT, text.

Subtitle cues follow the segments; a segment longer than ``max_cue_s`` seconds or ``max_chars``
characters is split between words (using the word times), and a cue's text is wrapped into lines of
at most ``line_chars`` characters. Times: SRT ``HH:MM:SS,mmm``, VTT ``HH:MM:SS.mmm``.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable

from tools.algorithms.transcript import Segment, Transcript
from tools.core.errors import ToolArgumentError

MAX_CUE_S = 7.0
MAX_CUE_CHARS = 84
LINE_CHARS = 42
MIN_CUE_S = 0.05


def to_json(transcript: Transcript, *, indent: int | None = 2) -> str:
    """``{"backend", "language", "duration_s", "notes", "text", "segments": [{"start_s", "end_s",
    "text", "words": [{"text", "start_s", "end_s", "probability"}]}]}``."""
    data = {
        "backend": transcript.backend,
        "language": transcript.language,
        "duration_s": round(transcript.duration_s, 3),
        "notes": list(transcript.notes),
        "text": transcript.text,
        "segments": [
            {"start_s": round(s.start_s, 3), "end_s": round(s.end_s, 3), "text": s.text.strip(),
             "words": [{"text": w.text, "start_s": round(w.start_s, 3), "end_s": round(w.end_s, 3),
                        "probability": round(w.probability, 4)} for w in s.words]}
            for s in transcript.segments
        ],
    }
    return json.dumps(data, ensure_ascii=False, indent=indent) + "\n"


def from_json(text: str) -> Transcript:
    """Read back what :func:`to_json` wrote."""
    data = json.loads(text)
    return Transcript.from_dict({**data, "segments": [
        {**s, "words": [{"text": w["text"], "start_s": w["start_s"], "end_s": w["end_s"],
                         "probability": w.get("probability", 1.0)} for w in s.get("words", ())]}
        for s in data.get("segments", ())]})


def to_text(transcript: Transcript) -> str:
    """One line per segment."""
    lines = [s.text.strip() for s in transcript.segments if s.text.strip()]
    return "\n".join(lines) + ("\n" if lines else "")


def _stamp(time_s: float, separator: str) -> str:
    millis = int(round(max(time_s, 0.0) * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    seconds, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}{separator}{millis:03d}"


def cues(transcript: Transcript, *, max_cue_s: float = MAX_CUE_S,
         max_chars: int = MAX_CUE_CHARS) -> list[tuple[float, float, str]]:
    """``(start_s, end_s, text)`` subtitle cues, in order, each at least ``MIN_CUE_S`` long."""
    out = []
    for segment in transcript.segments:
        out.extend(_split(segment, max_cue_s, max_chars))
    fixed, last_end = [], 0.0
    for start, end, text in out:
        start = max(start, last_end)
        end = max(end, start + MIN_CUE_S)
        fixed.append((start, end, text))
        last_end = end
    return fixed


def _split(segment: Segment, max_cue_s: float, max_chars: int) -> list[tuple[float, float, str]]:
    text = segment.text.strip()
    if not text:
        return []
    fits = segment.end_s - segment.start_s <= max_cue_s and len(text) <= max_chars
    if fits or not segment.words:
        return [(segment.start_s, segment.end_s, text)]
    out, group = [], []
    for word in segment.words:
        candidate = " ".join(w.text for w in [*group, word])
        if group and (word.end_s - group[0].start_s > max_cue_s or len(candidate) > max_chars):
            out.append((group[0].start_s, group[-1].end_s, " ".join(w.text for w in group)))
            group = []
        group.append(word)
    if group:
        out.append((group[0].start_s, group[-1].end_s, " ".join(w.text for w in group)))
    return out


def _wrap(text: str, line_chars: int) -> str:
    return "\n".join(textwrap.wrap(text, line_chars)) or text


def to_srt(transcript: Transcript, *, max_cue_s: float = MAX_CUE_S,
           max_chars: int = MAX_CUE_CHARS, line_chars: int = LINE_CHARS) -> str:
    """SubRip subtitles: numbered cues ``HH:MM:SS,mmm --> HH:MM:SS,mmm``, blank-line separated."""
    blocks = [f"{index}\n{_stamp(start, ',')} --> {_stamp(end, ',')}\n{_wrap(text, line_chars)}\n"
              for index, (start, end, text) in
              enumerate(cues(transcript, max_cue_s=max_cue_s, max_chars=max_chars), start=1)]
    return "\n".join(blocks)


def to_vtt(transcript: Transcript, *, max_cue_s: float = MAX_CUE_S,
           max_chars: int = MAX_CUE_CHARS, line_chars: int = LINE_CHARS) -> str:
    """WebVTT subtitles: ``WEBVTT`` header, cues ``HH:MM:SS.mmm --> HH:MM:SS.mmm``."""
    blocks = [f"{_stamp(start, '.')} --> {_stamp(end, '.')}\n"
              f"{_wrap(text, line_chars).replace('-->', '->')}\n"
              for start, end, text in cues(transcript, max_cue_s=max_cue_s, max_chars=max_chars)]
    return "WEBVTT\n\n" + "\n".join(blocks)


EXPORTERS: dict[str, Callable[[Transcript], str]] = {
    "json": to_json, "srt": to_srt, "vtt": to_vtt, "txt": to_text,
}


def export(transcript: Transcript, fmt: str) -> str:
    """The transcript in ``fmt`` (json, srt, vtt or txt)."""
    exporter = EXPORTERS.get(fmt.lower().lstrip("."))
    if exporter is None:
        raise ToolArgumentError(f"format={fmt!r}; expected one of: {', '.join(EXPORTERS)}")
    return exporter(transcript)
