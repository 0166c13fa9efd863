"""Click candidates and what tells them from speech: the features of the learned click detector.

Below 32 kHz the AR interpolation error of speech is heavy-tailed: glottal closures, plosive
bursts and the edges of fricatives stand 10 to 20 times over its local scale, as high as a click
10 dB over the speech. One threshold on that ratio cannot keep both (measured on the repair eval
at 8 kHz: 80 % recall at 3.6 false detections a minute). So candidates are taken at a low
threshold and each is described by what a person looking at the waveform would check: how far it
stands out against the sound just before and just after it (a click before an onset stands out
against the pause, a burst only against nothing), how loud it is, whether similar peaks recur a
pitch period away (:func:`isolation`), whether the waveform around it recurs (:func:`recurrence`),
how wide it is, whether the level steps up or down across it (an onset), how noisy and how
periodic the sound around it is, and what repairing it would do (:func:`repair_features`): a
click taken out leaves sound that recurs like its neighbours, a glottal pulse taken out leaves a
hole in the pattern. :mod:`tools.algorithms.click_model` weighs these.

Every function is pure, works on one channel (1-D float64) and never modifies its inputs.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import median_filter

from tools.algorithms import ar

SCALE_FRAME_S = 0.0025
SCALE_WINDOW_S = 0.025
LEVEL_WINDOW_S = 0.020
ISOLATION_GAP_S, ISOLATION_REACH_S = 0.0015, 0.020
NEAR_GAP_S, NEAR_REACH_S = 0.00025, 0.0015
RECUR_PRE_S, RECUR_POST_S = 0.0005, 0.003
RECUR_LAG_S = (0.002, 0.040)
RECUR_NEAR_S = 0.000375
CONTEXT_S = 0.010  # level step, zero crossings: this much on each side, the event left out
VOICING_S, VOICING_LAGS_S = 0.040, (0.0025, 0.015)
FEATURES = ("ratio_max", "ratio_min", "level_db", "local_dbfs", "iso_before", "iso_after",
            "iso_near", "recur_before", "recur_after", "leftover_near", "width_ms", "core_ms", "step_db",
            "crossings", "voicing", "log2_rate", "concentration", "repaired_recur_before",
            "repaired_recur_after", "removed_db", "repair_gain_db")


def side_scales(stat: np.ndarray, rate: int) -> tuple[np.ndarray, np.ndarray]:
    """Per sample, the median of ``stat`` over ``SCALE_WINDOW_S`` just before and just after
    (on ``SCALE_FRAME_S`` frames), scaled to a Gaussian sigma and floored above zero."""
    frame = max(int(SCALE_FRAME_S * rate), 1)
    count = -(-stat.size // frame)
    frames = np.pad(stat, (0, count * frame - stat.size), mode="edge").reshape(count, frame)
    medians = np.median(frames, axis=1)
    k = max(int(round(SCALE_WINDOW_S / SCALE_FRAME_S)), 1) | 1
    centred = np.pad(median_filter(medians, size=k, mode="nearest"), k // 2 + 1, mode="edge")
    floor = 1e-9 + 1e-3 * float(np.median(medians))
    before = np.maximum(centred[:count], floor) / 0.6745
    after = np.maximum(centred[k + 1 : k + 1 + count], floor) / 0.6745
    return (np.repeat(before, frame)[: stat.size], np.repeat(after, frame)[: stat.size])


def local_rms(x: np.ndarray, rate: int) -> np.ndarray:
    """RMS over a centred ``LEVEL_WINDOW_S`` window, per sample."""
    width = max(int(LEVEL_WINDOW_S * rate), 1)
    power = np.convolve(np.square(x, dtype=np.float64), np.ones(width) / width, mode="same")
    return np.sqrt(np.maximum(power, 0.0))


def isolation(stat: np.ndarray, lo: int, hi: int, gap: int, reach: int) -> tuple[float, float]:
    """The highest ``stat`` from ``gap`` to ``reach`` samples before ``lo`` and after ``hi``, each
    relative to the event's own peak (0 where there is nothing)."""
    peak = max(float(stat[lo:hi].max()), 1e-30)
    before = stat[max(lo - reach, 0) : max(lo - gap, 0)]
    after = stat[hi + gap : hi + reach]
    return (float(before.max()) / peak if before.size else 0.0,
            float(after.max()) / peak if after.size else 0.0)


def recurrence(x: np.ndarray, peak: int, rate: int, outliers: np.ndarray
               ) -> tuple[float, float, float]:
    """How the waveform from ``RECUR_PRE_S`` before ``peak`` to ``RECUR_POST_S`` after it recurs
    ``RECUR_LAG_S`` before and after it: the best normalised cross-correlation on each side
    (leaving out stretches that hold ``outliers``, other candidates), and the share of what the
    better match leaves over that lies within ``RECUR_NEAR_S`` of the peak. A glottal pulse's
    formant ringing recurs a period away; a click added to the sound makes its stretch unlike
    any other, unless the sound is a steady tone, which recurs around the click and leaves the
    click over."""
    start = max(peak - int(RECUR_PRE_S * rate), 0)
    stop = min(peak + int(RECUR_POST_S * rate) + 1, x.size)
    window = x[start:stop]
    size = window.size
    near = slice(max(peak - start - int(RECUR_NEAR_S * rate), 0),
                 peak - start + int(RECUR_NEAR_S * rate) + 1)
    lag_lo, lag_hi = int(RECUR_LAG_S[0] * rate), int(RECUR_LAG_S[1] * rate)
    best, shares = [], []
    for lo, hi in ((start - lag_hi, start - lag_lo), (start + lag_lo, start + lag_hi)):
        lo, hi = max(lo, 0), min(hi, x.size - size)
        if hi <= lo or not np.any(window):
            best.append(0.0)
            shares.append(0.0)
            continue
        views = np.lib.stride_tricks.sliding_window_view(x[lo : hi + size], size)
        energy = np.einsum("ij,ij->i", views, views)
        ncc = (views @ window) / np.maximum(np.sqrt(energy * (window @ window)), 1e-30)
        busy = np.lib.stride_tricks.sliding_window_view(outliers[lo : hi + size], size).any(axis=1)
        ncc[busy] = 0.0
        k = int(np.argmax(ncc))
        left = window - (views[k] @ window) / max(float(energy[k]), 1e-30) * views[k]
        best.append(float(ncc[k]))
        shares.append(float(np.sum(left[near] ** 2)) / max(float(left @ left), 1e-30))
    return best[0], best[1], shares[int(np.argmax(best))]


def _context(x: np.ndarray, lo: int, hi: int, reach: int) -> tuple[np.ndarray, np.ndarray]:
    return x[max(lo - reach, 0) : lo], x[hi : hi + reach]


def _crossings(segment: np.ndarray) -> float:
    if segment.size < 2:
        return 0.0
    return float(np.mean(np.signbit(segment[1:]) != np.signbit(segment[:-1])))


def _voicing(x: np.ndarray, centre: int, rate: int) -> float:
    """The highest normalised autocorrelation at pitch lags over ``VOICING_S`` around ``centre``."""
    half = int(VOICING_S * rate) // 2
    seg = x[max(centre - half, 0) : centre + half]
    lo, hi = int(VOICING_LAGS_S[0] * rate), int(VOICING_LAGS_S[1] * rate)
    if seg.size <= 2 * hi or not np.any(seg):
        return 0.0
    seg = seg - seg.mean()
    size = 1 << int(np.ceil(np.log2(2 * seg.size)))
    spectrum = np.fft.rfft(seg, size)
    r = np.fft.irfft(np.abs(spectrum) ** 2, size)[: hi + 1]
    counts = seg.size - np.arange(hi + 1)  # unbiased, so long lags are not penalised
    r = r / counts
    return float(np.max(r[lo:hi]) / max(r[0], 1e-30))


def _db(ratio: float) -> float:
    return 20.0 * float(np.log10(max(ratio, 1e-6)))


def repair_features(x: np.ndarray, rate: int, peak: int, span: tuple[int, int],
                    outliers: np.ndarray) -> tuple[float, float, float, float]:
    """What filling ``span`` (the repair declick would make) does: the recurrence before and
    after of the repaired waveform around ``peak``, the energy taken out relative to the 10 ms
    around (dB), and the energy of the fill relative to what it replaces (dB)."""
    a, b = span
    reach = int((RECUR_LAG_S[1] + RECUR_POST_S + 0.005) * rate)
    lo, hi = max(a - reach, 0), min(b + reach, x.size)
    local = np.array(x[lo:hi], dtype=np.float64)
    fill = ar.interpolate_short_gap(local, a - lo, b - lo, sample_rate=rate)
    local[a - lo : b - lo] = fill
    rec_b, rec_a, _ = recurrence(local, peak - lo, rate, outliers[lo:hi])
    context = int(CONTEXT_S * rate)
    removed = float(np.sum((x[a:b] - fill) ** 2))
    around = float(np.sum(np.square(x[max(a - context, 0) : b + context]))) + 1e-20
    replaced = float(np.sum(np.square(x[a:b]))) + 1e-20
    return (rec_b, rec_a, 10.0 * float(np.log10(removed / around + 1e-12)),
            10.0 * float(np.log10(float(np.sum(fill**2)) / replaced + 1e-12)))


def event_features(x: np.ndarray, rate: int, stat: np.ndarray, before: np.ndarray,
                   after: np.ndarray, rms: np.ndarray, events: list[tuple[int, int]],
                   spans: list[tuple[int, int]], outliers: np.ndarray) -> np.ndarray:
    """One row of ``FEATURES`` per event ``(lo, hi)`` with its repair span: see the module
    docstring."""
    rows = np.zeros((len(events), len(FEATURES)))
    gap, reach = int(ISOLATION_GAP_S * rate), int(ISOLATION_REACH_S * rate)
    near_gap, near_reach = max(int(NEAR_GAP_S * rate), 1), max(int(NEAR_REACH_S * rate), 2)
    context, ms = int(CONTEXT_S * rate), 1000.0 / rate
    one_ms = max(int(0.001 * rate), 1)
    for i, (lo, hi) in enumerate(events):
        p = lo + int(np.argmax(stat[lo:hi]))
        peak = float(stat[p])
        iso_b, iso_a = isolation(stat, lo, hi, gap, reach)
        near = max(isolation(stat, lo, hi, near_gap, near_reach))
        rec_b, rec_a, share = recurrence(x, p, rate, outliers)
        left, right = _context(x, lo - one_ms, hi + one_ms, context)
        step = _db(np.sqrt(float(np.sum(right**2)) / max(right.size, 1) + 1e-20)
                   / np.sqrt(float(np.sum(left**2)) / max(left.size, 1) + 1e-20))
        around = stat[max(p - one_ms, 0) : p + one_ms + 1]
        rows[i] = (_db(peak / max(before[p], after[p])), _db(peak / min(before[p], after[p])),
                   _db(peak / max(rms[p], 1e-12)), _db(max(rms[p], 1e-12)),
                   _db(iso_b + 1e-3), _db(iso_a + 1e-3), _db(near + 1e-3), rec_b, rec_a, share,
                   (hi - lo) * ms, float(np.sum(stat[lo:hi] > 0.5 * peak)) * ms,
                   np.clip(step, -40, 40), 0.5 * (_crossings(left) + _crossings(right)),
                   _voicing(x, p, rate), np.log2(rate / 8000.0),
                   peak**2 / max(float(np.sum(around**2)), 1e-30),
                   *repair_features(x, rate, p, spans[i], outliers))
    return rows
