"""deess: turn down harsh sibilance ("s", "sh", "t") in a voice, and only there.

A spectral de-esser, as iZotope RX's de-ess in its spectral mode: in short-time Fourier frames
(about 21 ms, hop a quarter of that; scipy ``stft``/``istft``), where the band above
``frequency_hz`` holds more than ``threshold_db`` of the frame's energy (loudest channel), i.e. in a
sibilant, that band is turned down just enough to bring its share back to the threshold, by at
most ``max_reduction_db`` (the gain rises over a third of an octave below ``frequency_hz``, so there
is no hard edge); elsewhere the frame is untouched and the output equals the input. The threshold is
relative to the signal itself, so it works at any recording level. Frames more than 50 dB under
the track's loud level (pauses) are left alone. Long files go through
:func:`tools.core.overlap_add.overlap_add_blocks` (frames of context on both sides of each block).

pedalboard has no de-esser and no side-chain input, and a split-band de-esser built from a
minimum-phase crossover boosts the crossover region when it reduces (the two bands are out of
phase there), so the gain rule is applied in the STFT domain here.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from pydantic import Field
from scipy.signal import istft, stft

from tools.algorithms.levels import frame_levels_db, loud_level_db
from tools.algorithms.streaming import BLOCK, Source, collect, source_of, stream_edit
from tools.core.audio import Audio
from tools.core.errors import NothingFound, ToolArgumentError
from tools.core.overlap_add import overlap_add_blocks
from tools.core.session import Session
from tools.core.tool import Tool, ToolArgs, ToolResult, track_field

FRAME_S = 0.021
QUIET_DB = 50.0  # frames this far under the loud level are pauses: left alone


class Args(ToolArgs):
    frequency_hz: float = Field(default=5000.0, ge=2000, le=12000, description="Where sibilance starts, in Hz, from 2000 to 12000 (5000 default; 4000 for deeper voices, 7000 for bright ones).")
    threshold_db: float = Field(default=-8.0, ge=-30, le=-1, description="Share of the energy above frequency_hz (in dB of the total, from -30 to -1) beyond which it is turned down: -8 default, lower catches more.")
    max_reduction_db: float = Field(default=10.0, ge=1, le=30, description="The most the sibilance is turned down, in dB, from 1 to 30 (10 default).")
    track: str | None = track_field()


@dataclass(frozen=True)
class DeessSettings:
    frequency_hz: float
    threshold_db: float
    max_reduction_db: float
    quiet_db: float  # absolute dBFS under which nothing is reduced


def plan_deess(source: Source, sample_rate: int, *, frequency_hz: float = 5000.0,
               threshold_db: float = -8.0, max_reduction_db: float = 10.0) -> DeessSettings:
    if frequency_hz >= 0.45 * sample_rate:
        raise ToolArgumentError(f"frequency_hz={frequency_hz:g} is beyond what a {sample_rate} Hz "
                                f"track holds (below {0.45 * sample_rate:.0f} Hz); this track has "
                                "no sibilance band to turn down")
    loud = loud_level_db(frame_levels_db(source, sample_rate))
    return DeessSettings(float(frequency_hz), float(threshold_db), float(max_reduction_db),
                         loud - QUIET_DB)


def _frame_size(sample_rate: int) -> int:
    return int(2 ** np.round(np.log2(FRAME_S * sample_rate)))


def deess_chunk(chunk: np.ndarray, sample_rate: int, settings: DeessSettings) -> np.ndarray:
    """One ``(channels, m)`` chunk de-essed (see the module docstring); same shape."""
    size = _frame_size(sample_rate)
    m = chunk.shape[-1]
    if m < size:
        return chunk
    freqs, _, spec = stft(chunk, fs=sample_rate, nperseg=size, noverlap=size - size // 4,
                          axis=-1)
    power = np.abs(spec) ** 2
    lo = settings.frequency_hz * 2 ** (-1 / 3)
    weight = np.clip(np.log2(np.maximum(freqs, 1.0) / lo) * 3, 0.0, 1.0)  # 0 below, 1 above
    e_all = power.sum(axis=1).max(axis=0)
    e_high = (power * weight[None, :, None]).sum(axis=1).max(axis=0)
    share = 10 ** (settings.threshold_db / 10)
    floor = 10 ** (-settings.max_reduction_db / 20)
    wanted = share * np.maximum(e_all - e_high, 0.0) / np.maximum((1 - share) * e_high, 1e-30)
    gain = np.sqrt(np.clip(wanted, floor ** 2, 1.0))
    loud = e_all / size > 10 ** (settings.quiet_db / 10) * 0.375  # Hann power per sample
    gain = np.where(loud, gain, 1.0)
    if np.all(gain >= 1.0):
        return chunk
    spec = spec * (1.0 - weight[:, None] * (1.0 - gain[None, :]))[None]
    _, out = istft(spec, fs=sample_rate, nperseg=size, noverlap=size - size // 4, time_axis=-1,
                   freq_axis=-2)
    return out[..., :m].astype(np.float32)


def deess_blocks(source: Source, sample_rate: int, settings: DeessSettings
                 ) -> Iterator[np.ndarray]:
    """Blocks of ``source`` (``(channels, n)``) de-essed with ``settings``; same length."""
    size = _frame_size(sample_rate)
    for _, block in overlap_add_blocks(source, lambda c: deess_chunk(c, sample_rate, settings),
                                       segment=BLOCK, context=4 * size):
        yield block


def deess(audio: Audio, **kwargs) -> Audio:
    """``audio`` de-essed (keyword arguments as :func:`plan_deess`)."""
    settings = plan_deess(audio.samples, audio.sample_rate, **kwargs)
    return audio.replace(collect(deess_blocks(audio.samples, audio.sample_rate, settings),
                                 audio.channels))


def _run(session: Session, args: Args) -> ToolResult:
    source, rate = source_of(session, args.track)
    s = plan_deess(source, rate, frequency_hz=args.frequency_hz, threshold_db=args.threshold_db,
                   max_reduction_db=args.max_reduction_db)
    summary = (f"de-essed above {s.frequency_hz:g} Hz: sibilance holding more than "
               f"{s.threshold_db:g} dB of the energy turned down by up to "
               f"{s.max_reduction_db:g} dB")
    result = stream_edit(session, args.track, deess_blocks(source, rate, s), sample_rate=rate,
                         tool="deess", args=args, summary=summary)
    if result.data.get("unchanged"):  # as the repairs say it: nothing was committed
        raise NothingFound(f"found no sibilance: no sound above {s.frequency_hz:g} Hz holds more "
                           f"than {s.threshold_db:g} dB of the energy (a lower threshold_db looks "
                           "harder)")
    return result


TOOL = Tool(
    name="deess",
    description=(
        "De-esser: turn down harsh or piercing 's', 'sh' and 't' sounds in a voice without dulling "
        "the rest: 'de-ess it', 'the s sounds are too sharp', 'reduce the sibilance'. For a "
        "generally too bright or harsh sound use equalize instead."
    ),
    args_model=Args,
    run=_run,
)
