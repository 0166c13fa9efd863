"""A session workspace: named tracks, every edit a new version, undo/redo, safe against kills.

On disk a session is a directory::

    SESSION/
      journal.jsonl      one JSON record a line, appended and fsynced
      audio/<id>.wav     one float32 WAV per version, written atomically, never overwritten
      lock               held (flock) while a process has the session open

A version is committed when its journal line is complete: the audio file is written (temp + rename +
fsync) before the line that names it. Reopening replays the journal; a torn last line left by a kill
is dropped. Nothing ever overwrites an input file or an earlier version.

Journal records: ``{"op": "commit", "changes": [{"track", "version", "prev"}], "tool", "args",
"summary", "select"}``, ``{"op": "undo"}``, ``{"op": "redo"}``, ``{"op": "select", "track"}``.
History is linear and global across tracks: undo reverts the last commit whatever track it touched.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools.core.audio import Audio, atomic_path, read_frames, write_frames
from tools.core.errors import SessionError, ToolArgumentError

JOURNAL = "journal.jsonl"
CACHE_BYTES = 256 * 2**20
TRACK_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
ProgressCallback = Callable[[str, float, float], None]


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


@dataclass
class _State:
    heads: dict[str, str] = field(default_factory=dict)  # track -> version id
    done: list[Step] = field(default_factory=list)
    undone: list[Step] = field(default_factory=list)
    current: str | None = None


def _apply(state: _State, step: Step, *, forward: bool) -> None:
    for change in step.changes:
        target = change.version if forward else change.prev
        if target is None:
            state.heads.pop(change.track, None)
        else:
            state.heads[change.track] = target
    if forward and step.select in state.heads:
        state.current = step.select
    elif not forward and step.prev_current in state.heads:
        state.current = step.prev_current
    if state.current not in state.heads:
        state.current = next(iter(state.heads), None)


class Session:
    """Tracks, their version history and the session's settings, persisted under ``root``.

    Open with :meth:`create` or :meth:`open` (or :meth:`open_or_create`); close with :meth:`close`
    or use it as a context manager. ``progress`` receives ``(task, done, total)`` from long tools.
    """

    def __init__(self, root: Path, *, progress: ProgressCallback | None = None) -> None:
        self.root = Path(root)
        self.progress: ProgressCallback = progress or (lambda task, done, total: None)
        self.settings: dict[str, Any] = {}
        self.models: dict[str, Any] = {}  # loaded lazily by tools, once per session
        self._state = _State()
        self._cache: OrderedDict[str, Audio] = OrderedDict()
        self._lock_fd: int | None = None

    # ------------------------------------------------------------------ opening

    @classmethod
    def create(cls, root: str | os.PathLike, **kwargs: Any) -> Session:
        root = Path(root)
        if root.exists() and any(root.iterdir()):
            raise SessionError(f"{root}: folder exists and is not empty; choose a new session folder")
        (root / "audio").mkdir(parents=True, exist_ok=True)
        (root / JOURNAL).touch()
        session = cls(root, **kwargs)
        session._lock()
        return session

    @classmethod
    def open(cls, root: str | os.PathLike, **kwargs: Any) -> Session:
        root = Path(root)
        if not (root / JOURNAL).is_file():
            raise SessionError(f"{root}: not an echo-agent session (no {JOURNAL})")
        session = cls(root, **kwargs)
        session._lock()
        session._replay()
        return session

    @classmethod
    def open_or_create(cls, root: str | os.PathLike, **kwargs: Any) -> Session:
        root = Path(root)
        if (root / JOURNAL).is_file():
            return cls.open(root, **kwargs)
        return cls.create(root, **kwargs)

    def _lock(self) -> None:
        fd = os.open(self.root / "lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise SessionError(f"{self.root}: session is open in another process") from None
        self._lock_fd = fd

    def close(self) -> None:
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _replay(self) -> None:
        path = self.root / JOURNAL
        raw = path.read_bytes()
        good_bytes = 0
        for line in raw.splitlines(keepends=True):
            if not line.endswith(b"\n"):
                break  # torn write from a kill: not committed
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                break
            self._replay_record(record)
            good_bytes += len(line)
        if good_bytes < len(raw):
            with open(path, "rb+") as handle:
                handle.truncate(good_bytes)
                os.fsync(handle.fileno())

    def _replay_record(self, record: dict[str, Any]) -> None:
        state = self._state
        op = record.get("op")
        if op == "commit":
            step = Step(
                index=len(state.done) + 1,
                changes=tuple(Change(**c) for c in record["changes"]),
                tool=record.get("tool", ""),
                args=record.get("args", {}),
                summary=record.get("summary", ""),
                select=record.get("select"),
                time=record.get("time", 0.0),
                prev_current=record.get("prev_current"),
            )
            _apply(state, step, forward=True)
            state.done.append(step)
            state.undone.clear()
        elif op == "undo" and state.done:
            step = state.done.pop()
            _apply(state, step, forward=False)
            state.undone.append(step)
        elif op == "redo" and state.undone:
            step = state.undone.pop()
            _apply(state, step, forward=True)
            state.done.append(step)
        elif op == "select" and record.get("track") in state.heads:
            state.current = record["track"]
        elif op == "settings":
            self.settings.update(record.get("values", {}))

    def _append(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, separators=(",", ":"), default=str) + "\n"
        with open(self.root / JOURNAL, "ab") as handle:
            handle.write(line.encode())
            handle.flush()
            os.fsync(handle.fileno())
        self._replay_record(record)

    # ------------------------------------------------------------------ reading

    @property
    def tracks(self) -> list[str]:
        return list(self._state.heads)

    @property
    def current_track(self) -> str | None:
        return self._state.current

    def resolve_track(self, track: str | None) -> str:
        """The track name to act on: ``track`` if given and present, else the current track."""
        if track is None:
            if self._state.current is None:
                raise ToolArgumentError("the session has no tracks yet; open an audio file first")
            return self._state.current
        if track not in self._state.heads:
            known = ", ".join(self.tracks) or "(none)"
            raise ToolArgumentError(f"track={track!r} does not exist; expected one of: {known}")
        return track

    def audio(self, track: str | None = None) -> Audio:
        """The latest version of ``track`` (default: the current track)."""
        return self.version_audio(self._state.heads[self.resolve_track(track)])

    def version_audio(self, version: str) -> Audio:
        if version in self._cache:
            self._cache.move_to_end(version)
            return self._cache[version]
        data, rate = read_frames(self._version_path(version))
        audio = Audio(data, int(rate))
        self._remember(version, audio)
        return audio

    def history(self) -> list[Step]:
        """Committed steps in order (undone ones excluded)."""
        return list(self._state.done)

    def redo_steps(self) -> list[Step]:
        return list(reversed(self._state.undone))

    def head(self, track: str | None = None) -> str:
        return self._state.heads[self.resolve_track(track)]

    # ------------------------------------------------------------------ writing

    def _version_path(self, version: str) -> Path:
        return self.root / "audio" / f"{version}.wav"

    def _remember(self, version: str, audio: Audio) -> None:
        """Keep recent versions in memory: at most 4, and past the newest one no more than
        ``CACHE_BYTES`` in all, so hour-long tracks do not pile up copies in memory."""
        self._cache[version] = audio
        self._cache.move_to_end(version)
        while len(self._cache) > 1 and (
            len(self._cache) > 4 or sum(a.samples.nbytes for a in self._cache.values()) > CACHE_BYTES
        ):
            self._cache.popitem(last=False)

    def _write_version(self, track: str, audio: Audio) -> str:
        version = f"{len(self._state.done) + 1:04d}-{track}-{uuid.uuid4().hex[:8]}"
        path = self._version_path(version)
        tmp = atomic_path(path)
        big = audio.samples.nbytes >= 2**31
        write_frames(tmp, audio.samples, audio.sample_rate,
                     format="RF64" if big else "WAV", subtype="FLOAT")
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        self._remember(version, audio)
        return version

    def commit(self, outputs: dict[str, Audio], *, tool: str, args: dict[str, Any] | None = None,
               summary: str = "", select: str | None = None) -> Step:
        """Store new versions of one or more tracks as one undoable step.

        New track names create tracks. ``select`` makes that track the current one.
        """
        if not outputs:
            raise ValueError("commit needs at least one track")
        changes = []
        for track, audio in outputs.items():
            if not TRACK_NAME.match(track):
                raise ToolArgumentError(
                    f"track name {track!r} is not allowed; use letters, digits, '_', '-', '.'"
                )
            version = self._write_version(track, audio)
            changes.append({"track": track, "version": version, "prev": self._state.heads.get(track)})
        self._append({"op": "commit", "changes": changes, "tool": tool, "args": args or {},
                      "summary": summary, "select": select, "time": time.time(),
                      "prev_current": self._state.current})
        return self._state.done[-1]

    def add_track(self, name: str, audio: Audio, *, source: str = "") -> Step:
        """Add a new track (e.g. an opened file) and make it current."""
        if name in self._state.heads:
            raise ToolArgumentError(f"track={name!r} exists already; choose another name")
        return self.commit({name: audio}, tool="open", args={"source": source},
                           summary=f"opened {source or name}", select=name)

    def select(self, track: str) -> None:
        self._append({"op": "select", "track": self.resolve_track(track)})

    def undo(self) -> Step | None:
        """Revert the last committed step; None when there is nothing to undo."""
        if not self._state.done:
            return None
        step = self._state.done[-1]
        self._append({"op": "undo"})
        return step

    def redo(self) -> Step | None:
        """Re-apply the last undone step; None when there is nothing to redo."""
        if not self._state.undone:
            return None
        step = self._state.undone[-1]
        self._append({"op": "redo"})
        return step

    def update_settings(self, **values: Any) -> None:
        self._append({"op": "settings", "values": values})


def unique_track_name(session: Session, base: str) -> str:
    """``base`` made a valid track name not yet used in ``session``."""
    cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "_", base).strip("._-")[:48] or "track"
    if not cleaned[0].isalnum():
        cleaned = "t" + cleaned
    name, k = cleaned, 2
    while name in session.tracks:
        name, k = f"{cleaned}-{k}", k + 1
    return name
