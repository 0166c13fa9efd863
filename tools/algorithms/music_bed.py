"""Separation only where there is music: keep the vocals inside the music regions, the input
(bit for bit) everywhere else, with raised-cosine crossfades at the region edges.

Each region is separated on its own, with ``context_s`` of the signal on both sides (the
separator's run-up; that part is thrown away), through the separator's own chunked
:func:`tools.separate.stem_blocks`, so memory is one chunk whatever the lengths. Inside a region
the output is ``(1 - w) * input + w * vocals`` with ``w`` rising from 0 to 1 over ``fade_s`` at
the region's start and falling back at its end; outside, the input's samples themselves.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

BLOCK = 1 << 18


class Window:
    """``reader[..., lo:hi]`` as a reader of its own (``.shape`` and ``[..., a:b]``)."""

    def __init__(self, reader: Any, lo: int, hi: int) -> None:
        self.reader, self.lo, self.hi = reader, lo, hi
        self.shape = (reader.shape[0], hi - lo)

    def __getitem__(self, key: Any) -> np.ndarray:
        part = key[-1] if isinstance(key, tuple) else key
        start, stop, _ = part.indices(self.shape[1])
        return np.asarray(self.reader[..., self.lo + start:self.lo + max(stop, start)],
                          dtype=np.float32)


def _ramp(n: int) -> np.ndarray:
    return (0.5 - 0.5 * np.cos(np.pi * (np.arange(n) + 0.5) / max(n, 1))).astype(np.float32)


def region_weight(lo: int, hi: int, start: int, stop: int, fade: int) -> np.ndarray:
    """The vocals' weight over samples ``[lo, hi)`` of a region ``[start, stop)``."""
    fade = min(fade, (stop - start) // 2)
    idx = np.arange(lo, hi)
    w = np.ones(hi - lo, dtype=np.float32)
    if fade > 0:
        ramp = _ramp(fade)
        rise = idx - start < fade
        w[rise] = ramp[idx[rise] - start]
        fall = stop - 1 - idx < fade
        w[fall] = ramp[stop - 1 - idx[fall]]
    return w


def _copy(reader: Any, lo: int, hi: int) -> Iterator[np.ndarray]:
    for a in range(lo, hi, BLOCK):
        yield np.asarray(reader[..., a:min(a + BLOCK, hi)], dtype=np.float32)


def keep_vocals_blocks(reader: Any, sample_rate: int, regions_s: list[tuple[float, float]],
                       vocals: Any, *, fade_s: float = 0.1, context_s: float = 2.0
                       ) -> Iterator[np.ndarray]:
    """Output blocks ``(channels, m)`` in order. ``vocals(window_reader)`` yields ``(start,
    vocals block (channels, m))`` over the window it is given (a separator's stem stream)."""
    n = int(reader.shape[-1])
    fade, context = int(fade_s * sample_rate), int(context_s * sample_rate)
    done = 0
    for start_s, end_s in sorted(regions_s):
        start, stop = max(int(round(start_s * sample_rate)), done), min(
            int(round(end_s * sample_rate)), n)
        if stop <= start:
            continue
        yield from _copy(reader, done, start)
        lo, hi = max(start - context, 0), min(stop + context, n)
        for offset, block in vocals(Window(reader, lo, hi)):
            a, b = lo + offset, lo + offset + block.shape[-1]
            a2, b2 = max(a, start), min(b, stop)
            if b2 <= a2:
                continue
            mix = np.asarray(reader[..., a2:b2], dtype=np.float32)
            voice = block[..., a2 - a:b2 - a]
            w = region_weight(a2, b2, start, stop, fade)
            yield (mix + w * (voice - mix)).astype(np.float32)
        done = stop
    yield from _copy(reader, done, n)
