"""De-click, dropouts and de-clip on real recordings, for the ``repair`` suite (see
:mod:`evals.suites.repair`): damage written into clean recordings, found and restored; false
alarms counted on the untouched recordings."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from evals.metrics import snr_db
from evals.suites.repair_inpaint import SEED, active_positions, load_excerpt
from tools.core.audio import Audio
from tools.core.errors import ToolError
from tools.declick import declick
from tools.declip import declip
from tools.dropouts import repair_dropouts

CLICK_SECONDS, CLICKS_PER_SECOND = 40.0, 2.0
CLIP_SECONDS, CLIP_BELOW_PEAK_DB = 6.0, (1.0, 3.0, 6.0, 10.0)


def add_clicks(x: np.ndarray, rate: int, rng: np.random.Generator) -> tuple[np.ndarray, list]:
    """``x`` (1-D) with clicks added (see the module docstring); returns it and the spans."""
    y = x.copy()
    count = int(x.size / rate * CLICKS_PER_SECOND)
    edge = int(0.1 * rate)
    starts = np.sort(rng.choice(np.arange(edge, x.size - edge), size=count, replace=False))
    spans = []
    for start in starts.tolist():
        kind = int(rng.integers(3))
        if kind == 0:
            shape = rng.choice([-1.0, 1.0]) * np.ones(int(rng.integers(1, 4)))
        elif kind == 1:
            length = max(int(rng.uniform(0.2, 1.0) * 1e-3 * rate), 2)
            t = np.arange(length) / rate
            freq = rng.uniform(2000, min(8000, 0.4 * rate))
            shape = np.exp(-t * 4 * rate / length) * np.sin(2 * np.pi * freq * t + rng.uniform(0, 6.28))
        else:
            length = max(int(rng.uniform(0.5, 2.0) * 1e-3 * rate), 3)
            shape = rng.choice([-1.0, 1.0]) * np.exp(-np.arange(length) * 5.0 / length)
        shape = shape / np.max(np.abs(shape))
        near = x[max(start - int(0.01 * rate), 0) : start + int(0.01 * rate)]
        local = max(float(np.sqrt(np.mean(near**2))), 10 ** (-50 / 20))
        y[start : start + shape.size] += local * 10 ** (rng.uniform(10, 26) / 20) * shape
        spans.append((start, start + shape.size))
    return y, spans


def declick_rows(files: dict[str, tuple[str, ...]]) -> list[dict]:
    rows = []
    for category, names in files.items():
        total = found = detections = true_detections = false_clean = 0
        minutes = 0.0
        before, after = [], []
        for relative in names:
            x, rate = load_excerpt(relative, CLICK_SECONDS)
            clean = x[0]
            clicked, spans = add_clicks(clean, rate, np.random.default_rng(SEED))
            result = declick(Audio.from_array(clicked.astype(np.float32), rate))
            tolerance = int(0.001 * rate)
            hits = [(s, e) for _, s, e in result.clicks]
            matched: set[int] = set()
            for start, stop in spans:
                near = [i for i, (s, e) in enumerate(hits)
                        if s < stop + tolerance and e > start - tolerance]
                found += bool(near)
                matched.update(near)
            total += len(spans)
            detections += len(hits)
            true_detections += len(matched)
            false_clean += len(declick(Audio.from_array(clean.astype(np.float32), rate)).clicks)
            minutes += clean.size / rate / 60
            region = np.zeros(clean.size, dtype=bool)
            pad = int(0.002 * rate)
            for start, stop in spans:
                region[max(start - pad, 0) : stop + pad] = True
            before.append(snr_db(clean[region], clicked[region]))
            after.append(snr_db(clean[region], result.audio.samples[0][region]))
        case = f"{category} ({len(names)} files, {minutes:.1f} min)"
        rows += [
            {"set": "declick", "case": case, "n": total, "metric": "recall (added clicks found)",
             "ours": found / max(total, 1)},
            {"set": "declick", "case": case, "n": detections, "metric": "precision",
             "ours": true_detections / max(detections, 1)},
            {"set": "declick", "case": case, "n": false_clean,
             "metric": "false detections per minute of clean audio",
             "ours": false_clean / max(minutes, 1e-9)},
            {"set": "declick", "case": case, "n": total, "metric": "SNR around clicks (+-2 ms), dB",
             "input": float(np.mean(before)), "ours": float(np.mean(after)),
             "delta": float(np.mean(after)) - float(np.mean(before))},
        ]
    return rows


# ----------------------------------------------------------------------------- dropouts, de-clip


def dropout_rows(names: tuple[str, ...]) -> list[dict]:
    rows = []
    for relative in names:
        x, rate = load_excerpt(relative, 20.0)
        rng = np.random.default_rng(SEED)
        damaged = x.copy()
        truth = []
        for start in active_positions(x, rate, int(0.06 * rate), 8, rng):
            length = int(rng.uniform(1, 60) * 1e-3 * rate)
            held = 0.0 if len(truth) % 2 == 0 else float(x[0, start])
            damaged[:, start : start + length] = held
            truth.append((start, start + length))
        fixed = repair_dropouts(Audio.from_array(damaged.astype(np.float32), rate))
        untouched = repair_dropouts(Audio.from_array(x.astype(np.float32), rate))
        got = {(d.start, d.stop) for d in fixed.dropouts if d.channel == 0}
        found = sum(any(s <= a + 2 and e >= b - 2 for s, e in got) for a, b in truth)
        snrs = [snr_db(x[:, a:b], fixed.audio.samples[:, a:b]) for a, b in truth]
        before = [snr_db(x[:, a:b], damaged[:, a:b]) for a, b in truth]
        rows.append({"set": "dropouts", "case": Path(relative).name, "n": len(truth),
                     "metric": "SNR in dropout, dB", "input": float(np.mean(before)),
                     "ours": float(np.mean(snrs)), "delta": float(np.mean(snrs) - np.mean(before)),
                     "detail": f"found {found}/{len(truth)}; "
                               f"{len(untouched.dropouts)} false on the untouched file"})
    return rows


def declip_rows(names: tuple[str, ...]) -> list[dict]:
    rows = []
    for relative in names:
        x, rate = load_excerpt(relative, CLIP_SECONDS)
        clean = x[:1]
        for below_db in CLIP_BELOW_PEAK_DB:
            level = float(np.max(np.abs(clean))) * 10 ** (-below_db / 20)
            clipped = np.clip(clean, -level, level)
            mask = np.abs(clipped) >= level * (1 - 1e-6)
            row = {"set": "declip", "case": f"{Path(relative).name} -{below_db:g} dB",
                   "n": int(mask.sum()), "metric": "SNR, dB (all samples)",
                   "input": snr_db(clean, clipped)}
            try:
                out = declip(Audio.from_array(clipped.astype(np.float32), rate),
                             makeup_gain_db=0.0).audio.samples  # the restoration, at its level
            except ToolError as exc:
                rows.append({**row, "detail": str(exc)})
                continue
            above = 100 * float(np.mean(np.abs(out[mask]) >= level * (1 - 1e-5)))
            rows.append({**row, "ours": snr_db(clean, out),
                         "delta": snr_db(clean, out) - snr_db(clean, clipped),
                         "detail": f"{100 * mask.mean():.2f}% clipped; on clipped samples "
                                   f"{snr_db(clean[mask], clipped[mask]):.1f} -> "
                                   f"{snr_db(clean[mask], out[mask]):.1f} dB; {above:.0f}% "
                                   "restored at/above the clip level"})
    return rows


def declip_false_alarm_row(names: tuple[str, ...]) -> dict:
    """``declip`` with the level detected, on unclipped recordings joined into one long 16-bit
    track (each peak-normalised to -1 dBFS, as an album often is): anything it changes is a false alarm.
    Long 16-bit tracks hold many values for two samples a few times each by chance."""
    parts, rate = [], None
    for relative in names:
        x, file_rate = load_excerpt(relative, 3600.0)
        if rate not in (None, file_rate):
            continue
        rate = file_rate
        x = np.resize(x, (2, x.shape[1])) if x.shape[0] < 2 else x[:2]
        parts.append(x / np.max(np.abs(x)) * 10 ** (-1.0 / 20))
    track = np.round(np.concatenate(parts, axis=1) * 32767) / 32767
    minutes = track.shape[1] / rate / 60
    row = {"set": "declip", "case": f"untouched, {len(parts)} files, {minutes:.1f} min, 16-bit",
           "n": len(parts), "metric": "samples changed (false alarms)"}
    try:
        out = declip(Audio.from_array(track.astype(np.float32), rate)).audio.samples
    except ToolError as exc:
        return {**row, "ours": 0, "detail": str(exc)}
    changed = int(np.sum(out != track.astype(np.float32)))
    return {**row, "ours": changed, "detail": f"{100 * changed / track.size:.3f}% of the samples"}
