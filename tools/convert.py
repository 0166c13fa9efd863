"""convert: change the sample rate and/or the channel count (mix to mono, mono to stereo).

Streams: the track is read, resampled (:mod:`tools.core.resample`) and stored block by block.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
from pydantic import Field, model_validator

from tools.core.audio import Audio, resample, to_channels
from tools.core.errors import ToolArgumentError
from tools.core.resample import resampled_blocks
from tools.core.session import Session
from tools.core.tool import Tool, ToolArgs, ToolResult, commit_blocks, track_field


class Args(ToolArgs):
    sample_rate_hz: int | None = Field(default=None, ge=8000, le=192000, description="New sample rate in Hz (8000 to 192000); null keeps it.")
    channels: int | None = Field(default=None, ge=1, le=8, description="New channel count: 1 mixes down to mono, 2 copies mono to stereo; null keeps it.")
    track: str | None = track_field()

    @model_validator(mode="after")
    def _something(self) -> Args:
        if self.sample_rate_hz is None and self.channels is None:
            raise ValueError("give sample_rate_hz or channels (or both)")
        return self


def map_channels(block: np.ndarray, channels: int) -> np.ndarray:
    """Mix ``(c, m)`` down to mono (mean of channels), or copy mono out to ``channels``."""
    if channels == block.shape[0]:
        return block
    if channels == 1:
        return block.mean(axis=0, keepdims=True, dtype=np.float32)
    if block.shape[0] == 1:
        return np.repeat(block, channels, axis=0)
    raise ToolArgumentError(
        f"channels={channels}: cannot map {block.shape[0]} channels to {channels}; "
        "allowed: 1 (mix down) or any count from mono"
    )


def converted_blocks(signal: Any, *, sample_rate: int, sample_rate_hz: int | None = None,
                     channels: int | None = None) -> Iterator[np.ndarray]:
    """``signal`` (Audio or TrackView) resampled and/or remapped, block by block."""
    if channels is not None and channels < 1:
        raise ToolArgumentError(f"channels={channels} must be at least 1")
    if channels is not None:
        map_channels(np.zeros((signal.shape[0], 1), np.float32), channels)  # refuse before reading
    for block in resampled_blocks(signal, sample_rate, sample_rate_hz or sample_rate):
        yield map_channels(block, channels or block.shape[0])


def convert(audio: Audio, *, sample_rate_hz: int | None = None, channels: int | None = None) -> Audio:
    """Resample (polyphase) and/or remap channels."""
    if channels is not None:
        audio = to_channels(audio, channels=channels)
    if sample_rate_hz is not None:
        audio = resample(audio, sample_rate_hz=sample_rate_hz)
    return audio


def _run(session: Session, args: Args) -> ToolResult:
    view = session.track(args.track)
    rate = args.sample_rate_hz or view.sample_rate
    count = args.channels or view.channels
    blocks = converted_blocks(view, sample_rate=view.sample_rate,
                              sample_rate_hz=args.sample_rate_hz, channels=args.channels)
    return commit_blocks(session, args.track, blocks, sample_rate=rate, tool="convert", args=args,
                         summary=f"converted to {rate} Hz, {count} ch")

TOOL = Tool(
    name="convert",
    description="Change the sample rate or the number of channels ('make it mono', 'convert to 48 kHz').",
    args_model=Args,
    run=_run,
)
