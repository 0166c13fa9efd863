"""Where a speech recording has music under it: sustained tonal partials that speech does not make.

No maintained library does this offline: inaSpeechSegmenter, PANNs/EPANNs, YAMNet and Essentia's
classifiers all need weights from hubs that cannot be reached here, and Silero/WebRTC VAD
(:mod:`tools.algorithms.vad`) say where speech is, not what is under it. Running the separator
everywhere to look would cost what the detection is meant to save. So a feature, computed at
16 kHz mono in 1 s windows every 0.5 s, read window by window from any reader:

- the *floor* spectrum of the window: per frequency bin (STFT 1024 / hop 256), the 20th
  percentile of the power over the window's frames. A speech harmonic moves with the pitch and
  stops between syllables, so it is rarely in one bin for 80 % of a second; a held or repeated
  note is;
- its *tonal peaks*: bins (60 Hz - 4 kHz) at least ``peak_db`` above the median of their 15
  neighbours (broadband noise is flat and has none);
- minus what is *stationary*: per bin, the lowest floor within +-``stationary_s`` (hum and other
  steady tones stay there for good; music changes notes);
- over the *speech level*: the median, within +-``stationary_s``, of each window's 90th-percentile
  frame power.

``score_db`` is the tonal-peak power left, in dB of the speech level. Regions are the frames whose
score, median-smoothed over ``smooth_s``, is above ``threshold_db``, with gaps under ``merge_s``
closed and regions under ``min_region_s`` dropped. Numbers chosen on the dev mixes of
``evals/suites/music_bed.py`` (dev corpus speech and music) before the held-out mixes were run.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from math import gcd
from typing import Any

import numpy as np
from scipy.ndimage import median_filter
from scipy.signal import resample_poly, stft

RATE_HZ = 16_000
N_FFT, HOP = 1024, 256
WINDOW_S, STEP_S = 1.0, 0.5
FLOOR_PERCENTILE = 20
BAND_HZ = (60.0, 4000.0)
STEADY_RATIO = 2.0  # a floor counts only 3 dB above its lowest within +-stationary_s


@dataclass(frozen=True)
class MusicSettings:
    """The detector's knobs (defaults tuned on the dev split)."""

    threshold_db: float = -36.0
    peak_db: float = 6.0
    stationary_s: float = 10.0
    smooth_s: float = 4.5
    merge_s: float = 3.0
    min_region_s: float = 3.0


def _mono16(block: np.ndarray, sample_rate: int) -> np.ndarray:
    mono = np.asarray(block, dtype=np.float64).mean(axis=0)
    if sample_rate != RATE_HZ:
        g = gcd(RATE_HZ, int(sample_rate))
        mono = resample_poly(mono, RATE_HZ // g, int(sample_rate) // g)
    return mono


def _floors(reader: Any, sample_rate: int) -> Iterator[tuple[np.ndarray, float]]:
    """``(floor spectrum, speech-level power)`` per window, every STEP_S, read window by window."""
    n = int(reader.shape[-1])
    window, step = int(WINDOW_S * sample_rate), int(STEP_S * sample_rate)
    freqs = np.fft.rfftfreq(N_FFT, 1 / RATE_HZ)
    band = (freqs >= BAND_HZ[0]) & (freqs <= BAND_HZ[1])
    for lo in range(0, max(n - step, 1), step):
        mono = _mono16(reader[..., lo:min(lo + window, n)], sample_rate)
        if mono.size < N_FFT:
            mono = np.pad(mono, (0, N_FFT - mono.size))
        _, _, z = stft(mono, RATE_HZ, nperseg=N_FFT, noverlap=N_FFT - HOP, boundary=None,
                       padded=False)
        power = np.abs(z) ** 2 + 1e-12
        yield (np.percentile(power, FLOOR_PERCENTILE, axis=1),
               float(np.percentile(power[band].sum(axis=0), 90)))


def music_scores(reader: Any, sample_rate: int, settings: MusicSettings = MusicSettings()
                 ) -> Iterator[tuple[float, float]]:
    """``(centre_s, score_db)`` every 0.5 s. ``reader``: ``(channels, n)`` array or any reader
    with ``.shape`` and ``[..., lo:hi]``; memory is bounded by 2 x ``stationary_s`` of spectra."""
    freqs = np.fft.rfftfreq(N_FFT, 1 / RATE_HZ)
    band = (freqs >= BAND_HZ[0]) & (freqs <= BAND_HZ[1])
    ratio = 10 ** (settings.peak_db / 10)
    reach = max(int(round(settings.stationary_s / STEP_S)), 1)
    buffer: deque[tuple[np.ndarray, float]] = deque()
    index = 0  # the window whose score comes next

    def score(i: int, first: int) -> float:
        floors = np.stack([f for f, _ in buffer])
        here = floors[i - first]
        lo, hi = max(i - reach, first), min(i + reach + 1, first + len(buffer))
        near = floors[lo - first:hi - first]
        level = float(np.median([lv for _, lv in list(buffer)[lo - first:hi - first]]))
        steady = near.min(axis=0)  # what stays for good (hum, steady tones, the noise floor)
        moving = np.where(here > STEADY_RATIO * steady, here - steady, 0.0)
        local = median_filter(here, size=15, mode="nearest")
        peaks = (moving > ratio * local) & band
        tonal = float(moving[peaks].sum())
        return 10 * np.log10(tonal / max(level, 1e-12) + 1e-9)

    first = 0
    for floor in _floors(reader, sample_rate):
        buffer.append(floor)
        while index + reach < first + len(buffer):
            yield index * STEP_S + WINDOW_S / 2, score(index, first)
            index += 1
            while index - reach > first:
                buffer.popleft()
                first += 1
    while index < first + len(buffer):
        yield index * STEP_S + WINDOW_S / 2, score(index, first)
        index += 1


def regions_from_scores(centres_s: np.ndarray, scores_db: np.ndarray, *, duration_s: float,
                        settings: MusicSettings = MusicSettings()) -> list[tuple[float, float]]:
    """Music regions ``(start_s, end_s)`` from the per-window scores (see the module doc)."""
    if len(scores_db) == 0:
        return []
    size = max(int(round(settings.smooth_s / STEP_S)) | 1, 1)
    smooth = median_filter(np.asarray(scores_db, dtype=np.float64), size=size, mode="nearest")
    on = smooth > settings.threshold_db
    regions: list[list[float]] = []
    for centre, flag in zip(centres_s, on, strict=True):
        if not flag:
            continue
        lo, hi = max(centre - STEP_S / 2, 0.0), min(centre + STEP_S / 2, duration_s)
        if regions and lo - regions[-1][1] < settings.merge_s:
            regions[-1][1] = hi
        else:
            regions.append([lo, hi])
    if regions and regions[0][0] <= WINDOW_S / 2:  # the first window covers the start too
        regions[0][0] = 0.0
    if regions and duration_s - regions[-1][1] <= WINDOW_S:
        regions[-1][1] = duration_s
    return [(round(a, 3), round(b, 3)) for a, b in regions if b - a >= settings.min_region_s]


def music_regions(reader: Any, sample_rate: int, settings: MusicSettings = MusicSettings()
                  ) -> list[tuple[float, float]]:
    """Where ``reader`` (``(channels, n)``) has music under (or instead of) speech, in seconds."""
    pairs = list(music_scores(reader, sample_rate, settings))
    if not pairs:
        return []
    centres, scores = (np.array(v) for v in zip(*pairs, strict=True))
    return regions_from_scores(centres, scores, duration_s=reader.shape[-1] / sample_rate,
                               settings=settings)
