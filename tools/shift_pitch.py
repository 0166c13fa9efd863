"""shift_pitch: raise or lower the pitch by semitones with the duration kept (Rubber Band).

Rubber Band's offline R3 engine through ``pedalboard.time_stretch`` (stretch 1, a pitch shift),
with its formant preservation on by default, so a voice moved by a few semitones keeps its vocal
tract (it does not sound like a chipmunk or a giant); run piece by piece on long files
(:mod:`tools.algorithms.stretch`). Same length, rate and channels; the input is not changed.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from pydantic import Field

from tools.algorithms.streaming import Source, collect, source_of, stream_edit
from tools.algorithms.stretch import stretch_blocks
from tools.core.audio import Audio
from tools.core.errors import ToolArgumentError
from tools.core.session import Session
from tools.core.tool import Tool, ToolArgs, ToolResult, track_field

MAX_SEMITONES = 24.0


class Args(ToolArgs):
    semitones: float = Field(ge=-MAX_SEMITONES, le=MAX_SEMITONES, description="Pitch change in semitones, from -24 to +24 (fractions allowed: 0.5 is a quarter tone): -1 is a semitone lower, +2 a whole tone higher, 12 an octave up. The duration stays the same.")
    preserve_formants: bool = Field(default=True, description="Keep the formants (the timbre of a voice) while the pitch moves: true (default) for voices; false moves the timbre with the pitch (a 'chipmunk' or 'monster' effect).")
    track: str | None = track_field()


def shift_pitch_blocks(source: Source, sample_rate: int, *, semitones: float,
                       preserve_formants: bool = True) -> Iterator[np.ndarray]:
    """Blocks of ``source`` (``(channels, n)``) ``semitones`` higher, same duration."""
    if not -MAX_SEMITONES <= semitones <= MAX_SEMITONES:
        raise ToolArgumentError(f"semitones={semitones:g} must be from -{MAX_SEMITONES:g} to "
                                f"+{MAX_SEMITONES:g}")
    return stretch_blocks(source, sample_rate, semitones=semitones,
                          preserve_formants=preserve_formants)


def shift_pitch(audio: Audio, *, semitones: float, preserve_formants: bool = True) -> Audio:
    """``audio`` ``semitones`` higher (negative: lower) with its duration kept."""
    blocks = shift_pitch_blocks(audio.samples, audio.sample_rate, semitones=semitones,
                                preserve_formants=preserve_formants)
    return audio.replace(collect(blocks, audio.channels))


def _run(session: Session, args: Args) -> ToolResult:
    source, rate = source_of(session, args.track)
    direction = "up" if args.semitones > 0 else "down"
    summary = (f"shifted the pitch {direction} {abs(args.semitones):g} semitone"
               f"{'' if abs(args.semitones) == 1 else 's'} (x{2 ** (args.semitones / 12):.4f} in "
               f"frequency, duration kept{', formants kept' if args.preserve_formants else ''})")
    blocks = shift_pitch_blocks(source, rate, semitones=args.semitones,
                                preserve_formants=args.preserve_formants)
    return stream_edit(session, args.track, blocks, sample_rate=rate, tool="shift_pitch",
                       args=args, summary=summary,
                       data={"frequency_ratio": 2 ** (args.semitones / 12)})


TOOL = Tool(
    name="shift_pitch",
    description=(
        "Raise or lower the pitch by semitones WITHOUT changing the duration: 'pitch it down a "
        "semitone' (semitones -1), 'a semitone lower', 'up two semitones' (+2), 'an octave "
        "higher' (+12), 'transpose down 3'. Voices keep their timbre (formants). For pitch and "
        "speed together use change_speed; for speed alone use change_tempo."
    ),
    args_model=Args,
    run=_run,
)
