"""declip: restore the peaks of clipped audio.

Clipped samples are those at (or beyond) the clip level: found automatically as the track's
extreme values when enough samples pile up there (per channel and polarity), or from a level
given in dBFS. They are restored by constrained least-squares AR interpolation (the "consistent"
declipping of Janssen et al. and Abel & Smith): the restored samples minimise the AR residual
energy subject to lying at or beyond the clip level with the clipped sign, so the result agrees
with everything that was recorded. Window by window (at most ``WINDOW_S`` and
``WINDOW_UNKNOWNS`` clipped samples each, plus margins; per channel):

1. fit an AR model (order ``ORDER_S``) to the window as it is;
2. solve the bounded least-squares problem for the clipped samples (an active-set method on the
   LSAR normal equations);
3. re-fit the model on the restored window and solve again (``ITERATIONS`` times in all).

Restored peaks are capped at ``MAX_OVERSHOOT`` x the clip level. Long tracks are read in
``BLOCK_S`` blocks (levels: two reads; restoration: one, keeping only the restored samples; the
output with the makeup gain: one more, written block by block), so memory follows the block and the
amount of clipping, not the track's length.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import Field
from scipy.linalg import cho_factor, cho_solve

from tools.algorithms import ar
from tools.core.audio import Audio
from tools.core.errors import NothingFound, ToolArgumentError
from tools.core.session import Session
from tools.core.tool import Tool, ToolArgs, ToolResult, commit_blocks, track_field

BLOCK_S = 10.0  # read and written this much at a time
WINDOW_S = 0.025
MARGIN_S = 0.002
WINDOW_UNKNOWNS = 64
ORDER_S = 0.0025
ITERATIONS = 3
MAX_OVERSHOOT = 4.0
MIN_CLIPPED_RUNS = 3  # auto-detection: at least this many runs of >= 2 samples at the extreme
# A held value below the extreme is a clip level only if it holds this many times more runs than any
# other value: in long 16-bit recordings many values hold 3-4 equal pairs by chance (measured: 10
# unclipped music files, 9.6 min), while a clipped level holds tens to thousands.
PLATEAU_DOMINANCE = 3.0
LEVEL_TOLERANCE = 1e-4  # relative: samples this close to the extreme count as at it
MAX_UNKNOWNS = 100  # per solve: small dense systems stay fast
MAX_ACTIVE_SET_STEPS = 20
# Restored peaks of audio clipped at full scale go above it, where a 16/24-bit file, FLAC, mp3 or a
# player would clip them again: by default the whole track is lowered just enough that the highest
# restored peak sits at this level (as RX's makeup gain would be set).
PEAK_CEILING_DBFS = -0.1


class Args(ToolArgs):
    clip_level_db: float | None = Field(default=None, ge=-60, le=0, description="Level at which the audio was clipped, in dBFS (-60 to 0); null to detect it from the samples piled up at the track's extremes.")
    makeup_gain_db: float | None = Field(default=None, ge=-40, le=0, description="Gain applied to the whole track after restoring, in dB (-40 to 0); null to lower it only as much as needed for the restored peaks to stay under full scale (-0.1 dBFS), 0 to keep the level (peaks above full scale then survive only in a float WAV).")
    track: str | None = track_field()


@dataclass(frozen=True)
class Declipped:
    """The restored audio, how many samples were clipped per channel, the levels used, the gain
    applied to the whole track afterwards and the highest restored peak before it (dBFS)."""

    audio: Audio
    clipped_samples: tuple[int, ...]
    levels: tuple[tuple[float, float], ...]  # per channel: (positive level, negative level)
    gain_db: float = 0.0
    restored_peak_dbfs: float = -np.inf


@dataclass(frozen=True)
class Restored:
    """Per channel, the positions (sorted) and values of the restored samples; how many samples
    were at or beyond the clip level per channel; the output's peak before any gain (linear)."""

    samples: tuple[tuple[np.ndarray, np.ndarray], ...]
    clipped_samples: tuple[int, ...]
    peak: float

    @property
    def peak_dbfs(self) -> float:
        return 20 * np.log10(self.peak) if self.peak > 0 else -np.inf


def clip_levels(signal: Any, *, block: int = 1 << 20) -> tuple[tuple[float, float], ...]:
    """Per channel, the ``(positive, negative)`` clip levels of ``signal`` (an array or a track
    view, ``(channels, n)``), read block by block in two passes; ``inf``/``-inf`` for a polarity
    that is not clipped.

    A polarity is clipped where at least ``MIN_CLIPPED_RUNS`` runs of 2+ samples sit at its
    extreme (within ``LEVEL_TOLERANCE``), or, failing that, at one exactly repeated value in the
    upper half of its range (clipping that a later edit pushed a few samples past) that holds
    ``PLATEAU_DOMINANCE`` times more runs than any other value there. Each block is read with the
    two samples before it, so runs across block edges count once, as in one pass.
    """
    channels, n = signal.shape
    top, bottom = np.full(channels, -np.inf), np.full(channels, np.inf)
    for start in range(0, n, block):
        x = np.asarray(signal[:, start:start + block], dtype=np.float64)
        top, bottom = np.maximum(top, x.max(axis=1)), np.minimum(bottom, x.min(axis=1))
    extremes = [(float(top[c]), float(-bottom[c])) for c in range(channels)]
    runs = np.zeros((channels, 2), dtype=np.int64)
    held: list[list[dict[float, int]]] = [[{}, {}] for _ in range(channels)]
    for start in range(0, n, block):
        lo = max(start - 2, 0)
        x = np.asarray(signal[:, lo:start + block], dtype=np.float64)
        if lo == start:  # the track's start: nothing before it is clipped or held
            x = np.concatenate([np.full((channels, 2), np.nan), x], axis=1)
        for c in range(channels):
            for p, sign in enumerate((1.0, -1.0)):
                extreme = extremes[c][p]
                if not extreme > 0.0:
                    continue
                v = sign * x[c]
                at = v >= extreme * (1 - LEVEL_TOLERANCE)
                runs[c, p] += int(np.sum(at[2:] & at[1:-1] & ~at[:-2]))  # a run's 2nd sample
                same = (v[1:] == v[:-1]) & (v[1:] >= 0.5 * extreme)
                begins = np.flatnonzero(same[1:] & ~same[:-1]) + 2  # a held run's 2nd sample
                values, counts = np.unique(v[begins], return_counts=True)
                for value, count in zip(values.tolist(), counts.tolist(), strict=True):
                    held[c][p][value] = held[c][p].get(value, 0) + count
    levels = []
    for c in range(channels):
        pair = []
        for p, sign in enumerate((1.0, -1.0)):
            extreme, level = extremes[c][p], np.inf
            if extreme > 0.0:
                if runs[c, p] >= MIN_CLIPPED_RUNS:
                    level = extreme
                elif held[c][p]:
                    ranked = sorted(held[c][p].values())
                    runner_up = float(ranked[-2]) if len(ranked) > 1 else 1.0
                    if ranked[-1] >= max(MIN_CLIPPED_RUNS, PLATEAU_DOMINANCE * runner_up):
                        level = max(held[c][p], key=lambda value, c=c, p=p: held[c][p][value])
            pair.append(sign * level)
        levels.append((pair[0], pair[1]))
    return tuple(levels)


def detect_clip_levels(x: np.ndarray) -> tuple[float, float]:
    """``(positive, negative)`` clip levels of one channel ``x`` (1-D): :func:`clip_levels`."""
    return clip_levels(np.asarray(x)[None, :])[0]


def constrained_fill(segment: np.ndarray, idx: np.ndarray, lower: np.ndarray, upper: np.ndarray,
                     a: np.ndarray) -> np.ndarray:
    """Values for ``segment[idx]`` minimising the AR residual energy within ``lower..upper``.

    A primal active-set method on the (small, positive definite) normal equations: solve for the
    free unknowns, pin the ones that leave their bounds, release pinned ones whose multiplier
    says they would move inwards; a few Cholesky solves in practice.
    """
    matrix, g = ar.lsar_normal_equations(segment, idx, a)
    value = np.clip(segment[idx], lower, upper)
    pinned = np.zeros(idx.size, dtype=bool)
    for _ in range(MAX_ACTIVE_SET_STEPS):
        free = ~pinned
        if free.any():
            rhs = -g[free] - matrix[np.ix_(free, pinned)] @ value[pinned]
            solution = cho_solve(cho_factor(matrix[np.ix_(free, free)]), rhs)
            low, high = solution < lower[free], solution > upper[free]
            value[free] = np.clip(solution, lower[free], upper[free])
            if low.any() or high.any():
                pinned[np.flatnonzero(free)[low | high]] = True
                continue
        gradient = matrix @ value + g  # for pinned unknowns: the pull away from the bound
        release = pinned & (((value <= lower) & (gradient < 0)) | ((value >= upper) & (gradient > 0)))
        if not release.any():
            break
        pinned &= ~release
    return value


def _window_solve(out: np.ndarray, x: np.ndarray, lo: int, idx: np.ndarray, bounds: tuple,
                  order: int) -> np.ndarray:
    """The restored values of ``out[lo + idx]`` (``ITERATIONS`` fits and solves)."""
    positive, negative = bounds
    segment = out[lo:lo + x.size].astype(np.float64)
    sign = np.sign(x[idx])
    bound = np.abs(np.where(x[idx] > 0, positive, -negative))
    lower = np.where(sign > 0, bound, -MAX_OVERSHOOT * bound)
    upper = np.where(sign > 0, MAX_OVERSHOOT * bound, -bound)
    for _ in range(ITERATIONS):
        a, _ = ar.fit_ar(segment, order)
        segment[idx] = constrained_fill(segment, idx, lower, upper, a)
    return segment[idx]


def restore_clipped(signal: Any, rate: int, levels: tuple[tuple[float, float], ...], *,
                    progress: Callable[[int, int], None] | None = None) -> Restored:
    """Restore the samples of ``signal`` (array or track view, ``(channels, n)``) at or beyond
    each channel's ``levels``, reading ``BLOCK_S`` blocks (plus margins) one at a time.

    Per channel, windows run left to right; each begins at a clipped sample and holds at most
    ``WINDOW_UNKNOWNS`` clipped samples in at most ``WINDOW_S`` (ending after the last one when no
    clipping follows), sees the already restored audio on its left as known, and solves its right
    margin's clipped samples too, keeping only its own. A window's reach (``WINDOW_S`` + margins)
    fits in the block's read, so blocks give what one pass over the track would (but for a
    window near a block's end with no clipping after it in the read, which takes the full
    ``WINDOW_S``). Only the restored samples are kept (positions and values), so memory follows
    the clipping, not the track.
    ``progress(blocks_done, blocks)`` after each block."""
    channels, n = signal.shape
    order = max(int(ORDER_S * rate), ar.MIN_ORDER)
    window, margin = int(WINDOW_S * rate), order + int(MARGIN_S * rate)
    block = max(int(BLOCK_S * rate), window)
    found: list[list[tuple[np.ndarray, np.ndarray]]] = [[] for _ in range(channels)]
    resume = [0] * channels  # where each channel's next window may begin
    counts, peak = [0] * channels, 0.0
    starts = range(0, n, block)
    for number, b0 in enumerate(starts):
        b1 = min(b0 + block, n)
        work_lo, work_hi = max(b0 - margin, 0), min(b1 + window + margin, n)
        xs = np.asarray(signal[:, work_lo:work_hi], dtype=np.float32)
        for c in range(channels):
            x, (positive, negative) = xs[c], levels[c]
            out = np.array(x)
            for at, values in found[c][-2:]:  # restored earlier, in this read's left margin
                inside = (at >= work_lo) & (at < work_hi)
                out[at[inside] - work_lo] = values[inside]
            clipped = ((x >= positive * (1 - LEVEL_TOLERANCE))
                       | (x <= negative * (1 - LEVEL_TOLERANCE)))
            where = np.flatnonzero(clipped) + work_lo
            counts[c] += int(np.sum((where >= b0) & (where < b1)))
            k = int(np.searchsorted(where, resume[c]))
            kept_at, kept_values = [], []
            while k < where.size and where[k] < b1:
                begin = int(where[k])
                last = min(k + WINDOW_UNKNOWNS, where.size) - 1
                stop = min(int(where[last]) + 1, begin + window)
                if last == where.size - 1 and work_hi < n:
                    stop = begin + window  # clipping past this read may follow: the full window
                lo, hi = max(begin - margin, 0), min(stop + margin, n)
                idx = where[(where >= max(begin, lo + order)) & (where < hi - order)]
                idx = idx[:MAX_UNKNOWNS] - lo
                k = int(np.searchsorted(where, stop))
                resume[c] = stop
                if idx.size == 0:
                    continue
                values = _window_solve(out, x[lo - work_lo:hi - work_lo], lo - work_lo, idx,
                                       (positive, negative), order)
                keep = idx + lo < stop
                out[idx[keep] + lo - work_lo] = values[keep]
                kept_at.append(idx[keep] + lo)
                kept_values.append(values[keep].astype(np.float32))
            if kept_at:
                found[c].append((np.concatenate(kept_at), np.concatenate(kept_values)))
            core = out[b0 - work_lo:b1 - work_lo]
            if core.size:
                peak = max(peak, float(core.max()), -float(core.min()))
        if progress is not None:
            progress(number + 1, len(starts))
    spans = tuple((np.concatenate([a for a, _ in f]) if f else np.empty(0, dtype=np.int64),
                   np.concatenate([v for _, v in f]) if f else np.empty(0, dtype=np.float32))
                  for f in found)
    return Restored(spans, tuple(counts), peak)


def restored_blocks(signal: Any, restored: Restored, gain_db: float, *, block: int
                    ) -> Iterator[np.ndarray]:
    """``signal`` block by block with the restored samples in place, times ``gain_db``."""
    channels, n = signal.shape
    gain = np.float32(10 ** (gain_db / 20))
    for b0 in range(0, n, block):
        out = np.array(signal[:, b0:b0 + block], dtype=np.float32)
        for c, (at, values) in enumerate(restored.samples):
            i, j = np.searchsorted(at, [b0, b0 + out.shape[1]])
            out[c, at[i:j] - b0] = values[i:j]
        if gain_db:
            out *= gain
        yield out


def _levels(signal: Any, clip_level_db: float | None) -> tuple[tuple[float, float], ...]:
    if clip_level_db is not None and not -60 <= clip_level_db <= 0:
        raise ToolArgumentError(f"clip_level_db={clip_level_db:g} must be from -60 to 0 dBFS")
    if clip_level_db is None:
        return clip_levels(signal)
    level = float(10 ** (clip_level_db / 20))
    return tuple((level, -level) for _ in range(signal.shape[0]))


def _gain_db(restored: Restored, clip_level_db: float | None, makeup_gain_db: float | None
             ) -> float:
    if makeup_gain_db is not None and not -40 <= makeup_gain_db <= 0:
        raise ToolArgumentError(f"makeup_gain_db={makeup_gain_db:g} must be from -40 to 0 dB")
    if clip_level_db is None and not any(restored.clipped_samples):
        raise NothingFound("found no clipping: no channel has samples piled up at its extremes "
                        "(give clip_level_db to restore peaks above a level you know)")
    if makeup_gain_db is not None:
        return float(makeup_gain_db)
    if not any(restored.clipped_samples):
        return 0.0
    return float(min(0.0, PEAK_CEILING_DBFS - restored.peak_dbfs))


def declip(audio: Audio, *, clip_level_db: float | None = None,
           makeup_gain_db: float | None = None,
           progress: Callable[[int, int], None] | None = None) -> Declipped:
    """Restore clipped peaks in every channel of ``audio`` (each channel alone), then apply
    ``makeup_gain_db`` to the whole track (``None``: just enough to keep the restored peaks at
    ``PEAK_CEILING_DBFS`` or under, else 0). ``progress(blocks_done, blocks)`` follows the work."""
    if makeup_gain_db is not None and not -40 <= makeup_gain_db <= 0:
        raise ToolArgumentError(f"makeup_gain_db={makeup_gain_db:g} must be from -40 to 0 dB")
    levels = _levels(audio.samples, clip_level_db)
    restored = restore_clipped(audio.samples, audio.sample_rate, levels, progress=progress)
    gain_db = _gain_db(restored, clip_level_db, makeup_gain_db)
    out = np.concatenate(list(restored_blocks(audio.samples, restored, gain_db,
                                              block=max(audio.num_samples, 1))), axis=1)
    return Declipped(audio.replace(out), restored.clipped_samples, levels, gain_db,
                     restored.peak_dbfs)


def _db(level: float) -> str:
    return "none" if not np.isfinite(level) else f"{round(20 * np.log10(abs(level)), 1) + 0.0:.1f} dBFS"


def _describe_levels(levels: tuple[tuple[float, float], ...]) -> str:
    """``ch1 positive -3.0 dBFS, negative none; ch2 ...``"""
    return "; ".join(f"ch{c + 1} positive {_db(p)}, negative {_db(n)}"
                     for c, (p, n) in enumerate(levels))


def _run(session: Session, args: Args) -> ToolResult:
    view = session.track(args.track)  # read block by block: long tracks never sit in memory
    levels = _levels(view, args.clip_level_db)
    restored = restore_clipped(view, view.sample_rate, levels,
                               progress=lambda done, total: session.progress("declip", done, total))
    gain_db = _gain_db(restored, args.clip_level_db, args.makeup_gain_db)
    total = sum(restored.clipped_samples)
    share = total / max(view.num_samples * view.channels, 1) * 100
    summary = (f"restored {total} clipped samples ({share:.2f}% of the audio; "
               f"clip levels {_describe_levels(levels)})")
    if gain_db < 0 and args.makeup_gain_db is None:
        summary += (f"; lowered the track by {-gain_db:.1f} dB so the restored peaks "
                    f"({restored.peak_dbfs:+.1f} dBFS) stay under full scale "
                    "(makeup_gain_db 0 keeps the level)")
    elif gain_db:
        summary += f"; makeup gain {gain_db:+.1f} dB"
    elif restored.peak_dbfs > 0:
        summary += (f"; restored peaks reach {restored.peak_dbfs:+.1f} dBFS: only a float "
                    "WAV keeps them")
    blocks = restored_blocks(view, restored, gain_db, block=int(BLOCK_S * view.sample_rate))
    return commit_blocks(session, args.track, blocks, sample_rate=view.sample_rate,
                         channels=view.channels, tool="declip", args=args, summary=summary,
                         data={"clipped_samples": list(restored.clipped_samples),
                               "clip_levels": [list(pair) for pair in levels],
                               "gain_db": gain_db, "restored_peak_dbfs": restored.peak_dbfs})


TOOL = Tool(
    name="declip",
    description=(
        "Repair clipping and distortion from overload: rebuild the flattened peaks of a "
        "recording that was too loud, consistently with the unclipped samples. Use for "
        "'repair the clipping', 'declip', 'it distorts on the loud parts', 'the peaks are "
        "flattened'. The clip level is detected, or given in dBFS. Restored peaks exceed the "
        "old clip level; where they would pass full scale the track is lowered just enough "
        "(makeup_gain_db sets the gain instead)."
    ),
    args_model=Args,
    run=_run,
)
