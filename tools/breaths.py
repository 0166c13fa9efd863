"""reduce_breaths: find breaths between phrases and lower them by some dB (or replace them with
room tone).

A breath is a stretch of ``MIN_BREATH_S``..``MAX_BREATH_S`` that is, frame by frame (``FRAME_S``
windows every ``HOP_S``):

- above the noise floor (``FLOOR_MARGIN_DB``) but well below the speech (``BELOW_SPEECH_DB``
  under the median level of voiced frames);
- unvoiced: no pitch (normalised autocorrelation below ``MAX_VOICING`` for 70-400 Hz);
- noise-like and broadband: spectral flatness above ``MIN_FLATNESS`` and a spectral centroid
  below ``MAX_CENTROID_HZ`` (an "s" or "sh" is brighter and louder);
- between phrases: a quiet pause (``MIN_PAUSE_S`` of frames near the floor) touches it on at
  least one side, so fricatives inside words, flanked by voiced sound, are not touched.

Each channel is analysed alone; features are computed block by block from a window reader (an
Audio or a session's track view; one value per frame is kept), and the result is an edit list
(:mod:`tools.core.edits`): the track by reference, new samples only over each breath. So memory
is bounded by a block and the per-frame values, whatever the length of the track. The gain
change ramps over ``RAMP_S`` inside each breath; room tone is estimated from the recording as it
was (not from breaths already replaced).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import Field

from tools.core.audio import Audio
from tools.core.edits import Keep, Piece, assemble
from tools.core.errors import NothingFound, ToolArgumentError
from tools.core.session import Session
from tools.core.tool import Tool, ToolArgs, ToolResult, commit_pieces, track_field
from tools.inpaint import SEARCH_RADIUS_S, fill_span

FRAME_S, HOP_S = 0.040, 0.010
MIN_BREATH_S, MAX_BREATH_S = 0.150, 0.800
FLOOR_MARGIN_DB = 6.0
BELOW_SPEECH_DB = 12.0
MAX_VOICING = 0.45
VOICED = 0.6
MIN_FLATNESS = 0.03
MAX_CENTROID_HZ = 4000.0
MIN_PAUSE_S = 0.030
MAX_HOLE_FRAMES = 2  # short dips inside a breath do not split it
RAMP_S = 0.015
BLOCK_FRAMES = 256


class Args(ToolArgs):
    reduction_db: float = Field(default=12.0, ge=1, le=60, description="How much to lower each breath, in dB (1 to 60).")
    remove: bool = Field(default=False, description="True to replace each breath with the recording's room tone (as if it were never there) instead of lowering it.")
    track: str | None = track_field()


@dataclass(frozen=True)
class Breaths:
    """The processed audio and the breaths found, as ``(channel, start, stop)`` sample spans."""

    audio: Audio
    breaths: tuple[tuple[int, int, int], ...]


@dataclass(frozen=True)
class FrameFeatures:
    level_db: np.ndarray
    voicing: np.ndarray
    flatness: np.ndarray
    centroid_hz: np.ndarray


def frame_features(x: Any, rate: int, *, channel: int | None = None) -> FrameFeatures:
    """Per-frame level (dB), voicing, spectral flatness and centroid of ``x``: a 1-D array, or
    with ``channel``, that channel of a reader (``.num_samples``, ``.read(start, stop)``)."""
    frame, hop = int(FRAME_S * rate), int(HOP_S * rate)
    n = x.size if channel is None else x.num_samples
    count = max((n - frame) // hop + 1, 0)
    size = 1 << int(np.ceil(np.log2(2 * frame)))
    window = np.hanning(frame)
    window_acf = np.fft.irfft(np.abs(np.fft.rfft(window, size)) ** 2, size)
    freqs = np.fft.rfftfreq(size, 1 / rate)
    band = (freqs >= 100) & (freqs <= min(8000.0, 0.45 * rate))
    lags = np.arange(int(rate / 400), int(rate / 70) + 1)
    out = {name: np.zeros(count) for name in ("level", "voicing", "flatness", "centroid")}
    for first in range(0, count, BLOCK_FRAMES):
        idx = np.arange(first, min(first + BLOCK_FRAMES, count))
        lo, hi = first * hop, idx[-1] * hop + frame
        block = x[lo:hi] if channel is None else x.read(lo, hi)[channel]
        frames = np.asarray(block, dtype=np.float64)[(idx - first)[:, None] * hop + np.arange(frame)]
        frames = frames - frames.mean(axis=1, keepdims=True)
        out["level"][idx] = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-12)
        power = np.abs(np.fft.rfft(frames * window, size, axis=1)) ** 2
        acf = np.fft.irfft(power, size, axis=1)
        normalised = acf[:, lags] / np.maximum(acf[:, :1], 1e-20) * (window_acf[0] / window_acf[lags])
        out["voicing"][idx] = normalised.max(axis=1)
        spectrum = power[:, band] + 1e-20
        out["flatness"][idx] = np.exp(np.mean(np.log(spectrum), axis=1)) / np.mean(spectrum, axis=1)
        out["centroid"][idx] = (spectrum @ freqs[band]) / spectrum.sum(axis=1)
    return FrameFeatures(out["level"], out["voicing"], out["flatness"], out["centroid"])


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    edges = np.diff(np.concatenate([[0], flags.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist(),
                    strict=True))


def find_breaths(x: Any, rate: int, *, channel: int | None = None) -> list[tuple[int, int]]:
    """Breath spans ``(start, stop)`` in samples of ``x`` (1-D; or ``channel`` of a reader)."""
    f = frame_features(x, rate, channel=channel)
    n = x.size if channel is None else x.num_samples
    if f.level_db.size < 3:
        return []
    floor = float(np.percentile(f.level_db, 10))
    voiced = (f.voicing >= VOICED) & (f.level_db > floor + 3 * FLOOR_MARGIN_DB)
    if voiced.sum() < 3:
        return []
    speech = float(np.median(f.level_db[voiced]))
    quiet = f.level_db <= floor + FLOOR_MARGIN_DB
    candidate = ((f.level_db > floor + FLOOR_MARGIN_DB) & (f.level_db < speech - BELOW_SPEECH_DB)
                 & (f.voicing < MAX_VOICING) & (f.flatness >= MIN_FLATNESS)
                 & (f.centroid_hz <= MAX_CENTROID_HZ))
    for start, stop in _runs(~candidate):  # close short holes inside a breath
        if 0 < start and stop < candidate.size and stop - start <= MAX_HOLE_FRAMES \
                and not voiced[start:stop].any():
            candidate[start:stop] = True
    hop, frame = int(HOP_S * rate), int(FRAME_S * rate)
    pause = int(round(MIN_PAUSE_S / HOP_S))
    out = []
    for start, stop in _runs(candidate):
        length_s = (stop - start) * HOP_S + FRAME_S - HOP_S
        if not MIN_BREATH_S <= length_s <= MAX_BREATH_S:
            continue
        before, after = quiet[max(start - pause, 0) : start], quiet[stop : stop + pause]
        if not ((before.size == pause and before.all()) or (after.size == pause and after.all())):
            continue  # not next to a pause: a fricative or noise inside speech
        # frames overlap by (FRAME_S - HOP_S): keep the centre part of the edge frames
        lo = start * hop + (frame - hop) // 2
        hi = (stop - 1) * hop + (frame + hop) // 2
        out.append((lo, min(hi, n)))
    return out


def _gain_curve(length: int, reduction_db: float, ramp: int) -> np.ndarray:
    gain = np.full(length, 10 ** (-reduction_db / 20))
    ramp = min(ramp, length // 2)
    if ramp:
        shape = 0.5 - 0.5 * np.cos(np.pi * (np.arange(ramp) + 0.5) / ramp)  # 0 -> 1
        gain[:ramp] = 1 + (gain[0] - 1) * shape
        gain[length - ramp :] = gain[:ramp][::-1]
    return gain


def breath_pieces(reader: Any, breaths: list[tuple[int, int, int]], *, reduction_db: float,
                  remove: bool) -> Iterator[Piece]:
    """The edit list over ``reader`` (an Audio or a track view) that lowers (or replaces with
    room tone) each ``(channel, start, stop)`` breath: kept stretches by reference, and the
    samples of every breath, with those of other channels at the same time, as new samples."""
    rate, n = reader.sample_rate, reader.num_samples
    radius = int((SEARCH_RADIUS_S + 1.0) * rate)  # room tone looks this far around a breath

    def edits() -> Iterator[tuple[int, int, int, np.ndarray]]:  # (lo, hi, channel, samples), lazily
        for c, start, stop in sorted(breaths, key=lambda b: (b[1], b[0])):
            if remove:
                lo = max(start - radius, 0)
                around = reader.read(lo, min(stop + radius, n))[c:c + 1]
                fill = fill_span(around, start - lo, stop - lo, rate, method="room_tone")
                yield fill.start + lo, fill.stop + lo, c, fill.samples[0]
            else:
                gain = _gain_curve(stop - start, reduction_db, int(RAMP_S * rate))
                yield start, stop, c, reader.read(start, stop)[c] * gain

    at, pending = 0, edits()
    ahead = next(pending, None)
    while ahead is not None:
        group, hi = [ahead], ahead[1]
        ahead = next(pending, None)
        while ahead is not None and ahead[0] < hi:  # overlapping edits (other channels) go together
            hi = max(hi, ahead[1])
            group.append(ahead)
            ahead = next(pending, None)
        lo = max(group[0][0], at)
        if lo >= hi:
            continue
        if lo > at:
            yield Keep(at, lo)
        block = np.array(reader.read(lo, hi), dtype=np.float32)
        for a, b, c, samples in group:
            first = max(a, lo)
            block[c, first - lo:b - lo] = samples[first - a:b - a]
        yield block
        at = hi
    if at < n:
        yield Keep(at, n)


def detect_breaths(reader: Any) -> list[tuple[int, int, int]]:
    """Every breath of ``reader`` (an Audio or a track view) as ``(channel, start, stop)``."""
    return [(c, start, stop) for c in range(reader.channels)
            for start, stop in find_breaths(reader, reader.sample_rate, channel=c)]


def reduce_breaths(audio: Audio, *, reduction_db: float = 12.0, remove: bool = False) -> Breaths:
    """Lower (or replace with room tone) the breaths of every channel, each channel alone."""
    if not 1 <= reduction_db <= 60:
        raise ToolArgumentError(f"reduction_db={reduction_db:g} must be from 1 to 60 dB")
    found = detect_breaths(audio)
    pieces = list(breath_pieces(audio, found, reduction_db=reduction_db, remove=remove))
    return Breaths(assemble(audio, pieces) if found else audio, tuple(found))


def _run(session: Session, args: Args) -> ToolResult:
    name = session.resolve_track(args.track)
    view = session.track(name)  # read window by window: long tracks never sit in memory
    found = detect_breaths(view)
    rate = view.sample_rate
    if not found:
        raise NothingFound("found no breaths: no pause holds the soft, noisy, unvoiced sound of a "
                        "breath")
    times = sorted({round(s / rate, 2) for _, s, _ in found})
    shown = ", ".join(f"{t:.2f} s" for t in times[:8]) + (" ..." if len(times) > 8 else "")
    action = "replaced with room tone" if args.remove else f"lowered by {args.reduction_db:g} dB"
    summary = f"{len(times)} breath(s) {action}" + (f" at {shown}" if times else "")
    data = {"breaths": len(times), "breath_times_s": times[:200],
            "spans_s": [(round(s / rate, 3), round(e / rate, 3)) for _, s, e in found[:200]]}
    pieces = breath_pieces(view, found, reduction_db=args.reduction_db, remove=args.remove)
    return commit_pieces(session, name, pieces, tool="reduce_breaths", args=args,
                         summary=summary, data=data)


TOOL = Tool(
    name="reduce_breaths",
    description=(
        "Find audible breaths between spoken phrases and turn them down by some dB, or replace "
        "them with room tone, leaving the speech untouched: 'reduce the breaths', 'take the "
        "breaths down 10 dB', 'remove the breathing', 'de-breath this voice-over'."
    ),
    args_model=Args,
    run=_run,
)
