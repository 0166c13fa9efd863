"""Batch throughput (-j 1, -j 2, --ray), per-file overhead, peak memory per worker, podcast cost.

Corpus speech (``general/198-209-0000``, ``3436-172162-0000``) is tiled at runtime into files of
``file_s`` seconds (8 files; about an hour in all, 8 minutes with ``--quick``) and written to a
temporary folder: nothing of the corpus goes into the repository. Each configuration is one
``echo-agent batch ... --json`` process (a plan of denoise (DeepFilterNet 3) +
normalize_loudness: the podcast preset's costliest step); "alone" runs each file as its own one-file batch, the per-file
overhead being (sum of alone - batch -j 1) / files. The podcast preset runs on speech with the
ragtime under it at -12 dB and white noise at -30 dBFS: LUFS, true peak, DNSMOS OVRL in and out,
and its CPU cost per audio hour at $0.045 per CPU hour. The machine is shared by several agents:
times are upper bounds, and the load average is recorded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from evals.corpus import corpus_path
from evals.runner import SuiteResult

PLAN = [{"tool": "denoise", "args": {"attenuation_limit_db": 30}},
        {"tool": "normalize_loudness", "args": {"target_lufs": -20, "true_peak_db": -1}}]
SPEECH = ("198-209-0000.hq.ogg", "3436-172162-0000.hq.ogg")


def _tile(source: Path, seconds: float, rate: int = 16000):
    import numpy as np

    from tools.core.audio import load

    x = load(source)
    mono = x.samples.mean(axis=0)
    if x.sample_rate != rate:
        from scipy.signal import resample_poly

        mono = resample_poly(mono, rate, x.sample_rate)
    n = int(seconds * rate)
    return np.tile(mono, -(-n // len(mono)))[:n].astype(np.float32), rate


def _batch(inputs, out: Path, *extra: str) -> dict:
    started = time.perf_counter()
    run = subprocess.run([sys.executable, "-m", "agent.cli", "batch", *map(str, inputs), "-o",
                          str(out), *extra, "--json", "-q"], capture_output=True, text=True)
    if run.returncode != 0:
        raise RuntimeError(f"batch {extra} exit {run.returncode}: {run.stderr[-400:]}")
    summary = json.loads(run.stdout)
    summary["process_wall_s"] = time.perf_counter() - started
    return summary


def _row(name: str, s: dict) -> dict:
    return {"config": name, "files": s["processed"], "audio_h": s["audio_hours"],
            "wall_s": round(s["process_wall_s"], 1),
            "audio_h_per_wall_h": round(s["audio_hours"] * 3600 / s["process_wall_s"], 1),
            "peak_rss_mb": s["peak_rss_mb"], "cost_per_audio_h": s["cost_per_audio_hour"],
            "load_avg": round(os.getloadavg()[0], 2)}


def run(*, quick: bool = False) -> SuiteResult:
    import soundfile as sf

    file_s = 60.0 if quick else 450.0
    sources = [corpus_path("general", name) for name in SPEECH]
    rows, notes = [], []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        inputs = tmp / "in"
        inputs.mkdir()
        for i in range(8):
            x, rate = _tile(sources[i % 2], file_s)
            sf.write(inputs / f"ep{i}.wav", x, rate, subtype="PCM_16")
        plan = tmp / "plan.json"
        plan.write_text(json.dumps(PLAN))
        runs = {"-j 1": ["-j", "1"], "-j 2": ["-j", "2"], "--ray": ["--ray", "-j", "2"]}
        for name, extra in runs.items():
            rows.append(_row(name, _batch([inputs], tmp / name.strip("-").replace(" ", ""),
                                          "--plan", str(plan), *extra)))
        alone = 0.0
        for i in range(8):
            alone += _batch([inputs / f"ep{i}.wav"], tmp / f"alone{i}", "--plan",
                            str(plan))["process_wall_s"]
        one = rows[0]["wall_s"]
        summary = {"speedup_j2": round(one / rows[1]["wall_s"], 2),
                   "speedup_ray": round(one / rows[2]["wall_s"], 2),
                   "per_file_overhead_s": round((alone - one) / 8, 2)}
        podcast_rows, podcast = _podcast(tmp, quick=quick)
        rows += podcast_rows
        summary.update(podcast)
    notes.append("2 cores shared with other agents: times are upper bounds (load_avg per row)")
    return SuiteResult(name="batch", status="ok", rows=rows, summary=summary, notes=notes)


def _podcast(tmp: Path, *, quick: bool) -> tuple[list[dict], dict]:
    """The podcast preset on one dev and one held-out show: corpus speech with a music bed under
    its middle part (:func:`evals.suites.music_bed.make_mix`, real noise at 20 dB SNR), 16 kHz.
    Per show: integrated loudness, true peak, DNSMOS OVRL in and out; cost per audio hour."""
    import pyloudnorm
    import soundfile as sf

    from evals.suites.music_bed import RATE, make_mix
    from tools.models.dnsmos import dnsmos

    seconds = 40.0 if quick else 120.0
    folder = tmp / "podcast"
    folder.mkdir()
    shows = {}
    for split in ("dev", "held-out"):
        mixed, _, bed_s = make_mix(split, 0, noise="real", snr_db=20.0, seconds=seconds)
        name = f"show-{split}.wav"
        sf.write(folder / name, mixed, RATE, subtype="PCM_16")
        shows[name] = (split, mixed, bed_s)
    s = _batch([folder], tmp / "podcast-out", "--preset", "podcast")
    entry = json.loads((tmp / "podcast-out" / "echo-agent-batch.json").read_text())
    rows = []
    for name, (split, mixed, bed_s) in shows.items():
        out, out_rate = sf.read(tmp / "podcast-out" / name, dtype="float32", always_2d=True)
        loud = entry["files"][name]["report"]["checks"][name]["loudness"]
        rows.append({"config": f"podcast preset, {split}", "seconds": seconds,
                     "music_bed_s": f"{bed_s[0]:.0f}-{bed_s[1]:.0f}",
                     "lufs": round(pyloudnorm.Meter(out_rate).integrated_loudness(out), 2),
                     "true_peak_db": loud["true_peak_db"],
                     "dnsmos_ovrl_in": round(dnsmos(mixed[None], RATE).ovrl, 3),
                     "dnsmos_ovrl_out": round(dnsmos(out.T, out_rate).ovrl, 3)})
    return rows, {"podcast_cost_per_audio_h_usd": s["cost_per_audio_hour"],
                  "podcast_rtf": s["real_time_factor"]}
