"""The per-phase half of suite ``long``, run in a child process of its own:

    python -m evals.suites.long_session INPUT.wav SESSION_DIR OUTPUT.wav

Imports INPUT into a new saved session (a copy into blocks, as ``chat`` and ``--session`` do),
commits ten basic edits one by one (cut, gain, fade, trim, insert_silence, twice), exports, and
prints one JSON object: per phase, the wall time and the peak RSS *of that phase* (Linux: the
high-water mark is reset before each phase by writing 5 to /proc/self/clear_refs), and the session's
size on disk after the import and after the ten edits.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from agent.workspace import export, open_input
from tools.core.session import Session
from tools.registry import call_tool

EDITS = (
    ("cut", {"start_s": 30.0, "end_s": 31.0}),
    ("gain", {"gain_db": 3.0}),
    ("fade", {"direction": "out", "duration_s": 5.0}),
    ("trim", {"start_s": 0.5}),
    ("insert_silence", {"at_s": 20.0, "duration_s": 1.0}),
    ("cut", {"start_s": 45.0, "end_s": 46.5}),
    ("gain", {"gain_db": -1.5}),
    ("fade", {"direction": "in", "duration_s": 2.0}),
    ("trim", {"end_s": 50.0, "start_s": 0.0}),
    ("insert_silence", {"at_s": 5.0, "duration_s": 0.5}),
)


def _reset_peak() -> None:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:  # not Linux: the peaks below are then cumulative
        pass


def _peak_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _phase(name: str, action, rows: list[dict]) -> None:
    _reset_peak()
    start = time.perf_counter()
    action()
    rows.append({"phase": name, "wall_s": time.perf_counter() - start, "peak_rss_mib": _peak_mib()})


def main(source: str, root: str, output: str) -> dict:
    rows: list[dict] = []
    with Session.create(root) as session:
        _phase("import", lambda: open_input(session, source), rows)
        imported = session.disk_bytes()
        duration_s = session.track().duration_s
        for tool, args in EDITS:
            if tool == "trim" and "end_s" in args:  # keep all but the last 50 s
                args = {**args, "end_s": session.track().duration_s - args["end_s"]}
            _phase(tool, lambda t=tool, a=args: call_tool(session, t, a), rows)
        edited = session.disk_bytes()
        _phase("export", lambda: export(session, output), rows)
        float32_bytes = session.track().num_samples * session.track().channels * 4
    return {"duration_s": duration_s, "phases": rows, "session_bytes_import": imported,
            "session_bytes_after_10_edits": edited, "float32_copy_bytes": float32_bytes}


if __name__ == "__main__":
    print(json.dumps(main(*sys.argv[1:4])))
