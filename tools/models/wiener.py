"""A classical noise-tracking Wiener suppressor, optionally guided by a neural denoiser's output.

No learned weights. In the STFT domain (Hann, ~48 ms frames rounded to a power of two, 75% overlap):

- noise PSD: the speech-presence-probability MMSE tracker of Gerkmann & Hendriks (IEEE TASLP 2012),
  run forwards and backwards over the signal and averaged (offline, so both directions are known);
- a-priori SNR: decision-directed (Ephraim & Malah 1984, weight 0.92);
- gain: Wiener ``xi / (1 + xi)``, never below the attenuation limit.

With a ``guide`` (the same signal denoised by RNNoise, aligned), the a-priori SNR is the geometric
blend of the decision-directed estimate and ``|guide|^2 / noise``. On wideband audio the noise PSD
is also blended with the guide's residual ``|noisy - guide|^2`` (RNNoise tracks non-stationary
noise there); on narrowband (telephone-band) audio RNNoise is out of its training domain and the
tracker leads. These choices and constants come from experiments on the NOIZEUS dev set and on
16 and 48 kHz mixtures of corpus speech and noise; evals/suites/denoise.py measures the result.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy import fft
from scipy.ndimage import uniform_filter1d

FRAME_MS = 48.0
HOP_FRACTION = 4
EPS = 1e-12
# noise tracker (Gerkmann & Hendriks 2012)
TRACK_SMOOTHING = 0.9
TRACK_XI_H1_DB = 10.0
TRACK_STUCK_PROB = 0.99
TRACK_INIT_FRAMES = 5
SILENCE_BELOW_DB = 80.0
# a-priori SNR and gain
DD_WEIGHT = 0.92
XI_MIN_DB = -25.0
# guided blends: weight of the decision-directed estimate in the geometric a-priori SNR blend
GUIDE_DD_WEIGHT = {"narrowband": 0.7, "wideband": 0.5}
RESIDUAL_SMOOTH_FRAMES = 3
# wideband means real content above this frequency
WIDEBAND_HZ = 5500.0
WIDEBAND_MIN_RATIO_DB = -50.0


def frame_size(sample_rate: int) -> int:
    return int(2 ** np.round(np.log2(FRAME_MS * 1e-3 * sample_rate)))


def _window(nfft: int) -> np.ndarray:
    return (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(nfft) / nfft)).astype(np.float32)


def stft(samples: np.ndarray, nfft: int) -> np.ndarray:
    """``(channels, n)`` -> complex64 ``(channels, nfft // 2 + 1, frames)``; frames start at
    ``-nfft // 2`` and step by ``nfft // HOP_FRACTION``."""
    hop = nfft // HOP_FRACTION
    n = samples.shape[-1]
    frames = -(-(n + nfft // 2) // hop) + 1
    padded = np.zeros((samples.shape[0], (frames - 1) * hop + nfft), dtype=np.float32)
    padded[:, nfft // 2:nfft // 2 + n] = samples
    windows = sliding_window_view(padded, nfft, axis=-1)[:, ::hop] * _window(nfft)
    return fft.rfft(windows, axis=-1).transpose(0, 2, 1)  # float32 in, complex64 out


def istft(spectrum: np.ndarray, nfft: int, n: int) -> np.ndarray:
    """Inverse of :func:`stft` (weighted overlap-add), cropped to ``n`` samples."""
    hop = nfft // HOP_FRACTION
    window = _window(nfft)
    frames = fft.irfft(spectrum.transpose(0, 2, 1), n=nfft, axis=-1) * window
    count = frames.shape[1]
    out = np.zeros((frames.shape[0], (count - 1) * hop + nfft), dtype=np.float32)
    norm = np.zeros(out.shape[-1], dtype=np.float32)
    for t in range(count):
        out[:, t * hop:t * hop + nfft] += frames[:, t]
        norm[t * hop:t * hop + nfft] += window**2
    return out[:, nfft // 2:nfft // 2 + n] / np.maximum(norm[nfft // 2:nfft // 2 + n], EPS)


def _active_frames(power: np.ndarray) -> np.ndarray:
    """``(channels, frames)``: False for digital silence (more than ``SILENCE_BELOW_DB`` under the
    channel's loud frames), where the noise tracker must not learn a noise floor of zero."""
    energy = power.sum(axis=1)
    loud = np.percentile(energy, 90, axis=-1, keepdims=True)
    return energy > loud * 10.0 ** (-SILENCE_BELOW_DB / 10.0)


def track_noise(power: np.ndarray) -> np.ndarray:
    """Noise PSD ``(channels, bins, frames)`` from the periodogram ``power``, one direction.

    Starts from the first ``TRACK_INIT_FRAMES`` active frames; holds still over digital silence.
    """
    xi_h1 = 10.0 ** (TRACK_XI_H1_DB / 10.0)
    active = _active_frames(power)
    noise = np.empty(power.shape[:-1], dtype=power.dtype)
    for channel in range(power.shape[0]):
        first = np.flatnonzero(active[channel])[:TRACK_INIT_FRAMES]
        first = first if first.size else np.arange(min(TRACK_INIT_FRAMES, power.shape[-1]))
        noise[channel] = power[channel][:, first].mean(axis=-1) + EPS
    smoothed_prob = np.zeros_like(noise)
    out = np.empty_like(power)
    for t in range(power.shape[-1]):
        frame = power[..., t]
        posterior = frame / noise
        prob = 1.0 / (1.0 + (1.0 + xi_h1) * np.exp(-posterior * xi_h1 / (1.0 + xi_h1)))
        smoothed_prob = 0.9 * smoothed_prob + 0.1 * prob
        prob = np.where(smoothed_prob > TRACK_STUCK_PROB, np.minimum(prob, TRACK_STUCK_PROB), prob)
        estimate = prob * noise + (1.0 - prob) * frame
        updated = TRACK_SMOOTHING * noise + (1.0 - TRACK_SMOOTHING) * estimate + EPS
        noise = np.where(active[:, t, None], updated, noise)
        out[..., t] = noise
    return out


def decision_directed_snr(power: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """A-priori SNR by the decision-directed rule, with Wiener gains inside the recursion."""
    xi_min = 10.0 ** (XI_MIN_DB / 10.0)
    previous = np.ones(power.shape[:-1], dtype=np.float32)
    out = np.empty_like(power)
    for t in range(power.shape[-1]):
        posterior = power[..., t] / noise[..., t]
        xi = np.maximum(DD_WEIGHT * previous + (1 - DD_WEIGHT) * np.maximum(posterior - 1, 0), xi_min)
        gain = xi / (1 + xi)
        previous = gain**2 * posterior
        out[..., t] = xi
    return out


def is_wideband(samples: np.ndarray, sample_rate: int) -> bool:
    """True when the audio has real content above ``WIDEBAND_HZ`` (not telephone-band or
    upsampled narrowband audio): power above it within ``WIDEBAND_MIN_RATIO_DB`` of 0.2-4 kHz."""
    if sample_rate / 2 <= WIDEBAND_HZ:
        return False
    mono = np.asarray(samples, dtype=np.float32).mean(axis=0)
    block = 1 << int(np.log2(max(sample_rate // 20, 64)))
    usable = mono[: mono.size - mono.size % block].reshape(-1, block)
    if usable.shape[0] == 0:
        return True
    usable = usable[np.linspace(0, usable.shape[0] - 1, min(usable.shape[0], 400)).astype(int)]
    spectrum = (np.abs(np.fft.rfft(usable * np.hanning(block), axis=-1)) ** 2).mean(axis=0)
    freqs = np.fft.rfftfreq(block, 1.0 / sample_rate)
    speech_band = spectrum[(freqs >= 200) & (freqs < 4000)].sum()
    high = spectrum[freqs >= WIDEBAND_HZ].sum()
    if speech_band <= 0:
        return True
    return bool(10 * np.log10(high / speech_band + EPS) > WIDEBAND_MIN_RATIO_DB)


def wiener_denoise(samples: np.ndarray, sample_rate: int, *, attenuation_limit_db: float,
                   guide: np.ndarray | None = None, wideband: bool = True) -> np.ndarray:
    """Denoise float32 ``(channels, n)``; returns the same shape, sample-aligned.

    ``guide``: the same audio denoised by a neural model, same shape and aligned (or None for the
    purely classical estimator). ``wideband``: see :func:`is_wideband` (only used with a guide).
    """
    n = samples.shape[-1]
    nfft = frame_size(sample_rate)
    spectrum = stft(samples, nfft)
    power = spectrum.real**2 + spectrum.imag**2
    noise = 0.5 * (track_noise(power) + track_noise(power[..., ::-1])[..., ::-1])
    guide_spectrum = stft(guide, nfft) if guide is not None else None
    if guide_spectrum is not None and wideband:
        residual = np.abs(spectrum - guide_spectrum) ** 2
        noise = 0.5 * (noise + uniform_filter1d(residual, RESIDUAL_SMOOTH_FRAMES, axis=-1))
    noise = np.maximum(noise, EPS)
    xi = decision_directed_snr(power, noise)
    if guide_spectrum is not None:
        weight = GUIDE_DD_WEIGHT["wideband" if wideband else "narrowband"]
        guide_xi = np.abs(guide_spectrum) ** 2 / noise
        xi = np.exp(weight * np.log(xi + 1e-9) + (1 - weight) * np.log(guide_xi + 1e-9))
    xi = np.maximum(xi, 10.0 ** (XI_MIN_DB / 10.0))
    gain = np.maximum(xi / (1 + xi), 10.0 ** (-abs(attenuation_limit_db) / 20.0))
    return istft(spectrum * gain.astype(np.float32), nfft, n)
