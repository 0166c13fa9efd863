"""``echo-agent sessions``: list the saved sessions (size, age, files), remove some, prune old ones.

Every ``echo-agent chat`` without ``--session`` keeps its session (every version of every track,
for undo and resume) in ``DATA/sessions/`` (``$ECHO_AGENT_HOME``, else
``$XDG_DATA_HOME/echo-agent`` or ``~/.local/share/echo-agent``). A session open in a process holds
an exclusive ``flock`` on ``SESSION/lock``; such a session is never removed: taking the same lock
first (non-blocking) is the test, and it is held while the folder is deleted.

Import-light on purpose (argparse and the standard library only): the CLI builds its parser from
this module on every start.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import re
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from agent import ui

_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|min|h|d|w)?\s*$")
_UNIT_S = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


_formatter = ui.help_formatter


def add_commands(sub) -> dict:
    """Register ``sessions`` on the ``sub`` parsers; returns name -> handler."""
    p = sub.add_parser(
        "sessions", help="list, remove or prune saved chat sessions", formatter_class=_formatter,
        description="Chat sessions keep every version of every track (for undo and --session\n"
                    "resume) in echo-agent's data folder, by default ~/.local/share/echo-agent/\n"
                    "sessions ($ECHO_AGENT_HOME/sessions when that is set). A session open in a\n"
                    "running echo-agent is never removed.",
        epilog="examples:\n  echo-agent sessions                        ID, size, age, files\n"
               "  echo-agent sessions rm 20250101-120000-chat-4242\n"
               "  echo-agent sessions prune --older-than 7d  (--dry-run to see what would go)",
    )
    p.add_argument("--json", action="store_true", help="print JSON (one object per session)")
    actions = p.add_subparsers(dest="action", metavar="ACTION", parser_class=type(p))
    rm = actions.add_parser("rm", help="remove sessions by ID", formatter_class=_formatter,
                            description="Remove the named sessions (IDs from `echo-agent sessions`).")
    rm.add_argument("ids", nargs="+", metavar="ID", help="session ID (or a session folder)")
    prune = actions.add_parser("prune", help="remove sessions not used for a while",
                               formatter_class=_formatter,
                               description="Remove every session whose last change is older than AGE.")
    prune.add_argument("--older-than", required=True, metavar="AGE",
                       help="e.g. 7d, 12h, 30m, 2w (a bare number is days)")
    prune.add_argument("--dry-run", action="store_true", help="list what would be removed; remove nothing")
    return {"sessions": cmd_sessions}


# ----------------------------------------------------------------------------- facts


@dataclass(frozen=True)
class SessionInfo:
    """One session folder: its ID (folder name), size on disk, last change and contents."""

    id: str
    path: Path
    size_bytes: int
    modified: float
    edits: int = 0
    files: tuple[str, ...] = field(default_factory=tuple)
    in_use: bool = False

    def as_dict(self) -> dict:
        return {"id": self.id, "path": str(self.path), "size_bytes": self.size_bytes,
                "modified": self.modified, "age_s": round(max(time.time() - self.modified, 0.0), 1),
                "edits": self.edits, "files": list(self.files), "in_use": self.in_use}


def sessions_dir() -> Path:
    from agent.workspace import data_dir

    return data_dir() / "sessions"


def _walk(path: Path) -> tuple[int, float]:
    """Total bytes of the files under ``path`` and the latest modification time."""
    size, latest = 0, path.stat().st_mtime
    for entry in os.scandir(path):
        if entry.is_dir(follow_symlinks=False):
            more, when = _walk(Path(entry.path))
            size, latest = size + more, max(latest, when)
        elif entry.is_file(follow_symlinks=False):
            stat = entry.stat(follow_symlinks=False)
            size, latest = size + stat.st_size, max(latest, stat.st_mtime)
    return size, latest


def _contents(path: Path) -> tuple[int, tuple[str, ...]]:
    """Edits committed (besides opening files) and the files opened, read from the journal."""
    edits, files = 0, []
    try:
        with open(path / "journal.jsonl", encoding="utf-8") as journal:
            for line in journal:
                try:
                    record = json.loads(line)
                except ValueError:
                    continue  # a torn last line
                if record.get("op") != "commit":
                    continue
                if record.get("tool") == "open":
                    source = (record.get("args") or {}).get("source")
                    if source:
                        files.append(Path(source).name)
                else:
                    edits += 1
    except OSError:
        pass
    return edits, tuple(files)


def _try_lock(path: Path) -> int | None:
    """The session's lock taken (its fd), or None when another process holds it. A folder
    without a lock file gets none (nothing can hold it)."""
    lock = path / "lock"
    if not lock.exists():
        return -1
    fd = os.open(lock, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def _release(fd: int) -> None:
    if fd >= 0:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def describe(path: Path) -> SessionInfo:
    size, modified = _walk(path)
    edits, files = _contents(path)
    fd = _try_lock(path)
    if fd is not None:
        _release(fd)
    return SessionInfo(path.name, path, size, modified, edits, files, in_use=fd is None)


def list_sessions(root: Path | None = None) -> list[SessionInfo]:
    """Every session folder under ``root`` (default :func:`sessions_dir`), oldest first."""
    root = root or sessions_dir()
    if not root.is_dir():
        return []
    found = [describe(p) for p in root.iterdir() if p.is_dir() and not p.is_symlink()]
    return sorted(found, key=lambda s: (s.modified, s.id))


def parse_age_s(text: str) -> float:
    """Seconds of an age such as ``7d``, ``12h``, ``30m``, ``2w``, ``90s`` (a bare number: days)."""
    m = _AGE.match(text.lower())
    if not m:
        from tools.core.errors import AudioInputError

        # a usage error (exit 2), like argparse's own
        raise AudioInputError(f"--older-than {text!r}: expected a number with s, m, h, d or w, "
                              "e.g. 7d or 12h")
    return float(m.group(1)) * _UNIT_S[m.group(2) or "d"]


def fmt_size(size_bytes: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size_bytes >= scale:
            return f"{size_bytes / scale:.1f} {unit}"
    return f"{size_bytes} B"


def fmt_age(seconds: float) -> str:
    seconds = max(seconds, 0.0)
    for unit, scale in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= scale:
            return f"{seconds / scale:.0f} {unit}"
    return f"{seconds:.0f} s"


# ----------------------------------------------------------------------------- removing


def _resolve(root: Path, name: str) -> Path:
    from tools.core.errors import ToolError

    path = root / name if "/" not in name else Path(name).expanduser()
    if not path.is_dir() or path.is_symlink():
        raise ToolError(f"{name}: no such session in {root} (see 'echo-agent sessions')")
    if not (path / "journal.jsonl").exists() and not (path / "lock").exists():
        raise ToolError(f"{path}: not an echo-agent session (no journal.jsonl); not removed")
    return path


def remove(path: Path) -> int:
    """Delete the session folder ``path`` unless a process has it open; returns the bytes freed.
    Raises ToolError for a session in use."""
    from tools.core.errors import ToolError

    size, _ = _walk(path)
    fd = _try_lock(path)
    if fd is None:
        raise ToolError(f"{path.name}: open in another echo-agent process (it holds "
                        f"{path / 'lock'}); not removed: close that chat first")
    try:
        shutil.rmtree(path)
    finally:
        _release(fd)
    return size


# ----------------------------------------------------------------------------- the command


def _table(rows: list[SessionInfo]) -> str:
    now = time.time()
    header = ("ID", "SIZE", "AGE", "EDITS", "FILES")
    cells = [(s.id, fmt_size(s.size_bytes), fmt_age(now - s.modified), str(s.edits),
              ", ".join(s.files) + ("  (in use)" if s.in_use else "")) for s in rows]
    widths = [max(len(c[i]) for c in [header, *cells]) for i in range(len(header))]
    return "\n".join("  ".join(v.ljust(w) for v, w in zip(c, widths, strict=True)).rstrip()
                     for c in [header, *cells])


def cmd_sessions(args: argparse.Namespace) -> int:
    root = sessions_dir()
    if args.action == "rm":
        return _remove_each(root, [_try_resolve(root, name) for name in args.ids])
    if args.action == "prune":
        limit = parse_age_s(args.older_than)
        now = time.time()
        old = [s for s in list_sessions(root) if now - s.modified > limit]
        if args.dry_run:
            for s in old:
                print(f"{s.id}  {fmt_size(s.size_bytes)}  {fmt_age(now - s.modified)}"
                      + ("  (in use: would be kept)" if s.in_use else ""))
            ui.note(f"would remove {sum(not s.in_use for s in old)} of the "
                    f"{len(list_sessions(root))} sessions: those older than {args.older_than}")
            return 0
        if not old:
            ui.note(f"no session in {root} is older than {args.older_than}")
            return 0
        return _remove_each(root, [s.path for s in old])
    rows = list_sessions(root)
    if args.json:
        print(json.dumps([s.as_dict() for s in rows], indent=2))
        return 0
    if not rows:
        ui.note(f"no sessions in {root}")
        return 0
    print(_table(rows))
    ui.note(f"{len(rows)} sessions, {fmt_size(sum(s.size_bytes for s in rows))} in {root}")
    return 0


def _try_resolve(root: Path, name: str):
    from tools.core.errors import EchoError

    try:
        return _resolve(root, name)
    except EchoError as exc:
        return exc


def _remove_each(root: Path, targets: list) -> int:
    """Remove each path (an exception stands for a name that did not resolve); one error line for
    each that could not be removed, exit 1 if any."""
    from tools.core.errors import EchoError

    freed, removed, failed = 0, 0, 0
    for target in targets:
        if isinstance(target, Exception):
            ui.error_line(str(target))
            failed += 1
            continue
        try:
            freed += remove(target)
        except EchoError as exc:
            ui.error_line(str(exc))
            failed += 1
            continue
        removed += 1
        print(target.name)
    sys.stdout.flush()
    if removed or not failed:  # "removed 0 sessions" after each one's error line says nothing
        ui.note(f"removed {removed} session{'s' if removed != 1 else ''}, {fmt_size(freed)} freed")
    unknown = sum(isinstance(t, Exception) for t in targets)
    return 2 if unknown and unknown == failed else 1 if failed else 0
