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

Memory is bounded by the window. Restored peaks are capped at ``MAX_OVERSHOOT`` x the clip level.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from pydantic import Field
from scipy.linalg import cho_factor, cho_solve

from tools.algorithms import ar
from tools.core.audio import Audio
from tools.core.errors import ToolArgumentError, ToolError
from tools.core.session import Session
from tools.core.tool import Tool, ToolArgs, ToolResult, commit_edit, track_field

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


def _runs_of(flags: np.ndarray) -> np.ndarray:
    """Lengths of the runs of True in ``flags``."""
    edges = np.diff(np.concatenate([[0], flags.astype(np.int8), [0]]))
    return np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)


def detect_clip_levels(x: np.ndarray) -> tuple[float, float]:
    """``(positive, negative)`` clip levels of ``x`` (1-D); ``inf``/``-inf`` for a polarity
    that is not clipped.

    A polarity is clipped where at least ``MIN_CLIPPED_RUNS`` runs of 2+ samples sit at its
    extreme (within ``LEVEL_TOLERANCE``), or, failing that, at one exactly repeated value in the
    upper half of its range (clipping that a later edit pushed a few samples past) that holds
    ``PLATEAU_DOMINANCE`` times more runs than any other value there.
    """
    levels = []
    for sign in (1.0, -1.0):
        v = sign * np.asarray(x, dtype=np.float64)
        extreme = float(np.max(v)) if v.size else 0.0
        level = np.inf
        if extreme > 0.0:
            if np.sum(_runs_of(v >= extreme * (1 - LEVEL_TOLERANCE)) >= 2) >= MIN_CLIPPED_RUNS:
                level = extreme
            else:
                held = (v[1:] == v[:-1]) & (v[1:] >= 0.5 * extreme)
                starts = np.flatnonzero(held & ~np.concatenate([[False], held[:-1]]))
                values, counts = np.unique(v[starts + 1], return_counts=True)
                if counts.size:
                    ranked = np.sort(counts)
                    runner_up = float(ranked[-2]) if counts.size > 1 else 1.0
                    if ranked[-1] >= max(MIN_CLIPPED_RUNS, PLATEAU_DOMINANCE * runner_up):
                        level = float(values[np.argmax(counts)])
        levels.append(sign * level)
    return levels[0], levels[1]


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


def declip_channel(x: np.ndarray, rate: int, positive: float, negative: float, *,
                   progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """Restore the samples of ``x`` (1-D) at or beyond ``positive`` / ``negative``.

    Windows run left to right; each holds at most ``WINDOW_UNKNOWNS`` clipped samples in its core
    (small dense solves), sees the already restored audio on its left as known, and solves its
    right margin's clipped samples too, keeping only the core's. ``progress(clipped_done,
    clipped_total)`` follows the windows.
    """
    out = np.array(x, dtype=np.float32)
    clipped = (x >= positive * (1 - LEVEL_TOLERANCE)) | (x <= negative * (1 - LEVEL_TOLERANCE))
    where = np.flatnonzero(clipped)
    if where.size == 0:
        return out
    order = max(int(ORDER_S * rate), ar.MIN_ORDER)
    window, margin = int(WINDOW_S * rate), order + int(MARGIN_S * rate)
    level = np.where(x > 0, positive, -negative)
    k = 0
    while k < where.size:
        begin = int(where[k])
        last = min(k + WINDOW_UNKNOWNS, where.size) - 1
        stop = min(int(where[last]) + 1, begin + window)
        lo, hi = max(begin - margin, 0), min(stop + margin, x.size)
        idx = where[(where >= max(begin, lo + order)) & (where < hi - order)][:MAX_UNKNOWNS] - lo
        k = int(np.searchsorted(where, stop))
        if progress is not None:
            progress(k, where.size)
        if idx.size == 0:
            continue
        segment = out[lo:hi].astype(np.float64)
        sign, bound = np.sign(x[lo:hi][idx]), np.abs(level[lo:hi][idx])
        lower = np.where(sign > 0, bound, -MAX_OVERSHOOT * bound)
        upper = np.where(sign > 0, MAX_OVERSHOOT * bound, -bound)
        for _ in range(ITERATIONS):
            a, _ = ar.fit_ar(segment, order)
            segment[idx] = constrained_fill(segment, idx, lower, upper, a)
        keep = idx[idx + lo < stop]
        out[keep + lo] = segment[keep]
    return out


def declip(audio: Audio, *, clip_level_db: float | None = None,
           makeup_gain_db: float | None = None,
           progress: Callable[[float, int], None] | None = None) -> Declipped:
    """Restore clipped peaks in every channel of ``audio`` (each channel alone), then apply
    ``makeup_gain_db`` to the whole track (``None``: just enough to keep the restored peaks at
    ``PEAK_CEILING_DBFS`` or under, else 0). ``progress(done, channels)`` follows the work
    (``done`` in channels)."""
    if clip_level_db is not None and not -60 <= clip_level_db <= 0:
        raise ToolArgumentError(f"clip_level_db={clip_level_db:g} must be from -60 to 0 dBFS")
    if makeup_gain_db is not None and not -40 <= makeup_gain_db <= 0:
        raise ToolArgumentError(f"makeup_gain_db={makeup_gain_db:g} must be from -40 to 0 dB")
    rate = audio.sample_rate
    out = np.empty_like(audio.samples)
    counts, levels = [], []
    for c, x in enumerate(audio.samples):
        if clip_level_db is None:
            positive, negative = detect_clip_levels(x)
        else:
            positive = 10 ** (clip_level_db / 20)
            negative = -positive
        at = ((x >= positive * (1 - LEVEL_TOLERANCE)) | (x <= negative * (1 - LEVEL_TOLERANCE)))
        counts.append(int(at.sum()))
        levels.append((float(positive), float(negative)))
        part = None if progress is None else (
            lambda done, total, c=c: progress(c + done / total, audio.channels))
        out[c] = declip_channel(x, rate, positive, negative, progress=part) if at.any() else x
    if clip_level_db is None and not any(counts):
        raise ToolError("found no clipping: no channel has samples piled up at its extremes "
                        "(give clip_level_db to restore peaks above a level you know)")
    peak = max(float(out.max()), -float(out.min())) if out.size else 0.0  # no |out| copy
    peak_dbfs = 20 * np.log10(peak) if peak > 0 else -np.inf
    gain_db = makeup_gain_db
    if gain_db is None:
        gain_db = min(0.0, PEAK_CEILING_DBFS - peak_dbfs) if any(counts) else 0.0
    if gain_db:
        out *= np.float32(10 ** (gain_db / 20))
    return Declipped(audio.replace(out), tuple(counts), tuple(levels), float(gain_db), peak_dbfs)


def _db(level: float) -> str:
    return "none" if not np.isfinite(level) else f"{round(20 * np.log10(abs(level)), 1) + 0.0:.1f} dBFS"


def _describe_levels(levels: tuple[tuple[float, float], ...]) -> str:
    """``ch1 positive -3.0 dBFS, negative none; ch2 ...``"""
    return "; ".join(f"ch{c + 1} positive {_db(p)}, negative {_db(n)}"
                     for c, (p, n) in enumerate(levels))


def _run(session: Session, args: Args) -> ToolResult:
    audio = session.audio(args.track)
    done = declip(audio, clip_level_db=args.clip_level_db, makeup_gain_db=args.makeup_gain_db,
                  progress=lambda part, total: session.progress("declip", part, total))
    total = sum(done.clipped_samples)
    share = total / max(audio.num_samples * audio.channels, 1) * 100
    summary = (f"restored {total} clipped samples ({share:.2f}% of the audio; "
               f"clip levels {_describe_levels(done.levels)})")
    if done.gain_db < 0 and args.makeup_gain_db is None:
        summary += (f"; lowered the track by {-done.gain_db:.1f} dB so the restored peaks "
                    f"({done.restored_peak_dbfs:+.1f} dBFS) stay under full scale "
                    "(makeup_gain_db 0 keeps the level)")
    elif done.gain_db:
        summary += f"; makeup gain {done.gain_db:+.1f} dB"
    elif done.restored_peak_dbfs > 0:
        summary += (f"; restored peaks reach {done.restored_peak_dbfs:+.1f} dBFS: only a float "
                    "WAV keeps them")
    return commit_edit(session, args.track, done.audio, tool="declip", args=args, summary=summary,
                       data={"clipped_samples": list(done.clipped_samples),
                             "clip_levels": [list(pair) for pair in done.levels],
                             "gain_db": done.gain_db,
                             "restored_peak_dbfs": done.restored_peak_dbfs})


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
