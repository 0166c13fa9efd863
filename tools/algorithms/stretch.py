"""Time stretch and pitch shift of long signals with Rubber Band (pedalboard.time_stretch), in pieces.

``pedalboard.time_stretch`` is Rubber Band's offline stretcher (R3 engine, formant preservation):
it takes the whole signal at once. To keep memory bounded on hour-long files, the input is cut
into pieces of about ``segment_s`` seconds at its quietest 20 ms frame near each nominal boundary
(a pause, where a join cannot be heard); each piece is stretched with ``context_s`` of input on
both sides (so Rubber Band's start-up and run-out fall in discarded context), and its kept part is
placed at ``input position / tempo_ratio``. Neighbouring pieces overlap by ``crossfade_ms`` at the
join; the later piece is first aligned to the earlier one there (cross-correlation, up to
``max_align_ms``: Rubber Band places content a few ms off the nominal position) and the two are
crossfaded (sine/cosine curves normalised for their correlation). The output has exactly
``round(n / tempo_ratio)`` samples.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pedalboard

from tools.algorithms.streaming import Source

SEGMENT_S = 30.0
CONTEXT_S = 1.0
SEARCH_S = 2.0       # a join is placed at the quietest frame within this distance of nominal
FRAME_S = 0.02
CROSSFADE_MS = 20.0
MAX_ALIGN_MS = 15.0


def _quietest(source: Source, centre: int, radius: int, frame: int) -> int:
    """Start of the quietest ``frame`` (largest |x| over channels, RMS) within ``centre +- radius``."""
    lo, hi = max(centre - radius, 0), min(centre + radius, source.shape[-1])
    x = np.asarray(source[:, lo:hi], dtype=np.float32)
    count = x.shape[-1] // frame
    if count < 1:
        return centre
    energy = np.square(x[:, :count * frame]).reshape(x.shape[0], count, frame).mean(axis=(0, 2))
    return lo + int(np.argmin(energy)) * frame + frame // 2


def join_points(source: Source, sample_rate: int, *, segment_s: float = SEGMENT_S,
                search_s: float = SEARCH_S) -> list[int]:
    """Input sample indices where pieces meet: ``[0, j1, ..., n]``, each j near a multiple of
    ``segment_s`` at the quietest frame within ``search_s``."""
    n = source.shape[-1]
    segment = int(segment_s * sample_rate)
    frame = max(int(FRAME_S * sample_rate), 1)
    radius = min(int(search_s * sample_rate), segment // 4)
    points = [0]
    nominal = segment
    while nominal < n - segment // 2:
        point = _quietest(source, nominal, radius, frame)
        if point > points[-1]:
            points.append(point)
        nominal = point + segment
    points.append(n)
    return points


def _take(y: np.ndarray, start: int, length: int) -> np.ndarray:
    """``y[:, start:start + length]``, zero-padded where it runs outside ``y``."""
    out = np.zeros((y.shape[0], length), dtype=np.float32)
    lo, hi = max(start, 0), min(start + length, y.shape[-1])
    if hi > lo:
        out[:, lo - start:hi - start] = y[:, lo:hi]
    return out


def _best_lag(tail: np.ndarray, y: np.ndarray, start: int, max_lag: int) -> int:
    """The shift (samples) of ``y`` around ``start`` that best lines ``y[:, start:]`` up with
    ``tail``: the largest normalised cross-correlation of the channel sums, 0 when either is
    silent."""
    a = tail.sum(axis=0)
    window = _take(y, start - max_lag, a.size + 2 * max_lag).sum(axis=0)
    if max_lag <= 0 or not np.any(a) or not np.any(window):
        return 0
    scores = np.correlate(window, a, mode="valid")  # lag 0 at index max_lag
    energy = np.convolve(np.square(window), np.ones(a.size), mode="valid")
    scores = scores / np.sqrt(np.maximum(energy, 1e-20))
    return int(np.argmax(scores)) - max_lag


def _crossfade(tail: np.ndarray, head: np.ndarray) -> np.ndarray:
    """Sine/cosine crossfade normalised for the correlation of the two sides, so that the level
    stays put whether they are coherent (an aligned tone: +3 dB bump with plain equal power) or
    not (noise: a 3 dB dip with plain linear)."""
    t = (np.arange(tail.shape[-1]) + 0.5) / tail.shape[-1]
    fade_out, fade_in = np.cos(0.5 * np.pi * t), np.sin(0.5 * np.pi * t)
    a, b = tail.sum(axis=0), head.sum(axis=0)
    rho = float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-20))
    norm = np.sqrt(np.maximum(fade_out ** 2 + fade_in ** 2 + 2 * rho * fade_out * fade_in, 0.25))
    return ((tail * fade_out + head * fade_in) / norm).astype(np.float32)


def stretch_blocks(source: Source, sample_rate: int, *, tempo_ratio: float = 1.0,
                   semitones: float = 0.0, preserve_formants: bool = True,
                   segment_s: float = SEGMENT_S, context_s: float = CONTEXT_S,
                   crossfade_ms: float = CROSSFADE_MS) -> Iterator[np.ndarray]:
    """Yield float32 ``(channels, m)`` blocks of ``source`` played ``tempo_ratio`` times as fast
    (2 = twice as fast, half as long) and ``semitones`` higher, by Rubber Band, piece by piece
    (see the module docstring). Total output length ``round(n / tempo_ratio)``."""
    n = source.shape[-1]
    total = int(round(n / tempo_ratio))
    if n == 0 or total == 0:
        return
    context = int(context_s * sample_rate)
    half = max(int(crossfade_ms * 1e-3 * sample_rate / 2), 1)
    max_lag = int(MAX_ALIGN_MS * 1e-3 * sample_rate)
    points = join_points(source, sample_rate, segment_s=segment_s)
    tail: np.ndarray | None = None  # the last piece's output over the next join's crossfade
    for k in range(len(points) - 1):
        a, b = points[k], points[k + 1]
        last = k == len(points) - 2
        lo, hi = max(a - context, 0), min(b + context, n)
        x = np.ascontiguousarray(source[:, lo:hi], dtype=np.float32)
        y = np.asarray(pedalboard.time_stretch(
            x, float(sample_rate), stretch_factor=float(tempo_ratio),
            pitch_shift_in_semitones=float(semitones), preserve_formants=preserve_formants),
            dtype=np.float32)
        base = int(round(lo / tempo_ratio))  # the output position of y[:, 0]
        start = int(round(a / tempo_ratio))
        stop = total if last else int(round(b / tempo_ratio))
        if tail is None:
            first, at = start, start - base
        else:
            at = start - half - base
            at += _best_lag(tail, y, at, max_lag)
            yield _crossfade(tail, _take(y, at, 2 * half))
            first, at = start + half, at + 2 * half
        keep = (stop if last else stop - half) - first
        if keep > 0:
            yield _take(y, at, keep)
        tail = None if last else _take(y, at + max(keep, 0), 2 * half)
