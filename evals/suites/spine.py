"""Suite ``spine``: the basic edit plan on real recordings, through ``agent.plan.run_plan``.

Plan: cut 1.0-2.0 s, gain +3 dB, fade out 2 s, normalize to -16 LUFS (true peak <= -1 dBTP).
Per file: durations (expect exactly 1 s shorter), output loudness (expect -16 +- 0.5 LUFS), true
peak, a seam click score, real-time factor and peak traced memory.
"""

from __future__ import annotations

import resource
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
from scipy.signal import butter, sosfilt

from agent.plan import PlanStep, run_plan
from agent.workspace import ScratchSession, open_input
from evals.corpus import CorpusMissing, corpus_root
from evals.metrics import duration_s, lufs
from evals.runner import SuiteResult
from tools.core.dsp import true_peak_db

PLAN = (
    PlanStep("cut", {"start_s": 1.0, "end_s": 2.0}),
    PlanStep("gain", {"gain_db": 3.0}),
    PlanStep("fade", {"direction": "out", "duration_s": 2.0}),
    PlanStep("normalize_loudness", {"target_lufs": -16.0}),
)
FILES = (
    "speech-reference/jfk.flac",
    "music-stems/mixture.wav",
    "general/198-209-0000.hq.ogg",
    "general/3436-172162-0000.hq.ogg",
    "general/5703-47212-0000.hq.ogg",
    "general/sorohanro_-_solo-trumpet-06.hq.ogg",
    "general/admiralbob77_-_Choice_-_Drum-bass.hq.ogg",
)
QUICK_FILES = FILES[:3]

EXPECTED_CHANGE_S = -1.0
TARGET_LUFS, LUFS_TOLERANCE = -16.0, 0.5
TRUE_PEAK_CEILING_DB, TRUE_PEAK_SLACK_DB = -1.0, 0.1
SEAM_S = 1.0  # where the plan puts the seam; the cut may move it by up to ~10 ms
SEAM_MARGIN_S = 0.005
CLICK_HIGHPASS_HZ = 4000.0
CLICK_PERCENTILE = 99.9
CLICK_LIMIT = 1.0


def transient_measure(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """|high-passed second difference|, max over channels: shape ``(n,)``, aligned to the input.

    The second difference emphasises steps and kinks; the high-pass (``CLICK_HIGHPASS_HZ``, or
    0.4 x the sample rate if lower; 4th-order Butterworth) keeps what a click adds above the
    recording's main energy.
    """
    cutoff = min(CLICK_HIGHPASS_HZ, 0.4 * sample_rate)
    sos = butter(4, cutoff, btype="highpass", fs=sample_rate, output="sos")
    second = np.diff(np.asarray(samples, dtype=np.float64), n=2, axis=-1, prepend=0.0, append=0.0)
    return np.max(np.abs(sosfilt(sos, second, axis=-1)), axis=0)


def seam_span(before: np.ndarray, after_cut: np.ndarray) -> tuple[int, int]:
    """Sample indices ``[first, last]`` of ``after_cut`` that the cut changed: the samples that
    differ both from the input before the seam and from the input after the removed span.

    The cut may move its edges to a quiet point (by up to ~10 ms) and crossfades there, so this
    finds the seam exactly instead of assuming it is at ``SEAM_S``.
    """
    n = after_cut.shape[-1]
    removed = before.shape[-1] - n
    differs_head = np.any(after_cut != before[:, :n], axis=0)
    differs_tail = np.any(after_cut != before[:, removed:], axis=0)
    changed = np.flatnonzero(differs_head & differs_tail)
    if changed.size == 0:  # a butt splice with equal samples: the first sample from the tail side
        first = int(np.argmax(differs_head)) if differs_head.any() else n
        return first, first
    return int(changed[0]), int(changed[-1])


def seam_click_score(before: np.ndarray, after_cut: np.ndarray, sample_rate: int) -> tuple[float, float]:
    """How much high-frequency transient the seam adds, relative to the recording's own.

    The max of :func:`transient_measure` over the changed samples (:func:`seam_span`) plus
    ``SEAM_MARGIN_S`` each side, divided by the ``CLICK_PERCENTILE``th percentile of the same
    measure over the whole input. Both signals are at the input's level (``after_cut`` is the
    output of the cut step alone), so the ratio is level-free. <= 1 means the seam adds nothing
    beyond what the recording itself has; ``inf`` if the input has no high-frequency content at
    all but the seam does, 0 if neither has any.

    Returns ``(score, seam_s)``: the score and the seam's centre in seconds of the output.
    """
    reference = float(np.percentile(transient_measure(before, sample_rate), CLICK_PERCENTILE))
    first, last = seam_span(before, after_cut)
    margin = round(SEAM_MARGIN_S * sample_rate)
    window = transient_measure(after_cut, sample_rate)[max(first - margin, 0):last + margin + 1]
    peak = float(window.max()) if window.size else 0.0
    seam_s = (first + last) / 2 / sample_rate
    if reference <= 0.0:
        return (0.0 if peak <= 0.0 else float("inf")), seam_s
    return peak / reference, seam_s


def _cut_version(session) -> np.ndarray:
    """Samples of the version that the cut step produced (before gain and loudness changes)."""
    step = next(s for s in session.history() if s.tool == "cut")
    return session.version_audio(step.changes[0].version).samples


def evaluate_file(path: Path, label: str) -> dict:
    with tempfile.TemporaryDirectory(prefix="echo-evals-") as tmp:
        started_here = not tracemalloc.is_tracing()
        if started_here:
            tracemalloc.start()
        tracemalloc.reset_peak()
        try:
            with ScratchSession(Path(tmp) / "session", label="evals-spine") as session:
                open_input(session, path)
                before = session.audio()
                start = time.perf_counter()
                run_plan(session, list(PLAN))
                plan_s = time.perf_counter() - start
                after = session.audio()
                after_cut = _cut_version(session)
            _, peak_bytes = tracemalloc.get_traced_memory()
        finally:
            if started_here:
                tracemalloc.stop()
    rate = after.sample_rate
    in_s, out_s = before.duration_s, after.duration_s
    out_lufs = lufs(after.samples, rate)
    peak_db = true_peak_db(after.samples, rate)
    click, seam_s = seam_click_score(before.samples, after_cut, rate)
    change_s = out_s - in_s
    checks = {
        "duration": abs(change_s - EXPECTED_CHANGE_S) <= 1.0 / rate + 1e-9,
        "lufs": abs(out_lufs - TARGET_LUFS) <= LUFS_TOLERANCE,
        "true_peak": peak_db <= TRUE_PEAK_CEILING_DB + TRUE_PEAK_SLACK_DB,
        "click": click <= CLICK_LIMIT,
    }
    return {
        "file": label,
        "rate_hz": rate,
        "ch": before.channels,
        "in_s": in_s,
        "out_s": duration_s(after.samples, rate),
        "change_s": change_s,
        "out_lufs": out_lufs,
        "true_peak_dbtp": peak_db,
        "seam_at_s": seam_s,
        "seam_click": click,
        "rtf": plan_s / in_s,
        "peak_mib": peak_bytes / 2**20,
        "pass": all(checks.values()),
        "failed_checks": ", ".join(k for k, ok in checks.items() if not ok),
    }


def run(*, quick: bool = False) -> SuiteResult:
    """The basic plan (cut, gain, fade out, normalize) on real recordings: lengths, LUFS, clicks."""
    root = corpus_root()
    rows, notes, missing = [], [], []
    for relative in QUICK_FILES if quick else FILES:
        path = root / relative
        if not path.is_file():
            missing.append(relative)
            continue
        rows.append(evaluate_file(path, Path(relative).name))
    if not rows:
        raise CorpusMissing(root, detail=f"none of the spine files are there: {', '.join(missing)}")
    if missing:
        notes.append(f"missing from the corpus, not run: {', '.join(missing)}")
    notes += [
        "plan: " + "; ".join(f"{s.tool} {s.args}" for s in PLAN),
        f"expect change_s = {EXPECTED_CHANGE_S:+.3f} (+-1 sample), out_lufs = {TARGET_LUFS} "
        f"+- {LUFS_TOLERANCE}, true peak <= {TRUE_PEAK_CEILING_DB} dBTP (+{TRUE_PEAK_SLACK_DB} "
        f"measurement slack), seam_click <= {CLICK_LIMIT}",
        f"seam_click: max |{CLICK_HIGHPASS_HZ:g} Hz high-passed 2nd difference| within "
        f"+-{SEAM_MARGIN_S * 1e3:g} ms of the seam (the samples the cut changed, found by "
        "comparison with the input; seam_at_s is their centre) in the cut step's output, over "
        f"its {CLICK_PERCENTILE}th percentile across the whole input",
        "rtf: wall time of run_plan (4 steps, including the session writing each version to "
        "disk) / input duration; loading the file is not counted",
        "peak_mib: tracemalloc peak (Python and numpy allocations traced) while loading the file "
        "and running the plan; process peak RSS is in the summary (resource.getrusage ru_maxrss)",
    ]
    failed = [row["file"] for row in rows if not row["pass"]]
    summary = {
        "files": len(rows),
        "failed_files": len(failed),
        "max_abs_duration_error_s": max(abs(r["change_s"] - EXPECTED_CHANGE_S) for r in rows),
        "max_abs_lufs_error": max(abs(r["out_lufs"] - TARGET_LUFS) for r in rows),
        "max_seam_click": max(r["seam_click"] for r in rows),
        "max_rtf": max(r["rtf"] for r in rows),
        "process_peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    if failed:
        notes.insert(0, "failed: " + ", ".join(failed))
    return SuiteResult(name="spine", status="failed" if failed else "ok", rows=rows,
                       summary=summary, notes=notes)
