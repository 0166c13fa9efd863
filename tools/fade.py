"""fade: fade in from silence at the start, or out to silence at the end.

In a session only the faded stretch is written anew; the rest keeps the stored blocks.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field

from tools.core.audio import Audio
from tools.core.dsp import fade_curve
from tools.core.edits import Keep, Piece, assemble
from tools.core.errors import ToolArgumentError
from tools.core.session import Session
from tools.core.tool import Tool, ToolArgs, ToolResult, commit_pieces, track_field


class Args(ToolArgs):
    direction: Literal["in", "out"] = Field(description="'in' rises from silence at the start; 'out' falls to silence at the end.")
    duration_s: float = Field(gt=0, le=600, description="Length of the fade in seconds (0 to 600, not longer than the track).")
    shape: Literal["cosine", "linear", "exponential"] = Field(default="cosine", description="Fade curve: 'cosine' (smooth S-curve), 'linear' (in amplitude) or 'exponential' (linear in dB).")
    track: str | None = track_field()


def fade_pieces(signal: Any, *, direction: str, duration_s: float, shape: str = "cosine"
                ) -> list[Piece]:
    """The edit list of a fade over ``signal`` (Audio or TrackView): only the ramp is new audio."""
    if duration_s > signal.duration_s + 1e-9:
        raise ToolArgumentError(
            f"duration_s={duration_s:g} is longer than the track ({signal.duration_s:.3f} s)"
        )
    total = signal.num_samples
    n = min(signal.sample_index(duration_s), total)
    curve = fade_curve(n, shape=shape).astype(np.float32)
    if direction == "in":
        return [signal.read(0, n) * curve, Keep(n, total)]
    if direction == "out":
        return [Keep(0, total - n), signal.read(total - n, total) * curve[::-1]]
    raise ToolArgumentError(f"direction={direction!r}; expected one of: in, out")


def fade(audio: Audio, *, direction: str, duration_s: float, shape: str = "cosine") -> Audio:
    """Fade the first (``direction='in'``) or last (``'out'``) ``duration_s`` seconds."""
    return assemble(audio, fade_pieces(audio, direction=direction, duration_s=duration_s,
                                       shape=shape))


def _run(session: Session, args: Args) -> ToolResult:
    pieces = fade_pieces(session.track(args.track), direction=args.direction,
                         duration_s=args.duration_s, shape=args.shape)
    where = "first" if args.direction == "in" else "last"
    return commit_pieces(session, args.track, pieces, tool="fade", args=args,
                         summary=f"faded {args.direction} over the {where} {args.duration_s:.2f} s")

TOOL = Tool(
    name="fade",
    description="Fade the start in from silence or the end out to silence over a duration ('fade out the last 3 seconds', 'add a 2 s fade in').",
    args_model=Args,
    run=_run,
)
