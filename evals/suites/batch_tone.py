"""Tone matching across a batch: the long-term spectrum distance of each output to the reference.

The distance is the mean absolute difference of 1/3-octave band levels (IEC 61260 centres
100 Hz - 6.3 kHz, from a Welch average of 4096-sample Hann frames), each side less its mean over
the bands (the level difference is loudness's business, not tone's), in dB. Before: each input
against the reference's input (without ``--reference``) or the reference file; after: each output
against the reference output (the batch's first) or the reference file.

The batch: corpus speech (``general/`` LibriSpeech, dev split) recorded three ways: as it is,
bright (+8 dB high shelf from 3 kHz) and dark (a 2nd-order 1.2 kHz low-pass): ``echo-agent batch
--preset podcast`` without ``--reference`` (the plain take goes first and is the reference) and
with ``--reference`` a fourth, held-out recording (``noisy-speech-48k`` clean).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

BANDS_HZ = tuple(1000.0 * 2 ** (k / 3) for k in range(-10, 9))  # 100 Hz ... 6.35 kHz


def band_levels_db(samples: np.ndarray, rate: int) -> np.ndarray:
    """1/3-octave band levels (dB, less their mean) of the long-term spectrum of ``samples``
    (mono ``(n,)`` or ``(channels, n)`` / ``(n, channels)`` as soundfile reads)."""
    from scipy.signal import welch

    x = np.asarray(samples, dtype=np.float64)
    if x.ndim == 2:
        x = x.mean(axis=0 if x.shape[0] < x.shape[1] else 1)
    freqs, psd = welch(x, rate, nperseg=4096)
    levels = []
    for centre in BANDS_HZ:
        band = (freqs >= centre * 2 ** (-1 / 6)) & (freqs < centre * 2 ** (1 / 6))
        levels.append(10 * np.log10(psd[band].sum() + 1e-20))
    levels = np.array(levels)
    return levels - levels.mean()


def tone_distance_db(a: np.ndarray, a_rate: int, b: np.ndarray, b_rate: int) -> float:
    return float(np.mean(np.abs(band_levels_db(a, a_rate) - band_levels_db(b, b_rate))))


def colour(x: np.ndarray, rate: int, how: str) -> np.ndarray:
    """The same speech as recorded by another microphone: ``bright`` or ``dark``."""
    from scipy.signal import butter, sosfilt

    if how == "bright":  # + (10^(8/20) - 1) x the high band: an 8 dB shelf from 3 kHz
        high = sosfilt(butter(2, 3000, "highpass", fs=rate, output="sos"), x)
        return (x + (10 ** (8 / 20) - 1) * high).astype(np.float32)
    return sosfilt(butter(2, 1200, "lowpass", fs=rate, output="sos"), x).astype(np.float32)


def _read(path: Path):
    import soundfile as sf

    return sf.read(str(path), dtype="float32")


def distances(inputs: dict[str, Path], outputs: Path, reference: Path | None) -> list[dict]:
    """One row per input: its distance to the reference before and after."""
    names = list(inputs)
    ref_in = _read(reference) if reference else _read(inputs[names[0]])
    ref_out = _read(reference) if reference else _read(outputs / names[0])
    rows = []
    for name in names if reference else names[1:]:
        x, out = _read(inputs[name]), _read(outputs / name)
        rows.append({"file": name, "reference": reference.name if reference else names[0],
                     "before_db": round(tone_distance_db(*x, *ref_in), 2),
                     "after_db": round(tone_distance_db(*out, *ref_out), 2)})
    return rows


def measure(tmp: Path, batch, *, seconds: float) -> list[dict]:
    """Both runs (``batch(inputs, out, *extra)`` runs ``echo-agent batch``); rows per file."""
    import soundfile as sf

    from evals.corpus import corpus_path
    from evals.suites.music_bed import _load

    speech = np.concatenate([_load(corpus_path("general", name)) for name in
                             ("198-209-0000.hq.ogg", "3436-172162-0000.hq.ogg")])
    n = int(seconds * 16000)
    speech = np.tile(speech, -(-n // len(speech)))[:n] * 0.3
    folder = tmp / "tone-in"
    folder.mkdir()
    inputs = {}
    for name, how in (("a_plain.wav", None), ("b_bright.wav", "bright"), ("c_dark.wav", "dark")):
        inputs[name] = folder / name
        sf.write(inputs[name], speech if how is None else colour(speech, 16000, how), 16000,
                 subtype="FLOAT")
    reference = tmp / "reference.wav"
    ref = _load(corpus_path("noisy-speech-48k", "clean_freesound_33711.wav"))
    sf.write(reference, ref * (0.1 / (np.sqrt(np.mean(ref**2)) + 1e-9)), 16000, subtype="FLOAT")
    rows = []
    for extra, label in (((), "first output"), (("--reference", str(reference)), "--reference")):
        out = tmp / f"tone-out-{len(rows)}"
        batch([folder], out, "--preset", "podcast", *extra)
        json.loads((out / "echo-agent-batch.json").read_text())  # the manifest is there
        rows += [{"run": label, **row} for row in
                 distances(inputs, out, reference if extra else None)]
    return rows
