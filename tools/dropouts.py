"""repair_dropouts: find digital dropouts (runs of exact zeros, or of one frozen sample value,
inside active audio) and fill them from their surroundings.

A run of identical samples never occurs in recorded sound above the noise floor: the converter's
noise alone changes the value every sample. So a run of at least ``min_dropout_ms`` whose
surroundings (``EDGE_S`` on each side) are both active (within ``ACTIVE_RANGE_DB`` of the track's
loud parts, and above ``ACTIVE_FLOOR_DB``) is a dropout. Digital silence after a fade or at
either end of the track is left alone, and so are runs at a non-zero value that recurs in
``CLIPPING_PLATEAUS`` or more runs: those are clipping (see ``declip``). Each dropout, widened by ``PAD_S`` to cover a torn edge, is filled by
:func:`tools.inpaint.fill_span` on its channel alone, by the inpaint default for its length
(``tools.inpaint.DEFAULT_BY_GAP_S``: AR up to 10 ms, then the pitch-aware fills and AR as the
PLCMOS table chose, room tone in a pause); one that cannot be filled believably is reported and
left as it is.

The scan reads the track block by block (runs across block edges joined); each fill reads the
window its method searches (``tools.inpaint.SEARCH_RADIUS_S`` each side), and the new version keeps
the stored samples everywhere but the filled spans (an edit list), so memory is bounded by that
window and an edit costs what it changes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from pydantic import Field

from tools import inpaint
from tools.core.audio import Audio
from tools.core.edits import Keep
from tools.core.errors import NothingFound, ToolArgumentError, ToolError
from tools.core.session import Session
from tools.core.threads import one_blas_thread
from tools.core.tool import Tool, ToolArgs, ToolResult, commit_pieces, track_field
from tools.inpaint import Fill, fill_span

EDGE_S = 0.010
PAD_S = 0.0002
LEVEL_FRAME_S = 0.050
ACTIVE_RANGE_DB = 40.0
ACTIVE_FLOOR_DB = -70.0
LOUD_PERCENTILE = 95
CLIPPING_PLATEAUS = 3
NEAR_S = 0.5  # a dropout "at 0:04" may be up to this far from the time heard


class Args(ToolArgs):
    min_dropout_ms: float = Field(default=0.5, ge=0.05, le=100, description="Shortest run of identical samples treated as a dropout, in ms (0.05 to 100).")
    near_s: float | None = Field(default=None, ge=0, description="Where the user heard a dropout, in seconds, if they said: when none is found within 0.5 s of it, nothing is changed and the answer says what was found instead. Every dropout found is repaired either way.")
    track: str | None = track_field()


@dataclass(frozen=True)
class Dropout:
    """One dropout: channel, sample span, the held value, and how it was repaired (or why not)."""

    channel: int
    start: int
    stop: int
    value: float
    method: str  # "ar", "similarity", "room_tone", or "" when it was left alone
    reason: str = ""


@dataclass(frozen=True)
class DropoutRepair:
    audio: Audio
    dropouts: tuple[Dropout, ...]


def scan(signal: Any, rate: int, min_length: int
         ) -> tuple[list[list[tuple[int, int, float]]], list[np.ndarray]]:
    """One read of ``signal`` (array or track view, ``(channels, n)``) block by block: per
    channel, every run of at least ``min_length`` identical samples as ``(start, stop, value)``,
    and the powers of its ``LEVEL_FRAME_S`` frames (the last partial frame left out, as a whole
    pass would). Runs that cross block edges are joined."""
    channels, n = signal.shape
    frame = max(int(LEVEL_FRAME_S * rate), 1)
    block = frame * max(1, (1 << 20) // frame)
    runs: list[list[tuple[int, int, float]]] = [[] for _ in range(channels)]
    powers: list[list[np.ndarray]] = [[] for _ in range(channels)]
    open_at = [0] * channels  # where the run holding the last sample read began
    open_value = [0.0] * channels
    previous = None
    for b0 in range(0, n, block):
        xs = np.asarray(signal[:, b0:b0 + block], dtype=np.float32)
        for c in range(channels):
            x = xs[c]
            if b0 == 0:
                open_value[c] = float(x[0])
            before = x[:1] if previous is None else previous[c:c + 1]
            changes = np.flatnonzero(x != np.concatenate([before, x[:-1]])) + b0
            bounds = np.concatenate([[open_at[c]], changes])
            long = np.flatnonzero(np.diff(bounds) >= min_length)
            for i in long.tolist():
                start = int(bounds[i])
                value = open_value[c] if i == 0 else float(x[start - b0])
                runs[c].append((start, int(bounds[i + 1]), value))
            if changes.size:
                open_at[c], open_value[c] = int(changes[-1]), float(x[changes[-1] - b0])
            whole = x.size // frame * frame
            powers[c].append(np.mean(np.square(x[:whole].reshape(-1, frame), dtype=np.float64),
                                     axis=1))
        previous = xs[:, -1]
    for c in range(channels):
        if n - open_at[c] >= min_length:
            runs[c].append((open_at[c], n, open_value[c]))
    return runs, [np.concatenate(p) if p else np.empty(0) for p in powers]


def _mean_square(x: np.ndarray) -> float:
    return float(np.mean(np.square(x, dtype=np.float64))) if x.size else 0.0


def find_dropouts(signal: Any, rate: int, *, min_dropout_ms: float = 0.5
                  ) -> list[list[tuple[int, int]]]:
    """Per channel of ``signal`` (array or track view, ``(channels, n)``), the dropout spans:
    long-enough runs of one value inside active audio. One read for the runs and the levels, then
    a few milliseconds on each side of each run."""
    channels, n = signal.shape
    min_length = max(int(round(min_dropout_ms * 1e-3 * rate)), 2)
    runs, powers = scan(signal, rate, min_length)
    edge = max(int(EDGE_S * rate), 1)
    found = []
    for c in range(channels):
        values = [v for _, _, v in runs[c]]
        plateaus = {v: values.count(v) for v in set(values) if v != 0.0}
        if powers[c].size:
            loud = float(np.percentile(powers[c], LOUD_PERCENTILE))
        else:  # shorter than one frame
            loud = _mean_square(np.asarray(signal[c:c + 1, 0:n], dtype=np.float32))
        floor = max(10 ** (ACTIVE_FLOOR_DB / 10), loud * 10 ** (-ACTIVE_RANGE_DB / 10))
        spans = []
        for start, stop, value in runs[c]:
            if plateaus.get(value, 0) >= CLIPPING_PLATEAUS:
                continue  # the same value held again and again: clipping, not a dropout
            if start == 0 or stop == n:
                continue  # leading or trailing silence
            sides = (signal[c:c + 1, max(start - edge, 0):start], signal[c:c + 1, stop:stop + edge])
            if all(_mean_square(np.asarray(side, dtype=np.float32)) >= floor for side in sides):
                spans.append((start, stop))
        found.append(spans)
    return found


def _buffer(signal: Any, lo: int, hi: int, fills: list[tuple[int, Fill]]) -> np.ndarray:
    """``signal[:, lo:hi]`` with the fills made so far written over it."""
    out = np.array(signal[:, lo:hi], dtype=np.float32)
    for c, fill in fills:
        a, b = max(fill.start, lo), min(fill.stop, hi)
        if a < b:
            out[c, a - lo:b - lo] = fill.samples[0, a - fill.start:b - fill.start]
    return out


def find_and_fill(signal: Any, rate: int, *, min_dropout_ms: float = 0.5
                  ) -> tuple[tuple[Dropout, ...], list[tuple[int, Fill]]]:
    """The dropouts of every channel of ``signal`` (each channel alone) and their fills, in time
    order, as ``(channel, Fill)`` in track samples. Each fill sees the audio within
    ``inpaint.SEARCH_RADIUS_S`` of its gap (with the earlier fills in place), read a window at a
    time, so the result is the same as on the whole track in memory."""
    if not 0.05 <= min_dropout_ms <= 100:
        raise ToolArgumentError(f"min_dropout_ms={min_dropout_ms:g} must be from 0.05 to 100 ms")
    pad = max(int(round(PAD_S * rate)), 1)
    reach = int((inpaint.SEARCH_RADIUS_S + 1.0) * rate)  # what a fill reads on each side, and some
    with one_blas_thread():  # many small AR fits (tools.core.threads)
        dropouts, fills = _fill_all(signal, rate, min_dropout_ms, pad, reach)
    order = sorted(range(len(dropouts)), key=lambda i: (dropouts[i].channel, dropouts[i].start))
    return tuple(dropouts[i] for i in order), fills


def _fill_all(signal: Any, rate: int, min_dropout_ms: float, pad: int, reach: int
              ) -> tuple[list[Dropout], list[tuple[int, Fill]]]:
    """find_and_fill's work, in detection order."""
    n = signal.shape[1]
    spans = sorted((start, c, stop) for c, found in enumerate(
        find_dropouts(signal, rate, min_dropout_ms=min_dropout_ms)) for start, stop in found)
    dropouts: list[Dropout] = []
    fills: list[tuple[int, Fill]] = []
    window = None  # (lo, hi, samples): the part of the track (with fills) in memory
    for start, c, stop in spans:
        lo, hi = max(start - pad, 0), min(stop + pad, n)
        need_lo, need_hi = max(lo - reach, 0), min(hi + reach, n)
        if window is None or need_lo < window[0] or need_hi > window[1]:
            w_hi = min(max(need_hi, need_lo + 4 * reach), n)
            window = (need_lo, w_hi, _buffer(signal, need_lo, w_hi, fills))
        w_lo, _, samples = window
        value = float(samples[c, start - w_lo])
        try:
            fill = fill_span(samples[c:c + 1], lo - w_lo, hi - w_lo, rate)
        except ToolError as exc:
            dropouts.append(Dropout(c, start, stop, value, "", str(exc)))
            continue
        samples[c, fill.start:fill.stop] = fill.samples[0]
        fills.append((c, replace(fill, start=fill.start + w_lo, stop=fill.stop + w_lo)))
        dropouts.append(Dropout(c, start, stop, value, fill.method))
    return dropouts, fills


def filled_pieces(signal: Any, fills: list[tuple[int, Fill]]) -> list:
    """The edit list of the filled track: the stored samples kept wherever no fill reaches, and
    each stretch that fills touch (all channels, the others as they are) as new samples."""
    n = signal.shape[1]
    spans = sorted((fill.start, fill.stop) for _, fill in fills)
    merged: list[list[int]] = []
    for a, b in spans:
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    pieces, at = [], 0
    for a, b in merged:
        if a > at:
            pieces.append(Keep(at, a))
        pieces.append(_buffer(signal, a, b, fills))
        at = b
    if at < n:
        pieces.append(Keep(at, n))
    return pieces


def repair_dropouts(audio: Audio, *, min_dropout_ms: float = 0.5) -> DropoutRepair:
    """Find and fill the dropouts of every channel of ``audio``, each channel alone."""
    dropouts, fills = find_and_fill(audio.samples, audio.sample_rate,
                                    min_dropout_ms=min_dropout_ms)
    return DropoutRepair(audio.replace(_buffer(audio.samples, 0, audio.num_samples, fills)),
                         dropouts)


def _check_near(dropouts: tuple[Dropout, ...], near_s: float, rate: int) -> None:
    """Refuse when no dropout lies within ``NEAR_S`` of the time the user heard one."""
    if any(d.start / rate - NEAR_S <= near_s <= d.stop / rate + NEAR_S for d in dropouts):
        return
    elsewhere = sorted({round(d.start / rate, 2) for d in dropouts})
    found = (f"found {len(dropouts)} elsewhere (at {', '.join(f'{t:.2f} s' for t in elsewhere[:5])}"
             f"{' ...' if len(elsewhere) > 5 else ''}; 'repair the dropouts' fixes them all)"
             if dropouts else "found none in the whole track")
    raise ToolError(
        f"no digital dropout (a run of exact zeros or of one held value) within {NEAR_S:g} s of "
        f"{near_s:.2f} s; {found}. If the sound breaks up there, fill that span with inpaint_gap, "
        f"e.g. 'fill the gap from {near_s:.2f} to {near_s + 0.05:.2f}'")


def _run(session: Session, args: Args) -> ToolResult:
    view = session.track(args.track)  # read a window at a time: long tracks never sit in memory
    dropouts, fills = find_and_fill(view, view.sample_rate, min_dropout_ms=args.min_dropout_ms)
    rate = view.sample_rate
    if args.near_s is not None:
        _check_near(dropouts, args.near_s, rate)
    if not dropouts:
        raise NothingFound(f"found no dropouts: no run of held or zero samples of "
                        f"{args.min_dropout_ms:g} ms or more inside the sound (to fill a span you hear, say 'fill the gap "
                        "from A to B')")
    fixed = [d for d in dropouts if d.method]
    left = [d for d in dropouts if not d.method]
    items = [f"{d.start / rate:.3f} s ({(d.stop - d.start) / rate * 1e3:.1f} ms, {d.method})"
             for d in fixed[:8]]
    summary = f"repaired {len(fixed)} dropout(s)" + (": " + ", ".join(items) if items else "")
    if len(fixed) > 8:
        summary += " ..."
    if left:
        summary += (f"; left {len(left)} alone (first at {left[0].start / rate:.3f} s: "
                    f"{left[0].reason})")
    data = {"repaired": len(fixed), "left_alone": len(left),
            "dropouts": [{"channel": d.channel, "start_s": d.start / rate,
                          "duration_ms": (d.stop - d.start) / rate * 1e3, "value": d.value,
                          "method": d.method, "reason": d.reason} for d in dropouts[:200]]}
    return commit_pieces(session, args.track, filled_pieces(view, fills), tool="repair_dropouts",
                         args=args, summary=summary, data=data)


TOOL = Tool(
    name="repair_dropouts",
    description=(
        "Find and fill digital dropouts across the whole track: short stretches where the "
        "signal drops to exact silence or freezes on one value in the middle of sound (buffer "
        "underruns, bad transfers, glitches). Use for 'fix the dropouts', 'the audio cuts out "
        "for a moment at 0:04', 'repair the gaps where the sound drops out'. Each is filled "
        "from its surroundings; true silences between sounds are left alone."
    ),
    args_model=Args,
    run=_run,
)
