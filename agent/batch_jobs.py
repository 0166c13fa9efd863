"""One batch job, run where a worker runs it: in the batch's own process (``-j 1``), in a local
worker process (``-j N``, spawned) or in a Ray task. :func:`run_job` takes a JSON-ready spec
(paths, the recipe, limits) and returns a JSON-ready result; it never raises for a bad file, so a
bad file fails alone and the driver, which alone writes the manifest, records why.

Each file is processed by the same code as the one-file commands: a scratch session and
:func:`agent.plan.run_plan` for plans and presets (``echo-agent run PLAN``), the agent and
:func:`agent.instructions.run_instructions` for instruction files (``run EDITS.txt``),
:func:`agent.clean.clean_file` for ``--clean``; outputs go through :func:`agent.workspace.export`,
which writes atomically and keeps the input's format.

Per worker: the models (``session.models``) are loaded by the first job that needs them and kept
for the next ones (:data:`_MODELS`); the thread count is fixed (so every worker computes the same
bytes); memory is watched (:mod:`agent.batch_limits`) and a job that goes past the limit fails
with a one-line reason instead of taking the machine down.

Import-light on purpose (standard library at the top): a spawned worker imports this module first
and sets its thread limits before numpy loads.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path
from typing import Any

from agent import batch_limits

_MODELS: dict[str, Any] = {}  # this worker's loaded models, shared by its jobs' sessions
_AGENTS: dict[str, Any] = {}


def init_worker(threads: int, memory_mb: int | None) -> None:
    """ProcessPoolExecutor initializer: thread limits first (before numpy), then the watchdog."""
    batch_limits.limit_threads(threads)
    batch_limits.watch_memory(memory_mb)


def run_job(spec: dict[str, Any]) -> dict[str, Any]:
    """Process one job; returns ``{"key", "ok", "error", "setup", "outputs", "report", ...}``."""
    batch_limits.limit_threads(spec["limits"]["threads"])
    watchdog = batch_limits.watch_memory(spec["limits"].get("memory_mb"))
    started, cpu0 = time.perf_counter(), batch_limits.cpu_seconds()
    watchdog.reset_peak()
    result: dict[str, Any] = {"key": spec["key"], "ok": False, "error": "", "setup": False,
                              "outputs": [], "report": {},
                              "worker": f"{socket.gethostname()}:{os.getpid()}"}
    try:
        with watchdog.guard():
            result["report"] = _process(spec, result["outputs"])
        result["ok"] = True
    except (Exception, batch_limits.MemoryLimit) as exc:  # a bad file fails alone
        _remove_partial(result["outputs"])
        result["outputs"] = []
        result["error"], result["setup"] = _reason(exc)
        for path in spec["inputs"]:  # the manifest names the file already
            result["error"] = result["error"].replace(f"{path}: ", "", 1)
    result["wall_s"] = round(time.perf_counter() - started, 3)
    result["cpu_s"] = round(batch_limits.cpu_seconds() - cpu0, 3)
    result["peak_rss_mb"] = round(watchdog.peak_mb(), 1)
    return result


def _reason(exc: BaseException) -> tuple[str, bool]:
    """The one-line reason, and whether it is a setup problem (a missing model or program:
    every file would fail the same way)."""
    from tools.core.errors import EchoError, SetupError

    text = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, batch_limits.MemoryLimit):
        return text, False
    if isinstance(exc, EchoError):
        return text, isinstance(exc, SetupError)
    return f"unexpected {type(exc).__name__}: {text}", False


def _remove_partial(paths: list[str]) -> None:
    for path in paths:  # outputs of a job that failed after writing some (stems, say)
        Path(path).unlink(missing_ok=True)


# ----------------------------------------------------------------------------- processing


def _process(spec: dict[str, Any], written: list[str]) -> dict[str, Any]:
    recipe = spec["recipe"]
    if recipe["kind"] == "clean":
        return _clean(spec, written)
    from agent.workspace import ScratchSession, open_input

    report: dict[str, Any] = {"steps": []}
    with ScratchSession(None, label="batch") as session:
        session.models = _MODELS
        if spec["limits"].get("device"):
            session.update_settings(device=spec["limits"]["device"])
        reference = None
        if recipe.get("reference") and not spec.get("is_reference"):
            reference = open_input(session, recipe["reference"], name="reference")
        tracks = [open_input(session, path) for path in spec["inputs"]]
        report["duration_s"] = max(session.track(t).duration_s for t in tracks)
        if recipe["kind"] == "instructions":
            report["steps"] = _instructions(session, recipe)
        else:
            report["steps"] = _steps(session, recipe, tracks=tracks, reference=reference)
        written.extend(_export(session, spec, inputs=tracks, reference=reference))
    checks = recipe.get("checks") or {}
    if checks:
        from agent.batch_checks import run_checks

        report["checks"] = {Path(p).name: run_checks(p, checks) for p in written}
    return report


def _steps(session, recipe: dict[str, Any], *, tracks: list[str], reference: str | None
           ) -> list[str]:
    from agent.plan import PlanStep
    from agent.presets import substitute

    texts: list[str] = []
    names = {"reference": reference, "tracks": tracks, "first": tracks[0]}
    for track in tracks if recipe.get("each") else ():
        steps = [PlanStep(s["tool"], a) for s in recipe["each"]
                 if (a := substitute(s.get("args") or {}, names, track=track, tool=s["tool"]))
                 is not None]
        texts += [f"{track}: {text}" for text in _run_steps(session, steps)]
    if tracks and not recipe.get("each"):
        session.select(tracks[0])
    steps = [PlanStep(s["tool"], a) for s in recipe.get("steps") or ()
             if (a := substitute(s.get("args") or {}, names, track=None)) is not None]
    return texts + _run_steps(session, steps)


def _run_steps(session, steps) -> list[str]:
    """Run ``steps`` one by one; a repair step that finds nothing to repair ("found no clicks:
    ...", :class:`NothingFound`) is noted and passed over, since a clean file is no failure of the
    batch."""
    from agent.plan import PlanError, run_plan
    from tools.core.errors import NothingFound

    texts = []
    for step in steps:
        try:
            texts += [r.text for r in run_plan(session, [step])]
        except PlanError as exc:
            if not exc.nothing_found:
                raise
            texts.append(f"{step.tool}: {NothingFound.passed_over(exc.reason)}")
    return texts


def _instructions(session, recipe: dict[str, Any]) -> list[str]:
    from agent.instructions import Instruction, run_instructions

    agent = _agent(recipe.get("agent") or {})
    if hasattr(agent, "reset"):
        agent.reset()  # an LLM chat per file: nothing of the last file's chat carries over
    lines = [Instruction(int(n), str(text)) for n, text in recipe["instructions"]]
    return [entry["reply"] for entry in run_instructions(agent, session, lines)]


def _agent(config: dict[str, Any]):
    key = repr(sorted(config.items()))
    if key not in _AGENTS:
        from agent.llm_config import LLMConfig
        from agent.offline import OfflineAgent

        llm = LLMConfig.from_env(model=config.get("model"), base_url=config.get("base_url"))
        if config.get("offline") or not llm.configured:
            _AGENTS[key] = OfflineAgent(nothing_found_ok=True)
        else:
            from agent.llm import LLMAgent

            _AGENTS[key] = LLMAgent(llm)
    return _AGENTS[key]


def _export(session, spec: dict[str, Any], *, inputs: list[str], reference: str | None
            ) -> list[str]:
    from agent.workspace import export

    fmt = spec["export"]
    target = Path(spec["output"])
    if spec["recipe"].get("export") == "stems":
        made = [t for t in session.tracks if t not in inputs and t != reference]
        if not made:
            raise _error("the plan made no new tracks to write as stems")
        target.mkdir(parents=True, exist_ok=True)
        paths = [target / f"{track}{fmt['suffix']}" for track in made]
        tracks: list[str | None] = list(made)
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        paths, tracks = [target], [None]
    written = []
    for track, path in zip(tracks, paths, strict=True):
        written.append(str(path))  # listed first: removed if the job fails half way
        export(session, path, track=track, bit_depth=fmt.get("bit_depth"),
               bitrate=fmt.get("bitrate"))
    return written


def _clean(spec: dict[str, Any], written: list[str]) -> dict[str, Any]:
    from agent.clean import clean_file

    options = spec["recipe"]["clean"]
    output = Path(spec["output"])
    output.parent.mkdir(parents=True, exist_ok=True)
    written.append(str(output))
    report = clean_file(spec["inputs"][0], output, level=options["level"],
                        denoise=options.get("denoise", False),
                        loudness_lufs=options.get("loudness_lufs"),
                        transcript=options.get("transcript", "auto"),
                        model_dir=options.get("model_dir"), overwrite=True)
    cuts = report.get("cuts", [])
    return {"duration_s": report["input"]["duration_s"],
            "steps": [f"{sum(1 for c in cuts if c.get('enabled'))} cuts, "
                      f"{report.get('saved_s', 0.0):.1f} s saved", *report.get("notes", [])]}


def _error(message: str):
    from tools.core.errors import ToolError

    return ToolError(message)
