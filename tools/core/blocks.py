"""The block store under a session: immutable, content-addressed sample blocks in pack files.

A track version is a list of :class:`Segment` s, each a span of one *source*: a stored block, or an
uncompressed audio file read in place (a one-command run reads its WAV input directly, as
Audacity's "read uncompressed files directly" import does; a saved session always copies). A
segment may carry a gain, applied when its samples are read, so ``gain`` is exact and costs nothing.
Versions share every source they do not change: a cut writes only its crossfade, a fade its ramp.

On disk::

    SESSION/blocks/<id>.pack    blocks appended in one go by one commit, then fsynced

Digital silence is a segment of the source ``silence``: any length, nothing stored.
A block is ``frames x channels`` interleaved little-endian samples, float32 (``f4``) or int16
(``i2``, for 16-bit imports: exact and half the size), keyed by the SHA-256 of its encoding,
shape and bytes; a block already in the store is not written again (repeated silence costs one).
Where blocks live, and what each version is, is recorded only in the session journal (see
:mod:`tools.core.session`), after the pack is on disk: a pack no journal line names is debris of a
killed commit and is removed on the next open.

Block size: :data:`BLOCK_FRAMES` = 2**17 frames (2.7 s at 48 kHz; 1 MiB of float32 stereo, about
Audacity's block size). Reads of any window are one ``pread`` per block touched, so a seam search
or a meter costs its window; the edit journal stays near 50 bytes per block of track.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from tools.core.errors import AudioInputError, SessionError

BLOCK_FRAMES = 1 << 17
PACK_DIR = "blocks"
SILENCE = "silence"  # the source of digital silence: any length, nothing stored
_DTYPES = {"f4": np.dtype("<f4"), "i2": np.dtype("<i2")}
_INT16_SCALE = np.float32(1.0 / 32768.0)


@dataclass(frozen=True)
class Block:
    """Where a stored block lives: ``nbytes`` at ``offset`` of pack ``pack``."""

    key: str
    pack: str
    offset: int
    nbytes: int
    encoding: str
    frames: int
    channels: int
    peak: float | None = None  # largest |sample|: a summary, so meters can skip quiet blocks

    def record(self) -> list:
        return [self.key, self.pack, self.offset, self.nbytes, self.encoding, self.frames,
                self.channels, self.peak]

    @classmethod
    def from_record(cls, record: list) -> Block:
        return cls(*record)


@dataclass(frozen=True)
class FileSource:
    """An uncompressed audio file read in place; ``size`` and ``mtime_ns`` tell if it changed."""

    key: str
    path: str
    frames: int
    channels: int
    sample_rate: int
    size: int
    mtime_ns: int

    def record(self) -> dict:
        return {"key": self.key, "path": self.path, "frames": self.frames,
                "channels": self.channels, "sample_rate": self.sample_rate, "size": self.size,
                "mtime_ns": self.mtime_ns}

    @classmethod
    def for_path(cls, path: str | os.PathLike) -> FileSource:
        path = Path(path).resolve()
        stat = path.stat()
        info = sf.info(str(path))
        key = "file:" + hashlib.sha256(f"{path}|{stat.st_size}|{stat.st_mtime_ns}".encode()
                                       ).hexdigest()[:24]
        return cls(key, str(path), int(info.frames), int(info.channels), int(info.samplerate),
                   int(stat.st_size), int(stat.st_mtime_ns))


@dataclass(frozen=True)
class Segment:
    """``length`` frames of source ``key`` from frame ``offset``, scaled by ``gain``."""

    key: str
    offset: int
    length: int
    gain: float = 1.0

    def record(self) -> list:
        return [self.key, self.offset, self.length] + ([self.gain] if self.gain != 1.0 else [])

    @classmethod
    def from_record(cls, record: list) -> Segment:
        return cls(record[0], int(record[1]), int(record[2]),
                   float(record[3]) if len(record) > 3 else 1.0)


@dataclass(frozen=True, eq=False)
class Version:
    """One immutable track version: its rate, channel count and segments."""

    id: str
    sample_rate: int
    channels: int
    segments: tuple[Segment, ...]
    starts: tuple[int, ...] = field(default=(), repr=False)  # output frame where each segment starts

    def __post_init__(self) -> None:
        if not self.starts:
            starts, at = [], 0
            for seg in self.segments:
                starts.append(at)
                at += seg.length
            object.__setattr__(self, "starts", tuple(starts))

    @property
    def num_samples(self) -> int:
        return self.starts[-1] + self.segments[-1].length if self.segments else 0

    def record(self) -> dict:
        return {"rate": self.sample_rate, "channels": self.channels,
                "segments": [s.record() for s in self.segments]}

    @classmethod
    def from_record(cls, version_id: str, record: dict) -> Version:
        return cls(version_id, int(record["rate"]), int(record["channels"]),
                   tuple(Segment.from_record(s) for s in record["segments"]))

    def same_samples(self, other: Version) -> bool:
        """True when both versions are the same segments (so the same samples)."""
        return (self.sample_rate == other.sample_rate and self.channels == other.channels
                and self.segments == other.segments)


class BlockStore:
    """The sources of one session: stored blocks and in-place files, and reading them."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.blocks: dict[str, Block] = {}
        self.files: dict[str, FileSource] = {}
        self._fds: dict[str, int] = {}
        self._handles: dict[str, sf.SoundFile] = {}

    # ------------------------------------------------------------------ index

    def add(self, blocks: Iterable[Block] = (), files: Iterable[FileSource] = ()) -> None:
        for block in blocks:
            self.blocks.setdefault(block.key, block)
        for source in files:
            self.files.setdefault(source.key, source)

    def remove_orphans(self) -> int:
        """Delete pack files that no committed block refers to; returns how many."""
        folder = self.root / PACK_DIR
        if not folder.is_dir():
            return 0
        used = {block.pack for block in self.blocks.values()}
        removed = 0
        for path in folder.iterdir():
            if path.name not in used:
                path.unlink(missing_ok=True)
                removed += 1
        return removed

    def packs_bytes(self) -> int:
        folder = self.root / PACK_DIR
        return sum(p.stat().st_size for p in folder.iterdir()) if folder.is_dir() else 0

    # ------------------------------------------------------------------ reading

    def read(self, segment: Segment, start: int, stop: int, channels: int) -> np.ndarray:
        """Frames ``start:stop`` of ``segment`` (relative to it), float32 ``(channels, m)``."""
        count = stop - start
        if segment.key == SILENCE:
            return np.zeros((channels, count), dtype=np.float32)
        if segment.key in self.blocks:
            data = self._read_block(self.blocks[segment.key], segment.offset + start, count)
        elif segment.key in self.files:
            data = self._read_file(self.files[segment.key], segment.offset + start, count)
        else:
            raise SessionError(f"{self.root}: the session names a block that is not stored "
                               f"({segment.key[:12]}); it is damaged")
        if segment.gain != 1.0:
            data *= np.float32(segment.gain)
        return data

    def _read_block(self, block: Block, frame: int, count: int) -> np.ndarray:
        dtype = _DTYPES[block.encoding]
        width = dtype.itemsize * block.channels
        fd = self._fds.get(block.pack)
        if fd is None:
            try:
                fd = os.open(self.root / PACK_DIR / block.pack, os.O_RDONLY)
            except FileNotFoundError:
                raise SessionError(f"{self.root}: block file {block.pack} is missing; "
                                   "the session is damaged") from None
            self._fds[block.pack] = fd
        raw = os.pread(fd, count * width, block.offset + frame * width)
        if len(raw) != count * width:
            raise SessionError(f"{self.root}: block file {block.pack} is truncated; "
                               "the session is damaged")
        interleaved = np.frombuffer(raw, dtype=dtype).reshape(count, block.channels)
        if block.encoding == "i2":
            return interleaved.T * _INT16_SCALE
        return np.array(interleaved.T, dtype=np.float32, order="C")  # a writable copy

    def _read_file(self, source: FileSource, frame: int, count: int) -> np.ndarray:
        handle = self._handles.get(source.key)
        if handle is None:
            path = Path(source.path)
            try:
                stat = path.stat()
            except FileNotFoundError:
                raise AudioInputError(f"{path}: the input file was removed while in use") from None
            if stat.st_size != source.size or stat.st_mtime_ns != source.mtime_ns:
                raise AudioInputError(f"{path}: the input file changed while in use; run again")
            handle = sf.SoundFile(str(path))
            self._handles[source.key] = handle
        handle.seek(frame)
        data = handle.read(count, dtype="float32", always_2d=True)
        if data.shape[0] != count:
            raise AudioInputError(f"{source.path}: truncated while in use ({data.shape[0]} of "
                                  f"{count} frames read)")
        return data.T  # writable; the caller's copy into its window transposes it once

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        for handle in self._handles.values():
            handle.close()
        self._fds.clear()
        self._handles.clear()


class PackWriter:
    """Appends new blocks for one commit to one pack file; :meth:`finish` makes them durable."""

    def __init__(self, store: BlockStore) -> None:
        self.store = store
        self.name = f"{uuid.uuid4().hex}.pack"
        self.path = store.root / PACK_DIR / self.name
        self._handle = None
        self._offset = 0
        self.written: dict[str, Block] = {}

    def put(self, samples: np.ndarray) -> Block:
        """Store ``(channels, m)`` float32 or int16 samples as one block (or find it stored)."""
        encoding = "i2" if samples.dtype == np.int16 else "f4"
        raw = np.ascontiguousarray(samples.T, dtype=_DTYPES[encoding]).tobytes()
        channels, frames = samples.shape
        digest = hashlib.sha256(f"{encoding}:{channels}:".encode())
        digest.update(raw)
        key = digest.hexdigest()[:32]
        known = self.store.blocks.get(key) or self.written.get(key)
        if known is not None:
            return known
        if self._handle is None:
            self.path.parent.mkdir(exist_ok=True)
            self._handle = open(self.path, "wb")
        self._handle.write(raw)
        peak = float(np.max(np.abs(samples))) if frames else 0.0
        if encoding == "i2":
            peak /= 32768.0
        block = Block(key, self.name, self._offset, len(raw), encoding, frames, channels, peak)
        self._offset += len(raw)
        self.written[key] = block
        return block

    def finish(self, *, durable: bool = True) -> list[Block]:
        """Flush and (``durable``) fsync the pack; the blocks may now be named in the journal."""
        if self._handle is not None:
            self._handle.flush()
            if durable:
                os.fsync(self._handle.fileno())
            self._handle.close()
            self._handle = None
        self.store.add(self.written.values())
        return list(self.written.values())

    def abort(self) -> None:
        """Drop an unfinished pack (a tool failed or was interrupted before its commit)."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None
            self.path.unlink(missing_ok=True)
        self.written.clear()
