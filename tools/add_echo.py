"""add_echo: repeating echoes (a delay line with feedback), the slapback or canyon effect.

pedalboard's ``Delay`` (JUCE delay line) makes the echoes alone (``mix`` 1: the first repeat after
``delay_ms`` at full level, each next one ``feedback`` times the last); they are added to the
unchanged track at ``wet_db``, block by block. With ``keep_tail`` the track grows until the
repeats have fallen 60 dB (at most 30 s). Any rate and channel count; the input is not changed.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import pedalboard
from pydantic import Field

from tools.algorithms.streaming import (
    PluginStream,
    Source,
    collect,
    read_blocks,
    source_of,
    stream_edit,
)
from tools.core.audio import Audio
from tools.core.errors import ToolArgumentError
from tools.core.session import Session
from tools.core.tool import Tool, ToolArgs, ToolResult, track_field

MAX_TAIL_S = 30.0


class Args(ToolArgs):
    delay_ms: float = Field(default=300.0, ge=10, le=2000, description="Time between the sound and its echo in ms, from 10 to 2000 (80-150 a slapback, 300 default, 500-1000 a canyon).")
    feedback: float = Field(default=0.35, ge=0, le=0.95, description="How much of each echo comes back again, from 0 (one echo) to 0.95 (many); 0.35 default gives a few fading repeats.")
    wet_db: float = Field(default=-10.0, ge=-40, le=0, description="Level of the first echo relative to the sound in dB, from -40 to 0 (-10 default).")
    keep_tail: bool = Field(default=True, description="Let the echoes ring out past the end (the track gets longer); false keeps the length.")
    track: str | None = track_field()


def tail_s(delay_ms: float, feedback: float) -> float:
    """How long the repeats take to fall 60 dB after the end (at most 30 s)."""
    repeats = 1 if feedback <= 0 else math.ceil(math.log(1e-3) / math.log(feedback))
    return min(delay_ms * 1e-3 * repeats, MAX_TAIL_S)


def echo_blocks(source: Source, sample_rate: int, *, delay_ms: float = 300.0,
                feedback: float = 0.35, wet_db: float = -10.0, keep_tail: bool = True
                ) -> Iterator[np.ndarray]:
    """Blocks of ``source`` (``(channels, n)``) with echoes added (see the module docstring)."""
    if not 0 <= feedback <= 0.95:
        raise ToolArgumentError(f"feedback={feedback:g} must be from 0 to 0.95")
    channels = source.shape[0]
    stream = PluginStream(pedalboard.Delay(delay_seconds=delay_ms * 1e-3, feedback=feedback,
                                           mix=1.0), sample_rate)
    gain = np.float32(10 ** (wet_db / 20))
    for block in read_blocks(source):
        yield block + stream(block) * gain
    if keep_tail:
        tail = int(tail_s(delay_ms, feedback) * sample_rate)
        for lo in range(0, tail, 1 << 16):
            yield stream(np.zeros((channels, min(1 << 16, tail - lo)), dtype=np.float32)) * gain


def add_echo(audio: Audio, **kwargs) -> Audio:
    """``audio`` with echoes (keyword arguments as :func:`echo_blocks`)."""
    return audio.replace(collect(echo_blocks(audio.samples, audio.sample_rate, **kwargs),
                                 audio.channels))


def _run(session: Session, args: Args) -> ToolResult:
    source, rate = source_of(session, args.track)
    summary = (f"added echoes every {args.delay_ms:g} ms (feedback {args.feedback:g}, first echo "
               f"at {args.wet_db:+g} dB)")
    if args.keep_tail:
        summary += f", ringing out {tail_s(args.delay_ms, args.feedback):.1f} s past the end"
    blocks = echo_blocks(source, rate, delay_ms=args.delay_ms, feedback=args.feedback,
                         wet_db=args.wet_db, keep_tail=args.keep_tail)
    return stream_edit(session, args.track, blocks, sample_rate=rate, tool="add_echo", args=args,
                       summary=summary)


TOOL = Tool(
    name="add_echo",
    description=(
        "Add distinct repeating echoes (a delay effect): 'add some echo', 'add an echo', "
        "'slapback echo' (delay_ms 100, feedback 0), 'a canyon echo' (delay_ms 700), 'echo every "
        "half second' (delay_ms 500). For the smooth sound of a room or hall use add_reverb; to "
        "remove a room's echo use dereverb."
    ),
    args_model=Args,
    run=_run,
)
