"""The end-of-batch summary: a table on stderr (rich) and the same facts as JSON.

Cost: ``--cost-per-cpu-hour`` prices the CPU time the jobs used (user + system, workers and the
programs they ran), divided by the hours of audio processed. A machine is billed for its cores
whether busy or not, so the table also gives the allocated cost: cores held x wall time.
"""

from __future__ import annotations

from typing import Any


def summarize(results: list[dict[str, Any]], *, skipped: int, total: int, wall_s: float,
              cores: float, cost_per_cpu_hour: float) -> dict[str, Any]:
    done = [r for r in results if r.get("ok")]
    failed = [r for r in results if not r.get("ok")]
    audio_s = sum(float(r.get("report", {}).get("duration_s") or 0.0) for r in done)
    cpu_s = sum(float(r.get("cpu_s") or 0.0) for r in results)
    hours = audio_s / 3600.0
    summary: dict[str, Any] = {
        "files": total, "processed": len(done), "skipped": skipped, "failed": len(failed),
        "audio_hours": round(hours, 4), "wall_s": round(wall_s, 2),
        "real_time_factor": round(wall_s / audio_s, 4) if audio_s else None,
        "cpu_s": round(cpu_s, 2), "cores": cores,
        "cost_per_cpu_hour": cost_per_cpu_hour,
        "cost_per_audio_hour": round(cpu_s / 3600 * cost_per_cpu_hour / hours, 4) if hours else None,
        "allocated_cost_per_audio_hour": (round(wall_s * cores / 3600 * cost_per_cpu_hour / hours, 4)
                                          if hours else None),
        "peak_rss_mb": max((float(r.get("peak_rss_mb") or 0.0) for r in results), default=0.0),
        "failures": [{"file": r["key"], "error": r.get("error", "")} for r in failed],
    }
    return summary


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def print_summary(summary: dict[str, Any], warnings: list[str]) -> None:
    """The table, then one line per failed file (its reason) and per failed check."""
    from rich.console import Console
    from rich.table import Table

    console = Console(stderr=True, highlight=False, soft_wrap=True)
    table = Table(title="echo-agent batch", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    files = (f"{summary['files']} ({summary['processed']} processed, {summary['skipped']} "
             f"already done, {summary['failed']} failed)")
    rtf = summary["real_time_factor"]
    speed = f"{rtf:.3f} ({1 / rtf:.1f}x real time)" if rtf else "-"
    cost = summary["cost_per_audio_hour"]
    allocated = summary["allocated_cost_per_audio_hour"]
    price = f" at ${summary['cost_per_cpu_hour']:g}/CPU-hour"
    rows = [
        ("files", files),
        ("audio", f"{summary['audio_hours']:.3f} h processed"),
        ("wall time", _duration(summary["wall_s"])),
        ("real-time factor", speed),
        ("CPU time", f"{summary['cpu_s']:.0f} s on {summary['cores']:g} cores"),
        ("cost / audio hour", f"${cost:.4f} CPU time, ${allocated:.4f} cores held{price}"
         if cost is not None else "-"),
        ("peak memory / worker", f"{summary['peak_rss_mb']:.0f} MB"),
        ("failures", str(summary["failed"])),
    ]
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)
    for failure in summary["failures"]:
        console.print(f"failed: {failure['file']}: {failure['error']}", markup=False)
    for line in warnings:
        console.print(f"check: {line}", markup=False)
