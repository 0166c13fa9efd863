"""convert: change the sample rate and/or the channel count (mix to mono, mono to stereo)."""

from __future__ import annotations

from pydantic import Field, model_validator

from tools.core.audio import Audio, resample, to_channels
from tools.core.session import Session
from tools.core.tool import Tool, ToolArgs, ToolResult, commit_edit, track_field


class Args(ToolArgs):
    sample_rate_hz: int | None = Field(default=None, ge=8000, le=192000, description="New sample rate in Hz (8000 to 192000); null keeps it.")
    channels: int | None = Field(default=None, ge=1, le=8, description="New channel count: 1 mixes down to mono, 2 copies mono to stereo; null keeps it.")
    track: str | None = track_field()

    @model_validator(mode="after")
    def _something(self) -> Args:
        if self.sample_rate_hz is None and self.channels is None:
            raise ValueError("give sample_rate_hz or channels (or both)")
        return self


def convert(audio: Audio, *, sample_rate_hz: int | None = None, channels: int | None = None) -> Audio:
    """Resample (polyphase) and/or remap channels."""
    if channels is not None:
        audio = to_channels(audio, channels=channels)
    if sample_rate_hz is not None:
        audio = resample(audio, sample_rate_hz=sample_rate_hz)
    return audio


def _run(session: Session, args: Args) -> ToolResult:
    out = convert(session.audio(args.track), sample_rate_hz=args.sample_rate_hz, channels=args.channels)
    return commit_edit(session, args.track, out, tool="convert", args=args,
                       summary=f"converted to {out.sample_rate} Hz, {out.channels} ch")


TOOL = Tool(
    name="convert",
    description="Change the sample rate or the number of channels ('make it mono', 'convert to 48 kHz').",
    args_model=Args,
    run=_run,
)
