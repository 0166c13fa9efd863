"""compress: a dynamic range compressor, and the "level out the voice" leveler preset.

The gain computer is pedalboard's Compressor (JUCE ``dsp::Compressor``: peak envelope with attack
and release ballistics, hard knee), run on one detector signal (the largest ``|x|`` over channels),
so every channel gets the same gain, as the stereo link of a DAW compressor
(:func:`tools.algorithms.streaming.linked_gain`). Block by block, its state carried over.

Thresholds may be absolute (``threshold_db`` in dBFS) or, by default, relative to the track's loud
level (the voice, :func:`tools.algorithms.levels.loud_level_db`), so that "compress the voice"
works the same on a quiet and on a loud recording. The automatic make-up gain gives back what
the compression took from the integrated loudness (BS.1770, measured in one pass of the detector
before the real one), so the loudness stays where it was while the dynamics shrink. It used to
give back the average reduction of the loud frames' energy, which left a breathy corpus clip
2.8 LU quieter (-21.3 -> -24.1 LUFS, with "make-up +28.7 dB"): the loudest frames weigh most in
an energy average, and K-weighting and gating count differently.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pedalboard
from pydantic import Field

from tools.algorithms.levels import frame_levels_db, loud_level_db
from tools.algorithms.streaming import (
    Source,
    collect,
    linked_gain,
    prime,
    read_blocks,
    source_of,
    stream_edit,
)
from tools.core.audio import Audio
from tools.core.errors import ToolArgumentError, ToolError
from tools.core.messages import PEAK_WARNING
from tools.core.session import Session
from tools.core.tool import Tool, ToolArgs, ToolResult, track_field

Preset = Literal["voice", "level_voice", "gentle", "heavy"]
# preset -> stages of (threshold below the loud level in dB, ratio, attack ms, release ms); a
# second stage's threshold is below the loud level that the first stage leaves
PRESETS: dict[str, tuple[tuple[float, float, float, float], ...]] = {
    "voice": ((12.0, 3.0, 10.0, 150.0),),
    # a leveler: slow and deep (evens out sentences), then a fast stage for the peaks
    "level_voice": ((22.0, 4.0, 50.0, 1000.0), (8.0, 3.0, 5.0, 80.0)),
    "gentle": ((8.0, 2.0, 20.0, 250.0),),
    "heavy": ((20.0, 6.0, 5.0, 100.0),),
}
FRAME_S = 0.05
ACTIVE_RANGE_DB = 20.0  # make-up restores the frames within this range of the loud level


class Args(ToolArgs):
    preset: Preset | None = Field(default=None, description="'voice' (3:1, 12 dB under the voice's level; the default), 'level_voice' (a leveler: slow 4:1 from 22 dB under the voice, evens out loud and quiet sentences, then a fast stage for peaks), 'gentle' (2:1) or 'heavy' (6:1); explicit values below replace the preset's.")
    threshold_db: float | None = Field(default=None, ge=-70, le=0, description="Level above which the gain is reduced, in dBFS, from -70 to 0; null to set it from the track (the preset's distance below its loud level).")
    ratio: float | None = Field(default=None, ge=1, le=30, description="Compression ratio from 1 to 30 (4 means 4 dB over the threshold come out as 1 dB); null for the preset's.")
    attack_ms: float | None = Field(default=None, ge=0.1, le=500, description="How fast the gain goes down when the level rises, in ms, from 0.1 to 500; null for the preset's.")
    release_ms: float | None = Field(default=None, ge=5, le=5000, description="How fast the gain comes back, in ms, from 5 to 5000; null for the preset's.")
    makeup_db: float | None = Field(default=None, ge=-12, le=36, description="Gain added after compression in dB, from -12 to +36; null for automatic (gives back the average reduction of the loud parts, so the loudness stays about the same).")
    track: str | None = track_field()


@dataclass(frozen=True)
class Stage:
    threshold_db: float
    ratio: float
    attack_ms: float
    release_ms: float

    def plugin(self) -> pedalboard.Compressor:
        return pedalboard.Compressor(threshold_db=self.threshold_db, ratio=self.ratio,
                                     attack_ms=self.attack_ms, release_ms=self.release_ms)

    def output_db(self, level_db: float) -> float:
        """The static curve: where a steady ``level_db`` comes out."""
        over = level_db - self.threshold_db
        return level_db if over <= 0 else self.threshold_db + over / self.ratio


@dataclass(frozen=True)
class CompressorSettings:
    """One or two compressor stages in series, the make-up gain, the track's loud level and the
    output's peak (dBFS)."""

    stages: tuple[Stage, ...]
    makeup_db: float
    loud_level_db: float
    peak_db: float = 0.0

    def describe(self) -> str:
        first = self.stages[0]
        text = (f"{first.ratio:g}:1 above {first.threshold_db:.1f} dBFS (attack "
                f"{first.attack_ms:g} ms, release {first.release_ms:g} ms)")
        for stage in self.stages[1:]:
            text += (f", then {stage.ratio:g}:1 above {stage.threshold_db:.1f} dBFS (attack "
                     f"{stage.attack_ms:g} ms, release {stage.release_ms:g} ms)")
        return f"{text}, make-up {self.makeup_db:+.1f} dB"


def _gains(source: Source, sample_rate: int, settings: CompressorSettings) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(block, linked gain) pairs over ``source``, each stage's compressor carried across blocks;
    a later stage sees the detector after the earlier stages' gain."""
    plugins = [prime(stage.plugin(), sample_rate) for stage in settings.stages]
    for block in read_blocks(source):
        detector = np.abs(block).max(axis=0)
        gain = np.ones(block.shape[-1], dtype=np.float32)
        for plugin in plugins:
            gain *= linked_gain(plugin, detector * gain, sample_rate)
        yield block, gain


def _measure(source: Source, sample_rate: int, settings: CompressorSettings
             ) -> tuple[float, float]:
    """(loudness the compression takes, in dB: integrated LUFS in minus out, or for audio too
    short to gate, the reduction of the energy of the frames within ``ACTIVE_RANGE_DB`` of the
    loud level; peak in dBFS of the compressed signal before make-up): one detector pass."""
    from tools.core.meter import Meter

    frame = max(int(FRAME_S * sample_rate), 1)
    energy_in = energy_out = peak = 0.0
    meter_in = meter_out = None
    # both metered as if the loud level sat at -20 dBFS, the output also given back the static
    # curve's reduction of it: BS.1770's absolute gate (-70 LUFS) would otherwise drop the quiet
    # blocks of a quiet track's compressed output, and the make-up would come out too small
    static_db = settings.loud_level_db
    for stage in settings.stages:
        static_db = stage.output_db(static_db)
    lift_in = 10 ** ((-20.0 - settings.loud_level_db) / 20)
    lift_out = lift_in * 10 ** ((settings.loud_level_db - static_db) / 20)
    for block, gain in _gains(source, sample_rate, settings):
        out = block * gain[None, :]
        if meter_in is None:
            meter_in, meter_out = (Meter(sample_rate, block.shape[0], true_peak=False)
                                   for _ in range(2))
        meter_in.add(block * np.float32(lift_in))
        meter_out.add(out * np.float32(lift_out))
        peak = max(peak, float(np.max(np.abs(out), initial=0.0)))
        count = block.shape[-1] // frame
        if count == 0:
            continue
        power_in = np.square(block[:, :count * frame], dtype=np.float64).reshape(
            block.shape[0], count, frame).mean(axis=2)
        power_out = np.square(out[:, :count * frame], dtype=np.float64).reshape(
            block.shape[0], count, frame).mean(axis=2)
        level = 10 * np.log10(np.maximum(power_in.max(axis=0), 1e-30))
        active = level > settings.loud_level_db - ACTIVE_RANGE_DB
        energy_in += float(power_in[:, active].sum())
        energy_out += float(power_out[:, active].sum())
    reduction = 10 * np.log10(energy_in / energy_out) if energy_out > 0 and energy_in > 0 else 0.0
    if meter_in is not None:
        lufs_in, lufs_out = meter_in.integrated_lufs(), meter_out.integrated_lufs()
        if np.isfinite(lufs_in) and np.isfinite(lufs_out):
            reduction = lufs_in - lufs_out + (settings.loud_level_db - static_db)
    return float(reduction), 20 * np.log10(max(peak, 1e-6))


def plan_compression(source: Source, sample_rate: int, *, preset: str | None = None,
                     threshold_db: float | None = None, ratio: float | None = None,
                     attack_ms: float | None = None, release_ms: float | None = None,
                     makeup_db: float | None = None) -> CompressorSettings:
    """Resolve a preset and explicit values into settings for this track (reads it: the loud
    level for a relative threshold, the detector pass for an automatic make-up)."""
    if preset is not None and preset not in PRESETS:
        raise ToolArgumentError(f"preset={preset!r} is unknown; expected one of: {', '.join(PRESETS)}")
    loud = loud_level_db(frame_levels_db(source, sample_rate))
    if threshold_db is None and loud <= -100:
        raise ToolError("the track is silent; there is nothing to compress")
    stages, level = [], loud
    for index, (below, p_ratio, p_attack, p_release) in enumerate(PRESETS[preset or "voice"]):
        explicit = index == 0
        stage = Stage(
            float(threshold_db if explicit and threshold_db is not None else max(level - below, -70.0)),
            float(ratio if explicit and ratio is not None else p_ratio),
            float(attack_ms if explicit and attack_ms is not None else p_attack),
            float(release_ms if explicit and release_ms is not None else p_release))
        if stage.ratio < 1:
            raise ToolArgumentError(f"ratio={stage.ratio:g} must be at least 1")
        stages.append(stage)
        level = stage.output_db(level)
    settings = CompressorSettings(tuple(stages), 0.0, loud)
    reduction_db, peak = _measure(source, sample_rate, settings)
    makeup = reduction_db if makeup_db is None else float(makeup_db)
    return CompressorSettings(tuple(stages), float(makeup), loud, peak + float(makeup))


def compress_blocks(source: Source, sample_rate: int, settings: CompressorSettings
                    ) -> Iterator[np.ndarray]:
    """Blocks of ``source`` (``(channels, n)``) compressed with ``settings``; same length."""
    makeup = np.float32(10 ** (settings.makeup_db / 20))
    for block, gain in _gains(source, sample_rate, settings):
        yield block * (gain * makeup)[None, :]


def compress(audio: Audio, **kwargs) -> tuple[Audio, CompressorSettings]:
    """``audio`` compressed (keyword arguments as :func:`plan_compression`) and the settings used."""
    settings = plan_compression(audio.samples, audio.sample_rate, **kwargs)
    out = collect(compress_blocks(audio.samples, audio.sample_rate, settings), audio.channels)
    return audio.replace(out), settings


def _run(session: Session, args: Args) -> ToolResult:
    source, rate = source_of(session, args.track)
    s = plan_compression(source, rate, preset=args.preset, threshold_db=args.threshold_db,
                         ratio=args.ratio, attack_ms=args.attack_ms, release_ms=args.release_ms,
                         makeup_db=args.makeup_db)
    name = f"'{args.preset.replace('_', ' ')}' " if args.preset else ""
    summary = f"compressed {name}{s.describe()}"
    if s.peak_db > 0:
        summary += PEAK_WARNING.format(peak_db=s.peak_db)
    blocks = compress_blocks(source, rate, s)
    return stream_edit(session, args.track, blocks, sample_rate=rate, tool="compress", args=args,
                       summary=summary, data={"threshold_db": s.stages[0].threshold_db,
                                              "ratio": s.stages[0].ratio, "makeup_db": s.makeup_db})


TOOL = Tool(
    name="compress",
    description=(
        "Dynamic range compression: turn down the loud moments so the level is more even. "
        "'Compress the voice' (the default settings), 'level out the voice' / 'even out the "
        "volume' / 'the quiet and loud parts are too different' (preset level_voice), 'gentle "
        "compression', 'heavy compression', or explicit threshold_db, ratio, attack_ms, "
        "release_ms, makeup_db. Loudness stays about the same (automatic make-up); use "
        "normalize_loudness afterwards for a loudness target."
    ),
    args_model=Args,
    run=_run,
)
