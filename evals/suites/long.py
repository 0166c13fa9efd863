"""Suite ``long``: one to three hours of 48 kHz stereo through the real CLI: wall time, real-time
factor and peak memory, against duration and against sox in the same run.

For each length (1, 10, 60 and 180 minutes; ``ECHO_EVAL_LONG_MINUTES=1,10`` picks others) of speech
and of music (corpus recordings resampled to 48 kHz stereo, joined and tiled; 24-bit WAV, written
block by block to a temporary folder and removed after use):

- ``basic``: the plan cut 1 s, +3 dB, fade out 5 s through ``echo-agent run``, and sox doing the
  same three steps (``sox IN -t wav - trim 0 =A =B | sox -t wav - OUT gain 3 fade t 0 -0 5``),
  each run twice (echo, sox, sox, echo) and the faster run of each kept (past 2 GiB, sox's piped
  WAV stops short, so sox writes the middle to a temporary file there);
- ``per_edit``: (time of an 11-step plan - time of a 1-step plan) / 10, both with ``--session``;
- ``phases`` (child process :mod:`evals.suites.long_session`): import into a saved session, each of
  ten edits committed one by one, export: wall time and peak RSS of each phase, and the session's
  growth over the ten edits against one float32 copy of the track;
- ``tools``: ``clean`` and ``denoise`` on speech, ``do "remove the clicks"`` on music (1 to 180
  minutes), ``separate --two-stems vocals`` on music (1 and 10 minutes; ``ECHO_EVAL_LONG_SEPARATE``
  for others). ``ECHO_EVAL_LONG_PARTS=basic,per_edit,phases,tools`` chooses what runs, and
  ``ECHO_EVAL_LONG_TOOLS=clean,denoise,declick,separate`` which tools.

Peak RSS is ``ru_maxrss`` of the measured process and its children (``os.wait4``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from evals.corpus import corpus_root
from evals.runner import SuiteResult
from tools.core.audio import load, resample

RATE = 48_000
SPEECH = ("noisy-speech-48k/clean_freesound_33711.wav", "speech-reference/jfk.flac",
          "general/198-209-0000.hq.ogg", "general/3436-172162-0000.hq.ogg",
          "general/5703-47212-0000.hq.ogg")
MUSIC = ("general/Kevin_MacLeod_-_Vibe_Ace.hq.ogg",
         "general/Kevin_MacLeod_-_P_I_Tchaikovsky_Dance_of_the_Sugar_Plum_Fairy.hq.ogg",
         "general/admiralbob77_-_Choice_-_Drum-bass.hq.ogg")
MINUTES, QUICK_MINUTES = (1, 10, 60, 180), (1,)
SEPARATE_MINUTES = (1, 10)
PARTS = ("basic", "per_edit", "phases", "tools")
TOOLS = ("clean", "denoise", "declick", "separate")


def _bed(names: tuple[str, ...]) -> np.ndarray:
    """The corpus recordings, each at 48 kHz stereo, joined with 0.4 s of silence between."""
    parts = []
    for name in names:
        audio = resample(load(corpus_root() / name), sample_rate_hz=RATE)
        samples = audio.samples if audio.channels == 2 else np.repeat(audio.samples[:1], 2, axis=0)
        parts += [samples, np.zeros((2, int(0.4 * RATE)), np.float32)]
    bed = np.concatenate(parts, axis=1)
    return bed * np.float32(0.5 / max(float(np.abs(bed).max()), 1e-9))


def _tile(bed: np.ndarray, minutes: float, path: Path) -> float:
    """Write ``minutes`` of ``bed`` repeated as 24-bit WAV, block by block."""
    total = int(minutes * 60 * RATE)
    with sf.SoundFile(path, "w", RATE, 2, subtype="PCM_24") as out:
        written = 0
        while written < total:
            block = bed[:, :total - written]
            out.write(block.T)
            written += block.shape[1]
    return total / RATE


# A forked child starts with its parent's memory high-water mark (Linux keeps it across exec), and
# this process holds the test beds: measured commands are started from a small launcher instead.
_LAUNCHER = """
import os, subprocess, sys
proc = subprocess.Popen(sys.argv[2:], shell=sys.argv[1] == "1", stdout=subprocess.DEVNULL)
_, status, usage = os.wait4(proc.pid, 0)
sys.stdout.write(f"{os.waitstatus_to_exitcode(status)} {usage.ru_maxrss}")
"""


def _measure(command: list[str] | str, *, shell: bool = False) -> tuple[int, float, float, str]:
    """Run ``command``; (exit code, wall seconds, peak RSS MiB of it and its children, stderr)."""
    args = [command] if shell else command
    start = time.perf_counter()
    with tempfile.TemporaryFile() as err:
        proc = subprocess.run([sys.executable, "-c", _LAUNCHER, "1" if shell else "0", *args],
                              stdout=subprocess.PIPE, stderr=err, text=True, check=False)
        err.seek(0)
        text = err.read().decode(errors="replace").strip().splitlines()
    wall = time.perf_counter() - start
    code, maxrss_kb = (int(v) for v in proc.stdout.split())
    return code, wall, maxrss_kb / 1024, (text or [""])[-1]


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "agent.cli", *args]


def _basic(wav: Path, seconds: float, tmp: Path, row: dict) -> list[dict]:
    cut = min(600.0, seconds / 2)
    plan = tmp / "basic.json"
    plan.write_text(json.dumps([{"tool": "cut", "args": {"start_s": cut, "end_s": cut + 1}},
                                {"tool": "gain", "args": {"gain_db": 3}},
                                {"tool": "fade", "args": {"direction": "out", "duration_s": 5}}]))
    out = tmp / "out.wav"
    echo = _cli("run", str(plan), "-i", str(wav), "-o", str(out), "-q", "-y")
    # sox's WAV on a pipe stops at 2 GiB (its header cannot be fixed there): past that, the
    # reference goes through a temporary file, so that sox too writes the whole output
    piped = wav.stat().st_size < 2**31 - 2**20
    middle = "-t wav -" if piped else f"'{tmp / 'sox-mid.wav'}'"
    sox = (f"sox '{wav}' {middle} trim 0 ={cut} ={cut + 1} {'|' if piped else '&&'} "
           f"sox {middle} '{tmp / 'sox.wav'}' gain 3 fade t 0 -0 5")
    # each twice, in the order echo, sox, sox, echo, after the input is on disk: neither gains
    # from the other's warm cache or suffers its write-back; the faster run of each counts
    os.sync()
    first, s_first = _measure(echo), _measure(sox, shell=True)
    s_second, second = _measure(sox, shell=True), _measure(echo)
    code, wall, rss, err = min(first, second, key=lambda r: (r[0] != 0, r[1]))
    s_code, s_wall, s_rss, _ = min(s_first, s_second, key=lambda r: (r[0] != 0, r[1]))
    for path in (out, tmp / "sox.wav", tmp / "sox-mid.wav"):
        path.unlink(missing_ok=True)
    return [{**row, "part": "basic", "exit": code, "wall_s": wall, "rtf": wall / seconds,
             "peak_rss_mib": rss, "sox_wall_s": s_wall if s_code == 0 else None,
             "sox_peak_rss_mib": s_rss, "sox_form": "pipe" if piped else "temporary file",
             "wall_over_sox": wall / s_wall if s_code == 0 else None,
             "error": err if code else ""}]


def _per_edit(wav: Path, seconds: float, tmp: Path, row: dict) -> list[dict]:
    steps = [{"tool": "cut", "args": {"start_s": 10.0, "end_s": 11.0}}]
    more = [("cut", {"start_s": 20.0, "end_s": 20.5}), ("trim", {"start_s": 0.25}),
            ("fade", {"direction": "out", "duration_s": 3.0}),
            ("insert_silence", {"at_s": 5.0, "duration_s": 0.5})]
    steps11 = steps + [{"tool": t, "args": a} for t, a in (more * 3)[:10]]
    walls = {}
    for name, plan_steps in (("1", steps), ("11", steps11)):
        plan = tmp / f"plan{name}.json"
        plan.write_text(json.dumps(plan_steps))
        session = tmp / f"session{name}"
        code, walls[name], rss, err = _measure(_cli("run", str(plan), "-i", str(wav), "-o",
                                                    str(tmp / "o.wav"), "-q", "-y",
                                                    "--session", str(session)))
        shutil.rmtree(session, ignore_errors=True)
        if code:
            return [{**row, "part": "per_edit", "exit": code, "error": err}]
    (tmp / "o.wav").unlink(missing_ok=True)
    return [{**row, "part": "per_edit", "exit": 0, "wall_1_step_s": walls["1"],
             "wall_11_steps_s": walls["11"], "per_edit_s": (walls["11"] - walls["1"]) / 10}]


def _phases(wav: Path, seconds: float, tmp: Path, row: dict) -> list[dict]:
    session, out = tmp / "phase-session", tmp / "phase-out.wav"
    proc = subprocess.run([sys.executable, "-m", "evals.suites.long_session", str(wav),
                           str(session), str(out)], capture_output=True, text=True, check=False)
    shutil.rmtree(session, ignore_errors=True)
    out.unlink(missing_ok=True)
    if proc.returncode:
        return [{**row, "part": "phases", "exit": proc.returncode,
                 "error": (proc.stderr.strip().splitlines() or [""])[-1]}]
    report = json.loads(proc.stdout)
    rows = [{**row, "part": "phase", "phase": p["phase"], "wall_s": p["wall_s"],
             "peak_rss_mib": p["peak_rss_mib"]} for p in report["phases"]]
    grown = report["session_bytes_after_10_edits"] - report["session_bytes_import"]
    rows.append({**row, "part": "session_growth", "exit": 0,
                 "session_mib_after_import": report["session_bytes_import"] / 2**20,
                 "growth_mib_10_edits": grown / 2**20,
                 "growth_over_float32_copy": grown / report["float32_copy_bytes"]})
    return rows


def _tool(name: str, command: list[str], seconds: float, row: dict) -> dict:
    code, wall, rss, err = _measure(command)
    return {**row, "part": "tool", "tool": name, "exit": code, "wall_s": wall,
            "rtf": wall / seconds, "peak_rss_mib": rss, "error": err if code not in (0,) else ""}


def _tools(kind: str, wav: Path, seconds: float, tmp: Path, row: dict, minutes: float) -> list[dict]:
    out = tmp / "tool-out.wav"
    rows = []
    wanted = set(os.environ.get("ECHO_EVAL_LONG_TOOLS", ",".join(TOOLS)).split(","))
    if kind == "speech":
        if "clean" in wanted:
            rows.append(_tool("clean", _cli("clean", str(wav), "-o", str(out), "-y", "-q"),
                              seconds, row))
        if "denoise" in wanted:
            rows.append(_tool("denoise", _cli("denoise", str(wav), "-o", str(out), "-y", "-q"),
                              seconds, row))
    else:
        if "declick" in wanted:
            rows.append(_tool("declick", _cli("do", "remove the clicks", "-i", str(wav), "-o",
                                              str(out), "-y", "-q"), seconds, row))
        separate_minutes = _minutes("ECHO_EVAL_LONG_SEPARATE", SEPARATE_MINUTES)
        if "separate" in wanted and minutes in separate_minutes:
            stems = tmp / "stems"
            rows.append(_tool("separate", _cli("separate", str(wav), "-o", str(stems),
                                               "--two-stems", "vocals", "-q"), seconds, row))
            shutil.rmtree(stems, ignore_errors=True)
    out.unlink(missing_ok=True)
    return rows


def _minutes(variable: str, default: tuple[float, ...]) -> tuple[float, ...]:
    value = os.environ.get(variable, "").strip()
    return tuple(float(v) for v in value.split(",") if v.strip()) if value else default


def run(*, quick: bool = False) -> SuiteResult:
    """Long recordings: basic plan against sox, per-edit cost, per-phase memory, session growth,
    and the heavy tools, at 1 to 180 minutes of 48 kHz stereo."""
    minutes_list = _minutes("ECHO_EVAL_LONG_MINUTES", QUICK_MINUTES if quick else MINUTES)
    parts = tuple(p for p in os.environ.get("ECHO_EVAL_LONG_PARTS", ",".join(PARTS)).split(",") if p)
    rows: list[dict] = []
    beds = {"speech": _bed(SPEECH), "music": _bed(MUSIC)}
    with tempfile.TemporaryDirectory(prefix="echo-evals-long-") as tmp_name:
        tmp = Path(tmp_name)
        for minutes in minutes_list:
            for kind, bed in beds.items():
                wav = tmp / f"{kind}-{minutes:g}min.wav"
                seconds = _tile(bed, minutes, wav)
                row = {"kind": kind, "minutes": minutes}
                if "basic" in parts:
                    rows += _basic(wav, seconds, tmp, row)
                if "per_edit" in parts:
                    rows += _per_edit(wav, seconds, tmp, row)
                if "phases" in parts:
                    rows += _phases(wav, seconds, tmp, row)
                if "tools" in parts:
                    rows += _tools(kind, wav, seconds, tmp, row, minutes)
                wav.unlink()
    failed = [r for r in rows if r.get("exit", 0) not in (0, None)
              and not (r.get("tool") == "declick" and r["exit"] == 1)]  # 1: found no clicks
    notes = ["inputs: corpus speech (freesound, jfk, 3 LibriSpeech) and music (3 tracks) at 48 kHz "
             "stereo, joined, tiled to each length, 24-bit WAV",
             "peak RSS: ru_maxrss of the process and its children; phases: VmHWM reset per phase",
             "machine: 2 cores; other work on the machine makes wall times noisy"]
    summary = {}
    basic = [r for r in rows if r["part"] == "basic" and r.get("wall_over_sox")]
    if basic:
        summary["max_wall_over_sox"] = max(r["wall_over_sox"] for r in basic)
        summary["max_basic_rss_mib"] = max(r["peak_rss_mib"] for r in basic)
    edits = [r for r in rows if r["part"] == "per_edit" and "per_edit_s" in r]
    if edits:
        summary["max_per_edit_s"] = max(r["per_edit_s"] for r in edits)
    growth = [r for r in rows if r["part"] == "session_growth"]
    if growth:
        summary["max_growth_over_float32_copy"] = max(r["growth_over_float32_copy"] for r in growth)
    return SuiteResult(name="long", status="failed" if failed else "ok", rows=rows,
                       summary=summary, notes=notes)
