"""cut: remove a time span and close the gap with a short equal-power crossfade.

Each edge moves (by at most ``search_ms``) to the quietest nearby point and a zero crossing, so the
seam falls between sounds where it can; the two sides are then crossfaded over ``crossfade_ms``.
The output is shorter by exactly the span removed. In a session only the crossfade is new audio;
both sides keep the stored blocks (:mod:`tools.core.edits`), so a cut costs the same on any length.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import Field

from tools.core.audio import Audio
from tools.core.dsp import equal_power_crossfade, quietest_index
from tools.core.edits import Keep, Piece, assemble, output_samples
from tools.core.errors import ToolArgumentError
from tools.core.session import Session
from tools.core.tool import SpanArgs, Tool, ToolResult, commit_pieces, track_field


class Args(SpanArgs):
    start_s: float = Field(description="Start of the span to remove, in seconds from the start of the track (>= 0).", ge=0)
    end_s: float | None = Field(
        default=None,
        description="End of the span to remove, in seconds (> start_s); null for the end of the track.",
    )
    crossfade_ms: float = Field(default=10.0, ge=0, le=200, description="Length of the crossfade at the seam, in ms (0 to 200).")
    track: str | None = track_field()


def check_span(audio: Any, start_s: float, end_s: float | None) -> tuple[int, int]:
    """Sample indices of ``start_s..end_s`` (end None = end of track), refused if outside the track."""
    if start_s >= audio.duration_s:
        raise ToolArgumentError(
            f"start_s={start_s:g} is at or beyond the end of the track ({audio.duration_s:.3f} s)"
        )
    if end_s is not None and end_s > audio.duration_s + 0.05:
        raise ToolArgumentError(
            f"end_s={end_s:g} is beyond the end of the track ({audio.duration_s:.3f} s); "
            "use null for 'to the end'"
        )
    end = audio.num_samples if end_s is None else audio.sample_index(end_s)
    return audio.sample_index(start_s), end


def cut(audio: Audio, *, start_s: float, end_s: float | None = None, crossfade_ms: float = 10.0,
        search_ms: float = 10.0) -> Audio:
    """Remove ``start_s..end_s`` (seconds) from ``audio``; the result is shorter by that span."""
    start, end = check_span(audio, start_s, end_s)
    return assemble(audio, cut_pieces(audio, start, end, crossfade_ms=crossfade_ms,
                                      search_ms=search_ms))


def _edge_ramp(length: int) -> np.ndarray:
    return np.sin((np.arange(length) + 0.5) / length * np.pi / 2).astype(np.float32)


def cut_pieces(signal: Any, start: int, end: int, *, crossfade_ms: float = 10.0,
               search_ms: float = 10.0) -> list[Piece]:
    """The edit list removing samples ``start:end`` (``start < end``) of ``signal`` (Audio or a
    session's TrackView): everything is kept by reference but the seam's crossfade."""
    n, rate = signal.num_samples, signal.sample_rate
    if start <= 0 and end >= n:
        raise ToolArgumentError("cannot cut the whole track; nothing would remain")
    if start <= 0 or end >= n:  # cutting off an edge: no seam, only a short fade on the new edge
        lo, hi = (end, n) if start <= 0 else (0, start)
        fade = min(int(crossfade_ms * 1e-3 * rate / 2), hi - lo)
        if not fade:
            return [Keep(lo, hi)]
        if start <= 0:
            return [signal.read(lo, lo + fade) * _edge_ramp(fade), Keep(lo + fade, hi)]
        return [Keep(lo, hi - fade), signal.read(hi - fade, hi) * _edge_ramp(fade)[::-1]]
    # move both edges together to a quiet point near the start edge, keeping the removed length
    radius = int(search_ms * 1e-3 * rate)
    frame = max(int(0.005 * rate), 1)
    length = end - start
    moved = quietest_index(signal, start, radius=radius, frame=frame)
    if 0 < moved and moved + length < n:
        start, end = moved, moved + length
    half = min(int(crossfade_ms * 1e-3 * rate / 2), start, n - end)
    if not half:
        return [Keep(0, start), Keep(end, n)]
    seam = equal_power_crossfade(signal.read(start - half, start + half),
                                 signal.read(end - half, end + half)).astype(np.float32)
    return [Keep(0, start - half), seam, Keep(end + half, n)]


def _run(session: Session, args: Args) -> ToolResult:
    view = session.track(args.track)
    start, end = check_span(view, args.start_s, args.end_s)
    pieces = cut_pieces(view, start, end, crossfade_ms=args.crossfade_ms)
    end_text = f"{args.end_s:.2f} s" if args.end_s is not None else "the end"
    removed = (view.num_samples - output_samples(pieces)) / view.sample_rate
    return commit_pieces(session, args.track, pieces, tool="cut", args=args,
                         summary=f"cut {args.start_s:.2f} s to {end_text} ({removed:.2f} s removed)",
                         data={"removed_s": removed})


TOOL = Tool(
    name="cut",
    description=(
        "Remove a span of time from the track and join the two sides with a click-free crossfade. "
        "Use for 'cut/delete/remove from A to B', 'cut the first/last N seconds'. The track gets "
        "shorter by the span."
    ),
    args_model=Args,
    run=_run,
)
