"""Real-time factor and peak memory of each model, one fresh process per (model, duration).

The child imports only what the model needs, makes ``duration_s`` of input by looping a corpus
recording, runs the model once on one second (warm-up: lazy imports, numba, ONNX sessions), resets
the kernel's peak-RSS mark (``/proc/self/clear_refs``), then times one full run and reads the
peak (``VmHWM``). ``peak_growth_mib`` is the peak over the resident size just before the run: the
model's working memory for that input, not Python and the loaded weights. Torch and onnxruntime
get 2 threads (``OMP_NUM_THREADS=2``, ``torch.set_num_threads(2)``), the machine's core count.
The load average is recorded with each row: the machine is shared, so times are upper bounds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from evals.corpus import corpus_path

_CHILD = r"""
import json, sys, time
import numpy as np
kind, seconds, source = sys.argv[1], float(sys.argv[2]), sys.argv[3]
import torch
torch.set_num_threads(2)
from tools.core.audio import Audio, load
x = load(source)
n = int(seconds * x.sample_rate)
reps = -(-n // x.num_samples)
audio = Audio(np.ascontiguousarray(np.tile(x.samples, (1, reps))[:, :n], dtype=np.float32),
              x.sample_rate)
head = Audio(np.ascontiguousarray(audio.samples[:, : 2 * x.sample_rate]), x.sample_rate)
if kind.startswith("denoise:"):
    from tools.denoise import denoise
    backend = kind.split(":", 1)[1]
    model = None
    if backend == "deepfilternet":
        from tools.models.deepfilter import load_deepfilternet
        model = load_deepfilternet()
    run = lambda a: denoise(a, backend=backend, model=model)
elif kind.startswith("separate:"):
    from tools.separate import choose_separator, separate
    backend = kind.split(":", 1)[1]
    choice = choose_separator(backend=backend, model="htdemucs", two_stems="vocals",
                              sample_rate=x.sample_rate)
    run = lambda a: separate(a, choice.separator, two_stems="vocals")
elif kind == "dnsmos":
    from tools.models.dnsmos import dnsmos
    run = lambda a: dnsmos(a.samples, a.sample_rate)
elif kind == "plcmos":
    from tools.models.dnsmos import plcmos
    run = lambda a: plcmos(a.samples, a.sample_rate)
else:
    raise SystemExit(f"unknown kind {kind}")
run(head)
def status_kib(field):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":"))
try:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
except OSError:
    pass
before = status_kib("VmRSS")
start = time.perf_counter()
run(audio)
elapsed = time.perf_counter() - start
print(json.dumps({"rtf": elapsed / seconds, "peak_growth_mib": max(status_kib("VmHWM") - before, 0)
                  / 1024, "rss_before_mib": before / 1024}))
"""


def cost_row(kind: str, seconds: float, source: Path) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "2", "ECHO_AGENT_OFFLINE": "1"}
    load_before = os.getloadavg()[0]
    proc = subprocess.run([sys.executable, "-c", _CHILD, kind, str(seconds), str(source)],
                          capture_output=True, text=True, env=env, check=False,
                          cwd=Path(__file__).resolve().parents[2])
    row = {"model": kind, "input_s": seconds, "input": source.parent.name + "/" + source.name}
    if proc.returncode != 0:
        row["error"] = (proc.stderr.strip().splitlines() or ["?"])[-1]
        return row
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    row.update({"rtf": result["rtf"], "peak_growth_mib": result["peak_growth_mib"],
                "rss_before_mib": result["rss_before_mib"],
                "load_avg": max(load_before, os.getloadavg()[0])})
    return row


def speech_48k() -> Path:
    return corpus_path("noisy-speech-48k", "noisy_snr0.wav")


def music_44k() -> Path:
    return corpus_path("music-stems", "mixture.wav")


def cost_rows(kinds: tuple[str, ...], durations: tuple[float, ...], source: Path) -> list[dict]:
    return [cost_row(kind, seconds, source) for kind in kinds for seconds in durations]


def describe(row: dict) -> str:
    if "error" in row:
        return f"error: {row['error']}"
    return (f"RTF {row['rtf']:.3f}, peak +{row['peak_growth_mib']:.0f} MiB "
            f"(load average {row['load_avg']:.1f})")
