"""Room acoustics: decay time of an impulse response, a blind estimate from a recording, and
synthetic impulse responses of a given decay.

- :func:`schroeder_rt60`: RT60 of an impulse response by Schroeder backward integration (ISO 3382
  T20: the line fitted from -5 to -25 dB, extrapolated to 60 dB), in an octave band or full band.
- :func:`estimate_rt60`: a blind estimate from speech or music, from the distribution of decay
  rates (as Wen, Habets and Naylor, 2008): in the 500 Hz, 1 kHz and 2 kHz octave bands, every
  0.12 s stretch of the 10 ms level envelope that falls steadily (three quarters of its steps down,
  6 dB or more in all, ending within 45 dB of the band's peak) gives a slope; a room cannot decay
  faster than its reverberation, so the 25th percentile of the slopes, ``-60 / slope``, tracks the
  decay time. Calibrated on speech (LibriSpeech, freesound, espeak) convolved with synthetic
  impulse responses of 0.3 to 1.5 s: the raw percentile reads 0.22 s on dry speech, 0.3 at 0.3 s,
  0.5 at 0.6 s and 0.6-0.8 for 1 s and more, so it is scaled by 1.5 (over-estimating is the safe
  side for late-reverberation suppression) and clamped to 0.2-2 s. It saturates above about 1.2 s.
  No maintained Python library does this (pyroomacoustics measures RT60 from an impulse response
  only), hence written here.
- :func:`synthetic_ir`: exponentially decaying Gaussian noise (Moorer's model of a diffuse tail, as
  the synthesised impulse responses of convolution reverbs), each octave band decaying at its own
  rate (highs faster, as air and walls absorb them), with a few early reflections and a pre-delay;
  channels decorrelated (different noise) for stereo width; unit energy.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import butter, sosfilt

from tools.algorithms.streaming import Source

OCTAVES_HZ = (125.0, 250.0, 500.0, 1000.0, 2000.0, 4000.0, 8000.0, 16000.0)
ENVELOPE_FRAME_S = 0.01
DECAY_WINDOW_S = 0.12
ESTIMATE_SCALE = 1.5
ANALYSIS_S = 60.0


def _octave(x: np.ndarray, sample_rate: int, centre_hz: float) -> np.ndarray:
    lo, hi = centre_hz / np.sqrt(2), min(centre_hz * np.sqrt(2), 0.45 * sample_rate)
    return sosfilt(butter(4, [lo, hi], "bandpass", fs=sample_rate, output="sos"), x, axis=-1)


def schroeder_rt60(ir: np.ndarray, sample_rate: int, *, band_hz: float | None = None,
                   fit_db: tuple[float, float] = (-5.0, -25.0)) -> float:
    """RT60 (s) of impulse response ``ir`` (``(n,)`` or ``(channels, n)``, channels averaged in
    energy), optionally in the octave band at ``band_hz``; NaN when the decay does not reach the
    fit range."""
    h = np.atleast_2d(np.asarray(ir, dtype=np.float64))
    if band_hz is not None:
        h = _octave(h, sample_rate, band_hz)
    energy = np.square(h).mean(axis=0)
    edc = np.cumsum(energy[::-1])[::-1]
    if edc[0] <= 0:
        return float("nan")
    edc_db = 10 * np.log10(np.maximum(edc / edc[0], 1e-30))
    hi, lo = fit_db
    idx = np.nonzero((edc_db <= hi) & (edc_db >= lo))[0]
    if idx.size < 10:
        return float("nan")
    t = idx / sample_rate
    slope = np.polyfit(t, edc_db[idx], 1)[0]
    return float(-60.0 / slope) if slope < 0 else float("nan")


def decay_slopes(x: np.ndarray, sample_rate: int) -> np.ndarray:
    """Slopes (dB/s) of the steadily falling 0.12 s stretches of ``x``'s octave-band envelopes
    (see :func:`estimate_rt60`)."""
    frame = max(int(ENVELOPE_FRAME_S * sample_rate), 1)
    width = int(round(DECAY_WINDOW_S / ENVELOPE_FRAME_S))
    t = np.arange(width) * ENVELOPE_FRAME_S
    tc = t - t.mean()
    out = []
    for centre in (500.0, 1000.0, 2000.0):
        if centre * np.sqrt(2) > 0.45 * sample_rate:
            continue
        y = _octave(x, sample_rate, centre)
        m = y.size // frame
        if m <= width:
            continue
        env = 10 * np.log10(np.square(y[:m * frame]).reshape(m, frame).mean(axis=1) + 1e-20)
        windows = np.lib.stride_tricks.sliding_window_view(env, width)
        falling = (np.diff(windows, axis=1) < 0).mean(axis=1) >= 0.75
        dropped = windows[:, 0] - windows[:, -1] >= 6.0
        audible = windows[:, -1] >= env.max() - 45.0
        keep = windows[falling & dropped & audible]
        if keep.size:
            out.append((keep - keep.mean(axis=1, keepdims=True)) @ tc / np.dot(tc, tc))
    return np.concatenate(out) if out else np.zeros(0)


def estimate_rt60(source: Source, sample_rate: int, *, start: int = 0,
                  max_s: float = ANALYSIS_S) -> float:
    """A blind estimate of the decay time (s) of the room in a recording (see the module
    docstring), from its first ``max_s`` seconds after ``start`` (channels mixed); 0.2 s (dry)
    when it has too few decays to measure."""
    stop = min(start + int(max_s * sample_rate), source.shape[-1])
    x = np.asarray(source[:, start:stop], dtype=np.float64).mean(axis=0)
    slopes = decay_slopes(x, sample_rate)
    slopes = slopes[slopes < 0]
    if slopes.size < 5:
        return 0.2
    raw = -60.0 / np.percentile(slopes, 25)
    return float(np.clip(raw * ESTIMATE_SCALE, 0.2, 2.0))


def synthetic_ir(sample_rate: int, *, decay_s: float, channels: int = 1, pre_delay_ms: float = 0.0,
                 hf_decay_ratio: float = 0.5, early_reflections: int = 6, seed: int = 0
                 ) -> np.ndarray:
    """A float32 ``(channels, n)`` impulse response of the reverberation alone (no direct sound),
    unit energy per channel, whose mid-frequency (500 Hz-1 kHz) RT60 is ``decay_s``.

    ``hf_decay_ratio``: the RT60 at 8 kHz relative to the mid bands (1 keeps all bands alike;
    0.5 is a typical furnished room); bands between are interpolated in log frequency, the bands
    below 500 Hz decay like the mids.
    """
    rng = np.random.default_rng(seed)
    pre = int(pre_delay_ms * 1e-3 * sample_rate)
    n = int((1.2 * decay_s + 0.05) * sample_rate)
    t = np.arange(n) / sample_rate
    out = np.zeros((channels, pre + n))
    bands = [c for c in OCTAVES_HZ if c / np.sqrt(2) < 0.45 * sample_rate]
    for ch in range(channels):
        noise = rng.standard_normal(n)
        tail = np.zeros(n)
        for centre in bands:
            ratio = 1.0 if centre <= 1000 else hf_decay_ratio ** (np.log2(centre / 1000) / 3)
            rt = decay_s * ratio
            tail += _octave(noise, sample_rate, centre) * np.exp(-3 * np.log(10) * t / rt)
        tail *= 1 - np.exp(-t / 0.004)  # a 4 ms build-up, not a click
        local = np.sqrt(np.mean(np.square(tail[:int(0.03 * sample_rate)])))
        for _ in range(early_reflections):  # sparse early reflections in the first 30 ms,
            at = int(rng.uniform(0.002, 0.03) * sample_rate)  # a few times the tail's RMS
            tail[at] += rng.choice((-1, 1)) * rng.uniform(2.0, 4.0) * local
        out[ch, pre:] = tail / np.sqrt(np.sum(np.square(tail)))
    return out.astype(np.float32)
