"""Reading and building track versions over a :class:`~tools.core.blocks.BlockStore`.

:class:`TrackView` is the window reader every tool reads a long track through (``view.read(lo,
hi)``, ``view[..., lo:hi]``, ``view.blocks()``); :class:`VersionBuilder` makes a new version from new
samples (gathered into whole blocks) and spans of existing views (by reference).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator

import numpy as np

from tools.core.blocks import BLOCK_FRAMES, SILENCE, BlockStore, PackWriter, Segment, Version


class VersionBuilder:
    """Builds a new version from new samples and spans of existing views, in order.

    New samples are gathered into whole :data:`BLOCK_FRAMES` blocks (so streamed output at the
    same positions hashes to the same blocks); spans of a view reuse its segments.
    """

    def __init__(self, writer: PackWriter, *, sample_rate: int, channels: int) -> None:
        self.writer = writer
        self.sample_rate = int(sample_rate)
        self.channels = int(channels)
        self.segments: list[Segment] = []
        self._pending: list[np.ndarray] = []
        self._pending_frames = 0
        self.num_samples = 0

    def append(self, samples: np.ndarray) -> None:
        """Add new samples ``(channels, m)`` (float32, or int16 for exact 16-bit imports)."""
        if samples.ndim != 2 or samples.shape[0] != self.channels:
            raise ValueError(f"a block shaped {samples.shape} does not fit a "
                             f"{self.channels}-channel track")
        if samples.shape[1] == 0:
            return
        if samples.dtype != np.int16:
            samples = samples.astype(np.float32, copy=False)
            if not np.isfinite(samples).all():
                raise ValueError("samples contain NaN or infinite values")
        if self._pending and self._pending[0].dtype != samples.dtype:
            self._flush(everything=True)
        self._pending.append(samples)
        self._pending_frames += samples.shape[1]
        self.num_samples += samples.shape[1]
        if self._pending_frames >= BLOCK_FRAMES:
            self._flush(everything=False)

    def append_silence(self, frames: int) -> None:
        """Add ``frames`` of digital silence (stored as a length, not as samples)."""
        self._flush(everything=True)
        self._add_segment(Segment(SILENCE, 0, int(frames)))
        self.num_samples += max(int(frames), 0)

    def append_view(self, view: TrackView, start: int, stop: int, *, gain: float = 1.0) -> None:
        """Add frames ``start:stop`` of ``view`` by reference, scaled by ``gain``."""
        if view.channels != self.channels or view.sample_rate != self.sample_rate:
            raise ValueError("a span of another rate or channel count cannot join this track")
        self._flush(everything=True)
        for seg in view.segments_between(start, stop):
            self._add_segment(Segment(seg.key, seg.offset, seg.length, seg.gain * gain))
        self.num_samples += max(stop - start, 0)

    def _add_segment(self, seg: Segment) -> None:
        if seg.length <= 0:
            return
        last = self.segments[-1] if self.segments else None
        if (last is not None and last.key == seg.key and last.gain == seg.gain
                and last.offset + last.length == seg.offset):
            self.segments[-1] = Segment(last.key, last.offset, last.length + seg.length, last.gain)
        else:
            self.segments.append(seg)

    def _flush(self, *, everything: bool) -> None:
        if not self._pending:
            return
        data = np.concatenate(self._pending, axis=1) if len(self._pending) > 1 else self._pending[0]
        at = 0
        while data.shape[1] - at >= BLOCK_FRAMES or (everything and at < data.shape[1]):
            piece = data[:, at:at + BLOCK_FRAMES]
            block = self.writer.put(piece)
            self._add_segment(Segment(block.key, 0, piece.shape[1]))
            at += piece.shape[1]
        rest = data[:, at:]
        self._pending = [rest] if rest.shape[1] else []
        self._pending_frames = rest.shape[1]

    def build(self, version_id: str) -> Version:
        self._flush(everything=True)
        return Version(version_id, self.sample_rate, self.channels, tuple(self.segments))


class TrackView:
    """A read-only window reader over one version: ``view.read(lo, hi)`` or ``view[..., lo:hi]``
    gives float32 ``(channels, m)``; the cost is the window, not the track."""

    def __init__(self, store: BlockStore, version: Version) -> None:
        self.store = store
        self.version = version
        self.sample_rate = version.sample_rate
        self.channels = version.channels
        self.num_samples = version.num_samples

    @property
    def shape(self) -> tuple[int, int]:
        return (self.channels, self.num_samples)

    @property
    def duration_s(self) -> float:
        return self.num_samples / self.sample_rate

    def sample_index(self, time_s: float) -> int:
        return int(min(max(round(time_s * self.sample_rate), 0), self.num_samples))

    def segments_between(self, start: int, stop: int) -> Iterator[Segment]:
        """The segments (trimmed) that make up frames ``start:stop``."""
        start, stop = max(start, 0), min(stop, self.num_samples)
        if stop <= start:
            return
        starts = self.version.starts
        index = bisect.bisect_right(starts, start) - 1
        while index < len(starts) and starts[index] < stop:
            seg, at = self.version.segments[index], starts[index]
            lo, hi = max(start - at, 0), min(stop - at, seg.length)
            yield Segment(seg.key, seg.offset + lo, hi - lo, seg.gain)
            index += 1

    def read(self, start: int, stop: int) -> np.ndarray:
        start, stop = max(int(start), 0), min(int(stop), self.num_samples)
        out = np.empty((self.channels, max(stop - start, 0)), dtype=np.float32)
        at = 0
        for seg in self.segments_between(start, stop):
            out[:, at:at + seg.length] = self.store.read(seg, 0, seg.length, self.channels)
            at += seg.length
        return out

    def __getitem__(self, key) -> np.ndarray:
        if not isinstance(key, tuple):
            key = (slice(None), key)
        if len(key) != 2 or not isinstance(key[1], slice) or key[1].step not in (None, 1):
            raise TypeError("a TrackView is read as view[..., lo:hi] or view[:, lo:hi]")
        span = key[1].indices(self.num_samples)
        data = self.read(span[0], span[1])
        return data if key[0] in (Ellipsis, slice(None)) else data[key[0]]

    def peak(self, *, above: float = 1.0) -> float | None:
        """The largest ``|sample|`` if it exceeds ``above`` (exact), else a bound at most ``above``;
        only segments whose stored summary exceeds ``above`` are read. None when a segment has no
        summary (an input file read in place), so the answer would cost a read of the track."""
        best = 0.0
        for seg in self.version.segments:
            if seg.key == SILENCE:
                continue
            block = self.store.blocks.get(seg.key)
            if block is None or block.peak is None:
                return None
            bound = block.peak * abs(seg.gain)
            if bound > above:
                data = self.store.read(seg, 0, seg.length, self.channels)
                bound = float(np.max(np.abs(data))) if data.size else 0.0
            best = max(best, bound)
        return best

    def blocks(self, frames: int = BLOCK_FRAMES) -> Iterator[tuple[int, np.ndarray]]:
        """``(start, samples)`` pairs covering the track in order, ``frames`` at a time."""
        for start in range(0, self.num_samples, frames):
            yield start, self.read(start, start + frames)
