"""De-click on clean speech at 8, 16, 22.05, 44.1 and 48 kHz, for the ``repair`` suite (issue 15).

Speech: every clean speech file of the corpus, resampled to each rate (soxr, as ``tools.core.audio.
resample``), first channel; a dev split (tuned on) and a held-out split (only measured), fixed
before any tuning, about 2.5 minutes each (LibriSpeech, jfk, the disfluency clips, NOIZEUS clean
sentences; held-out also the 48 kHz freesound clip and the 44.1 kHz two-speaker clip). Files
recorded at 8 or 16 kHz have nothing above 4 or 8 kHz once resampled up.

Clicks: 2 a second at random positions (fixed seed), widths log-uniform from 0.05 to 2 ms, each
one of three shapes drawn alike: a rectangular impulse (a tick), a damped 2-8 kHz oscillation
(capped at 0.4 x the rate) and a sharp-attack exponential pop decaying over the width. A click is
*band-limited*: synthesised at ``OVERSAMPLE_HZ`` or more (an integer multiple of the rate), at a
random sub-sample offset, and brought down to the rate by ``scipy.signal.resample_poly`` (its
anti-alias FIR), as a click reaches a converter; so a 0.05 ms click at 8 kHz is a sub-sample
impulse spread over a few samples. Its amplitude is set *after* that: the peak at the rate is
``LEVEL_DB`` (10 to 26 dB, uniform) above the RMS of the clean speech over +-10 ms around it, and
at least ``FLOOR_DBFS`` (-50 dBFS) in pauses.

Per rate and split: recall (an added click counts as found when a detection overlaps it within
1 ms), recall per width band, false detections per minute on the untouched speech, the SNR of
the untouched speech after declick (whole file, and the worst file), and the SNR around the
clicks (+-2 ms) before and after. Default settings (sensitivity 0.5).
"""

from __future__ import annotations

import numpy as np
from scipy.signal import resample_poly

from evals.metrics import snr_db
from evals.suites.repair_inpaint import SEED, load_excerpt
from tools.core.audio import Audio, resample
from tools.declick import declick

RATES_HZ = (8000, 16000, 22050, 44100, 48000)
DISFLUENCY = ("a", "affectation", "apex", "bottle", "breaths", "breathy", "buddy", "creaky",
              "cutoff", "exaggerated", "falsetto", "her", "kmg", "laughter", "long", "longstop",
              "patty", "poofy", "pooty", "puddy", "putty", "puttynorm", "reallylong", "the",
              "theapprox", "theinitialstop", "thenorm", "theother", "thestop", "thez", "thoughts",
              "uh", "uhuh", "um", "unk", "whatscalled", "whisper")
CLICK_DEV = ("general/198-209-0000.hq.ogg", "general/3436-172162-0000.hq.ogg",
             "speech-reference/jfk.flac",
             *(f"disfluency/mfa_{n}.flac" for n in DISFLUENCY[0::2]),
             *(f"noizeus/clean/sp{k:02d}.wav" for k in range(1, 11)))
CLICK_HELD_OUT = ("general/5703-47212-0000.hq.ogg", "noisy-speech-48k/clean_freesound_33711.wav",
                  "speech-reference/stereo_diarization.wav",
                  *(f"disfluency/mfa_{n}.flac" for n in DISFLUENCY[1::2]),
                  *(f"noizeus/clean/sp{k:02d}.wav" for k in range(11, 21)))
CLICKS_PER_SECOND = 2.0
WIDTH_MS = (0.05, 2.0)
WIDTH_BANDS_MS = ((0.05, 0.1), (0.1, 0.3), (0.3, 1.0), (1.0, 2.0))
LEVEL_DB = (10.0, 26.0)
FLOOR_DBFS = -50.0
OVERSAMPLE_HZ = 320_000
MATCH_S, SNR_PAD_S = 0.001, 0.002


def click_shape(width_s: float, rate: int, rng: np.random.Generator) -> np.ndarray:
    """One band-limited click of ``width_s`` at ``rate``, peak 1 (see the module docstring)."""
    factor = max(int(np.ceil(OVERSAMPLE_HZ / rate)), 1)
    high = rate * factor
    length = max(int(round(width_s * high)), 1)
    kind = int(rng.integers(3))
    t = np.arange(length) / high
    if kind == 0:
        shape = rng.choice([-1.0, 1.0]) * np.ones(length)
    elif kind == 1:
        freq = rng.uniform(2000, min(8000, 0.4 * rate))
        shape = np.exp(-4 * t / width_s) * np.sin(2 * np.pi * freq * t + rng.uniform(0, 2 * np.pi))
    else:
        shape = rng.choice([-1.0, 1.0]) * np.exp(-5 * t / width_s)
    offset = int(rng.integers(factor))  # where in a sample period the click begins
    pad = 8 * factor  # room for the anti-alias filter's ringing on both sides
    buffer = np.zeros(offset + length + 2 * pad)
    buffer[pad + offset : pad + offset + length] = shape
    low = resample_poly(buffer, 1, factor)
    return low / max(float(np.max(np.abs(low))), 1e-12)


def add_clicks(x: np.ndarray, rate: int, rng: np.random.Generator
               ) -> tuple[np.ndarray, list[tuple[int, int, float]]]:
    """``x`` (1-D) with clicks added; returns it and ``(start, stop, width_ms)`` per click, where
    ``start:stop`` is where the band-limited click is above 10 % of its peak."""
    y = x.copy()
    edge, near = int(0.1 * rate), int(0.01 * rate)
    count = int(x.size / rate * CLICKS_PER_SECOND)
    if x.size <= 2 * edge + count:
        return y, []
    starts = np.sort(rng.choice(np.arange(edge, x.size - edge), size=count, replace=False))
    clicks = []
    for start in starts.tolist():
        width_ms = float(np.exp(rng.uniform(*np.log(WIDTH_MS))))
        shape = click_shape(width_ms * 1e-3, rate, rng)
        local = float(np.sqrt(np.mean(x[max(start - near, 0) : start + near] ** 2)))
        peak = max(local * 10 ** (rng.uniform(*LEVEL_DB) / 20), 10 ** (FLOOR_DBFS / 20))
        stop = min(start + shape.size, x.size)
        y[start:stop] += peak * shape[: stop - start]
        above = np.flatnonzero(np.abs(shape[: stop - start]) > 0.1)
        clicks.append((start + int(above[0]), start + int(above[-1]) + 1, width_ms))
    return y, clicks


def speech_at(relative: str, rate: int) -> np.ndarray:
    """The first channel of a corpus file at ``rate``, float64."""
    x, source_rate = load_excerpt(relative, 60.0)
    audio = Audio.from_array(x[:1].astype(np.float32), source_rate)
    if source_rate != rate:
        audio = resample(audio, sample_rate_hz=rate)
    return audio.samples[0].astype(np.float64)


def measure_rate(names: tuple[str, ...], rate: int) -> dict:
    """The de-click measurements for one split at one rate (see the module docstring)."""
    found_by_band = {band: [0, 0] for band in WIDTH_BANDS_MS}
    false = 0
    seconds = 0.0
    clean_err = clean_energy = 0.0
    worst_clean_snr = np.inf
    before, after = [], []
    for index, relative in enumerate(names):
        clean = speech_at(relative, rate)
        seconds += clean.size / rate
        out = declick(Audio.from_array(clean[None].astype(np.float32), rate))
        false += len(out.clicks)
        repaired = out.audio.samples[0].astype(np.float64)
        clean_err += float(np.sum((repaired - clean.astype(np.float32)) ** 2))
        clean_energy += float(np.sum(clean**2))
        if out.clicks:
            worst_clean_snr = min(worst_clean_snr, snr_db(clean, repaired))
        clicked, clicks = add_clicks(clean, rate, np.random.default_rng(SEED + index))
        done = declick(Audio.from_array(clicked[None].astype(np.float32), rate))
        hits = [(s, e) for _, s, e in done.clicks]
        tolerance, pad = int(MATCH_S * rate), int(SNR_PAD_S * rate)
        region = np.zeros(clean.size, dtype=bool)
        for start, stop, width_ms in clicks:
            band = next(b for b in WIDTH_BANDS_MS if width_ms <= b[1])
            found_by_band[band][1] += 1
            found_by_band[band][0] += any(s < stop + tolerance and e > start - tolerance
                                          for s, e in hits)
            region[max(start - pad, 0) : stop + pad] = True
        if clicks:
            before.append(snr_db(clean[region], clicked[region]))
            after.append(snr_db(clean[region], done.audio.samples[0][region]))
    found = sum(f for f, _ in found_by_band.values())
    total = sum(n for _, n in found_by_band.values())
    return {"rate": rate, "minutes": seconds / 60, "clicks": total, "found": found,
            "recall": found / max(total, 1),
            "by_band": {f"{lo:g}-{hi:g} ms": (f, n) for (lo, hi), (f, n) in found_by_band.items()},
            "false": false, "false_per_min": false / (seconds / 60),
            "clean_snr_db": 10 * np.log10(clean_energy / max(clean_err, 1e-30)),
            "worst_clean_snr_db": float(worst_clean_snr),
            "click_snr_before_db": float(np.mean(before)),
            "click_snr_after_db": float(np.mean(after))}


def declick_speech_rows(splits: dict[str, tuple[str, ...]] | None = None,
                        rates: tuple[int, ...] = RATES_HZ) -> list[dict]:
    """Per split and rate, the rows of the ``repair`` suite's table."""
    splits = splits or {"dev": CLICK_DEV, "held-out": CLICK_HELD_OUT}
    rows = []
    for split, names in splits.items():
        for rate in rates:
            m = measure_rate(names, rate)
            case = f"speech {split} {rate / 1000:g} kHz ({len(names)} files, {m['minutes']:.1f} min)"
            bands = ", ".join(f"{k} {f}/{n}" for k, (f, n) in m["by_band"].items())
            rows += [
                {"set": "declick", "case": case, "n": m["clicks"],
                 "metric": "recall (added clicks found)", "ours": m["recall"], "detail": bands},
                {"set": "declick", "case": case, "n": m["false"],
                 "metric": "false detections per minute of clean audio",
                 "ours": m["false_per_min"]},
                {"set": "declick", "case": case, "n": len(names),
                 "metric": "SNR of clean speech after declick, dB",
                 "ours": m["clean_snr_db"],
                 "detail": f"worst file {m['worst_clean_snr_db']:.1f} dB (files touched only)"},
                {"set": "declick", "case": case, "n": m["clicks"],
                 "metric": "SNR around clicks (+-2 ms), dB", "input": m["click_snr_before_db"],
                 "ours": m["click_snr_after_db"],
                 "delta": m["click_snr_after_db"] - m["click_snr_before_db"]},
            ]
    return rows
