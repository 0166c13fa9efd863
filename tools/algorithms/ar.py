"""Autoregressive (AR) models for repair: estimation, residuals, extrapolation, gap interpolation.

An AR model of order ``p`` is the prediction-error filter ``a = [1, a_1, ..., a_p]``: the residual
``e[t] = sum_k a[k] x[t - k]`` is small (white) where the signal follows the model. Everything here
works on 1-D arrays (one channel), computes in float64 and never modifies its inputs.

Interpolation is least-squares AR (LSAR, Janssen, Veldhuis & Vries 1986): the missing samples are
those that minimise the energy of the residual over every row that touches them. For a contiguous
gap that energy is a quadratic form with a Toeplitz matrix (``r_a(i - j)``, the autocorrelation of
``a``), so one Levinson solve (``scipy.linalg.solve_toeplitz``) fills it. With a short context
:func:`interpolate_gap` fits one model to both sides by least squares (covariance method); with a
long one, a forward model on the left and a backward model on the right (Etter 1996), so a gap may
lead from one sound into another. Then it re-fits on the context plus the fill and solves again
(Janssen's iteration) while that does not blow the fill up.

The order and context that suit a gap depend on the signal: speech changes within tens of ms and
wants a short context, sustained music wants a long one (and a high order, to resolve its
partials). So :func:`interpolate_gap` tries both on the audio next to the gap (extrapolating the
last known stretch on each side from what precedes it) and keeps the short one unless the long
one predicts ``LONG_SETTING_MARGIN_DB`` better there. Work per gap is bounded: at most
``LONG_CONTEXT_S`` plus ``VALIDATION_HORIZON_S`` of context is read on each side, and the order is
at most ``MAX_ORDER``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import cho_factor, cho_solve, solve_toeplitz
from scipy.signal import fftconvolve, lfilter

# (context, order) pairs in seconds: speech-like and music-like (measured on the repair eval).
SHORT_CONTEXT_S, SHORT_ORDER_S = 0.030, 0.010
LONG_CONTEXT_S, LONG_ORDER_S = 0.186, 0.0465
MAX_ORDER = 4096
MIN_ORDER = 8
VALIDATION_HORIZON_S = 0.020
# The long setting must extrapolate this much better to be chosen: its extrapolation wins on speech
# more often than its interpolation does (measured on the repair eval, speech and music).
LONG_SETTING_MARGIN_DB = 3.0
# Relative diagonal loading of the autocorrelation (-60 dB): bounds the dynamic range of the model
# spectrum, which keeps the LSAR system well conditioned on band-limited recordings.
_WHITE_NOISE_LOADING = 1e-6
ENERGY_GUARD = 1.5  # a fill louder (RMS) than this times its louder side is a blown-up solve
ITERATE_LIMIT_S = 0.030  # longer gaps re-fit only the long (tonal) setting: measured to pay there


def autocorrelation(x: np.ndarray, max_lag: int) -> np.ndarray:
    """Biased autocorrelation ``r[0..max_lag]`` of ``x`` (no window), via the FFT."""
    n = x.size
    size = 1 << int(np.ceil(np.log2(max(2 * n - 1, 2))))
    spectrum = np.fft.rfft(x, size)
    r = np.fft.irfft(spectrum * np.conj(spectrum), size)[: max_lag + 1]
    return r / max(n, 1)


def fit_ar(x: np.ndarray, order: int) -> tuple[np.ndarray, float]:
    """Autocorrelation-method AR fit on a Hann-windowed ``x``: ``(a, sigma2)``, ``a[0] = 1``.

    The order is capped at ``len(x) // 2``; a tiny diagonal loading and a Gaussian lag window keep
    the Levinson recursion stable on near-tonal signals. ``sigma2`` is the prediction-error power
    (0 for a silent ``x``, whose model is then ``[1, 0, ...]``).
    """
    x = np.asarray(x, dtype=np.float64)
    order = int(max(1, min(order, x.size // 2)))
    r = autocorrelation(x * np.hanning(x.size), order)
    if r[0] <= 1e-30:
        return np.concatenate([[1.0], np.zeros(order)]), 0.0
    r[0] *= 1.0 + _WHITE_NOISE_LOADING
    r *= np.exp(-0.5 * (np.arange(order + 1) / (4.0 * order)) ** 2)
    coef = solve_toeplitz(r[:order], -r[1:])
    sigma2 = float(max(r[0] + np.dot(coef, r[1:]), 1e-30))
    return np.concatenate([[1.0], coef]), sigma2


def fit_ar_joint(segments: list[np.ndarray], order: int) -> tuple[np.ndarray, float]:
    """Covariance-method (least-squares) AR fit shared by several stretches: ``(a, sigma2)``.

    Every row ``x[t] + sum_k a_k x[t - k]`` lying wholly inside one of ``segments`` counts, with no
    window, so a short context on each side of a gap gives one sharp model of the sound that
    spans it (measured on speech: better than a windowed fit per side). The same -60 dB diagonal
    loading as :func:`fit_ar` keeps the system well conditioned on band-limited recordings.
    """
    order = int(max(1, min([order] + [seg.size // 2 for seg in segments])))
    gram = np.zeros((order, order))
    cross = np.zeros(order)
    count = 0
    for seg in segments:
        seg = np.asarray(seg, dtype=np.float64)
        # a contiguous copy: BLAS does not take the strided window view (100x slower)
        rows = np.ascontiguousarray(np.lib.stride_tricks.sliding_window_view(seg[:-1], order)[:, ::-1])
        gram += rows.T @ rows
        cross += rows.T @ seg[order:]
        count += rows.shape[0]
    scale = float(np.trace(gram)) / order
    if count == 0 or scale <= 1e-30:
        return np.concatenate([[1.0], np.zeros(order)]), 0.0
    gram[np.diag_indices(order)] += _WHITE_NOISE_LOADING * scale
    coef = cho_solve(cho_factor(gram), -cross)
    residual = 0.0
    for seg in segments:
        residual += float(np.sum(lfilter(np.concatenate([[1.0], coef]), [1.0], seg)[order:] ** 2))
    return np.concatenate([[1.0], coef]), max(residual / count, 1e-30)


def extrapolate(history: np.ndarray, a: np.ndarray, count: int) -> np.ndarray:
    """Continue ``history`` by ``count`` samples with the AR model ``a`` (no excitation)."""
    p = a.size - 1
    past = np.zeros(p)
    recent = np.asarray(history, dtype=np.float64)[::-1][:p]
    past[: recent.size] = recent
    # filter state of lfilter([1], a) after producing `history`: zi[k] = -sum_j a[k+1+j] past[j]
    zi = -fftconvolve(a[1:], past[::-1], mode="full")[p - 1 :]
    return lfilter([1.0], a, np.zeros(count), zi=zi)[0]


# ----------------------------------------------------------------------------- LSAR solves


def _gap_normal_equations(segment: np.ndarray, start: int, stop: int, a: np.ndarray):
    """Toeplitz column and right-hand side of ``min |A x|^2`` over ``segment[start:stop]``.

    Uses the rows that touch the gap, which lie in ``segment[start - p : stop + p]``.
    """
    m, p = stop - start, a.size - 1
    local = np.asarray(segment[start - p : stop + p], dtype=np.float64).copy()
    local[p : p + m] = 0.0
    e = fftconvolve(local, a, mode="full")[p : local.size]
    grad = fftconvolve(e, a[::-1], mode="full")[p : p + m]
    r = np.correlate(a, a, mode="full")[p:]
    column = np.zeros(m)
    column[: min(r.size, m)] = r[: min(r.size, m)]
    return column, -grad


def solve_two_sided(left: np.ndarray, right: np.ndarray, m: int,
                    forward: tuple[np.ndarray, float] | None,
                    backward: tuple[np.ndarray, float] | None) -> np.ndarray:
    """LSAR fill of ``m`` samples between ``left`` and ``right``.

    ``forward`` is ``(a, sigma2)`` fitted on the left context; ``backward`` one fitted on the
    time-reversed right context. Each residual term is weighted by ``1 / sigma2``. A side whose
    context is shorter than its order is dropped; with neither, the fill is zeros.
    """
    column = np.zeros(m)
    rhs = np.zeros(m)
    used = False
    for model, reverse in ((forward, False), (backward, True)):
        if model is None or model[1] <= 0.0:
            continue
        a, sigma2 = model
        p = a.size - 1
        if left.size < p or right.size < p:
            continue
        segment = np.concatenate([left[left.size - p :], np.zeros(m), right[:p]])
        if reverse:
            segment = segment[::-1]
        col, b = _gap_normal_equations(segment, p, p + m, a)
        column += col / sigma2  # T(r_a) is persymmetric: the same matrix in reversed time
        rhs += (b[::-1] if reverse else b) / sigma2
        used = True
    if not used:
        return np.zeros(m)
    column[0] *= 1.0 + 1e-9
    return solve_toeplitz(column, rhs)


def lsar_normal_equations(segment: np.ndarray, idx: np.ndarray, a: np.ndarray
                          ) -> tuple[np.ndarray, np.ndarray]:
    """``(M, g)`` with ``|A x|^2 = x_m^T M x_m + 2 g^T x_m + const`` for the unknown samples
    ``segment[idx]`` (sorted, each at least ``p`` samples from the ends). ``M`` is dense
    ``len(idx)``-square: keep ``idx`` small."""
    x = np.asarray(segment, dtype=np.float64).copy()
    x[idx] = 0.0
    p = a.size - 1
    e = fftconvolve(x, a, mode="full")[: x.size + p]
    g = fftconvolve(e, a[::-1], mode="full")[p : p + x.size][idx]
    r = np.correlate(a, a, mode="full")[p:]
    lag = np.abs(idx[:, None] - idx[None, :])
    matrix = np.where(lag <= p, r[np.minimum(lag, p)], 0.0)
    matrix[np.diag_indices_from(matrix)] *= 1.0 + 1e-9
    return matrix, g


def lsar_fill_mask(segment: np.ndarray, missing: np.ndarray, a: np.ndarray) -> np.ndarray:
    """LSAR fill of any set of missing samples (boolean ``missing``), each at least ``p`` samples
    from the ends of ``segment``. Returns a copy of ``segment`` with them filled."""
    x = np.asarray(segment, dtype=np.float64).copy()
    idx = np.flatnonzero(missing)
    if idx.size:
        matrix, g = lsar_normal_equations(x, idx, a)
        x[idx] = cho_solve(cho_factor(matrix), -g)
    return x


# ----------------------------------------------------------------------------- gap filling


@dataclass(frozen=True)
class ArFill:
    """An AR fill: the samples, and the model settings chosen for them (in samples)."""

    samples: np.ndarray
    order: int
    context: int
    iterations: int


def _settings(rate: float) -> list[tuple[int, int]]:
    """(context, order) candidates in samples at ``rate``."""
    out = []
    for context_s, order_s in ((SHORT_CONTEXT_S, SHORT_ORDER_S), (LONG_CONTEXT_S, LONG_ORDER_S)):
        order = int(min(max(round(order_s * rate), MIN_ORDER), MAX_ORDER))
        out.append((int(round(context_s * rate)), order))
    return out


def _validation_score(left: np.ndarray, right: np.ndarray, context: int, order: int,
                      horizon: int) -> float:
    """Mean SNR (dB, each side floored at -3) of extrapolating the last ``horizon`` samples of
    each side (towards the gap) from the ``context`` samples before them."""
    scores = []
    for seq in (left, right[::-1]):
        if seq.size < horizon + 2 * MIN_ORDER:
            continue
        target = seq[seq.size - horizon :]
        history = seq[max(seq.size - horizon - context, 0) : seq.size - horizon]
        a, _ = fit_ar(history, order)
        guess = extrapolate(history, a, horizon)
        energy = float(np.sum(target**2))
        error = float(np.sum((target - guess) ** 2))
        scores.append(max(10.0 * np.log10(max(energy, 1e-30) / max(error, 1e-30)), -3.0))
    return float(np.mean(scores)) if scores else -3.0


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x)))) if x.size else 0.0


def _models(left_ctx: np.ndarray, right_ctx: np.ndarray, fill: np.ndarray | None, order: int,
            joint: bool):
    """``(forward, backward)`` models for :func:`solve_two_sided`.

    ``joint`` (the short setting): one least-squares model of both sides (and the fill so far, on
    a re-fit), used forwards. Otherwise (the long tonal setting, where that fit would cost
    ``order**2`` per row) a windowed fit per side (Etter 1996), the right one backwards.
    """
    if joint:
        parts = [left_ctx, right_ctx] if fill is None else [np.concatenate([left_ctx, fill, right_ctx])]
        return fit_ar_joint(parts, order), None
    if fill is None:
        return fit_ar(left_ctx, order), fit_ar(right_ctx[::-1], order)
    return (fit_ar(np.concatenate([left_ctx, fill]), order),
            fit_ar(np.concatenate([fill, right_ctx])[::-1], order))


def _fill_at_rate(left: np.ndarray, right: np.ndarray, m: int, context: int, order: int,
                  max_iterations: int, *, joint: bool) -> tuple[np.ndarray, int]:
    """Two-sided LSAR fill with Janssen re-fits, kept only while the fill stays plausible.

    With less than ``2 * MIN_ORDER`` samples on one side, the other side is extrapolated alone.
    """
    if min(left.size, right.size) < 2 * MIN_ORDER:
        return _fill_one_sided(left, right, m, context, order), 1
    order = int(min(order, left.size // 2, right.size // 2))
    left_ctx = left[max(left.size - context, 0) :]
    right_ctx = right[:context]
    span = max(m, context // 2)  # at least a few periods: a short gap may sit at a zero crossing
    near = max(_rms(left_ctx[-span:]), _rms(right_ctx[:span]))
    fill = solve_two_sided(left, right, m, *_models(left_ctx, right_ctx, None, order, joint))
    done = 1
    for _ in range(max_iterations - 1):
        candidate = solve_two_sided(left, right, m, *_models(left_ctx, right_ctx, fill, order, joint))
        if not np.all(np.isfinite(candidate)) or _rms(candidate) > ENERGY_GUARD * near:
            break
        fill, done = candidate, done + 1
    if _rms(fill) > ENERGY_GUARD * near:  # even the first solve blew up: scale it back
        fill = fill * (ENERGY_GUARD * near / _rms(fill))
    return fill, done


def _fill_one_sided(left: np.ndarray, right: np.ndarray, m: int, context: int,
                    order: int) -> np.ndarray:
    """Extrapolate from the longer side only (a gap at the very start or end of the audio)."""
    forward = left.size >= right.size
    side = left if forward else right[::-1]
    if side.size < 2 * MIN_ORDER:
        return np.zeros(m)
    history = side[max(side.size - context, 0) :]
    a, _ = fit_ar(history, min(order, history.size // 2))
    fill = extrapolate(history, a, m)
    limit = ENERGY_GUARD * _rms(history[-max(m, context // 2) :])
    if _rms(fill) > limit:
        fill = fill * (limit / _rms(fill))
    return fill if forward else fill[::-1]


def interpolate_short_gap(x: np.ndarray, start: int, stop: int, *, sample_rate: float,
                          iterations: int = 2) -> np.ndarray:
    """Fill a very short span (a click, a few ms) of ``x`` with the speech-like setting alone:
    no validation, so it costs a small fraction of :func:`interpolate_gap`."""
    context, order = _settings(sample_rate)[0]
    reach = context + order
    left = np.asarray(x[max(start - reach, 0) : start], dtype=np.float64)
    right = np.asarray(x[stop : stop + reach], dtype=np.float64)
    return _fill_at_rate(left, right, stop - start, context, order, iterations, joint=True)[0]


def interpolate_gap(x: np.ndarray, start: int, stop: int, *, sample_rate: float,
                    max_iterations: int = 5) -> ArFill:
    """Fill ``x[start:stop]`` (1-D) from both sides with LSAR; returns the fill and its settings.

    Reads at most ``LONG_CONTEXT_S + VALIDATION_HORIZON_S`` on each side.
    """
    m = stop - start
    reach = int((LONG_CONTEXT_S + VALIDATION_HORIZON_S) * sample_rate) + 64
    left = np.asarray(x[max(start - reach, 0) : start], dtype=np.float64)
    right = np.asarray(x[stop : stop + reach], dtype=np.float64)
    if left.size == 0 and right.size == 0:
        return ArFill(np.zeros(m), 0, 0, 0)
    horizon = max(1, min(m, int(VALIDATION_HORIZON_S * sample_rate)))
    best = None
    for index, (context, order) in enumerate(_settings(sample_rate)):
        score = _validation_score(left, right, context, order, horizon)
        score -= LONG_SETTING_MARGIN_DB if index else 0.0
        if best is None or score > best[0]:
            best = (score, context, order, index == 0)
    _, context, order, short = best
    if m > ITERATE_LIMIT_S * sample_rate and short:
        max_iterations = 1  # re-fitting on a long speech-like fill invents energy: measured
    fill, done = _fill_at_rate(left, right, m, context, order, max_iterations, joint=short)
    return ArFill(fill, order, context, done)
