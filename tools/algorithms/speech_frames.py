"""Speech frames: 10 ms features of a recording (level, periodicity, F0, spectral change) and the
silences they show, at 16 kHz mono, a minute at a time so memory is bounded.

Shared by the acoustic filler detector (:mod:`tools.algorithms.acoustic_fillers`) and pause shortening
(:mod:`tools.remove_disfluencies`, :mod:`agent.clean`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.fft import dct
from scipy.signal import butter, resample_poly, sosfilt

from tools.core.audio import Audio

RATE_HZ = 16_000
HOP = 160  # 10 ms
FRAME = 640  # 40 ms: two periods of a 50 Hz voice
NFFT = 1024
MIN_F0_HZ, MAX_F0_HZ = 60.0, 400.0
FRAME_S = HOP / RATE_HZ
_CHUNK_S = 60.0
_MARGIN_S = 0.5
_BANDS = 24


@dataclass(frozen=True)
class FrameFeatures:
    """Per-frame measures, frame ``i`` centred at ``i * FRAME_S`` seconds. All arrays shaped (frames,)."""

    energy_db: np.ndarray
    periodicity: np.ndarray  # normalised autocorrelation peak, 0 (noise) .. 1 (periodic)
    f0_hz: np.ndarray
    change_db: np.ndarray  # spectral envelope change per frame (cepstral distance over +-20 ms)
    low_share: np.ndarray  # share of 70-5000 Hz power below 500 Hz: near 1 for a hummed "mm"

    @property
    def frames(self) -> int:
        return int(self.energy_db.size)


def _band_matrix() -> np.ndarray:
    """Triangular mel-spaced bands from 80 to 7600 Hz over the ``NFFT`` rfft bins."""
    mel = np.linspace(2595 * np.log10(1 + 80 / 700), 2595 * np.log10(1 + 7600 / 700), _BANDS + 2)
    edges = 700 * (10 ** (mel / 2595) - 1)
    freqs = np.fft.rfftfreq(NFFT, 1 / RATE_HZ)
    bank = np.zeros((_BANDS, freqs.size))
    for b in range(_BANDS):
        lo, mid, hi = edges[b:b + 3]
        bank[b] = np.clip(np.minimum((freqs - lo) / (mid - lo), (hi - freqs) / (hi - mid)), 0, None)
    return bank


_BANK = _band_matrix()
_FREQS = np.fft.rfftfreq(NFFT, 1 / RATE_HZ)
_LOW = (_FREQS >= 70) & (_FREQS < 500)
_SPEECH = (_FREQS >= 70) & (_FREQS < 5000)
_WINDOW = np.hanning(FRAME)
_WINDOW_ACF = np.correlate(_WINDOW, _WINDOW, "full")[FRAME - 1:]


def _chunk_features(x: np.ndarray) -> tuple[np.ndarray, ...]:
    """Features of every frame centred at ``k * HOP`` for ``k < len(x) // HOP`` (x at 16 kHz)."""
    count = len(x) // HOP
    padded = np.pad(x, (FRAME // 2, FRAME // 2))
    index = np.arange(FRAME)[None, :] + HOP * np.arange(count)[:, None]
    frames = padded[index] * _WINDOW
    spectrum = np.fft.rfft(frames, NFFT)
    power = spectrum.real ** 2 + spectrum.imag ** 2
    energy_db = 10 * np.log10(power.sum(axis=1) / (NFFT * np.sum(_WINDOW ** 2) / 2) + 1e-12)
    acf = np.fft.irfft(power, NFFT)[:, :FRAME] / np.maximum(_WINDOW_ACF, 1e-9)
    acf /= np.maximum(acf[:, :1], 1e-12)
    lo, hi = int(RATE_HZ / MAX_F0_HZ), int(RATE_HZ / MIN_F0_HZ)
    lag = lo + np.argmax(acf[:, lo:hi], axis=1)
    rows = np.arange(count)
    best = acf[rows, lag]
    for _ in range(2):  # prefer the period over a multiple of it (octave errors)
        half = np.maximum(lag // 2, lo)
        better = (acf[rows, half] > 0.85 * best) & (half > lo)
        lag = np.where(better, half, lag)
        best = np.where(better, acf[rows, half], best)
    periodicity = np.clip(best, 0.0, 1.0)
    f0_hz = RATE_HZ / lag
    log_bands = 10 * np.log10(power @ _BANK.T + 1e-10)
    cepstra = dct(log_bands, type=2, norm="ortho", axis=1)[:, 1:13]
    low_share = power[:, _LOW].sum(axis=1) / (power[:, _SPEECH].sum(axis=1) + 1e-12)
    return energy_db, periodicity, f0_hz, cepstra, low_share


def _change_db(cepstra: np.ndarray) -> np.ndarray:
    """Spectral envelope change per frame: RMS cepstral difference over +-2 frames, / 4 (the two
    frames at each edge repeat their neighbour's value)."""
    change = np.zeros(cepstra.shape[0])
    if cepstra.shape[0] > 4:
        step = np.sqrt(np.mean((cepstra[4:] - cepstra[:-4]) ** 2, axis=1)) / 4
        change[2:-2] = step
        change[:2], change[-2:] = step[0], step[-1]
    return change


def frame_features(audio: Audio) -> FrameFeatures:
    """:class:`FrameFeatures` of ``audio`` (an Audio or a track view; any rate and channel count),
    10 ms per frame.

    The mono mix is resampled to 16 kHz and high-passed at 70 Hz (mains hum is periodic too),
    one minute at a time with half a second of context each side (read window by window, so
    memory holds one minute of audio plus the per-frame values: about 40 MB for three hours).
    """
    rate, n = audio.sample_rate, audio.num_samples
    sos = butter(4, 70.0, btype="highpass", fs=RATE_HZ, output="sos")
    chunk, margin = int(_CHUNK_S * rate), int(_MARGIN_S * rate)
    total = int(np.ceil(n / rate * RATE_HZ / HOP))
    parts: list[list[np.ndarray]] = [[], [], [], [], []]
    done = 0
    for start in range(0, n, chunk):
        lo, hi = max(start - margin, 0), min(start + chunk + margin, n)
        mono = audio.read(lo, hi).mean(axis=0, dtype=np.float64)
        if rate != RATE_HZ:
            mono = resample_poly(mono, RATE_HZ, rate)
        mono = sosfilt(sos, mono)
        energy, periodicity, f0, cepstra, low_share = _chunk_features(mono)
        feats = (energy, periodicity, f0, _change_db(cepstra), low_share)
        first = int(round((start - lo) / rate * RATE_HZ / HOP))
        want = min(int(round(min(start + chunk, n) / rate * RATE_HZ / HOP)), total) - done
        for part, values in zip(parts, feats, strict=True):
            part.append(values[first:first + want])
        done += min(want, feats[0].shape[0] - first)
    energy, periodicity, f0, change, low_share = (np.concatenate(p) for p in parts)
    return FrameFeatures(energy_db=energy, periodicity=periodicity, f0_hz=f0, change_db=change,
                         low_share=low_share)


# ----------------------------------------------------------------------------- activity


@dataclass(frozen=True)
class Levels:
    """Robust levels of a recording, in dB of frame energy: its noise floor and its speech level."""

    floor_db: float
    speech_db: float

    @property
    def active_db(self) -> float:
        """Frames above this are sound (speech, breath, noise), below it room tone."""
        return max(self.floor_db + 10.0, self.speech_db - 40.0)


def levels(features: FrameFeatures) -> Levels:
    energy = features.energy_db
    if energy.size == 0:
        return Levels(-120.0, -120.0)
    return Levels(float(np.percentile(energy, 5)), float(np.percentile(energy, 97)))


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """``(start, end)`` frame index pairs (end exclusive) of the True runs of ``mask``."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()
    return list(zip(starts, ends, strict=True))


def close_gaps(mask: np.ndarray, gap: int) -> np.ndarray:
    """Fill False gaps of at most ``gap`` frames between True runs."""
    out = mask.copy()
    found = runs(~mask)
    for start, end in found:
        if 0 < start and end < mask.size and end - start <= gap:
            out[start:end] = True
    return out


BREATH_MAX_S = 0.6


def silences(features: FrameFeatures, *, min_s: float = 0.03) -> list[tuple[float, float]]:
    """Stretches without speech, in seconds: frames below the activity threshold, plus quiet
    unvoiced sounds next to them (breaths, lip noise: aperiodic, 30 dB under the speech level, at
    most ``BREATH_MAX_S`` long), with blips under 40 ms inside a silence ignored. A long quiet
    aperiodic stretch is not taken: it may be the creaky end of a word."""
    lv = levels(features)
    e = features.energy_db
    quiet = e < lv.active_db
    soft = (features.periodicity < 0.35) & (e < lv.speech_db - 30.0) & ~quiet
    true_runs = [(a, b) for a, b in runs(quiet) if b - a >= 10]
    starts = {a for a, _ in true_runs}
    ends = {b for _, b in true_runs}
    for start, end in runs(close_gaps(soft, 2)):
        touches = start in ends or end in starts or any(a <= start <= b or a <= end <= b
                                                        for a, b in true_runs)
        if touches and (end - start) * FRAME_S <= BREATH_MAX_S:
            quiet[start:end] = True
    for start, end in runs(~quiet):  # blips: short sounds inside a silence
        if 0 < start and end < quiet.size and end - start <= 4:
            quiet[start:end] = True
    return [(a * FRAME_S, b * FRAME_S) for a, b in runs(quiet) if (b - a) * FRAME_S >= min_s]


def sound_extent(features: FrameFeatures, start_s: float, end_s: float, *,
                 lo_s: float = 0.0, hi_s: float = float("inf"),
                 max_grow_s: float = 1.0) -> tuple[float, float, float] | None:
    """The whole of the held sound that ``start_s..end_s`` (a filler word's times, which ASR gives
    short: an "uh" at 2.54-2.92 s came back as 2.55-2.73 s) lies on: ``(start_s, end_s,
    steady_share)``, or None when the span holds no voiced sound.

    From the voiced frames inside the span (their median pitch and level), the span grows outward,
    never past ``lo_s``/``hi_s`` (the neighbouring words) nor by more than ``max_grow_s``, over
    frames of the same sound (voiced, within 3 semitones, the spectral envelope steady) and then
    over at most 80 ms of its decay (falling, 12 dB or more under the sound), and stops at
    silence or where a new sound starts. ``steady_share``: the share of the sounding frames
    whose envelope and pitch hold (near 1 for "uh", "um", "hmm"; low for a word with consonants).
    Written here because it works on the detector's own 10 ms features (no library does this)."""
    n = features.frames
    lo = max(int(np.ceil(max(lo_s, 0.0) / FRAME_S)), 0)
    hi = min(int(hi_s / FRAME_S) if np.isfinite(hi_s) else n, n)
    a = max(int(round(start_s / FRAME_S)), lo)
    b = min(int(round(end_s / FRAME_S)), hi)
    if b - a < 1:
        return None
    lv = levels(features)
    e, p = features.energy_db, features.periodicity
    st = 12 * np.log2(np.maximum(features.f0_hz, 1.0) / 100.0)
    active = e > lv.active_db
    seeds = np.flatnonzero(active[a:b] & (p[a:b] > 0.55)) + a
    if seeds.size == 0:
        return None
    ref_st, ref_db = float(np.median(st[seeds])), float(np.median(e[seeds]))
    grow = int(max_grow_s / FRAME_S)

    def same(i: int) -> bool:
        return bool(p[i] > 0.45 and abs(st[i] - ref_st) < 3.0 and features.change_db[i] < 1.5
                    and e[i] > ref_db - 12.0)

    def walk(i: int, step: int, limit: int) -> int:
        faded = 0
        while 0 <= i + step < n and (limit - (i + step)) * step >= 0 and abs(i + step - first[step]) <= grow:
            j = i + step
            if not active[j]:
                break
            if faded == 0 and same(j):
                i = j
                continue
            if e[j] < ref_db - 12.0 and e[j] <= e[i] + 3.0 and faded < 8:
                faded += 1
                i = j
                continue
            break
        return i

    first = {-1: int(seeds[0]), 1: int(seeds[-1])}
    left = walk(int(seeds[0]), -1, lo)
    right = walk(int(seeds[-1]), 1, hi - 1)
    span = slice(left, right + 1)
    sounding = active[span]
    steady = sounding & (features.change_db[span] < 1.0) & (p[span] > 0.55) & \
        (np.abs(st[span] - ref_st) < 2.0)
    share = float(steady.sum() / max(sounding.sum(), 1))
    return left * FRAME_S, (right + 1) * FRAME_S, share
