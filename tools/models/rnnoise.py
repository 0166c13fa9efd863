"""RNNoise (Valin 2018) through pyrnnoise: a small recurrent speech denoiser whose real weights are
compiled into the package's ``librnnoise.so``, so it works offline with nothing to download.

It runs at 48 kHz on 480-sample frames and its output lags its input by 960 samples (20 ms, measured
by cross-correlation); :func:`rnnoise_48k` removes that lag. Frames go to the C library as float32
in 16-bit scale (no int16 rounding or clipping), one independent state per channel.
"""

from __future__ import annotations

import ctypes

import numpy as np

from tools.core.errors import SetupError

SAMPLE_RATE_HZ = 48_000
FRAME_SAMPLES = 480
DELAY_SAMPLES = 960
_SCALE = 32768.0


def _library():
    try:
        from pyrnnoise import rnnoise
    except (ImportError, OSError) as exc:
        raise SetupError(f"RNNoise is not available ({exc}); install it: pip install pyrnnoise") from None
    if rnnoise.FRAME_SIZE != FRAME_SAMPLES:
        raise SetupError(f"pyrnnoise uses {rnnoise.FRAME_SIZE}-sample frames, expected "
                         f"{FRAME_SAMPLES}; install a pyrnnoise built with RNNoise 0.1/0.2")
    return rnnoise


def _process_channel(rnnoise, signal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One channel through a fresh RNNoise state: (output lagging by DELAY_SAMPLES, speech prob)."""
    n = signal.shape[-1]
    frames = -(-(n + DELAY_SAMPLES) // FRAME_SAMPLES)
    buffer = np.zeros(frames * FRAME_SAMPLES, dtype=np.float32)
    buffer[:n] = signal * _SCALE
    out = np.empty_like(buffer)
    speech_prob = np.empty(frames, dtype=np.float32)
    pointer = ctypes.POINTER(ctypes.c_float)
    process = rnnoise.lib.rnnoise_process_frame
    state = rnnoise.create()
    try:
        for k in range(frames):
            at = k * FRAME_SAMPLES
            speech_prob[k] = process(state, out[at:].ctypes.data_as(pointer),
                                     buffer[at:].ctypes.data_as(pointer))
    finally:
        rnnoise.destroy(state)
    return out / np.float32(_SCALE), speech_prob


def rnnoise_48k(samples: np.ndarray) -> np.ndarray:
    """Denoise float32 ``(channels, n)`` at 48 kHz with RNNoise; output aligned, same shape."""
    rnnoise = _library()
    n = samples.shape[-1]
    out = np.empty(samples.shape, dtype=np.float32)
    for channel in range(samples.shape[0]):
        processed, _ = _process_channel(rnnoise, np.asarray(samples[channel], dtype=np.float32))
        out[channel] = processed[DELAY_SAMPLES:DELAY_SAMPLES + n]
    return out


class RNNoise:
    """:class:`tools.models.Denoiser` for RNNoise; the attenuation limit mixes the input back in."""

    name = "RNNoise"
    sample_rate = SAMPLE_RATE_HZ

    def denoise(self, samples: np.ndarray, *, attenuation_limit_db: float) -> np.ndarray:
        floor = np.float32(10.0 ** (-abs(attenuation_limit_db) / 20.0))
        return floor * samples + (1 - floor) * rnnoise_48k(samples)
