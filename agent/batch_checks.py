"""Delivery checks of a batch output, measured on the written file (what the listener gets).

- ``loudness``: integrated loudness (BS.1770) within ``tolerance_lu`` of ``target_lufs``, true
  peak at or below ``true_peak_db``.
- ``acx``: the Audible/ACX audiobook rules: RMS level of the whole file from -23 to -18 dB,
  sample peaks at or below -3 dB, noise floor below -60 dB. The noise floor is the RMS of the
  quietest half second that is not digital silence (room tone between sentences, as a person
  checking with a level meter reads it). ACX also asks for 44.1 kHz, mono or stereo
  consistently, 192 kb/s MP3; those are export settings, not levels, and are not checked.

The file is read block by block (bounded memory).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from tools.core.audio_read import open_input
from tools.core.meter import SILENCE_DB, Meter

ACX_RMS_DB = (-23.0, -18.0)
ACX_PEAK_DB = -3.0
ACX_FLOOR_DB = -60.0
FLOOR_WINDOW_S = 0.5
_DIGITAL_SILENCE = 1e-12  # mean square below this: exact zeros, not room tone


def _db(power: float) -> float:
    return 10.0 * math.log10(power) if power > 1e-24 else SILENCE_DB


def _as_float(block: np.ndarray) -> np.ndarray:
    """A reader's block as float32 in [-1, 1]: integer PCM blocks come raw (int16 up to 32767)."""
    block = np.asarray(block)
    if np.issubdtype(block.dtype, np.integer):
        return block.astype(np.float32) / float(2 ** (8 * block.dtype.itemsize - 1))
    return block.astype(np.float32, copy=False)


def measure_file(path: str | Path) -> dict[str, float]:
    """Loudness, true peak, sample peak, RMS and noise floor of a file, in one pass."""
    source = open_input(Path(path))
    meter = Meter(source.sample_rate, source.channels)
    window = max(int(FLOOR_WINDOW_S * source.sample_rate), 1)
    hop = window // 2
    quietest, carry = math.inf, np.zeros((source.channels, 0), dtype=np.float64)
    for block in source.blocks():
        block = _as_float(block)
        meter.add(block)
        x = np.concatenate([carry, block.astype(np.float64)], axis=1)
        count = (x.shape[1] - window) // hop + 1 if x.shape[1] >= window else 0
        if count:
            power = np.square(x).mean(axis=0)
            sums = np.concatenate([[0.0], np.cumsum(power)])
            starts = np.arange(count) * hop
            means = (sums[starts + window] - sums[starts]) / window
            sound = means[means > _DIGITAL_SILENCE]
            if sound.size:
                quietest = min(quietest, float(sound.min()))
            carry = x[:, count * hop:]
        else:
            carry = x
    levels = meter.levels()
    return {"lufs": round(levels.integrated_lufs, 2), "true_peak_db": round(levels.true_peak_db, 2),
            "peak_db": round(levels.peak_db, 2), "rms_db": round(levels.rms_db, 2),
            "noise_floor_db": round(_db(quietest) if math.isfinite(quietest) else SILENCE_DB, 2),
            "duration_s": round(levels.num_samples / source.sample_rate, 3)}


def run_checks(path: str | Path, checks: dict[str, Any]) -> dict[str, Any]:
    """``{check: {measured values..., "ok": bool, "problems": [...]}}`` for the file."""
    facts = measure_file(path)
    out: dict[str, Any] = {}
    if "loudness" in checks:
        settings = checks["loudness"] or {}
        target = float(settings.get("target_lufs", -16.0))
        tolerance = float(settings.get("tolerance_lu", 0.5))
        ceiling = float(settings.get("true_peak_db", -1.0))
        problems = []
        if not abs(facts["lufs"] - target) <= tolerance:
            problems.append(f"loudness {facts['lufs']:.1f} LUFS, not {target:g} +-{tolerance:g}")
        if facts["true_peak_db"] > ceiling:
            problems.append(f"true peak {facts['true_peak_db']:.2f} dBTP above {ceiling:g}")
        out["loudness"] = {"lufs": facts["lufs"], "true_peak_db": facts["true_peak_db"],
                           "ok": not problems, "problems": problems}
    if "acx" in checks:
        problems = []
        low, high = ACX_RMS_DB
        if not low <= facts["rms_db"] <= high:
            problems.append(f"RMS {facts['rms_db']:.1f} dB, not from {low:g} to {high:g}")
        if facts["peak_db"] > ACX_PEAK_DB:
            problems.append(f"peak {facts['peak_db']:.1f} dB above {ACX_PEAK_DB:g}")
        if facts["noise_floor_db"] >= ACX_FLOOR_DB:
            problems.append(f"noise floor {facts['noise_floor_db']:.1f} dB, not below "
                            f"{ACX_FLOOR_DB:g}")
        out["acx"] = {"rms_db": facts["rms_db"], "peak_db": facts["peak_db"],
                      "noise_floor_db": facts["noise_floor_db"], "ok": not problems,
                      "problems": problems}
    return out


def check_problems(report: dict[str, Any]) -> list[str]:
    """Every failed check of a job's report, as ``"file: check: problem"`` lines."""
    lines = []
    for name, results in (report.get("checks") or {}).items():
        for check, result in results.items():
            lines.extend(f"{name}: {check}: {p}" for p in result.get("problems", []))
    return lines
