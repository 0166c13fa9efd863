"""Run named eval suites and write their reports.

A suite is a function ``suite(*, quick: bool) -> SuiteResult``, registered by name in
``evals.suites.SUITES``. The runner times it, turns a missing corpus into a skipped suite and any
other exception into a failed one, then writes ``OUT/<suite>.json``, ``OUT/<suite>.md`` and
``OUT/summary.md``.
"""

from __future__ import annotations

import json
import math
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from evals.corpus import CorpusMissing

Status = Literal["ok", "skipped", "failed"]
DEFAULT_OUT = Path(__file__).resolve().parent / "reports"


@dataclass(frozen=True)
class SuiteResult:
    """What a suite measured: one row per case, a few summary numbers, and notes for the reader."""

    name: str
    status: Status
    rows: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0


Suite = Callable[..., SuiteResult]


def skipped_for_missing_corpus(name: str, error: CorpusMissing) -> SuiteResult:
    return SuiteResult(name=name, status="skipped", notes=[f"skipped: {error}"])


def run_suite(name: str, suite: Suite, *, quick: bool = False) -> SuiteResult:
    """Run one suite; never raises for a suite's own failure (it becomes ``status="failed"``)."""
    start = time.perf_counter()
    try:
        result = suite(quick=quick)
    except CorpusMissing as exc:
        result = skipped_for_missing_corpus(name, exc)
    except Exception as exc:  # a crashing suite is a failed suite, with the traceback as a note
        lines = traceback.format_exception(exc)
        result = SuiteResult(name=name, status="failed",
                             notes=[f"crashed: {type(exc).__name__}: {exc}", "".join(lines[-6:])])
    return replace(result, name=name, elapsed_s=time.perf_counter() - start)


# ----------------------------------------------------------------------------- formatting


def _jsonable(value: Any) -> Any:
    """Plain JSON (no NaN/Infinity tokens): non-finite floats become the strings "inf", "-inf",
    "nan"; numpy scalars become Python numbers."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def format_value(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        if value != 0 and abs(value) < 1e-3:
            return f"{value:.1e}"
        return f"{value:.1f}" if abs(value) >= 1000 else f"{value:.3f}"
    if isinstance(value, (list, tuple)):
        return ", ".join(format_value(v) for v in value)
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """A GitHub Markdown table; the columns are the union of the rows' keys, in first-seen order."""
    if not rows:
        return "(no rows)\n"
    columns: list[str] = []
    for row in rows:
        columns += [key for key in row if key not in columns]
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join(" --- " for _ in columns) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(format_value(row.get(c, "")) for c in columns) + " |")
    return "\n".join(lines) + "\n"


def suite_markdown(result: SuiteResult) -> str:
    parts = [f"## {result.name}: {result.status} ({result.elapsed_s:.1f} s)\n"]
    if result.rows:
        parts.append(markdown_table(result.rows))
    if result.summary:
        parts.append(markdown_table([{"summary": k, "value": v} for k, v in result.summary.items()]))
    for note in result.notes:
        parts.append(f"- {note}" if "\n" not in note.strip() else f"```\n{note.rstrip()}\n```")
    return "\n".join(parts).rstrip() + "\n"


def summary_markdown(results: Iterable[SuiteResult]) -> str:
    rows = []
    for result in results:
        headline = "; ".join(f"{k}={format_value(v)}" for k, v in list(result.summary.items())[:4])
        first_note = result.notes[0] if result.notes and result.status != "ok" else ""
        rows.append({"suite": result.name, "status": result.status,
                     "elapsed_s": round(result.elapsed_s, 2),
                     "summary": "; ".join(part for part in (first_note, headline) if part)})
    return "# Eval summary\n\n" + markdown_table(rows)


def write_reports(results: list[SuiteResult], out_dir: Path) -> list[Path]:
    """Write ``<suite>.json`` and ``<suite>.md`` per suite and ``summary.md``; returns the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for result in results:
        json_path = out_dir / f"{result.name}.json"
        json_path.write_text(json.dumps(_jsonable(asdict(result)), indent=2, allow_nan=False) + "\n",
                             encoding="utf-8")
        md_path = out_dir / f"{result.name}.md"
        md_path.write_text(f"# {result.name}\n\n" + suite_markdown(result), encoding="utf-8")
        written += [json_path, md_path]
    summary = out_dir / "summary.md"
    summary.write_text(summary_markdown(results), encoding="utf-8")
    return [*written, summary]


def run_suites(names: list[str], suites: dict[str, Suite], *, out_dir: Path = DEFAULT_OUT,
               quick: bool = False, echo: Callable[[str], None] | None = None) -> list[SuiteResult]:
    """Run ``names`` in order, write the reports, and pass each suite's Markdown to ``echo``."""
    results = []
    for name in names:
        result = run_suite(name, suites[name], quick=quick)
        results.append(result)
        if echo is not None:
            echo(suite_markdown(result))
    write_reports(results, out_dir)
    return results
