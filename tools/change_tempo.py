"""change_tempo: play faster or slower with the pitch kept (Rubber Band time stretch).

The stretch is Rubber Band's offline R3 engine through ``pedalboard.time_stretch``, run piece by
piece on long files (:mod:`tools.algorithms.stretch`): the output has exactly
``round(n / tempo_ratio)`` samples, the same rate and channels, and the input is not changed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
from pydantic import Field, model_validator

from tools.algorithms.streaming import Source, collect, source_of, stream_edit
from tools.algorithms.stretch import stretch_blocks
from tools.core.audio import Audio
from tools.core.errors import ToolArgumentError
from tools.core.session import Session
from tools.core.tool import Tool, ToolArgs, ToolResult, track_field

MIN_RATIO, MAX_RATIO = 0.25, 4.0


class Args(ToolArgs):
    tempo_ratio: float | None = Field(default=None, ge=MIN_RATIO, le=MAX_RATIO, description="How many times as fast, from 0.25 to 4, pitch kept: 1.1 is 10% faster (the track becomes 1/1.1 as long), 0.9 is 10% slower ('slow it down to 90%'), 2 is double speed. Null when target_duration_s is given.")
    target_duration_s: float | None = Field(default=None, gt=0, le=86_400, description="Make the track this many seconds long instead (the tempo follows; from 1/4 to 4 times its length now). Null when tempo_ratio is given.")
    track: str | None = track_field()

    @model_validator(mode="after")
    def _one(self) -> Any:
        if (self.tempo_ratio is None) == (self.target_duration_s is None):
            raise ValueError("give exactly one of tempo_ratio (e.g. 1.1 for 10% faster) or "
                             "target_duration_s")
        return self


def tempo_ratio_for(duration_s: float, *, tempo_ratio: float | None = None,
                    target_duration_s: float | None = None) -> float:
    """The tempo ratio asked for, directly or as a target duration; refuses one out of range."""
    if target_duration_s is not None:
        if duration_s <= 0:
            raise ToolArgumentError("the track is empty; there is no tempo to change")
        ratio = duration_s / target_duration_s
        if not MIN_RATIO <= ratio <= MAX_RATIO:
            raise ToolArgumentError(
                f"target_duration_s={target_duration_s:g} is {1 / ratio:.2f} times the track's "
                f"{duration_s:.2f} s; allowed: {duration_s / MAX_RATIO:.2f} to "
                f"{duration_s / MIN_RATIO:.2f} s (a tempo ratio of 0.25 to 4)")
        return ratio
    if tempo_ratio is None or not MIN_RATIO <= tempo_ratio <= MAX_RATIO:
        raise ToolArgumentError(f"tempo_ratio={tempo_ratio} must be from {MIN_RATIO:g} to "
                                f"{MAX_RATIO:g}")
    return float(tempo_ratio)


def change_tempo_blocks(source: Source, sample_rate: int, *, tempo_ratio: float
                        ) -> Iterator[np.ndarray]:
    """Blocks of ``source`` (``(channels, n)``) ``tempo_ratio`` times as fast, pitch kept."""
    tempo_ratio_for(source.shape[-1] / sample_rate, tempo_ratio=tempo_ratio)
    return stretch_blocks(source, sample_rate, tempo_ratio=tempo_ratio)


def change_tempo(audio: Audio, *, tempo_ratio: float | None = None,
                 target_duration_s: float | None = None) -> Audio:
    """``audio`` played faster (ratio > 1) or slower with its pitch kept."""
    ratio = tempo_ratio_for(audio.duration_s, tempo_ratio=tempo_ratio,
                            target_duration_s=target_duration_s)
    blocks = change_tempo_blocks(audio.samples, audio.sample_rate, tempo_ratio=ratio)
    return audio.replace(collect(blocks, audio.channels))


def _run(session: Session, args: Args) -> ToolResult:
    source, rate = source_of(session, args.track)
    before_s = source.shape[-1] / rate
    ratio = tempo_ratio_for(before_s, tempo_ratio=args.tempo_ratio,
                            target_duration_s=args.target_duration_s)
    change = f"{(ratio - 1) * 100:+.1f}%"
    summary = (f"changed the tempo x{ratio:.4g} ({change}, pitch kept): {before_s:.2f} s -> "
               f"{round(source.shape[-1] / ratio) / rate:.2f} s")
    return stream_edit(session, args.track, change_tempo_blocks(source, rate, tempo_ratio=ratio),
                       sample_rate=rate, tool="change_tempo", args=args, summary=summary,
                       data={"tempo_ratio": ratio})


TOOL = Tool(
    name="change_tempo",
    description=(
        "Make the track faster or slower WITHOUT changing its pitch (time stretch): 'speed it up "
        "by 10 percent' (tempo_ratio 1.1), '10% faster', 'slow it down to 90%' (0.9), 'make it "
        "fit in 30 seconds' (target_duration_s 30). For speed and pitch changing together (like a "
        "tape or record played faster) use change_speed; for pitch alone use shift_pitch."
    ),
    args_model=Args,
    run=_run,
)
