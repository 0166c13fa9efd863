"""change_speed: varispeed, the tape or turntable effect: faster and higher, or slower and lower.

The track is resampled as if it had been recorded at ``speed_ratio`` times its rate and is then
played at its own rate: ``speed_ratio`` 2 plays twice as fast and an octave higher. The resampler
is pedalboard's ``StreamResampler`` (windowed sinc, constant memory, latency compensated), fed
block by block. Same rate and channels; ``round(n / speed_ratio)`` samples; the input is not
changed.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
from pedalboard.io import StreamResampler
from pydantic import Field, model_validator

from tools.algorithms.streaming import Source, collect, read_blocks, source_of, stream_edit
from tools.core.audio import Audio
from tools.core.errors import ToolArgumentError
from tools.core.session import Session
from tools.core.tool import Tool, ToolArgs, ToolResult, track_field

MIN_RATIO, MAX_RATIO = 0.25, 4.0


class Args(ToolArgs):
    speed_ratio: float | None = Field(default=None, ge=MIN_RATIO, le=MAX_RATIO, description="How many times as fast, from 0.25 to 4, pitch moving with it: 1.1 is 10% faster and 1.65 semitones higher, 0.5 is half speed an octave lower. Null when semitones is given.")
    semitones: float | None = Field(default=None, ge=-24, le=24, description="The same change given as the pitch it ends at, in semitones from -24 to +24 (+12 = double speed). Null when speed_ratio is given.")
    track: str | None = track_field()

    @model_validator(mode="after")
    def _one(self) -> Any:
        if (self.speed_ratio is None) == (self.semitones is None):
            raise ValueError("give exactly one of speed_ratio (e.g. 1.1) or semitones")
        return self


def change_speed_blocks(source: Source, sample_rate: int, *, speed_ratio: float
                        ) -> Iterator[np.ndarray]:
    """Blocks of ``source`` (``(channels, n)``) played ``speed_ratio`` times as fast (varispeed),
    ``round(n / speed_ratio)`` samples in all."""
    if not MIN_RATIO <= speed_ratio <= MAX_RATIO:
        raise ToolArgumentError(f"speed_ratio={speed_ratio:g} must be from {MIN_RATIO:g} to "
                                f"{MAX_RATIO:g}")
    channels, n = source.shape[0], source.shape[-1]
    total = int(round(n / speed_ratio))
    resampler = StreamResampler(float(sample_rate) * speed_ratio, float(sample_rate), channels)
    written = 0
    for block in read_blocks(source):
        out = np.asarray(resampler.process(np.ascontiguousarray(block)), dtype=np.float32)
        out = out[:, :max(total - written, 0)]
        written += out.shape[-1]
        if out.shape[-1]:
            yield out
    rest = np.asarray(resampler.process(), dtype=np.float32)[:, :max(total - written, 0)]
    written += rest.shape[-1]
    if rest.shape[-1]:
        yield rest
    if written < total:
        yield np.zeros((channels, total - written), dtype=np.float32)


def change_speed(audio: Audio, *, speed_ratio: float) -> Audio:
    """``audio`` played ``speed_ratio`` times as fast, its pitch moving with it."""
    blocks = change_speed_blocks(audio.samples, audio.sample_rate, speed_ratio=speed_ratio)
    return audio.replace(collect(blocks, audio.channels))


def _run(session: Session, args: Args) -> ToolResult:
    source, rate = source_of(session, args.track)
    ratio = args.speed_ratio if args.speed_ratio is not None else 2 ** (args.semitones / 12)
    semitones = 12 * math.log2(ratio)
    n = source.shape[-1]
    summary = (f"changed the speed x{ratio:.4g} (pitch {semitones:+.2f} semitones with it): "
               f"{n / rate:.2f} s -> {round(n / ratio) / rate:.2f} s")
    return stream_edit(session, args.track, change_speed_blocks(source, rate, speed_ratio=ratio),
                       sample_rate=rate, tool="change_speed", args=args, summary=summary,
                       data={"speed_ratio": ratio, "semitones": semitones})


TOOL = Tool(
    name="change_speed",
    description=(
        "Varispeed: play the track faster and higher, or slower and lower, together, like a tape "
        "or record at another speed: 'play it at 1.5x like a tape', 'chipmunk voice' "
        "(speed_ratio 1.5 or more), 'slow it down, pitch and all' (0.8), 'half speed' (0.5). When "
        "the person wants the pitch kept use change_tempo; for pitch alone, shift_pitch."
    ),
    args_model=Args,
    run=_run,
)
