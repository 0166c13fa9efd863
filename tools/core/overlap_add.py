"""Chunked processing of long signals by overlap-add: the one helper every model tool goes through.

As demucs ``apply.py``: the signal is cut into fixed segments that overlap, each segment is
processed alone, and the results are summed with weights and divided by the running sum of the
weights. Memory for the processing is bounded by one segment (plus its context), not by the file.

Each chunk handed to ``process`` is ``context`` samples wider on both sides than the part of it that
is kept (models with state, noise trackers and resampling filters need a run-up; that part of the
output is discarded; at the ends of the signal there is no context and no padding), plus
``latency`` samples more on the right for a process whose output lags its input by ``latency``
samples (that lag is removed; zeros past the end of the signal). Neighbouring kept parts overlap by ``overlap``
samples and are crossfaded there with raised-cosine weights; the first chunk starts and the last
chunk ends at full weight, so an identity ``process`` gives back the input exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

ChunkProcess = Callable[[np.ndarray], np.ndarray]
ChunkProgress = Callable[[int, int], None]


def chunk_starts(n: int, *, segment: int, overlap: int) -> list[int]:
    """Start indices of the kept parts: stride ``segment - overlap``, the last one ends at ``n``."""
    if n <= segment:
        return [0]
    stride = segment - overlap
    starts = list(range(0, n - segment, stride))
    starts.append(n - segment)  # last chunk flush with the end, overlapping its neighbour more
    return starts


def _ramp(length: int) -> np.ndarray:
    """Raised-cosine rise over ``length`` samples, never exactly 0 (so weights can be divided)."""
    return (0.5 - 0.5 * np.cos(np.pi * (np.arange(length) + 0.5) / length)).astype(np.float32)


def _weight(length: int, overlap: int, *, first: bool, last: bool) -> np.ndarray:
    weight = np.ones(length, dtype=np.float32)
    fade = min(overlap, length // 2)
    if fade > 0 and not first:
        weight[:fade] = _ramp(fade)
    if fade > 0 and not last:
        weight[-fade:] = _ramp(fade)[::-1]
    return weight


def overlap_add(samples: np.ndarray, process: ChunkProcess, *, segment: int, overlap: int = 0,
                context: int = 0, latency: int = 0,
                progress: ChunkProgress | None = None) -> np.ndarray:
    """Apply ``process`` to ``samples`` in overlapping segments and join the results.

    Args:
        samples: ``(..., n)``, time last (usually ``(channels, n)``). Not modified.
        process: maps a chunk ``(..., m)`` to an output ``(..., m)`` with time last; the leading
            shape of the output may differ from the input's (e.g. ``(sources, channels, m)``) but
            must be the same for every chunk. Called once per chunk, in order.
        segment: samples kept from each chunk (>= 1); the signal is one chunk if ``n <= segment``.
        overlap: samples shared by neighbouring kept parts and crossfaded, ``0 <= overlap < segment``.
        context: extra samples on each side of a chunk, processed and then discarded (>= 0);
            only where the signal has them (never zero-padded).
        latency: the output of ``process`` lags its input by this many samples (>= 0); each chunk
            gets that many more samples on the right and the first ``latency`` outputs are dropped.
        progress: called as ``progress(chunks_done, chunks_total)`` after each chunk.

    Returns:
        float32 ``(*out_leading, n)``: the processed signal, aligned with ``samples``.
    """
    out: np.ndarray | None = None
    for start, block in overlap_add_blocks(samples, process, segment=segment, overlap=overlap,
                                           context=context, latency=latency, progress=progress):
        if out is None:
            out = np.empty((*block.shape[:-1], samples.shape[-1]), dtype=np.float32)
        out[..., start:start + block.shape[-1]] = block
    return out if out is not None else np.zeros(samples.shape, dtype=np.float32)


def overlap_add_blocks(samples: np.ndarray, process: ChunkProcess, *, segment: int,
                       overlap: int = 0, context: int = 0, latency: int = 0,
                       progress: ChunkProgress | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """The streaming form of :func:`overlap_add`: yields ``(start, block)`` pairs in order, each
    block float32 ``(*out_leading, m)`` final for samples ``start:start + m``, as soon as no later
    chunk overlaps it. Together the blocks cover ``0:n`` once; memory is one chunk plus one overlap.

    ``samples`` may be any object with ``shape`` whose ``samples[..., lo:hi]`` gives a numpy array
    (e.g. a reader over a file), so that neither the input nor the output has to fit in memory.
    Same arguments and checks as :func:`overlap_add`.
    """
    if segment < 1:
        raise ValueError(f"segment={segment} must be at least 1 sample")
    if not 0 <= overlap < segment:
        raise ValueError(f"overlap={overlap} must be from 0 to segment - 1 = {segment - 1}")
    if context < 0 or latency < 0:
        raise ValueError(f"context={context} and latency={latency} must be >= 0")
    n = samples.shape[-1]
    if n == 0:
        return
    starts = chunk_starts(n, segment=segment, overlap=overlap)
    acc: np.ndarray | None = None  # weighted sum for samples acc_start:acc_start + width
    acc_weight = np.zeros(0, dtype=np.float32)
    acc_start = 0
    for index, start in enumerate(starts):
        stop = min(start + segment, n)
        lo, hi = max(start - context, 0), min(stop + context + latency, n)
        chunk = np.asarray(samples[..., lo:hi])
        pad = stop + latency - hi  # zeros only for a lagging process at the end of the signal
        if pad > 0:
            widths = [(0, 0)] * (chunk.ndim - 1) + [(0, pad)]
            chunk = np.pad(chunk, widths)
        result = np.asarray(process(np.ascontiguousarray(chunk)))
        if result.shape[-1] != chunk.shape[-1]:
            raise ValueError(f"process returned {result.shape[-1]} samples for a chunk of "
                             f"{chunk.shape[-1]}; it must keep the length")
        kept = result[..., start - lo + latency:stop - lo + latency]
        weight = _weight(stop - start, overlap, first=index == 0, last=index == len(starts) - 1)
        if acc is None:
            acc = np.zeros((*kept.shape[:-1], 0), dtype=np.float32)
        grow = stop - acc_start - acc.shape[-1]
        if grow > 0:
            acc = np.concatenate([acc, np.zeros((*acc.shape[:-1], grow), dtype=np.float32)], axis=-1)
            acc_weight = np.concatenate([acc_weight, np.zeros(grow, dtype=np.float32)])
        acc[..., start - acc_start:stop - acc_start] += kept * weight
        acc_weight[start - acc_start:stop - acc_start] += weight
        done = (starts[index + 1] if index + 1 < len(starts) else n) - acc_start
        block = acc[..., :done] / acc_weight[:done]
        # keep only the overlap (a copy, so the rest can be freed) and drop this chunk's arrays
        # before the next one is processed: memory stays at one chunk, not two
        acc, acc_weight = acc[..., done:].copy(), acc_weight[done:].copy()
        chunk = result = kept = None
        yield acc_start, block
        block = None
        acc_start += done
        if progress is not None:
            progress(index + 1, len(starts))
