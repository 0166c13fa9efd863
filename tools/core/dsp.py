"""Small DSP building blocks shared by the tools: levels, loudness, true peak, crossfades, limiting.

All functions take float arrays shaped ``(channels, n)`` (time last) and never modify their input;
the meters and the limiter also take any window reader (``shape`` and ``[:, lo:hi]``) and stream
through it block by block (:mod:`tools.core.meter`), so hours of audio need memory for one block.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from tools.core.meter import SILENCE_DB, amplitude_to_db, measure

_BLOCK_SAMPLES = 1 << 18


def db_to_amplitude(gain_db: float) -> float:
    return float(10.0 ** (gain_db / 20.0))


def rms_db(samples: np.ndarray) -> float:
    """RMS level over all channels and samples, in dBFS (``SILENCE_DB`` for digital silence)."""
    if samples.size == 0:
        return SILENCE_DB
    power = float(np.mean(np.square(samples, dtype=np.float64)))
    return float(10.0 * np.log10(power)) if power > 1e-24 else SILENCE_DB


def peak_db(samples: np.ndarray) -> float:
    """Sample peak in dBFS."""
    return amplitude_to_db(float(np.max(np.abs(samples)))) if samples.size else SILENCE_DB


def integrated_loudness(samples: Any, sample_rate: int) -> float:
    """Integrated loudness in LUFS (BS.1770-4 gating), ``-inf`` for silence or under 0.4 s.

    Matches ``pyloudnorm.Meter(rate).integrated_loudness`` for mono to 5 channels up to a constant
    offset (0.04 dB at 48 kHz, see :func:`tools.core.meter.k_weighting`), streamed block by block
    (``samples`` may be an array or any window reader).
    """
    return measure(samples, sample_rate, true_peak=False).integrated_lufs


def true_peak_db(samples: Any, sample_rate: int) -> float:
    """True peak in dBTP (BS.1770-4 annex 2: 4x oversampling below 96 kHz), streamed."""
    if samples.shape[-1] == 0:
        return SILENCE_DB
    return measure(samples, sample_rate).true_peak_db


def _sample_peaks(samples: np.ndarray, lo: int, hi: int, factor: int) -> np.ndarray:
    """Per-sample true-peak estimate of ``samples[:, lo:hi]`` (max over channels and the
    ``factor`` oversampled points of each sample), float64, shape ``(hi - lo,)``."""
    from scipy.signal import resample_poly

    margin = 64
    a, b = max(lo - margin, 0), min(hi + margin, samples.shape[1])
    up = resample_poly(samples[:, a:b].astype(np.float64), factor, 1, axis=-1)
    up = up[:, (lo - a) * factor:(hi - a) * factor]
    peaks = np.abs(up).max(axis=0).reshape(-1, factor).max(axis=1)
    return np.maximum(peaks, np.abs(samples[:, lo:hi]).max(axis=0))


def limited_blocks(samples: Any, sample_rate: int, *, ceiling_db: float,
                   lookahead_ms: float = 1.5, release_ms: float = 80.0,
                   pre_gain_db: float = 0.0) -> Iterator[np.ndarray]:
    """A look-ahead peak limiter holding the (4x oversampled) peak at or below ``ceiling_db``,
    yielding the output block by block (float32 ``(channels, m)``, in order).

    The gain envelope is the running minimum of ``ceiling / |peak|`` over the look-ahead window,
    smoothed so that it falls within the look-ahead and recovers over ``release_ms``; the filter
    state is carried across blocks. ``pre_gain_db`` is applied first. ``samples`` may be an array
    or any window reader: memory is one block, whatever the length.
    """
    from scipy.ndimage import minimum_filter1d
    from scipy.signal import lfilter

    pre_gain = db_to_amplitude(pre_gain_db)
    ceiling = db_to_amplitude(ceiling_db) / pre_gain  # limit the input at the ceiling before gain
    factor = 4 if sample_rate < 96_000 else 2
    window = max(int(lookahead_ms * 1e-3 * sample_rate), 1)
    context = 2 * window  # the min filter and the moving average each look `window` samples out
    kernel = np.ones(window) / window
    release = np.exp(-1.0 / max(release_ms * 1e-3 * sample_rate, 1.0))
    state = np.zeros(1)
    n = samples.shape[1]
    for start in range(0, n, _BLOCK_SAMPLES):
        stop = min(start + _BLOCK_SAMPLES, n)
        lo, hi = max(start - context, 0), min(stop + context, n)
        window_samples = np.asarray(samples[:, lo:hi])
        peaks = _sample_peaks(window_samples, 0, hi - lo, factor)
        needed = np.minimum(1.0, ceiling / np.maximum(peaks, 1e-12))
        gain = minimum_filter1d(needed, size=2 * window + 1, mode="nearest")
        padded = np.pad(gain, window, mode="edge")
        average = np.convolve(padded, kernel, mode="same")[window:window + gain.size]
        gain = np.minimum(average, gain)[start - lo:stop - lo]
        smoothed, state = lfilter([1.0 - release], [1.0, -release], gain - 1.0, zi=state)
        gain = np.minimum(gain, smoothed + 1.0)
        block = window_samples[:, start - lo:stop - lo]
        yield (block * (gain * pre_gain)[np.newaxis, :]).astype(np.float32)


def limit_true_peak(samples: np.ndarray, sample_rate: int, *, ceiling_db: float,
                    lookahead_ms: float = 1.5, release_ms: float = 80.0,
                    pre_gain_db: float = 0.0) -> np.ndarray:
    """:func:`limited_blocks` gathered into one array, plus a final safety pass against
    inter-sample overshoot left by smoothing (the output never passes the ceiling)."""
    out = np.concatenate(list(limited_blocks(samples, sample_rate, ceiling_db=ceiling_db,
                                             lookahead_ms=lookahead_ms, release_ms=release_ms,
                                             pre_gain_db=pre_gain_db)), axis=1)
    ceiling = db_to_amplitude(ceiling_db)
    residual = db_to_amplitude(true_peak_db(out, sample_rate))
    if residual > ceiling:
        out *= np.float32(ceiling / residual)
    return out


def equal_power_crossfade(tail: np.ndarray, head: np.ndarray) -> np.ndarray:
    """Blend ``tail`` (fading out) into ``head`` (fading in), both shaped (channels, n)."""
    n = tail.shape[-1]
    theta = (np.arange(n) + 0.5) / n * (np.pi / 2)
    return tail * np.cos(theta) + head * np.sin(theta)


def frame_energy(samples: np.ndarray, frame: int) -> np.ndarray:
    """Mean power over a sliding window of ``frame`` samples, one value per sample (mono mix)."""
    power = np.square(samples.astype(np.float64)).mean(axis=0)
    kernel = np.ones(max(frame, 1)) / max(frame, 1)
    return np.convolve(power, kernel, mode="same")


def quietest_index(samples: np.ndarray, center: int, *, radius: int, frame: int) -> int:
    """The index within ``center +- radius`` where a ``frame``-long window is quietest,
    then moved to the nearest zero crossing (of the channel mean) within a few samples."""
    n = samples.shape[-1]
    lo, hi = max(center - radius - frame, 0), min(center + radius + frame, n)
    if hi - lo < 2:
        return int(min(max(center, 0), n))
    energy = frame_energy(samples[:, lo:hi], frame)
    first, last = max(center - radius, 0) - lo, min(center + radius, n) - lo
    if last <= first:
        return int(min(max(center, 0), n))
    # prefer the centre on ties: add a tiny distance penalty
    span = energy[first:last + 1]
    penalty = np.abs(np.arange(first, last + 1) - (center - lo)) * (span.max() + 1e-20) * 1e-6
    best = lo + first + int(np.argmin(span + penalty))
    snapped = snap_to_zero_crossing(samples, best, radius=min(frame, 64))
    return snapped if abs(snapped - center) <= radius else best  # never beyond the search radius


def snap_to_zero_crossing(samples: np.ndarray, index: int, *, radius: int) -> int:
    """The sign change of the channel mean nearest ``index`` (within ``radius``), else ``index``."""
    n = samples.shape[-1]
    lo, hi = max(index - radius, 1), min(index + radius, n - 1)
    if hi <= lo:
        return index
    mono = samples[:, lo - 1:hi + 1].mean(axis=0)
    crossings = np.nonzero(np.signbit(mono[:-1]) != np.signbit(mono[1:]))[0] + lo
    if crossings.size == 0:
        return index
    return int(crossings[np.argmin(np.abs(crossings - index))])


def fade_curve(n: int, *, shape: str) -> np.ndarray:
    """A rising gain curve of ``n`` samples from 0 to 1: ``linear``, ``cosine`` or ``exponential``."""
    x = (np.arange(n) + 0.5) / max(n, 1)
    if shape == "linear":
        return x
    if shape == "cosine":
        return 0.5 - 0.5 * np.cos(np.pi * x)
    if shape == "exponential":  # linear in dB from -60 dB to 0 dB, then to zero at the very start
        return np.where(x > 0, 10.0 ** (-3.0 * (1.0 - x)), 0.0) * np.minimum(1.0, x * 20)
    raise ValueError(f"shape={shape!r}; expected one of: linear, cosine, exponential")
