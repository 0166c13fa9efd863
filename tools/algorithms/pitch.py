"""Fundamental frequency (f0) of voiced sound: frame-wise YIN and the median over voiced frames.

For measuring what the tempo, pitch and speed tools did (the evals and tests check that tempo
keeps the median f0 and that a pitch shift of n semitones multiplies it by 2^(n/12)).
librosa's ``yin``/``pyin`` do the same but librosa is not a dependency of echo-agent (and compiles
with numba on first use, ~20 s), so this is YIN itself (de Cheveigne & Kawahara 2002): the
cumulative-mean-normalised difference function by FFT, the first dip under ``threshold``,
parabolic interpolation of the lag.
"""

from __future__ import annotations

import numpy as np

FRAME_S = 0.04
HOP_S = 0.01


def yin_f0(samples: np.ndarray, sample_rate: int, *, fmin_hz: float = 60.0, fmax_hz: float = 500.0,
           threshold: float = 0.15) -> np.ndarray:
    """f0 in Hz per 10 ms frame of the channel mean (NaN where unvoiced or silent).

    Args:
        samples: ``(channels, n)`` or ``(n,)`` float.
        fmin_hz, fmax_hz: the f0 search range.
        threshold: YIN's aperiodicity threshold (lower is stricter about voicing).
    """
    x = np.asarray(samples, dtype=np.float64)
    x = x.mean(axis=0) if x.ndim == 2 else x
    frame = int(FRAME_S * sample_rate)
    max_lag = min(int(sample_rate / fmin_hz) + 1, frame - 1)
    min_lag = max(int(sample_rate / fmax_hz), 2)
    hop = int(HOP_S * sample_rate)
    width = frame + max_lag
    count = max((x.size - width) // hop + 1, 0)
    if count == 0:
        return np.zeros(0)
    idx = np.arange(width)[None, :] + hop * np.arange(count)[:, None]
    frames = x[idx]
    loud = np.sqrt(np.mean(np.square(frames[:, :frame]), axis=1))
    gate = loud > max(loud.max(), 1e-12) * 10 ** (-40 / 20)
    size = 1 << int(np.ceil(np.log2(2 * width)))
    spec = np.fft.rfft(frames, size, axis=1)
    head = np.fft.rfft(frames[:, :frame], size, axis=1)
    corr = np.fft.irfft(spec * np.conj(head), size, axis=1)[:, :max_lag + 1]
    sq = np.cumsum(np.square(frames), axis=1)
    energy0 = sq[:, frame - 1]
    lags = np.arange(max_lag + 1)
    energy_tau = sq[:, lags + frame - 1] - np.concatenate(
        [np.zeros((count, 1)), sq[:, lags[1:] - 1]], axis=1)
    diff = energy0[:, None] + energy_tau - 2 * corr
    diff[:, 0] = 0.0
    cumulative = np.cumsum(diff[:, 1:], axis=1)
    cmnd = np.ones_like(diff)
    cmnd[:, 1:] = diff[:, 1:] * lags[1:] / np.maximum(cumulative, 1e-20)
    f0 = np.full(count, np.nan)
    for i in np.nonzero(gate)[0]:
        row = cmnd[i]
        below = np.nonzero(row[min_lag:max_lag] < threshold)[0]
        if below.size == 0:
            continue
        tau = min_lag + below[0]
        while tau + 1 < max_lag and row[tau + 1] < row[tau]:
            tau += 1
        a, b, c = row[tau - 1], row[tau], row[tau + 1]
        shift = 0.5 * (a - c) / (a - 2 * b + c) if a - 2 * b + c > 0 else 0.0
        f0[i] = sample_rate / (tau + float(np.clip(shift, -1, 1)))
    return f0


def median_f0(samples: np.ndarray, sample_rate: int, **kwargs) -> float:
    """Median f0 (Hz) over voiced frames; NaN when none is voiced."""
    f0 = yin_f0(samples, sample_rate, **kwargs)
    voiced = f0[np.isfinite(f0)]
    return float(np.median(voiced)) if voiced.size else float("nan")


def f0_ratio(before: np.ndarray, after: np.ndarray, sample_rate: int, **kwargs) -> float:
    """Median over frames voiced in both of f0(after) / f0(before), frame j of ``after`` paired
    with the frame of ``before`` at the same relative position (so a tempo change lines them up);
    NaN when no frame is voiced in both."""
    f_before = yin_f0(before, sample_rate, **kwargs)
    f_after = yin_f0(after, sample_rate, **kwargs)
    if f_before.size == 0 or f_after.size == 0:
        return float("nan")
    scale = np.asarray(before).shape[-1] / np.asarray(after).shape[-1]
    index = np.minimum(np.round(np.arange(f_after.size) * scale).astype(int), f_before.size - 1)
    paired = f_before[index]
    both = np.isfinite(paired) & np.isfinite(f_after)
    return float(np.median(f_after[both] / paired[both])) if both.any() else float("nan")
