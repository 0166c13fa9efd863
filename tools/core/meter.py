"""Level meters that stream: integrated loudness (ITU-R BS.1770-4), true peak, sample peak, RMS.

:class:`Meter` takes blocks ``(channels, m)`` in order and keeps only what the measures need (the
K-weighting filter states, one energy per 100 ms step, a few samples of context for the true-peak
oversampler), so an hour or three of audio costs memory for one block. ``measure(signal)`` runs it
over anything with ``shape`` and ``[:, lo:hi]`` (an Audio, a session's TrackView, an array).

Loudness uses pyloudnorm's K-weighting filter design, calibrated so a 997 Hz sine gains 0.691 dB as
with BS.1770's 48 kHz coefficients (a full-scale 997 Hz sine reads -3.01 LUFS at any rate);
pyloudnorm's own meter needs the whole signal in memory, which is why this one exists. Channel
weights are 1, except 1.41 for channels 4 and 5, as in pyloudnorm. True peak: BS.1770-4 annex 2,
4x oversampling below 96 kHz (2x above) with scipy's polyphase resampler.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

SILENCE_DB = -120.0
BLOCK_SAMPLES = 1 << 18
_K_GAIN_997_DB = 0.691  # K-weighting gain at 997 Hz of BS.1770-4's 48 kHz filters
_MARGIN = 64  # input samples of context either side of an oversampled stretch


def amplitude_to_db(amplitude: float) -> float:
    return float(20.0 * np.log10(max(float(amplitude), 1e-6))) if amplitude > 0 else SILENCE_DB


@lru_cache(maxsize=16)
def k_weighting(sample_rate: int) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """The two K-weighting stages, calibrated as the module docstring says.

    pyloudnorm's high-pass has unity passband gain where BS.1770's (numerator ``[1, -2, 1]``) has
    +0.04 dB, so pyloudnorm alone reads 0.04 dB low at 48 kHz.
    """
    import pyloudnorm  # scipy.signal comes with it: imported when a level is first measured
    from scipy.signal import freqz

    meter = pyloudnorm.Meter(sample_rate)  # BS.1770 filter design lives in pyloudnorm
    stages = [(np.asarray(f.b, dtype=np.float64), np.asarray(f.a, dtype=np.float64))
              for f in meter._filters.values()]
    w = [2 * np.pi * 997.0 / sample_rate]
    gain_db = sum(20 * np.log10(abs(freqz(b, a, worN=w)[1][0])) for b, a in stages)
    b, a = stages[-1]
    stages[-1] = (b * 10 ** ((_K_GAIN_997_DB - gain_db) / 20), a)
    return tuple(stages)


def oversample_factor(sample_rate: int) -> int:
    return 4 if sample_rate < 96_000 else 2


@dataclass(frozen=True)
class Levels:
    integrated_lufs: float  # -inf for silence or under 0.4 s
    true_peak_db: float
    peak_db: float
    rms_db: float
    num_samples: int


class Meter:
    """Feed blocks with :meth:`add`, read :meth:`levels` (or :meth:`integrated_lufs`) at the end."""

    def __init__(self, sample_rate: int, channels: int, *, true_peak: bool = True) -> None:
        self.sample_rate = int(sample_rate)
        self.channels = int(channels)
        self.filters = k_weighting(self.sample_rate)
        self.states = [[np.zeros(max(len(a), len(b)) - 1) for _ in range(channels)]
                       for b, a in self.filters]  # lfilter's state at rest
        self.step = int(round(0.1 * self.sample_rate))
        self.steps: list[np.ndarray] = []  # (channels, k) energies per 100 ms step
        self.carry = np.zeros((channels, 0))
        self.num_samples = 0
        self.sum_squares = 0.0
        self.peak = 0.0
        self.true_peak = 0.0 if true_peak else None
        self._factor = oversample_factor(self.sample_rate)
        self._tail = np.zeros((channels, 0))  # last 2 * _MARGIN input samples, not yet oversampled
        self._tail_start = 0  # how many of the tail's samples were already oversampled (0 or _MARGIN)

    def add(self, block: np.ndarray) -> None:
        block = np.asarray(block, dtype=np.float64)
        if block.shape[1] == 0:
            return
        self.num_samples += block.shape[1]
        self.sum_squares += float(np.square(block).sum())
        self.peak = max(self.peak, float(np.max(np.abs(block))))
        from scipy.signal import lfilter

        chunk = block.copy()
        for index, (b, a) in enumerate(self.filters):
            for c in range(self.channels):
                chunk[c], self.states[index][c] = lfilter(b, a, chunk[c], zi=self.states[index][c])
        squared = np.concatenate([self.carry, np.square(chunk)], axis=1)
        usable = squared.shape[1] // self.step
        if usable:
            self.steps.append(squared[:, :usable * self.step]
                              .reshape(self.channels, usable, self.step).sum(axis=2))
        self.carry = squared[:, usable * self.step:]
        if self.true_peak is not None:
            self._oversample(block)

    def _oversample(self, block: np.ndarray) -> None:
        x = np.concatenate([self._tail, block], axis=1)
        # samples of x whose oversampled values are final: all but the last _MARGIN (they need
        # the next block as context), from the first one not yet measured
        first, last = self._tail_start, x.shape[1] - _MARGIN
        if last > first:
            self._peak_of(x, first, last)
            keep = min(2 * _MARGIN, x.shape[1])
            self._tail = x[:, -keep:]
            self._tail_start = keep - _MARGIN
        else:
            self._tail = x

    def _peak_of(self, x: np.ndarray, first: int, last: int) -> None:
        from scipy.signal import resample_poly

        lo, hi = max(first - _MARGIN, 0), x.shape[1]
        up = resample_poly(x[:, lo:hi], self._factor, 1, axis=-1)
        part = up[:, (first - lo) * self._factor:(last - lo) * self._factor]
        if part.size:
            self.true_peak = max(self.true_peak, float(np.max(np.abs(part))))

    def integrated_lufs(self) -> float:
        """Integrated loudness in LUFS (BS.1770-4 gating), ``-inf`` for silence or under 0.4 s."""
        block = int(round(0.4 * self.sample_rate))
        if self.num_samples < block or not self.steps:
            return float("-inf")
        energy_steps = np.concatenate(self.steps, axis=1)
        num_blocks = (self.num_samples - block) // self.step + 1
        energy_steps = np.pad(energy_steps, ((0, 0), (0, max(num_blocks + 3 - energy_steps.shape[1], 0))))
        energy = sum(energy_steps[:, k:k + num_blocks] for k in range(4)) / block
        weights = np.array([1.41 if c in (3, 4) else 1.0 for c in range(self.channels)])
        block_loudness = -0.691 + 10.0 * np.log10(np.maximum(weights @ energy, 1e-30))
        gated = energy[:, block_loudness >= -70.0]
        if gated.shape[1] == 0:
            return float("-inf")
        relative = -0.691 + 10.0 * np.log10(weights @ gated.mean(axis=1)) - 10.0
        keep = (block_loudness >= -70.0) & (block_loudness > relative)
        if not keep.any():
            return float("-inf")
        return float(-0.691 + 10.0 * np.log10(weights @ energy[:, keep].mean(axis=1)))

    def true_peak_db(self) -> float:
        if self.true_peak is None:
            raise ValueError("this meter was made without true peak")
        peak = self.true_peak
        if self._tail.shape[1] > self._tail_start:  # the last samples, with no right context
            saved = self.true_peak
            self._peak_of(self._tail, self._tail_start, self._tail.shape[1])
            peak, self.true_peak = self.true_peak, saved
        return amplitude_to_db(max(peak, self.peak)) if self.num_samples else SILENCE_DB

    def levels(self) -> Levels:
        power = self.sum_squares / max(self.num_samples * self.channels, 1)
        rms = 10.0 * math.log10(power) if power > 1e-24 else SILENCE_DB
        return Levels(self.integrated_lufs(),
                      self.true_peak_db() if self.true_peak is not None else SILENCE_DB,
                      amplitude_to_db(self.peak) if self.num_samples else SILENCE_DB,
                      rms, self.num_samples)


def blocks_of(signal: Any, *, size: int = BLOCK_SAMPLES) -> Iterator[np.ndarray]:
    """Consecutive ``(channels, <= size)`` blocks of anything with ``shape`` and ``[:, lo:hi]``."""
    n = signal.shape[-1]
    for start in range(0, n, size):
        yield np.asarray(signal[:, start:start + size])


def measure(signal: Any, sample_rate: int, *, true_peak: bool = True) -> Levels:
    """All four levels of ``signal`` in one streamed pass."""
    meter = Meter(sample_rate, signal.shape[0], true_peak=true_peak)
    for block in blocks_of(signal):
        meter.add(block)
    return meter.levels()
