"""A session workspace: named tracks, every edit a new version, undo/redo, safe against kills.

On disk a session is a directory::

    SESSION/
      journal.jsonl      one JSON record a line, appended and fsynced
      blocks/<id>.pack   sample blocks, written by one commit each, never modified (tools.core.blocks)
      lock               held (flock) while a process has the session open

A version is a list of segments over stored blocks (or over an input file read in place, in a
one-command session), so versions share everything they do not change and an edit costs what it
touches. A version is committed when its journal line is complete: the blocks it needs are written
and fsynced first, then the line that names them, what each version is, and which step it belongs
to. Reopening replays the journal; a torn last line left by a kill is dropped, and packs that no
line names are removed. Nothing ever overwrites an input file or an earlier version.

Journal records: ``{"op": "commit", "changes": [{"track", "version", "prev"}], "versions": {id:
{"rate", "channels", "segments"}}, "blocks": [...], "files": [...], "tool", "args", "summary",
"select", "group"}``, ``{"op": "undo", "count"}``, ``{"op": "redo", "count"}``, ``{"op": "select",
"track"}``, ``{"op": "settings", "values"}``. History is linear and global across tracks: undo
reverts the last request (the steps of one group) whatever tracks it touched.

Sessions made before the block store (one ``audio/<id>.wav`` per version) open as they are: each
old version reads its WAV in place.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tools.core.audio import Audio
from tools.core.blocks import Block, BlockStore, FileSource, PackWriter, Segment, Version
from tools.core.errors import SessionError, ToolArgumentError
from tools.core.steps import History, Step, last_group_size, read_journal
from tools.core.versions import TrackView, VersionBuilder

JOURNAL = "journal.jsonl"
CACHE_BYTES = 256 * 2**20
TRACK_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
ProgressCallback = Callable[[str, float, float], None]


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
        self.store = BlockStore(self.root)
        self._versions: dict[str, Version] = {}
        self._origins: dict[str, dict[str, Any]] = {}  # version id of an opened file -> its format
        self._state = History()
        self._cache: OrderedDict[str, Audio] = OrderedDict()
        self._lock_fd: int | None = None
        self._writer: PackWriter | None = None
        self._group: str | None = None
        self._pending_files: list[FileSource] = []  # in-place sources named by the next commit
        # a one-command session may read uncompressed inputs where they are (agent.workspace),
        # and need not fsync what it writes: it is deleted when the command ends
        self.inputs_in_place = False
        self.durable = True

    # ------------------------------------------------------------------ opening

    @classmethod
    def create(cls, root: str | os.PathLike, **kwargs: Any) -> Session:
        root = Path(root)
        if root.exists() and any(root.iterdir()):
            raise SessionError(f"{root}: folder exists and is not empty; choose a new session folder")
        root.mkdir(parents=True, exist_ok=True)
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
        session.store.remove_orphans()
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
        self.discard_pending()
        self.store.close()
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _replay(self) -> None:
        for record in read_journal(self.root / JOURNAL):
            self._replay_record(record)

    def _register_versions(self, record: dict[str, Any]) -> None:
        self.store.add(blocks=(Block.from_record(b) for b in record.get("blocks", ())),
                       files=(FileSource(**f) for f in record.get("files", ())))
        for version_id, spec in record.get("versions", {}).items():
            self._versions[version_id] = Version.from_record(version_id, spec)
        for change in record["changes"]:
            if change["version"] not in self._versions:  # a session from before the block store
                self._versions[change["version"]] = self._legacy_version(change["version"])
        if record.get("tool") == "open" and "format" in record.get("args", {}):
            for change in record["changes"]:
                self._origins[change["version"]] = record["args"]["format"]

    def _legacy_version(self, version_id: str) -> Version:
        wav = self.root / "audio" / f"{version_id}.wav"
        if not wav.is_file():
            raise SessionError(f"{self.root}: version {version_id} has no audio ({wav} is missing)")
        source = FileSource.for_path(wav)
        self.store.add(files=[source])
        return Version(version_id, source.sample_rate, source.channels,
                       (Segment(source.key, 0, source.frames),))

    def _replay_record(self, record: dict[str, Any]) -> None:
        if record.get("op") == "commit":
            self._register_versions(record)
        elif record.get("op") == "settings":
            self.settings.update(record.get("values", {}))
        self._state.apply(record)

    def _append(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, separators=(",", ":"), default=str) + "\n"
        with open(self.root / JOURNAL, "ab") as handle:
            handle.write(line.encode())
            handle.flush()
            if self.durable:
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

    def track(self, track: str | None = None) -> TrackView:
        """A window reader over the latest version of ``track`` (default: the current track)."""
        return self.version_view(self._state.heads[self.resolve_track(track)])

    def version_view(self, version: str) -> TrackView:
        return TrackView(self.store, self._versions[version])

    def audio(self, track: str | None = None) -> Audio:
        """The latest version of ``track`` as one Audio in memory (short tracks; long ones are
        better read through :meth:`track`)."""
        return self.version_audio(self._state.heads[self.resolve_track(track)])

    def version_audio(self, version: str) -> Audio:
        if version in self._cache:
            self._cache.move_to_end(version)
            return self._cache[version]
        view = self.version_view(version)
        audio = Audio(view.read(0, view.num_samples), view.sample_rate)
        self._remember(version, audio)
        return audio

    def origin(self, track: str | None = None) -> dict[str, Any]:
        """The file format the track was opened from (``format``, ``subtype``), as far back as its
        history goes, or ``{}`` for a track made by a tool."""
        name = self.resolve_track(track)
        for step in reversed(self._state.done):
            for change in step.changes:
                if change.track == name and change.version in self._origins:
                    return dict(self._origins[change.version])
        return {}

    def history(self) -> list[Step]:
        """Committed steps in order (undone ones excluded)."""
        return list(self._state.done)

    def redo_steps(self) -> list[Step]:
        return list(reversed(self._state.undone))

    def head(self, track: str | None = None) -> str:
        return self._state.heads[self.resolve_track(track)]

    def disk_bytes(self) -> int:
        """Bytes of audio the session stores (its block packs)."""
        return self.store.packs_bytes()

    # ------------------------------------------------------------------ writing

    def _remember(self, version: str, audio: Audio) -> None:
        """Keep recent versions in memory: at most 4, and past the newest one no more than
        ``CACHE_BYTES`` in all, so hour-long tracks do not pile up copies in memory."""
        if audio.samples.nbytes > CACHE_BYTES:
            return
        self._cache[version] = audio
        self._cache.move_to_end(version)
        while len(self._cache) > 1 and (
            len(self._cache) > 4 or sum(a.samples.nbytes for a in self._cache.values()) > CACHE_BYTES
        ):
            self._cache.popitem(last=False)

    def builder(self, *, sample_rate: int, channels: int) -> VersionBuilder:
        """A builder for a new version; its blocks become durable with the next :meth:`commit`
        (or are dropped by :meth:`discard_pending`)."""
        if self._writer is None:
            self._writer = PackWriter(self.store)
        return VersionBuilder(self._writer, sample_rate=sample_rate, channels=channels)

    def discard_pending(self) -> None:
        """Drop blocks written for a commit that will not happen (a failed or interrupted tool)."""
        if self._writer is not None:
            self._writer.abort()
            self._writer = None
        self._pending_files = []

    def in_place(self, path: str | os.PathLike) -> Version:
        """A version that reads an uncompressed file where it is (for one-command sessions)."""
        source = FileSource.for_path(path)
        self.store.add(files=[source])
        self._pending_files.append(source)
        return Version("", source.sample_rate, source.channels,
                       (Segment(source.key, 0, source.frames),))

    def _as_version(self, audio: Audio | Version | VersionBuilder) -> Version:
        if isinstance(audio, Version):
            return audio
        if isinstance(audio, VersionBuilder):
            return audio.build("")
        builder = self.builder(sample_rate=audio.sample_rate, channels=audio.channels)
        builder.append(audio.samples)
        return builder.build("")

    @contextmanager
    def group(self) -> Iterator[str]:
        """Steps committed inside are one request: one :meth:`undo` reverts them all."""
        if self._group is not None:
            yield self._group
            return
        self._group = uuid.uuid4().hex[:12]
        try:
            yield self._group
        finally:
            self._group = None

    def commit(self, outputs: dict[str, Audio | Version | VersionBuilder], *, tool: str,
               args: dict[str, Any] | None = None, summary: str = "",
               select: str | None = None, origin: dict[str, Any] | None = None) -> Step | None:
        """Store new versions of one or more tracks as one undoable step.

        Values are Audio, a built :class:`Version`, or a :class:`VersionBuilder`. New track names
        create tracks; ``select`` makes that track the current one. A step that would leave every
        track as it is commits nothing and returns None.
        """
        if not outputs:
            raise ValueError("commit needs at least one track")
        for track in outputs:
            if not TRACK_NAME.match(track):
                self.discard_pending()
                raise ToolArgumentError(
                    f"track name {track!r} is not allowed; use letters, digits, '_', '-', '.'"
                )
        versions: dict[str, Version] = {}
        number = len(self._state.done) + 1
        try:
            for track, audio in outputs.items():
                built = self._as_version(audio)
                version_id = f"{number:04d}-{track}-{uuid.uuid4().hex[:8]}"
                versions[track] = Version(version_id, built.sample_rate, built.channels,
                                          built.segments, built.starts)
        except BaseException:
            self.discard_pending()
            raise
        heads = self._state.heads
        if all(t in heads and self._versions[heads[t]].same_samples(v) for t, v in versions.items()):
            self.discard_pending()
            return None
        blocks = self._writer.finish(durable=self.durable) if self._writer is not None else []
        self._writer = None
        files, self._pending_files = self._pending_files, []
        changes = [{"track": t, "version": v.id, "prev": heads.get(t)} for t, v in versions.items()]
        record: dict[str, Any] = {
            "op": "commit", "changes": changes,
            "versions": {v.id: v.record() for v in versions.values()},
            "blocks": [b.record() for b in blocks], "files": [f.record() for f in files],
            "tool": tool, "args": {**(args or {}), **({"format": origin} if origin else {})},
            "summary": summary, "select": select, "time": time.time(),
            "prev_current": self._state.current, "group": self._group,
        }
        self._append(record)
        for track, audio in outputs.items():
            if isinstance(audio, Audio):
                self._remember(versions[track].id, audio)
        return self._state.done[-1]

    def add_track(self, name: str, audio: Audio | Version | VersionBuilder, *, source: str = "",
                  origin: dict[str, Any] | None = None) -> Step:
        """Add a new track (e.g. an opened file) and make it current."""
        if name in self._state.heads:
            self.discard_pending()
            raise ToolArgumentError(f"track={name!r} exists already; choose another name")
        return self.commit({name: audio}, tool="open", args={"source": source},
                           summary=f"opened {source or name}", select=name, origin=origin)

    def select(self, track: str) -> None:
        self._append({"op": "select", "track": self.resolve_track(track)})

    def undo(self) -> Step | None:
        """Revert the last request (all steps of its group); returns its first step, or None when
        there is nothing to undo."""
        count = last_group_size(self._state.done)
        if not count:
            return None
        first = self._state.done[-count]
        self._append({"op": "undo", "count": count})
        return first

    def redo(self) -> Step | None:
        """Re-apply the last undone request; None when there is nothing to redo."""
        undone = self._state.undone
        if not undone:
            return None
        count = last_group_size(undone)
        first = undone[-1]
        self._append({"op": "redo", "count": count})
        return first

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
