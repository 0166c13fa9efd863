"""insert_silence: insert digital silence at a point, pushing later audio back."""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import Field

from tools.core.audio import Audio
from tools.core.dsp import fade_curve
from tools.core.edits import Keep, Piece, Silence, assemble
from tools.core.errors import ToolArgumentError
from tools.core.session import Session
from tools.core.tool import Tool, ToolArgs, ToolResult, commit_pieces, track_field


class Args(ToolArgs):
    at_s: float = Field(default=0.0, ge=0, description="Where to insert, in seconds from the start (0 = before the start; the track's duration = at the end).")
    duration_s: float = Field(gt=0, le=3600, description="Length of the silence in seconds (0 to 3600).")
    edge_fade_ms: float = Field(default=3.0, ge=0, le=100, description="Fade at the audio edges next to the silence so they do not click, in ms (0 to 100).")
    track: str | None = track_field()


def insert_silence_pieces(signal: Any, *, at_s: float, duration_s: float,
                          edge_fade_ms: float = 3.0) -> list[Piece]:
    """The edit list inserting ``duration_s`` of silence at ``at_s``: the audio on both sides is
    kept by reference but its few-ms edge fades; the silence is stored as a length."""
    if at_s > signal.duration_s + 1e-6:
        raise ToolArgumentError(
            f"at_s={at_s:g} is beyond the end of the track ({signal.duration_s:.3f} s)"
        )
    n = signal.num_samples
    at = signal.sample_index(at_s)
    fade = int(edge_fade_ms * 1e-3 * signal.sample_rate)
    ramp = fade_curve(fade, shape="cosine").astype(np.float32)
    before = fade if fade and at >= fade else 0
    after = fade if fade and n - at >= fade else 0
    silence = int(round(duration_s * signal.sample_rate))
    pieces: list[Piece] = [Keep(0, at - before)]
    if before:
        pieces.append(signal.read(at - before, at) * ramp[::-1])
    pieces.append(Silence(silence))
    if after:
        pieces.append(signal.read(at, at + after) * ramp)
    pieces.append(Keep(at + after, n))
    return pieces


def insert_silence(audio: Audio, *, at_s: float, duration_s: float, edge_fade_ms: float = 3.0) -> Audio:
    """Insert ``duration_s`` seconds of silence at ``at_s``; the result is that much longer."""
    return assemble(audio, insert_silence_pieces(audio, at_s=at_s, duration_s=duration_s,
                                                 edge_fade_ms=edge_fade_ms))


def _run(session: Session, args: Args) -> ToolResult:
    pieces = insert_silence_pieces(session.track(args.track), at_s=args.at_s,
                                   duration_s=args.duration_s, edge_fade_ms=args.edge_fade_ms)
    return commit_pieces(session, args.track, pieces, tool="insert_silence", args=args,
                         summary=f"inserted {args.duration_s:.2f} s of silence at {args.at_s:.2f} s")

TOOL = Tool(
    name="insert_silence",
    description="Insert silence at a point in time, making the track longer ('add 2 seconds of silence at the start', 'a 1 s pause at 0:05').",
    args_model=Args,
    run=_run,
)
