"""gain: change the level by a number of decibels."""

from __future__ import annotations

from pydantic import Field

from tools.core.audio import Audio
from tools.core.dsp import db_to_amplitude, peak_db
from tools.core.session import Session
from tools.core.tool import Tool, ToolArgs, ToolResult, commit_edit, track_field

MAX_GAIN_DB = 60.0


class Args(ToolArgs):
    gain_db: float = Field(ge=-MAX_GAIN_DB, le=MAX_GAIN_DB, description="Gain in dB, from -60 to +60 (positive is louder; +6 dB is twice the amplitude).")
    track: str | None = track_field()


def gain(audio: Audio, *, gain_db: float) -> Audio:
    """Scale ``audio`` by ``gain_db`` decibels (no limiting: peaks above 0 dBFS stay in float)."""
    return audio.replace(audio.samples * db_to_amplitude(gain_db))


def _run(session: Session, args: Args) -> ToolResult:
    out = gain(session.audio(args.track), gain_db=args.gain_db)
    summary = f"applied {args.gain_db:+.1f} dB"
    peak = peak_db(out.samples)
    if peak > 0.0:
        summary += (f"; peaks now reach {peak:+.1f} dBFS and will clip in 16/24-bit files "
                    "(normalize_loudness adds a true-peak limiter)")
    return commit_edit(session, args.track, out, tool="gain", args=args, summary=summary,
                       data={"peak_db": peak})


TOOL = Tool(
    name="gain",
    description="Make the track louder or quieter by a fixed number of decibels ('3 dB louder', 'turn it down 6 dB').",
    args_model=Args,
    run=_run,
)
