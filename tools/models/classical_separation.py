"""Classical two-stem separation without learned weights: the honest fallback of ``separate``.

- :class:`RepetSimSeparator`: vocals vs accompaniment by REPET-SIM (Rafii & Pardo 2012: what
  repeats across the song is accompaniment; the vocal mask is the soft mask of the non-repeating
  part). The mask's margin over the repeating part is 2. librosa's vocal-separation example
  uses 10, which keeps the vocals clean but sends most of a voice that leads the mix into the
  accompaniment: speech detection on the vocals of a voice-led podcast mix then found 0.4 s of
  15 s of speech, so "turn the music down under the speech" did next to nothing without weights
  (15.1 s with margin 1 or 2). Measured, dB (SDR is bss_eval's, SI-SDR scale-invariant):

  | set | mixture | margin 10 | margin 5 | margin 2 | margin 1 |
  | --- | --- | --- | --- | --- | --- |
  | MUSDB preview, vocals SDR / SI-SDR | -1.52 / -1.54 | 3.96 / -4.75 | 4.48 / - | 3.03 / -1.51 | 1.44 / -1.07 |
  | MUSDB preview, accompaniment SDR / SI-SDR | 1.60 / 1.58 | 2.30 / 2.26 | 2.68 / - | 2.89 / 2.70 | 2.48 / 2.07 |
  | voice over music at 0 dB (9 mixes), voice / music SDR | 3.15 / -3.13 | 0.13 / -2.41 | - | 3.02 / -1.23 | 3.36 / -1.34 |
  | voice over music at -6 dB, voice / music SDR | -2.84 / 2.86 | -2.01 / 3.57 | - | 0.04 / 4.67 | -0.43 / 4.16 |

  The voice-over-music rows are ``evals/suites/separation.py``'s held-out set (LibriSpeech voices
  over the corpus' music); margin 2 is best or within 0.4 dB of the best on each of them.
- :class:`HpssSeparator`: percussive (named ``drums``) vs harmonic by median filtering
  (Fitzgerald 2010).

Both follow the :class:`tools.models.demucs_model.Separator` protocol, so the chunked core in
:mod:`tools.separate` runs them like demucs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.ndimage import median_filter
from scipy.signal import istft, stft

from tools.core.errors import ToolArgumentError
from tools.models.demucs_model import Separator


def _spectrogram(samples: np.ndarray, n_fft: int) -> np.ndarray:
    return stft(samples, nperseg=n_fft, noverlap=n_fft - n_fft // 4, window="hann")[2]


def _waveform(spec: np.ndarray, n_fft: int, n: int) -> np.ndarray:
    out = istft(spec, nperseg=n_fft, noverlap=n_fft - n_fft // 4, window="hann")[1]
    out = out[..., :n]
    return np.pad(out, [(0, 0)] * (out.ndim - 1) + [(0, n - out.shape[-1])])


def _soft_mask(x: np.ndarray, reference: np.ndarray, power: float = 2.0) -> np.ndarray:
    """``x^p / (x^p + reference^p)``, 0 where both are 0 (librosa.util.softmask)."""
    xp, rp = np.power(x, power), np.power(reference, power)
    total = xp + rp
    return np.divide(xp, total, out=np.zeros_like(xp), where=total > 1e-20)


def repetition_filter(magnitude: np.ndarray, *, width: int) -> np.ndarray:
    """REPET-SIM: per frame, the median of its ``k`` most similar frames (cosine similarity of the
    magnitude spectra) at least ``width`` frames away, as ``librosa.decompose.nn_filter`` with
    ``aggregate=np.median, metric="cosine"`` (``k = 2 ceil(sqrt(T - 2 width + 1))``).
    ``magnitude``: ``(freqs, frames)``."""
    frames = magnitude.shape[1]
    width = max(min(width, frames // 3), 1)
    if frames < 4:
        return magnitude.copy()
    unit = magnitude / (np.linalg.norm(magnitude, axis=0, keepdims=True) + 1e-12)
    similarity = unit.T @ unit
    index = np.arange(frames)
    similarity[np.abs(index[:, None] - index[None, :]) < width] = -np.inf
    k = int(min(2 * np.ceil(np.sqrt(max(frames - 2 * width + 1, 1))), frames - 2 * width + 1))
    k = max(k, 1)
    neighbours = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
    out = np.empty_like(magnitude)
    for lo in range(0, frames, 64):
        out[:, lo:lo + 64] = np.median(magnitude[:, neighbours[lo:lo + 64]], axis=-1)
    return out


@dataclass
class RepetSimSeparator:
    """Vocals vs accompaniment without weights (REPET-SIM soft mask; ``no_vocals = mix - vocals``)."""

    sample_rate: int
    name: str = "classical REPET-SIM (fallback)"
    sources: tuple[str, ...] = ("vocals", "no_vocals")
    channels: int | None = None
    context_s: float = 0.1
    chunk_s: float = 30.0
    similar_gap_s: float = 2.0
    margin: float = 2.0  # the vocal mask's margin over the repeating part (see the module docstring)

    def separate(self, samples: np.ndarray, **_: Any) -> np.ndarray:
        n_fft = _n_fft(self.sample_rate)
        spec = _spectrogram(samples, n_fft)
        magnitude = np.abs(spec).mean(axis=0)
        width = int(round(self.similar_gap_s * self.sample_rate / (n_fft // 4)))
        repeating = np.minimum(magnitude, repetition_filter(magnitude, width=width))
        mask = _soft_mask(magnitude - repeating, self.margin * repeating)
        vocals = _waveform(spec * mask, n_fft, samples.shape[-1]).astype(np.float32)
        return np.stack([vocals, samples - vocals])


@dataclass
class HpssSeparator:
    """Percussive (named ``drums``) vs harmonic without weights: median filtering across time
    (harmonic) and across frequency (percussive), complementary soft masks."""

    sample_rate: int
    name: str = "classical HPSS (fallback)"
    sources: tuple[str, ...] = ("drums", "no_drums")
    channels: int | None = None
    context_s: float = 0.1
    chunk_s: float = 30.0
    kernel: int = 31

    def separate(self, samples: np.ndarray, **_: Any) -> np.ndarray:
        n_fft = _n_fft(self.sample_rate)
        spec = _spectrogram(samples, n_fft)
        magnitude = np.abs(spec).mean(axis=0)
        harmonic = median_filter(magnitude, size=(1, self.kernel), mode="reflect")
        percussive = median_filter(magnitude, size=(self.kernel, 1), mode="reflect")
        drums = _waveform(spec * _soft_mask(percussive, harmonic), n_fft, samples.shape[-1])
        drums = drums.astype(np.float32)
        return np.stack([drums, samples - drums])


def _n_fft(sample_rate: int) -> int:
    """About 46 ms: 2048 at 44.1/48 kHz."""
    return int(2 ** np.round(np.log2(0.0464 * sample_rate)))


def classical_separator(two_stems: str | None, sample_rate: int) -> Separator:
    if two_stems == "vocals":
        return RepetSimSeparator(sample_rate)
    if two_stems == "drums":
        return HpssSeparator(sample_rate)
    raise ToolArgumentError(
        f"two_stems={two_stems!r}: the classical fallback separates two stems only: "
        "'vocals' (vocals + no_vocals) or 'drums' (drums + no_drums); all four stems need demucs "
        "weights")
