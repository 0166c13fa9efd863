"""insert_silence: insert digital silence at a point, pushing later audio back."""

from __future__ import annotations

import numpy as np
from pydantic import Field

from tools.core.audio import Audio
from tools.core.dsp import fade_curve
from tools.core.errors import ToolArgumentError
from tools.core.session import Session
from tools.core.tool import Tool, ToolArgs, ToolResult, commit_edit, track_field


class Args(ToolArgs):
    at_s: float = Field(default=0.0, ge=0, description="Where to insert, in seconds from the start (0 = before the start; the track's duration = at the end).")
    duration_s: float = Field(gt=0, le=3600, description="Length of the silence in seconds (0 to 3600).")
    edge_fade_ms: float = Field(default=3.0, ge=0, le=100, description="Fade at the audio edges next to the silence so they do not click, in ms (0 to 100).")
    track: str | None = track_field()


def insert_silence(audio: Audio, *, at_s: float, duration_s: float, edge_fade_ms: float = 3.0) -> Audio:
    """Insert ``duration_s`` seconds of silence at ``at_s``; the result is that much longer."""
    if at_s > audio.duration_s + 1e-6:
        raise ToolArgumentError(
            f"at_s={at_s:g} is beyond the end of the track ({audio.duration_s:.3f} s)"
        )
    at = audio.sample_index(at_s)
    before = audio.samples[:, :at].astype(np.float32, copy=True)
    after = audio.samples[:, at:].astype(np.float32, copy=True)
    fade = int(edge_fade_ms * 1e-3 * audio.sample_rate)
    if fade:
        ramp = fade_curve(fade, shape="cosine").astype(np.float32)
        if before.shape[1] >= fade:
            before[:, -fade:] *= ramp[::-1]
        if after.shape[1] >= fade:
            after[:, :fade] *= ramp
    silence = np.zeros((audio.channels, int(round(duration_s * audio.sample_rate))), np.float32)
    return audio.replace(np.concatenate([before, silence, after], axis=1))


def _run(session: Session, args: Args) -> ToolResult:
    out = insert_silence(session.audio(args.track), at_s=args.at_s, duration_s=args.duration_s,
                         edge_fade_ms=args.edge_fade_ms)
    return commit_edit(session, args.track, out, tool="insert_silence", args=args,
                       summary=f"inserted {args.duration_s:.2f} s of silence at {args.at_s:.2f} s")


TOOL = Tool(
    name="insert_silence",
    description="Insert silence at a point in time, making the track longer ('add 2 seconds of silence at the start', 'a 1 s pause at 0:05').",
    args_model=Args,
    run=_run,
)
