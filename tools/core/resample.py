"""Sample-rate conversion that streams: scipy's polyphase ``resample_poly``, chunk by chunk.

``resample_poly`` needs the whole signal; this runs it on chunks of the input that start at
multiples of ``down`` (so each chunk's first output sample lands on the global output grid), with
enough input context either side that the anti-aliasing filter never sees a chunk edge, and keeps
only each chunk's own output samples. The result equals one ``resample_poly`` call over the whole
signal to float32 rounding, at one chunk of memory, whatever the length.
"""

from __future__ import annotations

from collections.abc import Iterator
from math import ceil, gcd
from typing import Any

import numpy as np

CHUNK_FRAMES = 1 << 17


def ratio(from_hz: int, to_hz: int) -> tuple[int, int]:
    divisor = gcd(int(from_hz), int(to_hz))
    return int(to_hz) // divisor, int(from_hz) // divisor


def output_length(n: int, from_hz: int, to_hz: int) -> int:
    up, down = ratio(from_hz, to_hz)
    return ceil(n * up / down)


def resampled_blocks(signal: Any, from_hz: int, to_hz: int, *,
                     chunk_frames: int = CHUNK_FRAMES) -> Iterator[np.ndarray]:
    """Blocks (float32 ``(channels, m)``, in order) of ``signal`` (anything with ``shape`` and
    ``[:, lo:hi]``) resampled from ``from_hz`` to ``to_hz``; together ``output_length`` samples."""
    n = signal.shape[-1]
    up, down = ratio(from_hz, to_hz)
    if up == down:
        for start in range(0, n, chunk_frames):
            yield np.asarray(signal[:, start:start + chunk_frames], dtype=np.float32)
        return
    # imported here: it costs 0.6 s, and most runs never resample
    from scipy.signal import resample_poly

    half_taps = 10 * max(up, down)  # resample_poly's default filter half-length (upsampled rate)
    context = (ceil(half_taps / up) // down + 2) * down  # input samples, a multiple of down
    step = max(chunk_frames // down, 1) * down
    total = output_length(n, from_hz, to_hz)
    done = 0
    for start in range(0, n, step):
        stop = min(start + step, n)
        lo, hi = max(start - context, 0), min(stop + context, n)
        out = resample_poly(np.asarray(signal[:, lo:hi], dtype=np.float64), up, down, axis=-1)
        first = (start - lo) * up // down  # exact: start and lo are multiples of down
        want = (total if stop == n else stop * up // down) - done
        block = out[:, first:first + want]
        if block.shape[1] < want:  # the very end: resample_poly gave no more (zero-padded tail)
            block = np.pad(block, ((0, 0), (0, want - block.shape[1])))
        done += want
        yield block.astype(np.float32)
