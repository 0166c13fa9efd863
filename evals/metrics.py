"""Metric functions for the evals: pure functions of numpy arrays, no I/O, no global state.

Signals are float arrays shaped ``(channels, n)`` (time last) or ``(n,)`` for mono; a reference and
its estimate must have the same shape. Results are plain floats in dB (or LUFS, or seconds).

Edge cases never give NaN: where a ratio is mathematically infinite the value is ``inf`` or
``-inf`` and the docstring says when; where it is undefined, a ``ValueError`` says why.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy.signal import stft

from tools.core.dsp import integrated_loudness

# Power floor for log spectra: 1e-10 is -100 dB re full scale, below 24-bit noise.
LSD_POWER_FLOOR = 1e-10


def _as_2d(samples: np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(samples, dtype=np.float64)
    if array.ndim == 1:
        array = array[np.newaxis, :]
    if array.ndim != 2:
        raise ValueError(f"{name} must be shaped (channels, n) or (n,), got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return array


def _pair(reference: np.ndarray, estimate: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ref, est = _as_2d(reference, "reference"), _as_2d(estimate, "estimate")
    if ref.shape != est.shape:
        raise ValueError(f"reference shape {ref.shape} != estimate shape {est.shape}; "
                         "trim or align them first")
    if ref.shape[1] == 0:
        raise ValueError("reference and estimate are empty (0 samples)")
    return ref, est


def _ratio_db(signal_energy: float, noise_energy: float) -> float:
    """10 log10(signal / noise) with the limits made explicit: no noise is +inf (also 0/0, i.e.
    the estimate equals the reference), no signal with some noise is -inf."""
    if noise_energy <= 0.0:
        return float("inf")
    if signal_energy <= 0.0:
        return float("-inf")
    return float(10.0 * np.log10(signal_energy / noise_energy))


def _mean_db(values: list[float]) -> float:
    """Mean of per-channel dB values; a channel at -inf makes the mean -inf (worst case wins over
    +inf, so that +inf and -inf never meet in a sum)."""
    if any(v == float("-inf") for v in values):
        return float("-inf")
    return float(np.mean(values))


# ----------------------------------------------------------------------------- ratios


def si_sdr_db(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Scale-invariant signal-to-distortion ratio in dB (Le Roux et al., "SDR - half-baked or well
    done?", ICASSP 2019).

    Per channel: remove the mean of both signals, project the estimate onto the reference
    (``target = <e, r> / <r, r> * r``), then ``10 log10(|target|^2 / |e - target|^2)``. The result is
    the mean over channels. Scaling the estimate by any non-zero factor does not change it.

    Args:
        reference, estimate: same shape, ``(channels, n)`` or ``(n,)``.

    Returns:
        dB. ``inf`` when the estimate is an exact (scaled, offset) copy of the reference, including
        both silent; ``-inf`` when it has no component along the reference (for example a silent
        reference with a non-silent estimate, or a silent estimate).
    """
    ref, est = _pair(reference, estimate)
    ref = ref - ref.mean(axis=1, keepdims=True)
    est = est - est.mean(axis=1, keepdims=True)
    values = []
    for r, e in zip(ref, est, strict=True):
        ref_energy, est_energy = float(np.dot(r, r)), float(np.dot(e, e))
        if est_energy == 0.0:  # silent estimate: a copy only of a silent reference
            values.append(float("inf") if ref_energy == 0.0 else float("-inf"))
            continue
        alpha = float(np.dot(e, r)) / ref_energy if ref_energy > 0 else 0.0
        target = alpha * r
        values.append(_ratio_db(float(np.dot(target, target)), float(np.sum((e - target) ** 2))))
    return _mean_db(values)


def snr_db(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Signal-to-noise ratio in dB, ``10 log10(sum r^2 / sum (e - r)^2)`` over all channels and
    samples together: not scale-invariant, so a gain error counts as noise.

    Args:
        reference, estimate: same shape, ``(channels, n)`` or ``(n,)``.

    Returns:
        dB. ``inf`` when ``estimate == reference`` exactly (including both silent); ``-inf`` when
        the reference is silent and the estimate is not.
    """
    ref, est = _pair(reference, estimate)
    return _ratio_db(float(np.sum(ref**2)), float(np.sum((est - ref) ** 2)))


@dataclass(frozen=True)
class BssEvalScores:
    """BSS-eval v3 scores, one value per reference source, in dB.

    ``permutation[j]`` is the estimated source matched to reference source ``j``; the scores are
    in reference order.
    """

    sdr_db: tuple[float, ...]
    sir_db: tuple[float, ...]
    sar_db: tuple[float, ...]
    permutation: tuple[int, ...]


def sdr_db(reference_sources: np.ndarray, estimated_sources: np.ndarray, *,
           compute_permutation: bool = True) -> BssEvalScores:
    """BSS-eval v3 source-to-distortion, -interference and -artifact ratios (Vincent et al. 2006),
    computed by ``mir_eval.separation.bss_eval_sources`` (512-tap distortion filter).

    Args:
        reference_sources, estimated_sources: same shape ``(n_sources, n)`` (one mono signal per
            source) or ``(n,)`` for a single source.
        compute_permutation: match estimates to references by the best mean SIR (as the BSS-eval
            Matlab toolbox does); False keeps estimate ``j`` with reference ``j``.

    Returns:
        :class:`BssEvalScores`. A perfect estimate scores very high (about 300 dB, the numerical
        floor of the least-squares projection) or ``inf``.

    Raises:
        ValueError: shapes differ, or a reference or estimated source is all zeros (BSS-eval is
            undefined then; the message names the source).
    """
    ref, est = _pair(reference_sources, estimated_sources)
    for name, sources in (("reference", ref), ("estimated", est)):
        silent = [j for j, source in enumerate(sources) if not np.any(source)]
        if silent:
            raise ValueError(f"{name} source(s) {silent} are all zeros; BSS-eval SDR is undefined "
                             "for silent sources")
    try:
        from mir_eval.separation import bss_eval_sources
    except ImportError:  # pragma: no cover - mir_eval is in the evals and test extras
        raise RuntimeError("mir_eval is not installed; pip install -e '.[evals]'") from None
    # mir_eval 0.8 marks its separation module deprecated (removed in 0.9; pinned <0.9 in the
    # extras); it is still the reference BSS-eval v3 implementation, so the warning is expected.
    with warnings.catch_warnings(), np.errstate(divide="ignore"):
        warnings.filterwarnings("ignore", message=r".*mir_eval\.separation", category=FutureWarning)
        sdr, sir, sar, perm = bss_eval_sources(ref, est, compute_permutation=compute_permutation)
    return BssEvalScores(
        sdr_db=tuple(float(v) for v in sdr),
        sir_db=tuple(float(v) for v in sir),
        sar_db=tuple(float(v) for v in sar),
        permutation=tuple(int(p) for p in perm),
    )


# ----------------------------------------------------------------------------- levels and time


def lufs(samples: np.ndarray, sample_rate: int) -> float:
    """Integrated loudness in LUFS (ITU-R BS.1770-4, gated), via ``tools.core.dsp.integrated_loudness``.

    Args:
        samples: ``(channels, n)`` or ``(n,)``, full scale +-1.
        sample_rate: Hz.

    Returns:
        LUFS; ``-inf`` for digital silence or a signal shorter than one 0.4 s gating block.
    """
    return float(integrated_loudness(_as_2d(samples, "samples"), int(sample_rate)))


def duration_s(samples: np.ndarray, sample_rate: int) -> float:
    """Length in seconds of ``samples`` shaped ``(channels, n)`` or ``(n,)`` at ``sample_rate`` Hz."""
    if sample_rate <= 0:
        raise ValueError(f"sample_rate={sample_rate} must be positive")
    return np.shape(samples)[-1] / float(sample_rate)


def log_spectral_distance_db(reference: np.ndarray, estimate: np.ndarray, sample_rate: int, *,
                             frame_ms: float = 32.0, hop_ms: float = 8.0) -> float:
    """Log-spectral distance in dB: per STFT frame, the RMS over frequency of the difference of
    the two power spectra in dB; then the mean over frames and channels.

    ``LSD = mean_t sqrt(mean_f (10 log10 (|R|^2 + floor) - 10 log10 (|E|^2 + floor))^2)`` with a
    Hann window of ``frame_ms`` and a hop of ``hop_ms``; ``floor`` is ``LSD_POWER_FLOOR`` (-100 dB)
    so that silence compares as equal to silence instead of giving log(0).

    Args:
        reference, estimate: same shape, ``(channels, n)`` or ``(n,)``, full scale +-1.
        sample_rate: Hz.

    Returns:
        dB, >= 0; 0 for identical signals. Finite for any finite input.
    """
    ref, est = _pair(reference, estimate)
    if sample_rate <= 0:
        raise ValueError(f"sample_rate={sample_rate} must be positive")
    if not 0 < hop_ms <= frame_ms:
        raise ValueError(f"hop_ms={hop_ms} must be in (0, frame_ms={frame_ms}]")
    n = ref.shape[1]
    frame = min(max(int(round(frame_ms * 1e-3 * sample_rate)), 1), n)
    hop = min(max(int(round(hop_ms * 1e-3 * sample_rate)), 1), frame)
    kwargs = dict(fs=sample_rate, window="hann", nperseg=frame, noverlap=frame - hop,
                  boundary=None, padded=True)
    _, _, ref_spec = stft(ref, **kwargs)
    _, _, est_spec = stft(est, **kwargs)
    ref_db = 10.0 * np.log10(np.abs(ref_spec) ** 2 + LSD_POWER_FLOOR)
    est_db = 10.0 * np.log10(np.abs(est_spec) ** 2 + LSD_POWER_FLOOR)
    per_frame = np.sqrt(np.mean((ref_db - est_db) ** 2, axis=1))  # (channels, frames)
    return float(np.mean(per_frame))
