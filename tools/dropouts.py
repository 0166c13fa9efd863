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

The scan runs block by block, so memory is bounded by a block (plus the dropouts themselves).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydantic import Field

from tools.core.audio import Audio
from tools.core.errors import ToolArgumentError, ToolError
from tools.core.session import Session
from tools.core.tool import Tool, ToolArgs, ToolResult, commit_edit, track_field
from tools.inpaint import fill_span

BLOCK_S = 1.0
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


def constant_runs(x: np.ndarray, min_length: int) -> list[tuple[int, int]]:
    """``(start, stop)`` of every run of at least ``min_length`` identical samples in ``x``,
    scanned in blocks of ``BLOCK_S`` seconds' worth of samples (at most 2**16) so that only a
    block of comparisons is in memory at a time."""
    runs = []
    block = 1 << 16
    open_start = 0  # start of the run containing the previous sample
    for begin in range(1, x.size, block):
        end = min(begin + block, x.size)
        same = x[begin:end] == x[begin - 1 : end - 1]
        changes = np.flatnonzero(~same) + begin  # first sample of each new run
        for change in changes.tolist():
            if change - open_start >= min_length:
                runs.append((open_start, change))
            open_start = change
    if x.size - open_start >= min_length:
        runs.append((open_start, x.size))
    return runs


def _loud_level(x: np.ndarray, rate: int) -> float:
    """Power of the loud parts: the ``LOUD_PERCENTILE``th percentile of frame powers (frames
    taken a block at a time)."""
    frame = max(int(LEVEL_FRAME_S * rate), 1)
    count = x.size // frame
    if count == 0:
        return float(np.mean(np.square(x, dtype=np.float64))) if x.size else 0.0
    step = max(1, (1 << 20) // frame)
    power = np.concatenate([
        np.mean(np.square(x[i * frame : min(i + step, count) * frame], dtype=np.float64)
                .reshape(-1, frame), axis=1) for i in range(0, count, step)])
    return float(np.percentile(power, LOUD_PERCENTILE))


def find_dropouts(x: np.ndarray, rate: int, *, min_dropout_ms: float = 0.5
                  ) -> list[tuple[int, int]]:
    """Dropout spans in ``x`` (1-D): long-enough runs of one value inside active audio."""
    min_length = max(int(round(min_dropout_ms * 1e-3 * rate)), 2)
    runs = constant_runs(x, min_length)
    if not runs:
        return []
    values = [float(x[start]) for start, _ in runs]
    plateaus = {v: values.count(v) for v in set(values) if v != 0.0}
    loud = _loud_level(x, rate)
    floor = max(10 ** (ACTIVE_FLOOR_DB / 10), loud * 10 ** (-ACTIVE_RANGE_DB / 10))
    edge = max(int(EDGE_S * rate), 1)
    out = []
    for start, stop in runs:
        if plateaus.get(float(x[start]), 0) >= CLIPPING_PLATEAUS:
            continue  # the same value held again and again: clipping, not a dropout
        if start == 0 or stop == x.size:
            continue  # leading or trailing silence
        sides = (x[max(start - edge, 0) : start], x[stop : stop + edge])
        if all(float(np.mean(np.square(s, dtype=np.float64))) >= floor for s in sides):
            out.append((start, stop))
    return out


def repair_dropouts(audio: Audio, *, min_dropout_ms: float = 0.5) -> DropoutRepair:
    """Find and fill the dropouts of every channel of ``audio``, each channel alone."""
    if not 0.05 <= min_dropout_ms <= 100:
        raise ToolArgumentError(f"min_dropout_ms={min_dropout_ms:g} must be from 0.05 to 100 ms")
    rate = audio.sample_rate
    pad = max(int(round(PAD_S * rate)), 1)
    out = np.array(audio.samples, dtype=np.float32)
    found: list[Dropout] = []
    for c in range(audio.channels):
        for start, stop in find_dropouts(audio.samples[c], rate, min_dropout_ms=min_dropout_ms):
            value = float(audio.samples[c, start])
            lo, hi = max(start - pad, 0), min(stop + pad, audio.num_samples)
            try:
                fill = fill_span(out[c : c + 1], lo, hi, rate)
            except ToolError as exc:
                found.append(Dropout(c, start, stop, value, "", str(exc)))
                continue
            out[c, fill.start : fill.stop] = fill.samples[0]
            found.append(Dropout(c, start, stop, value, fill.method))
    return DropoutRepair(audio.replace(out), tuple(found))


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
    audio = session.audio(args.track)
    done = repair_dropouts(audio, min_dropout_ms=args.min_dropout_ms)
    rate = audio.sample_rate
    if args.near_s is not None:
        _check_near(done.dropouts, args.near_s, rate)
    if not done.dropouts:
        raise ToolError(f"found no dropouts: no run of held or zero samples of "
                        f"{args.min_dropout_ms:g} ms or more inside the sound (to fill a span you hear, say 'fill the gap "
                        "from A to B')")
    fixed = [d for d in done.dropouts if d.method]
    left = [d for d in done.dropouts if not d.method]
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
                          "method": d.method, "reason": d.reason} for d in done.dropouts[:200]]}
    return commit_edit(session, args.track, done.audio, tool="repair_dropouts", args=args,
                       summary=summary, data=data)


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
