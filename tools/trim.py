"""trim: keep only a time span of the track, with a few-ms fade on each new edge (no click)."""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import Field

from tools.core.audio import Audio
from tools.core.dsp import fade_curve
from tools.core.edits import Keep, Piece, assemble
from tools.core.session import Session
from tools.core.tool import SpanArgs, Tool, ToolResult, commit_pieces, track_field
from tools.cut import check_span


class Args(SpanArgs):
    start_s: float = Field(default=0.0, ge=0, description="Start of the span to keep, in seconds (>= 0).")
    end_s: float | None = Field(default=None, description="End of the span to keep, in seconds (> start_s); null for the end of the track.")
    edge_fade_ms: float = Field(default=3.0, ge=0, le=100, description="Fade applied at a new edge so it does not click, in ms (0 to 100).")
    track: str | None = track_field()


def trim_pieces(signal: Any, *, start_s: float = 0.0, end_s: float | None = None,
                edge_fade_ms: float = 3.0) -> list[Piece]:
    """The edit list keeping ``start_s..end_s`` of ``signal``; only the edge fades are new."""
    start, end = check_span(signal, start_s, end_s)
    fade = min(int(edge_fade_ms * 1e-3 * signal.sample_rate), (end - start) // 2)
    ramp = fade_curve(fade, shape="cosine").astype(np.float32)
    head = fade if fade and start > 0 else 0
    tail = fade if fade and end < signal.num_samples else 0
    pieces: list[Piece] = []
    if head:
        pieces.append(signal.read(start, start + head) * ramp)
    pieces.append(Keep(start + head, end - tail))
    if tail:
        pieces.append(signal.read(end - tail, end) * ramp[::-1])
    return pieces


def trim(audio: Audio, *, start_s: float = 0.0, end_s: float | None = None,
         edge_fade_ms: float = 3.0) -> Audio:
    """Keep ``start_s..end_s`` of ``audio`` (seconds); new edges get a short cosine fade."""
    return assemble(audio, trim_pieces(audio, start_s=start_s, end_s=end_s,
                                       edge_fade_ms=edge_fade_ms))


def _run(session: Session, args: Args) -> ToolResult:
    pieces = trim_pieces(session.track(args.track), start_s=args.start_s, end_s=args.end_s,
                         edge_fade_ms=args.edge_fade_ms)
    end = f"{args.end_s:.2f} s" if args.end_s is not None else "the end"
    return commit_pieces(session, args.track, pieces, tool="trim", args=args,
                         summary=f"kept {args.start_s:.2f} s to {end}")

TOOL = Tool(
    name="trim",
    description=(
        "Keep only one span of the track and discard everything outside it. Use for 'keep only the "
        "first N seconds', 'trim it to A - B'."
    ),
    args_model=Args,
    run=_run,
)
