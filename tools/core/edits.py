"""Edit lists: an edit described as the pieces of its output, so it costs what it changes.

An edit of a signal (an :class:`~tools.core.audio.Audio` or a session's
:class:`~tools.core.versions.TrackView`) is a list of pieces, in output order:

- :class:`Keep` ``(start, stop, gain)``: input frames ``start:stop``, scaled by ``gain``;
- :class:`Silence` ``(frames)``: digital silence;
- a float32 ``(channels, m)`` array: new samples (a crossfade, a fade ramp).

A cut is ``[Keep(0, a), seam, Keep(b, n)]``; a gain is ``[Keep(0, n, gain=g)]``; a fade out is
``[Keep(0, n - f), ramp]``. The same list renders two ways: :func:`assemble` concatenates it into a
new Audio (short clips, tests), and :func:`build` adds it to a session's version builder, where a
``Keep`` reuses the input's stored blocks and only the arrays are written.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tools.core.audio import Audio
from tools.core.versions import VersionBuilder


@dataclass(frozen=True)
class Keep:
    """Input frames ``start:stop``, scaled by ``gain``."""

    start: int
    stop: int
    gain: float = 1.0


@dataclass(frozen=True)
class Silence:
    """``frames`` of digital silence (free in a session: stored as a length)."""

    frames: int


Piece = Keep | Silence | np.ndarray


def _length(piece: Piece) -> int:
    if isinstance(piece, Keep):
        return piece.stop - piece.start
    if isinstance(piece, Silence):
        return piece.frames
    return piece.shape[1]


def output_samples(pieces: list[Piece]) -> int:
    return sum(_length(p) for p in pieces)


def is_identity(pieces: list[Piece], num_samples: int) -> bool:
    """True when the pieces give back the input unchanged."""
    kept = [p for p in pieces if not (isinstance(p, np.ndarray) and p.shape[1] == 0)]
    return (len(kept) == 1 and isinstance(kept[0], Keep) and kept[0].start == 0
            and kept[0].stop == num_samples and kept[0].gain == 1.0)


def assemble(signal: Audio, pieces: list[Piece]) -> Audio:
    """Render ``pieces`` of ``signal`` into one new Audio."""
    out = np.empty((signal.channels, output_samples(pieces)), dtype=np.float32)
    at = 0
    for piece in pieces:
        if isinstance(piece, Keep):
            data = signal.read(piece.start, piece.stop)
            if piece.gain != 1.0:
                data = data * np.float32(piece.gain)
        elif isinstance(piece, Silence):
            at += piece.frames  # zeros
            out[:, at - piece.frames:at] = 0.0
            continue
        else:
            data = piece
        out[:, at:at + data.shape[1]] = data
        at += data.shape[1]
    return Audio(out, signal.sample_rate)


def build(builder: VersionBuilder, view: Any, pieces: list[Piece]) -> VersionBuilder:
    """Add ``pieces`` of ``view`` (a TrackView of the same session) to ``builder``."""
    for piece in pieces:
        if isinstance(piece, Keep):
            builder.append_view(view, piece.start, piece.stop, gain=piece.gain)
        elif isinstance(piece, Silence):
            builder.append_silence(piece.frames)
        else:
            builder.append(np.asarray(piece, dtype=np.float32))
    return builder
