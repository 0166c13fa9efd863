"""Suite ``denoise``: SI-SDR, PESQ and STOI of ``tools.denoise`` against the noisy input and baselines.

- NOIZEUS dev set (``corpus/noizeus``: sp01-sp10 of each of the 8 noises x 0/5/10/15 dB, 8 kHz,
  sample-aligned with ``clean/``): per input SNR (all noises) SI-SDR, PESQ (narrowband) and STOI;
  per noise type and SNR, SI-SDR. Columns: the noisy input, RNNoise alone (delay-compensated),
  noisereduce with its defaults, the classical Wiener filter, and ``ours`` = what
  ``echo-agent denoise`` runs by default offline (``backend="auto"`` -> ``hybrid``, 30 dB limit).
- NOIZEUS held-out set (sp11-sp20), per SNR, SI-SDR: a check that the dev-set choices generalise.
- ``noisy-speech-48k``: the DeepFilterNet repository's noisy sample against its clean speech
  (PESQ wideband after resampling to 16 kHz).
- Cost: real-time factor and peak memory (RSS growth of a fresh process) per backend for 10, 60 and
  300 s of 48 kHz mono, including DeepFilterNet 3 with random weights (same architecture, so the
  same cost as the real model).

Done when (issue "Music and noise"): ours improves mean SI-SDR by >= 3 dB at 0 and 5 dB input SNR
and does not make 15 dB inputs worse.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from math import gcd
from pathlib import Path

import numpy as np
from scipy.signal import resample_poly

from evals.corpus import corpus_path
from evals.metrics import si_sdr_db
from evals.runner import SuiteResult
from tools.core.audio import Audio, load
from tools.denoise import denoise

NOISES = ("airport", "babble", "car", "exhibition", "restaurant", "station", "street", "train")
SNRS_DB = (0, 5, 10, 15)
DEV_IDS, TEST_IDS, QUICK_IDS = range(1, 11), range(11, 21), range(1, 3)
METHODS = ("noisy", "rnnoise", "noisereduce", "classical", "ours")
DONE_WHEN = {0: 3.0, 5: 3.0, 15: 0.0}  # input SNR -> required mean SI-SDR gain, dB
COST_DURATIONS_S = (10, 60, 300)
COST_BACKENDS = ("hybrid", "rnnoise", "classical", "deepfilternet (random weights)")


def _resample(x: np.ndarray, from_hz: int, to_hz: int) -> np.ndarray:
    divisor = gcd(from_hz, to_hz)
    return resample_poly(x, to_hz // divisor, from_hz // divisor, axis=-1)


def enhance_all(noisy: np.ndarray, rate: int) -> dict[str, np.ndarray]:
    """Every method's output for one mono signal ``(n,)``."""
    import noisereduce

    audio = Audio.from_array(noisy, rate)
    return {
        "noisy": noisy,
        "rnnoise": denoise(audio, backend="rnnoise", attenuation_limit_db=100).audio.samples[0],
        "noisereduce": noisereduce.reduce_noise(y=noisy, sr=rate).astype(np.float32),
        "classical": denoise(audio, backend="classical").audio.samples[0],
        "ours": denoise(audio).audio.samples[0],
    }


def _quality_metrics():
    """PESQ and STOI functions if the packages are installed, else (None, reason)."""
    try:
        from pesq import pesq
        from pystoi import stoi
    except ImportError as exc:
        return None, f"PESQ/STOI not measured: {exc} (pip install -e '.[evals]')"

    def measure(clean: np.ndarray, estimate: np.ndarray, rate: int) -> dict[str, float]:
        ref, est = clean, estimate
        if rate not in (8000, 16000):
            ref, est, rate = _resample(clean, rate, 16000), _resample(estimate, rate, 16000), 16000
        try:
            quality = float(pesq(rate, ref, est, "nb" if rate == 8000 else "wb"))
        except Exception:  # pesq refuses e.g. signals without speech; count as missing
            quality = float("nan")
        return {"PESQ": quality, "STOI": float(stoi(clean, estimate, rate))}

    return measure, ""


def noizeus_scores(ids, *, with_quality: bool) -> tuple[list[dict], str]:
    """One record per file: noise, snr, and ``{metric: {method: value}}``."""
    root = corpus_path("noizeus")
    measure, why = _quality_metrics() if with_quality else (None, "")
    records = []
    for snr in SNRS_DB:
        for noise in NOISES:
            for i in ids:
                clean = load(root / "clean" / f"sp{i:02d}.wav").samples[0]
                noisy = load(root / "noisy" / f"{noise}_{snr}dB" / f"sp{i:02d}_{noise}_sn{snr}.wav")
                outputs = enhance_all(noisy.samples[0], noisy.sample_rate)
                scores = {"SI-SDR": {m: si_sdr_db(clean, y) for m, y in outputs.items()}}
                if measure is not None:
                    per = {m: measure(clean, y, noisy.sample_rate) for m, y in outputs.items()
                           if m != "classical"}
                    for metric in ("PESQ", "STOI"):
                        scores[metric] = {m: v[metric] for m, v in per.items()}
                records.append({"noise": noise, "snr": snr, "scores": scores})
    return records, why


def _row(set_name: str, noise: str, snr: object, metric: str, records: list[dict]) -> dict:
    row = {"set": set_name, "noise": noise, "snr_db": snr, "metric": metric}
    for method in METHODS:
        values = [r["scores"][metric][method] for r in records if method in r["scores"][metric]]
        row[method] = float(np.nanmean(values)) if values else ""
    row["ours_gain"] = row["ours"] - row["noisy"]
    return row


def noizeus_rows(set_name: str, records: list[dict], *, per_noise: bool) -> list[dict]:
    metrics = list(records[0]["scores"])
    rows = [_row(set_name, "all", snr, metric, [r for r in records if r["snr"] == snr])
            for metric in metrics for snr in SNRS_DB]
    if per_noise:
        rows += [_row(set_name, noise, snr, "SI-SDR",
                      [r for r in records if r["snr"] == snr and r["noise"] == noise])
                 for noise in NOISES for snr in SNRS_DB]
    return rows


def noisy_48k_rows() -> list[dict]:
    folder = corpus_path("noisy-speech-48k")
    clean = load(folder / "clean_freesound_33711.wav")
    noisy = load(folder / "noisy_snr0.wav")
    outputs = enhance_all(noisy.samples[0], noisy.sample_rate)
    scores = {"SI-SDR": {m: si_sdr_db(clean.samples[0], y) for m, y in outputs.items()}}
    measure, _ = _quality_metrics()
    if measure is not None:
        per = {m: measure(clean.samples[0], y, clean.sample_rate) for m, y in outputs.items()}
        for metric in ("PESQ", "STOI"):
            scores[metric] = {m: v[metric] for m, v in per.items()}
    record = [{"noise": "orig", "snr": "orig", "scores": scores}]
    return [_row("noisy-speech-48k", "(file's own)", "~6 (SI-SDR)", metric, record)
            for metric in scores]


# ----------------------------------------------------------------------------- cost

_COST_SCRIPT = r"""
import json, os, sys, tempfile, time
import numpy as np
backend, seconds, source = sys.argv[1], float(sys.argv[2]), sys.argv[3]
from tools.core.audio import Audio, load
from tools.denoise import denoise
model = None
if backend.startswith("deepfilternet"):
    import torch
    from tools.models import torchaudio_compat
    torchaudio_compat.install()
    from df.enhance import init_df
    from tools.models.deepfilter import load_deepfilternet
    folder = tempfile.mkdtemp()
    open(os.path.join(folder, "config.ini"), "w").write("[train]\nmodel = deepfilternet3\n")
    net, _, _ = init_df(folder, epoch="none", log_file=None, log_level="none")
    os.makedirs(os.path.join(folder, "checkpoints"))
    torch.save(net.state_dict(), os.path.join(folder, "checkpoints", "model_1.ckpt.best"))
    model = load_deepfilternet(folder)
    backend = "deepfilternet"
x = load(source)
n = int(seconds * x.sample_rate)
audio = Audio(np.ascontiguousarray(np.resize(x.samples[0], n)[None], dtype=np.float32), x.sample_rate)
denoise(Audio(audio.samples[:, : x.sample_rate], x.sample_rate), backend=backend, model=model)
def status_kib(field):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":"))
try:  # reset the kernel's peak-RSS mark (VmHWM) so that the peak is this call's own
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
except OSError:
    pass
before = status_kib("VmRSS")
start = time.perf_counter()
denoise(audio, backend=backend, model=model)
elapsed = time.perf_counter() - start
peak = status_kib("VmHWM")
print(json.dumps({"rtf": elapsed / seconds, "peak_growth_mib": max(peak - before, 0) / 1024,
                  "rss_before_mib": before / 1024}))
"""


def cost_rows(durations=COST_DURATIONS_S) -> list[dict]:
    """RTF and peak memory growth per backend and duration, each run in a fresh process."""
    source = corpus_path("noisy-speech-48k", "noisy_snr0.wav")
    env = {**os.environ, "ECHO_AGENT_OFFLINE": "1", "OMP_NUM_THREADS": "2"}
    rows = []
    load = os.getloadavg()[0]
    for backend in COST_BACKENDS:
        for seconds in durations:
            proc = subprocess.run([sys.executable, "-c", _COST_SCRIPT, backend, str(seconds),
                                   str(source)], capture_output=True, text=True, env=env,
                                  check=False, cwd=Path(__file__).resolve().parents[2])
            if proc.returncode != 0:
                tail = (proc.stderr.strip().splitlines() or ["?"])[-1]
                rows.append({"backend": backend, "input_s": seconds, "error": tail})
                continue
            result = json.loads(proc.stdout.strip().splitlines()[-1])
            rows.append({"backend": backend, "input_s": seconds, "rtf": result["rtf"],
                         "peak_growth_mib": result["peak_growth_mib"],
                         "load_avg": max(load, os.getloadavg()[0])})
    return rows


def run(*, quick: bool = False) -> SuiteResult:
    """Denoising on NOIZEUS and noisy-speech-48k: SI-SDR/PESQ/STOI vs baselines; RTF and memory."""
    start = time.perf_counter()
    dev, why = noizeus_scores(QUICK_IDS if quick else DEV_IDS, with_quality=True)
    rows = noizeus_rows("noizeus-dev", dev, per_noise=not quick)
    notes = [why] if why else []
    if not quick:
        test, _ = noizeus_scores(TEST_IDS, with_quality=False)
        rows += noizeus_rows("noizeus-test", test, per_noise=False)
    rows += noisy_48k_rows()
    quality_s = time.perf_counter() - start
    gains = {r["snr_db"]: r["ours_gain"] for r in rows
             if r["set"] == "noizeus-dev" and r["noise"] == "all" and r["metric"] == "SI-SDR"}
    done = all(gains[snr] >= need for snr, need in DONE_WHEN.items())
    summary = {"done_when_met": done}
    summary.update({f"ours SI-SDR gain at {snr} dB": gains[snr] for snr in SNRS_DB})
    for row in cost_rows(COST_DURATIONS_S[:1] if quick else COST_DURATIONS_S):
        key = f"cost {row['backend']} {row['input_s']} s"
        summary[key] = row.get("error") or (f"RTF {row['rtf']:.3f}, peak +"
                                            f"{row['peak_growth_mib']:.0f} MiB "
                                            f"(load average {row['load_avg']:.1f})")
    notes += [
        "ours = `echo-agent denoise` defaults offline: backend auto -> hybrid (no DeepFilterNet "
        "weights here), attenuation limit 30 dB; rnnoise at limit 100 dB (no mixing).",
        f"quality part took {quality_s:.0f} s; cost runs: 48 kHz mono, fresh process each, "
        "peak = growth of the resident set during the call (includes torch allocations).",
        "DeepFilterNet 3 quality cannot be measured here (no weights offline); its cost is "
        "measured with random weights, which cost the same as the real ones.",
    ]
    return SuiteResult(name="denoise", status="ok", rows=rows, summary=summary, notes=notes)
