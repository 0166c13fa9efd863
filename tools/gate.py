"""gate: turn down what lies under a threshold (noise and room tone between phrases).

The gain comes from pedalboard's NoiseGate (JUCE ``dsp::NoiseGate``: an RMS envelope with attack
and release, below the threshold a steep downward expander, ratio 10) on one detector for all
channels (:func:`tools.algorithms.streaming.linked_gain`). Its gain is then held at its largest
value over ``hold_ms`` behind and ``lookahead_ms`` ahead, so the gate opens just before a word
starts (no clipped first consonant) and does not chatter inside words. The gain is never
below ``-reduction_db``: a gate that only turns the pauses down by 20 dB sounds natural where a
full mute leaves holes, the "level reduction" of Audacity's and iZotope's gates.

By default the threshold sits between the track's noise floor and its loud level (10 dB above the
floor, at most a third of the way to the loud level), read from the track before processing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pedalboard
from pydantic import Field
from scipy.ndimage import maximum_filter1d
from scipy.signal import lfilter

from tools.algorithms.levels import frame_levels_db, loud_level_db, noise_floor_db
from tools.algorithms.streaming import (
    BLOCK,
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
from tools.core.session import Session
from tools.core.tool import Tool, ToolArgs, ToolResult, track_field

GATE_RATIO = 10.0
DETECTOR_MS = 10.0  # the level the gate compares with the threshold: RMS over about 10 ms
ABOVE_FLOOR_DB = 10.0


class Args(ToolArgs):
    threshold_db: float | None = Field(default=None, ge=-100, le=0, description="Level (dBFS) under which the sound is turned down, from -100 to 0; null to set it from the track (10 dB over its noise floor).")
    reduction_db: float = Field(default=20.0, ge=3, le=100, description="How far the sound under the threshold is turned down, in dB, from 3 to 100 (20 default: quieter pauses that still sound natural; 60 or more mutes them).")
    attack_ms: float = Field(default=2.0, ge=0.1, le=100, description="How fast the gate opens, in ms, from 0.1 to 100 (2 default).")
    hold_ms: float = Field(default=50.0, ge=0, le=1000, description="How long the gate stays open after the sound drops, in ms, from 0 to 1000 (50 default).")
    release_ms: float = Field(default=50.0, ge=5, le=5000, description="How fast it then closes, in ms, from 5 to 5000 (50 default: the level the gate follows falls about 9 dB per release time).")
    lookahead_ms: float = Field(default=5.0, ge=0, le=50, description="How early the gate opens before a sound starts, in ms, from 0 to 50 (5 default).")
    track: str | None = track_field()


@dataclass(frozen=True)
class GateSettings:
    threshold_db: float
    reduction_db: float
    attack_ms: float
    hold_ms: float
    release_ms: float
    lookahead_ms: float
    noise_floor_db: float | None = None


def auto_threshold_db(source: Source, sample_rate: int) -> tuple[float, float, float]:
    """(threshold, noise floor, loud level) in dBFS: the threshold is ``ABOVE_FLOOR_DB`` over the
    noise floor but at most a third of the way from the floor to the loud level."""
    levels = frame_levels_db(source, sample_rate, frame_s=0.02)
    floor, loud = noise_floor_db(levels), loud_level_db(levels)
    if loud <= -100:
        raise ToolError("the track is silent; there is nothing to gate")
    return floor + min(ABOVE_FLOOR_DB, max((loud - floor) / 3, 0.0)), floor, loud


def gate_blocks(source: Source, sample_rate: int, settings: GateSettings) -> Iterator[np.ndarray]:
    """Blocks of ``source`` (``(channels, n)``) gated with ``settings``; same length.

    The gate's gain is computed once per sample, in order (the plugin's state carried over), from
    the loudest channel's RMS over about ``DETECTOR_MS`` (so the threshold compares with a level,
    not with the peaks of noise); each output sample then takes the largest gain within ``hold_ms`` before
    and ``lookahead_ms`` after it, so the gain is read ``lookahead_ms`` ahead of the output."""
    n = source.shape[-1]
    hold = int(settings.hold_ms * 1e-3 * sample_rate)
    ahead = int(settings.lookahead_ms * 1e-3 * sample_rate)
    floor = np.float32(10 ** (-settings.reduction_db / 20))
    plugin = pedalboard.NoiseGate(threshold_db=settings.threshold_db, ratio=GATE_RATIO,
                                  attack_ms=settings.attack_ms, release_ms=settings.release_ms)
    prime(plugin, sample_rate)
    gains = np.zeros(0, dtype=np.float32)  # gains of samples gains_start .. done
    gains_start = done = 0
    size = hold + ahead + 1
    alpha = float(np.exp(-1.0 / (DETECTOR_MS * 1e-3 * sample_rate)))
    b, a = np.array([1.0 - alpha]), np.array([1.0, -alpha])
    smooth_state = np.zeros(1)
    out_at = 0
    for block in read_blocks(source):
        lo, hi = out_at, out_at + block.shape[-1]
        need = min(hi + ahead, n)
        while done < need:
            step = min(need - done, BLOCK)
            power = np.square(np.asarray(source[:, done:done + step], dtype=np.float64)).max(axis=0)
            power, smooth_state = lfilter(b, a, power, zi=smooth_state)
            detector = np.sqrt(np.maximum(power, 0.0)).astype(np.float32)
            gains = np.concatenate([gains, linked_gain(plugin, detector, sample_rate)])
            done += step
        window = gains[max(lo - hold, gains_start) - gains_start:need - gains_start]
        held = maximum_filter1d(window, size=size, origin=(hold - ahead) // 2 if size > 1 else 0,
                                mode="nearest")
        offset = lo - max(lo - hold, gains_start)
        gain = np.maximum(held[offset:offset + block.shape[-1]], floor)
        yield block * gain[None, :]
        keep_from = max(hi - hold, 0)
        gains = gains[keep_from - gains_start:]
        gains_start = keep_from
        out_at = hi


def plan_gate(source: Source, sample_rate: int, *, threshold_db: float | None = None,
              reduction_db: float = 20.0, attack_ms: float = 2.0, hold_ms: float = 50.0,
              release_ms: float = 50.0, lookahead_ms: float = 5.0) -> GateSettings:
    if not 3 <= reduction_db <= 100:
        raise ToolArgumentError(f"reduction_db={reduction_db:g} must be from 3 to 100")
    floor = None
    if threshold_db is None:
        threshold_db, floor, _ = auto_threshold_db(source, sample_rate)
    return GateSettings(float(threshold_db), float(reduction_db), float(attack_ms), float(hold_ms),
                        float(release_ms), float(lookahead_ms), floor)


def gate(audio: Audio, **kwargs) -> tuple[Audio, GateSettings]:
    """``audio`` gated (keyword arguments as :func:`plan_gate`) and the settings used."""
    settings = plan_gate(audio.samples, audio.sample_rate, **kwargs)
    return audio.replace(collect(gate_blocks(audio.samples, audio.sample_rate, settings),
                                 audio.channels)), settings


def _run(session: Session, args: Args) -> ToolResult:
    source, rate = source_of(session, args.track)
    s = plan_gate(source, rate, threshold_db=args.threshold_db, reduction_db=args.reduction_db,
                  attack_ms=args.attack_ms, hold_ms=args.hold_ms, release_ms=args.release_ms,
                  lookahead_ms=args.lookahead_ms)
    found = f" (noise floor {s.noise_floor_db:.1f} dBFS)" if s.noise_floor_db is not None else ""
    summary = (f"gated below {s.threshold_db:.1f} dBFS{found}: quieter sound turned down by "
               f"{s.reduction_db:g} dB (attack {s.attack_ms:g} ms, hold {s.hold_ms:g} ms, "
               f"release {s.release_ms:g} ms)")
    return stream_edit(session, args.track, gate_blocks(source, rate, s), sample_rate=rate,
                       tool="gate", args=args, summary=summary,
                       data={"threshold_db": s.threshold_db, "noise_floor_db": s.noise_floor_db})


TOOL = Tool(
    name="gate",
    description=(
        "Noise gate: turn down the quiet parts between words and phrases (background noise, room "
        "tone, headphone bleed) while the voice passes: 'gate the noise between phrases', 'gate "
        "it', 'silence the pauses' (reduction_db 60). It does not clean noise under the voice: "
        "for that use denoise."
    ),
    args_model=Args,
    run=_run,
)
