"""Small DSP building blocks shared by the tools: levels, loudness, true peak, crossfades, limiting.

All functions take float arrays shaped ``(channels, n)`` (time last) and never modify their input.
Loudness follows ITU-R BS.1770-4 with pyloudnorm's K-weighting filters, computed block by block so
that hours of audio need memory for one block only.
"""

from __future__ import annotations

import numpy as np
import pyloudnorm
from scipy.ndimage import minimum_filter1d
from scipy.signal import freqz, lfilter, lfilter_zi, resample_poly

SILENCE_DB = -120.0
_K_GAIN_997_DB = 0.691  # K-weighting gain at 997 Hz of BS.1770-4's 48 kHz filters
_BLOCK_SAMPLES = 1 << 18


def db_to_amplitude(gain_db: float) -> float:
    return float(10.0 ** (gain_db / 20.0))


def amplitude_to_db(amplitude: float) -> float:
    return float(20.0 * np.log10(max(float(amplitude), 1e-6))) if amplitude > 0 else SILENCE_DB


def rms_db(samples: np.ndarray) -> float:
    """RMS level over all channels and samples, in dBFS (``SILENCE_DB`` for digital silence)."""
    if samples.size == 0:
        return SILENCE_DB
    power = float(np.mean(np.square(samples, dtype=np.float64)))
    return float(10.0 * np.log10(power)) if power > 1e-24 else SILENCE_DB


def peak_db(samples: np.ndarray) -> float:
    """Sample peak in dBFS."""
    return amplitude_to_db(float(np.max(np.abs(samples)))) if samples.size else SILENCE_DB


def _k_weighting(sample_rate: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The two K-weighting stages, calibrated so that a 997 Hz sine gains 0.691 dB as with
    BS.1770's 48 kHz coefficients: a full-scale 997 Hz sine reads -3.01 LUFS at any rate.

    The designs come from pyloudnorm, whose high-pass has unity passband gain where BS.1770's
    (numerator ``[1, -2, 1]``) has +0.04 dB, so pyloudnorm alone reads 0.04 dB low at 48 kHz.
    """
    meter = pyloudnorm.Meter(sample_rate)  # BS.1770 filter design lives in pyloudnorm
    stages = [(np.asarray(f.b, dtype=np.float64), np.asarray(f.a, dtype=np.float64))
              for f in meter._filters.values()]
    w = [2 * np.pi * 997.0 / sample_rate]
    gain_db = sum(20 * np.log10(abs(freqz(b, a, worN=w)[1][0])) for b, a in stages)
    b, a = stages[-1]
    stages[-1] = (b * 10 ** ((_K_GAIN_997_DB - gain_db) / 20), a)
    return stages


def integrated_loudness(samples: np.ndarray, sample_rate: int) -> float:
    """Integrated loudness in LUFS (BS.1770-4 gating), ``-inf`` for silence or under 0.4 s.

    Matches ``pyloudnorm.Meter(rate).integrated_loudness`` for mono to 5 channels (weights 1, except
    1.41 for channels 4 and 5 as in pyloudnorm) up to a constant offset (0.04 dB at 48 kHz, see
    :func:`_k_weighting`), but streams through the signal in blocks.
    """
    channels, n = samples.shape
    block = int(round(0.4 * sample_rate))
    step = int(round(0.1 * sample_rate))
    if n < block:
        return float("-inf")
    weights = np.array([1.41 if c in (3, 4) else 1.0 for c in range(channels)])
    filters = _k_weighting(sample_rate)
    states = [[lfilter_zi(b, a) * 0.0 for _ in range(channels)] for b, a in filters]
    # Squared K-weighted signal summed per 100 ms step; gating blocks are 4 consecutive steps.
    step_energy = np.zeros((channels, (n - block) // step + 4))
    carry = np.zeros((channels, 0))
    done_steps = 0
    for start in range(0, n, _BLOCK_SAMPLES):
        chunk = samples[:, start:start + _BLOCK_SAMPLES].astype(np.float64)
        for index, (b, a) in enumerate(filters):
            for c in range(channels):
                chunk[c], states[index][c] = lfilter(b, a, chunk[c], zi=states[index][c])
        squared = np.concatenate([carry, np.square(chunk)], axis=1)
        usable = squared.shape[1] // step
        take = min(usable, step_energy.shape[1] - done_steps)
        if take > 0:
            step_energy[:, done_steps:done_steps + take] = (
                squared[:, :take * step].reshape(channels, take, step).sum(axis=2)
            )
        done_steps += max(take, 0)
        carry = squared[:, usable * step:]
    num_blocks = (n - block) // step + 1
    energy = sum(step_energy[:, k:k + num_blocks] for k in range(4)) / block
    block_loudness = -0.691 + 10.0 * np.log10(np.maximum(weights @ energy, 1e-30))
    gated = energy[:, block_loudness >= -70.0]
    if gated.shape[1] == 0:
        return float("-inf")
    relative = -0.691 + 10.0 * np.log10(weights @ gated.mean(axis=1)) - 10.0
    keep = (block_loudness >= -70.0) & (block_loudness > relative)
    if not keep.any():
        return float("-inf")
    return float(-0.691 + 10.0 * np.log10(weights @ energy[:, keep].mean(axis=1)))


def _oversample_blocks(samples: np.ndarray, factor: int):
    """Yield 4x-oversampled blocks of ``samples`` (with filter margins trimmed)."""
    margin = 64
    n = samples.shape[1]
    for start in range(0, n, _BLOCK_SAMPLES):
        lo, hi = max(start - margin, 0), min(start + _BLOCK_SAMPLES + margin, n)
        up = resample_poly(samples[:, lo:hi].astype(np.float64), factor, 1, axis=-1)
        yield up[:, (start - lo) * factor:(min(start + _BLOCK_SAMPLES, n) - lo) * factor]


def true_peak_db(samples: np.ndarray, sample_rate: int) -> float:
    """True peak in dBTP (BS.1770-4 annex 2: 4x oversampling below 96 kHz)."""
    if samples.size == 0:
        return SILENCE_DB
    factor = 4 if sample_rate < 96_000 else 2
    peak = max(float(np.max(np.abs(block))) for block in _oversample_blocks(samples, factor))
    return amplitude_to_db(max(peak, float(np.max(np.abs(samples)))))


def _sample_peaks(samples: np.ndarray, lo: int, hi: int, factor: int) -> np.ndarray:
    """Per-sample true-peak estimate of ``samples[:, lo:hi]`` (max over channels and the
    ``factor`` oversampled points of each sample), float64, shape ``(hi - lo,)``."""
    margin = 64
    a, b = max(lo - margin, 0), min(hi + margin, samples.shape[1])
    up = resample_poly(samples[:, a:b].astype(np.float64), factor, 1, axis=-1)
    up = up[:, (lo - a) * factor:(hi - a) * factor]
    peaks = np.abs(up).max(axis=0).reshape(-1, factor).max(axis=1)
    return np.maximum(peaks, np.abs(samples[:, lo:hi]).max(axis=0))


def limit_true_peak(samples: np.ndarray, sample_rate: int, *, ceiling_db: float,
                    lookahead_ms: float = 1.5, release_ms: float = 80.0,
                    pre_gain_db: float = 0.0) -> np.ndarray:
    """A look-ahead peak limiter holding the (4x oversampled) peak at or below ``ceiling_db``.

    The gain envelope is the running minimum of ``ceiling / |peak|`` over the look-ahead window,
    smoothed so that it falls within the look-ahead and recovers over ``release_ms``. Works block by
    block (filter state carried across blocks): memory is the float32 output plus one block.
    ``pre_gain_db`` is applied first (block by block, so the input is never copied whole).
    """
    pre_gain = db_to_amplitude(pre_gain_db)
    ceiling = db_to_amplitude(ceiling_db) / pre_gain  # limit the input at the ceiling before gain
    factor = 4 if sample_rate < 96_000 else 2
    window = max(int(lookahead_ms * 1e-3 * sample_rate), 1)
    context = 2 * window  # the min filter and the moving average each look `window` samples out
    kernel = np.ones(window) / window
    release = np.exp(-1.0 / max(release_ms * 1e-3 * sample_rate, 1.0))
    state = np.zeros(1)
    n = samples.shape[1]
    out = np.empty(samples.shape, dtype=np.float32)
    for start in range(0, n, _BLOCK_SAMPLES):
        stop = min(start + _BLOCK_SAMPLES, n)
        lo, hi = max(start - context, 0), min(stop + context, n)
        needed = np.minimum(1.0, ceiling / np.maximum(_sample_peaks(samples, lo, hi, factor), 1e-12))
        gain = minimum_filter1d(needed, size=2 * window + 1, mode="nearest")
        padded = np.pad(gain, window, mode="edge")
        average = np.convolve(padded, kernel, mode="same")[window:window + gain.size]
        gain = np.minimum(average, gain)[start - lo:stop - lo]
        smoothed, state = lfilter([1.0 - release], [1.0, -release], gain - 1.0, zi=state)
        gain = np.minimum(gain, smoothed + 1.0)
        out[:, start:stop] = samples[:, start:stop] * (gain * pre_gain)[np.newaxis, :]
    # a final safety pass against inter-sample overshoot left by smoothing
    residual = db_to_amplitude(true_peak_db(out, sample_rate))
    if residual > ceiling * pre_gain:
        out *= np.float32(ceiling * pre_gain / residual)
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
