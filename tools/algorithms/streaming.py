"""Streaming building blocks for the producer's toolbox: block readers, stateful filters, pedalboard
plugins run block by block, and the one adapter tail that commits a stream of blocks.

A *source* is anything with ``.shape == (channels, n)`` whose ``source[:, lo:hi]`` gives float32
samples: a numpy array, ``Audio.samples`` or a session's track view. Processing reads it block by
block and yields float32 ``(channels, m)`` output blocks in order, so memory is one block (plus a
filter's state or an effect's tail), not the track.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol

import numpy as np
from scipy.signal import sosfilt, sosfilt_zi

from tools.core.session import Session
from tools.core.tool import ToolArgs, ToolResult, commit_blocks

BLOCK = 1 << 16  # frames per processed block (1.4 s at 48 kHz)


class Source(Protocol):
    @property
    def shape(self) -> tuple[int, ...]: ...

    def __getitem__(self, key: Any) -> np.ndarray: ...


def read_blocks(source: Source, *, block: int = BLOCK, start: int = 0,
                stop: int | None = None) -> Iterator[np.ndarray]:
    """float32 ``(channels, m)`` blocks of ``source[:, start:stop]`` in order. A last piece
    shorter than a quarter block joins the block before it (no tiny blocks, which effects with
    a frame size and pedalboard's layout detection handle badly)."""
    stop = source.shape[-1] if stop is None else min(stop, source.shape[-1])
    lo = start
    while lo < stop:
        hi = stop if stop - lo < block + block // 4 else lo + block
        yield np.asarray(source[:, lo:hi], dtype=np.float32)
        lo = hi


def collect(blocks: Iterable[np.ndarray], channels: int) -> np.ndarray:
    """Join blocks into one float32 ``(channels, n)`` array (for short clips and tests)."""
    parts = [np.asarray(b, dtype=np.float32) for b in blocks]
    if not parts:
        return np.zeros((channels, 0), dtype=np.float32)
    return np.ascontiguousarray(np.concatenate(parts, axis=-1), dtype=np.float32)


class SosStream:
    """A cascade of second-order sections (scipy ``sos``) run block by block on ``channels``
    channels, its state carried from block to block (so the blocks join without seams)."""

    def __init__(self, sos: np.ndarray, channels: int, *, steady: np.ndarray | None = None):
        self.sos = np.asarray(sos, dtype=np.float64)
        zi = sosfilt_zi(self.sos)  # (sections, 2): the state of a step response's steady state
        # start from rest, or from the steady state of a constant input ``steady`` per channel
        level = np.zeros(channels) if steady is None else np.asarray(steady, dtype=np.float64)
        self.state = zi[:, None, :] * level[None, :, None]

    def __call__(self, block: np.ndarray) -> np.ndarray:
        out, self.state = sosfilt(self.sos, block, axis=-1, zi=self.state)
        return out.astype(np.float32)


def filter_blocks(blocks: Iterable[np.ndarray], process: Callable[[np.ndarray], np.ndarray]
                  ) -> Iterator[np.ndarray]:
    for block in blocks:
        yield process(block)


PLUGIN_BUFFER = 8192


def prime(plugin: Any, sample_rate: int, channels: int = 1) -> Any:
    """Prepare a pedalboard plugin for block-by-block use (``reset=False``) and return it.

    pedalboard prepares a plugin for the size of its first call and prepares it again, losing its
    state (a reverb's tail, a delay's echoes), when a later call is larger (measured with 0.9.26:
    calls of 5000, 5000 then 30000 samples lose the tail). One call of ``PLUGIN_BUFFER`` zeros
    first fixes the size; silence leaves no state in the effects used here."""
    plugin.reset()
    plugin.process(np.zeros((channels, PLUGIN_BUFFER), dtype=np.float32), float(sample_rate),
                   buffer_size=PLUGIN_BUFFER, reset=True)
    return plugin


class PluginStream:
    """A pedalboard plugin (or ``Pedalboard`` chain) run block by block with ``reset=False``: its
    state carries over, so the output equals one call over the whole signal. Output that a
    plugin holds back (latency) is flushed with zeros at the end, so the stream keeps its length."""

    def __init__(self, plugin: Any, sample_rate: int) -> None:
        self.plugin = plugin
        self.sample_rate = float(sample_rate)
        self.primed = False
        self.owed = 0  # samples taken in but not yet given back

    def __call__(self, block: np.ndarray) -> np.ndarray:
        n = block.shape[-1]
        if not self.primed:
            prime(self.plugin, int(self.sample_rate), block.shape[0])
            self.primed = True
        if 0 < n <= block.shape[0]:  # fewer samples than channels would be read transposed:
            block = np.pad(block, ((0, 0), (0, block.shape[0] + 1 - n)))  # pad (a last block)
        out = self.plugin.process(np.ascontiguousarray(block, dtype=np.float32), self.sample_rate,
                                  buffer_size=PLUGIN_BUFFER, reset=False)[:, :n]
        self.owed += n - out.shape[-1]
        return np.asarray(out, dtype=np.float32)

    def flush(self, channels: int) -> np.ndarray:
        """The held-back output (zeros fed in until the stream has its full length)."""
        parts = []
        while self.owed > 0:
            zeros = np.zeros((channels, max(self.owed, 8192)), dtype=np.float32)
            out = self.plugin.process(zeros, self.sample_rate, buffer_size=PLUGIN_BUFFER,
                                      reset=False)
            take = out[:, :self.owed]
            self.owed -= take.shape[-1]
            parts.append(take)
        return collect(parts, channels)


def plugin_blocks(blocks: Iterable[np.ndarray], plugin: Any, sample_rate: int, channels: int
                  ) -> Iterator[np.ndarray]:
    """``blocks`` through ``plugin`` (see :class:`PluginStream`), same total length."""
    stream = PluginStream(plugin, sample_rate)
    for block in blocks:
        out = stream(block)
        if out.shape[-1]:
            yield out
    rest = stream.flush(channels)
    if rest.shape[-1]:
        yield rest


def linked_gain(plugin: Any, detector: np.ndarray, sample_rate: int) -> np.ndarray:
    """The gain a pedalboard dynamics plugin (Compressor, NoiseGate) applies, computed once from a
    mono ``detector`` (e.g. the largest ``|x|`` over channels) so that every channel gets the same
    gain, as a stereo-linked DAW compressor does. JUCE's compressor and gate multiply their input
    by a gain that depends only on the input's envelope, so ``plugin(d) / d`` is that gain exactly
    (``d`` is kept above 0 by 1e-9). Call repeatedly on consecutive blocks: the plugin keeps its
    state (``reset=False``); :func:`prime` it first."""
    d = (np.abs(detector) + np.float32(1e-9)).astype(np.float32)[None, :]
    out = plugin.process(d, float(sample_rate), buffer_size=PLUGIN_BUFFER, reset=False)
    return (out[0] / d[0]).astype(np.float32)


def stream_edit(session: Session, track: str | None, blocks: Iterable[np.ndarray], *,
                sample_rate: int, tool: str, args: ToolArgs, summary: str | Callable[[], str],
                data: dict[str, Any] | Callable[[], dict] | None = None) -> ToolResult:
    """Commit the output ``blocks`` as the new version of ``track``, written as they come
    (``tools.core.tool.commit_blocks``): the toolbox's adapter tail."""
    return commit_blocks(session, track, blocks, sample_rate=sample_rate, tool=tool, args=args,
                         summary=summary, channels=session.track(track).channels, data=data)


def source_of(session: Session, track: str | None) -> tuple[Any, int]:
    """(a window reader over ``track``, its sample rate): what the toolbox's pure functions read;
    reading a window costs that window, not the track."""
    view = session.track(track)
    return view, view.sample_rate


class BlockReader:
    """A source over a one-pass iterator of blocks (``(channels, m)``, ``n`` samples in all), so
    that a stage that reads windows (overlap-add, :func:`read_blocks`) can follow a stage that
    yields blocks. Windows must be asked for with non-decreasing starts (as those readers do);
    what lies before the last start is dropped, so memory is one window plus one block."""

    def __init__(self, blocks: Iterable[np.ndarray], channels: int, n: int) -> None:
        self._blocks = iter(blocks)
        self.shape = (channels, n)
        self._buffer = np.zeros((channels, 0), dtype=np.float32)
        self._start = 0  # sample index of self._buffer[:, 0]

    def __getitem__(self, key: Any) -> np.ndarray:
        window = key[1] if isinstance(key, tuple) else key
        lo, hi, _ = window.indices(self.shape[1])
        if lo < self._start:
            raise ValueError(f"window starting at {lo} was already dropped (kept from "
                             f"{self._start}); read with non-decreasing starts")
        while self._start + self._buffer.shape[1] < hi:
            block = next(self._blocks, None)
            if block is None:
                break
            self._buffer = np.concatenate([self._buffer, np.asarray(block, np.float32)], axis=1)
        self._buffer = self._buffer[:, lo - self._start:]
        self._start = lo
        out = self._buffer[:, :hi - lo]
        if out.shape[1] < hi - lo:  # the stage gave fewer samples than announced: zeros
            out = np.pad(out, ((0, 0), (0, hi - lo - out.shape[1])))
        return out
