"""Suite ``long``: plans on long recordings through the real CLI; real-time factor and peak
memory (RSS of the ``echo-agent run`` process) against input duration. The basic plan (cut, gain,
fade, normalize) at 1, 10 and 60 minutes; the repair sweep (declick, then dropouts) at 1 and 10.

The long inputs are built by tiling a corpus recording (stereo 44.1 kHz music) to 10 and 60
minutes in a temporary folder; nothing is kept.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import soundfile as sf

from evals.corpus import corpus_root
from evals.runner import SuiteResult
from evals.suites.spine import PLAN
from tools.core.audio import load

SOURCE = "general/Kevin_MacLeod_-_Vibe_Ace.hq.ogg"
REPAIR_PLAN = [{"tool": "declick", "args": {}}, {"tool": "repair_dropouts", "args": {}}]
MINUTES = {"basic": (1, 10, 60), "repair": (1, 10)}
QUICK_MINUTES = {"basic": (1, 10), "repair": (1,)}


def _tile(source: Path, minutes: float, path: Path) -> float:
    """Write ``minutes`` of ``source`` repeated, block by block (never all in memory)."""
    audio = load(source)
    total = int(minutes * 60 * audio.sample_rate)
    with sf.SoundFile(path, "w", audio.sample_rate, audio.channels, subtype="PCM_16") as out:
        written = 0
        while written < total:
            block = audio.samples[:, :total - written]
            out.write(block.T)
            written += block.shape[1]
    return total / audio.sample_rate


def _measure(command: list[str]) -> tuple[int, float, float]:
    """Run ``command``; return (exit code, wall seconds, peak RSS in MiB) of that process."""
    start = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, wall, usage.ru_maxrss / 1024


def _run_plan(plan: Path, name: str, source: Path, minutes: float, tmp_path: Path) -> dict:
    wav = tmp_path / f"in-{minutes}min.wav"
    seconds = _tile(source, minutes, wav)
    out = tmp_path / f"out-{minutes}min.wav"
    code, wall, rss = _measure([sys.executable, "-m", "agent.cli", "run", str(plan), "-i",
                                str(wav), "-o", str(out), "-q"])
    in_mib = seconds * 44_100 * 2 * 4 / 2**20
    row = {"plan": name, "minutes": minutes, "exit": code, "wall_s": wall, "rtf": wall / seconds,
           "peak_rss_mib": rss, "audio_float32_mib": in_mib, "rss_over_audio": rss / in_mib,
           "out_s": sf.info(str(out)).duration if out.exists() else None}
    for path in (wav, out):
        path.unlink(missing_ok=True)
    return row


def run(*, quick: bool = False) -> SuiteResult:
    """The basic plan on 1/10/60-minute and the repair sweep on 1/10-minute stereo files: RTF,
    peak RSS."""
    source = corpus_root() / SOURCE
    rows = []
    with tempfile.TemporaryDirectory(prefix="echo-evals-long-") as tmp:
        tmp_path = Path(tmp)
        plans = {"basic": [{"tool": s.tool, "args": s.args} for s in PLAN], "repair": REPAIR_PLAN}
        for name, steps in plans.items():
            plan = tmp_path / f"{name}.json"
            plan.write_text(json.dumps(steps))
            for minutes in (QUICK_MINUTES if quick else MINUTES)[name]:
                rows.append(_run_plan(plan, name, source, minutes, tmp_path))
    failed = [r for r in rows if r["exit"] != 0]
    notes = [f"input: {SOURCE} tiled to each length, 44.1 kHz stereo 16-bit WAV",
             "process: `python -m agent.cli run plan.json -i IN -o OUT -q`; basic: the spine "
             "suite's plan; repair: declick (sensitivity 0.5), then repair_dropouts",
             "peak_rss_mib: ru_maxrss of that process (os.wait4); audio_float32_mib: one copy of the "
             "track as float32, which the tools hold in memory (the session keeps versions on disk)"]
    return SuiteResult(name="long", status="failed" if failed else "ok", rows=rows,
                       summary={f"max_{key}_{name}": max(r[key] for r in rows if r["plan"] == name)
                                for name in plans for key in ("rss_over_audio", "rtf")}, notes=notes)
