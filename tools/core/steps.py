"""The session's history as data: steps, the state they lead to, and the journal they replay from.

A session's journal is a list of JSON records (see :mod:`tools.core.session`). Replaying them in
order gives a :class:`History`: the head version of every track, the steps done and undone, and the
current track. This module knows nothing of audio or blocks; the session adds those.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Change:
    track: str
    version: str
    prev: str | None


@dataclass(frozen=True)
class Step:
    """One committed edit: what each touched track became, and why."""

    index: int
    changes: tuple[Change, ...]
    tool: str
    args: dict[str, Any]
    summary: str
    select: str | None
    time: float
    prev_current: str | None = None
    group: str | None = None


def _apply(history: History, step: Step, *, forward: bool) -> None:
    for change in step.changes:
        target = change.version if forward else change.prev
        if target is None:
            history.heads.pop(change.track, None)
        else:
            history.heads[change.track] = target
    if forward and step.select in history.heads:
        history.current = step.select
    elif not forward and step.prev_current in history.heads:
        history.current = step.prev_current
    if history.current not in history.heads:
        history.current = next(iter(history.heads), None)


def last_group_size(steps: list[Step]) -> int:
    """How many steps at the end of ``steps`` belong to the last one's request (its group)."""
    if not steps:
        return 0
    group, count = steps[-1].group, 1
    while group is not None and count < len(steps) and steps[-1 - count].group == group:
        count += 1
    return count


@dataclass
class History:
    heads: dict[str, str] = field(default_factory=dict)  # track -> version id
    done: list[Step] = field(default_factory=list)
    undone: list[Step] = field(default_factory=list)
    current: str | None = None

    def apply(self, record: dict[str, Any]) -> None:
        """Advance by one journal record (commit, undo, redo or select; others are ignored)."""
        op = record.get("op")
        if op == "commit":
            step = Step(
                index=len(self.done) + 1,
                changes=tuple(Change(**c) for c in record["changes"]),
                tool=record.get("tool", ""),
                args=record.get("args", {}),
                summary=record.get("summary", ""),
                select=record.get("select"),
                time=record.get("time", 0.0),
                prev_current=record.get("prev_current"),
                group=record.get("group"),
            )
            _apply(self, step, forward=True)
            self.done.append(step)
            self.undone.clear()
        elif op in ("undo", "redo"):
            source, target = (self.done, self.undone) if op == "undo" else (self.undone, self.done)
            for _ in range(int(record.get("count", 1))):
                if source:
                    step = source.pop()
                    _apply(self, step, forward=op == "redo")
                    target.append(step)
        elif op == "select" and record.get("track") in self.heads:
            self.current = record["track"]


def read_journal(path: Path) -> Iterator[dict[str, Any]]:
    """The complete records of a journal, in order. A torn or unreadable tail (a write cut by a
    kill: never committed) is cut off the file once the good records have been read."""
    raw = path.read_bytes()
    good_bytes = 0
    for line in raw.splitlines(keepends=True):
        if not line.endswith(b"\n"):
            break
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            break
        yield record
        good_bytes += len(line)
    if good_bytes < len(raw):
        with open(path, "rb+") as handle:
            handle.truncate(good_bytes)
            os.fsync(handle.fileno())
