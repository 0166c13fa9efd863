"""Render a cut list: remove many spans at once so that no listener can hear an edit.

Each cut removes ``start_s..end_s`` of the input and may put ``fill_s`` seconds of the recording's
own room tone in its place (a shortened pause keeps a natural length without digital silence).
Rendering, in order:

1. cuts closer than ``MERGE_GAP_S`` or two crossfades merge (a sliver that short between two
   seams would be heard as a blip, not as a sound), before and again after step 2;
2. every edge moves to the quietest 5 ms nearby (mostly into the cut, at most ``OUTWARD_MS``
   outward, so a neighbouring word is never clipped) and then to a zero crossing;
3. the output is allocated once, the kept stretches are copied in, and each seam is an equal-power
   crossfade of ``crossfade_ms`` (input to input, or input to room tone and back).

Room tone comes from the quietest stretch of the recording near the cut (within ``TONE_SEARCH_S``),
found from 10 ms frame powers computed once, block by block. The render is an edit list
(:mod:`tools.core.edits`): in a session the kept stretches share the stored blocks and only the
seams are new audio, so a cut list over three hours costs its seams, not the hours.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from tools.core.audio import Audio
from tools.core.dsp import equal_power_crossfade, snap_to_zero_crossing
from tools.core.edits import Keep, Piece, assemble, output_samples
from tools.core.errors import ToolArgumentError

OUTWARD_MS = 8.0  # how far an edge may move outward (into the kept audio) when snapping
MERGE_GAP_S = 0.05  # cuts closer than this (or than two crossfades) become one
TONE_WINDOW_S = 0.4
TONE_SEARCH_S = 30.0
_FRAME_S = 0.01
_BLOCK = 1 << 20


@dataclass(frozen=True)
class Cut:
    """One span to remove, in seconds of the input; ``fill_s`` seconds of room tone replace it."""

    start_s: float
    end_s: float
    fill_s: float = 0.0
    kind: str = "cut"
    text: str = ""
    confidence: float = 1.0
    source: str = "manual"
    enabled: bool = True

    @property
    def saved_s(self) -> float:
        return max(self.end_s - self.start_s - self.fill_s, 0.0)

    @property
    def removed_s(self) -> tuple[float, float]:
        """The span this cut takes out, as a listener hears it: for a shortened pause (room tone
        ``fill_s`` in place of ``start_s..end_s``) the middle ``saved_s`` of the pause."""
        middle = (self.start_s + self.end_s) / 2
        return (round(middle - self.saved_s / 2, 4), round(middle + self.saved_s / 2, 4))


def cut_record(cut: Cut) -> dict:
    """A cut as reports and ``data`` give it: ``start_s``/``end_s`` the span actually removed (so
    the spans add up to ``saved_s``); a shortened pause also gives the pause it came from
    (``pause_s``) and the room tone left in its place (``fill_s``)."""
    start_s, end_s = cut.removed_s
    record = {"start_s": start_s, "end_s": end_s, "kind": cut.kind, "text": cut.text,
              "confidence": cut.confidence, "source": cut.source, "enabled": cut.enabled,
              "fill_s": cut.fill_s, "saved_s": round(cut.saved_s, 4)}
    if cut.fill_s > 0:
        record["pause_s"] = [cut.start_s, cut.end_s]
    return record


def cut_from_record(record: dict, index: int = 0) -> Cut:
    """The :class:`Cut` of a :func:`cut_record` (or of a version-1 report, where a cut with
    ``fill_s`` gave the whole pause as ``start_s``/``end_s``)."""
    try:
        span = record.get("pause_s") or (record["start_s"], record["end_s"])
        start_s, end_s = float(span[0]), float(span[1])
        return Cut(start_s=start_s, end_s=end_s, fill_s=float(record.get("fill_s", 0.0)),
                   kind=str(record.get("kind", "cut")), text=str(record.get("text", "")),
                   confidence=float(record.get("confidence", 1.0)),
                   source=str(record.get("source", "manual")),
                   enabled=bool(record.get("enabled", True)))
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise ToolArgumentError(f"cuts[{index}] in the report is not a cut ({exc!r}): "
                                f"{record}") from None


@dataclass(frozen=True)
class Seam:
    """A cut as rendered: input samples ``start..end`` removed, ``fill`` samples of tone added."""

    start: int
    end: int
    fill: int


@dataclass(frozen=True)
class RenderPlan:
    """Where the seams fall, in input samples, and how long the output will be."""

    seams: tuple[Seam, ...]
    num_samples: int  # input length
    sample_rate: int
    half_crossfade: int

    @property
    def output_samples(self) -> int:
        return self.num_samples - sum(s.end - s.start - s.fill for s in self.seams)

    def removed_s(self) -> list[tuple[float, float]]:
        """The removed input spans in seconds."""
        return [(s.start / self.sample_rate, s.end / self.sample_rate) for s in self.seams]

    def map_time(self, time_s: float) -> float | None:
        """Where input time ``time_s`` lands in the output; None if it was cut."""
        index = time_s * self.sample_rate
        shift = 0
        for seam in self.seams:
            if index < seam.start:
                break
            if index < seam.end:
                return None
            shift += seam.end - seam.start - seam.fill
        return (index - shift) / self.sample_rate


# ----------------------------------------------------------------------------- planning


def _frame_power(samples: np.ndarray, frame: int) -> np.ndarray:
    """Mean power of consecutive ``frame``-sample frames (over channels), block by block."""
    n = samples.shape[1]
    out = np.empty(-(-n // frame))
    step = max(_BLOCK // frame, 1) * frame
    for start in range(0, n, step):
        block = samples[:, start:start + step].astype(np.float64)
        pad = -block.shape[1] % frame
        if pad:
            block = np.pad(block, ((0, 0), (0, pad)))
        power = np.square(block).mean(axis=0).reshape(-1, frame).mean(axis=1)
        out[start // frame:start // frame + power.size] = power
    return out


def _quiet_point(x: np.ndarray, lo: int, hi: int, prefer: int, frame: int) -> int:
    """The index in ``[lo, hi]`` at the centre of the quietest ``frame``-long window (ties go to the
    one nearest ``prefer``), moved to a zero crossing within a millisecond if one is there."""
    n = x.shape[1]
    lo, hi = max(lo, 0), min(hi, n)
    if hi - lo < 2:
        return min(max(prefer, 0), n)
    a, b = max(lo - frame // 2, 0), min(hi + frame // 2, n)
    power = np.square(x[:, a:b].astype(np.float64)).mean(axis=0)
    energy = np.convolve(power, np.ones(frame) / frame, mode="same")[lo - a:hi - a + 1]
    positions = np.arange(lo, lo + energy.size)
    penalty = np.abs(positions - prefer) * (energy.max() + 1e-20) * 1e-4 / max(frame, 1)
    best = int(positions[np.argmin(energy + penalty)])
    snapped = snap_to_zero_crossing(x, best, radius=max(frame // 5, 1))
    return snapped if lo <= snapped <= hi else best


def plan_render(audio: Audio, cuts: list[Cut], *, crossfade_ms: float = 15.0,
                search_ms: float = 25.0) -> RenderPlan:
    """Snap the enabled cuts' edges, merge cuts that would overlap, and return the seams.

    Raises :class:`ToolArgumentError` for a cut outside the audio or one that would remove it all.
    """
    rate, n = audio.sample_rate, audio.num_samples
    x = audio  # an Audio or a TrackView: only windows around the edges are read
    half = max(int(crossfade_ms * 1e-3 * rate / 2), 1)
    frame = max(int(0.005 * rate), 1)
    outward = int(OUTWARD_MS * 1e-3 * rate)
    spans: list[list[int]] = []  # [start, end, fill] in samples, close ones merged
    for cut in sorted((c for c in cuts if c.enabled), key=lambda c: c.start_s):
        if not 0 <= cut.start_s < cut.end_s or cut.start_s >= audio.duration_s:
            raise ToolArgumentError(
                f"cut {cut.start_s:.3f}-{cut.end_s:.3f} s is not a span inside the audio "
                f"(0 to {audio.duration_s:.3f} s)")
        start, end = audio.sample_index(cut.start_s), audio.sample_index(cut.end_s)
        fill = int(round(cut.fill_s * rate))
        if spans and start - spans[-1][1] < max(4 * half, int(MERGE_GAP_S * rate)):
            spans[-1][1] = max(spans[-1][1], end)
            spans[-1][2] += fill
        else:
            spans.append([start, end, fill])
    seams: list[Seam] = []
    for start, end, fill in spans:
        inward = min(int(search_ms * 1e-3 * rate), (end - start) // 3)
        if start > 0:
            start = _quiet_point(x, start - outward, start + inward, start, frame)
        if end < n:
            end = _quiet_point(x, end - inward, end + outward, end, frame)
        if start <= 0 or end >= n:
            fill = 0  # no seam at the edge of the file: the edge just gets shorter
        elif fill and fill < 2 * half:
            fill = 2 * half  # room for the two crossfades
        if end <= start:
            continue
        if seams and start - seams[-1].end < 4 * half:  # crossfades would overlap
            prev = seams.pop()
            start, fill, end = prev.start, prev.fill + fill, max(end, prev.end)
        seams.append(Seam(start, end, fill))
    if seams and seams[0].start <= 0 and seams[-1].end >= n and len(seams) == 1:
        raise ToolArgumentError("the cuts would remove the whole recording; nothing would remain")
    return RenderPlan(tuple(seams), n, rate, half)


# ----------------------------------------------------------------------------- room tone


class RoomTone:
    """The quietest :data:`TONE_WINDOW_S` stretch near any point of a recording."""

    def __init__(self, audio: Any) -> None:
        self.audio = audio  # an Audio or a TrackView: powers are computed block by block
        self.frame = max(int(_FRAME_S * audio.sample_rate), 1)
        power = _frame_power(audio, self.frame)
        width = min(max(int(TONE_WINDOW_S / _FRAME_S), 1), max(power.size, 1))
        sums = np.concatenate([[0.0], np.cumsum(power)])
        self.window = width
        self.level = (sums[width:] - sums[:-width]) / width  # mean power of each window

    def near(self, index: int) -> np.ndarray:
        """Samples ``(channels, m)`` of the quietest window within ``TONE_SEARCH_S`` of ``index``.
        Digital silence counts only where it is the recording's own floor (a fifth or more of the
        windows nearby, as in a noise-gated recording), not a stray stretch of zeros."""
        centre = index // self.frame
        reach = int(TONE_SEARCH_S / _FRAME_S)
        lo, hi = max(centre - reach, 0), min(centre + reach, self.level.size)
        if hi <= lo:
            lo, hi = 0, self.level.size
        level = self.level[lo:hi]
        dead = level <= 1e-13  # -130 dB
        if dead.mean() < 0.2 and not dead.all():
            level = np.where(dead, np.inf, level)
        start = (lo + int(np.argmin(level))) * self.frame
        return self.audio.read(start, start + self.window * self.frame)

    def bed(self, index: int, length: int, half: int, rng: np.random.Generator) -> np.ndarray:
        """``length`` samples of room tone: the window near ``index``, looped from random offsets
        with equal-power crossfades (uncorrelated noise keeps its level through them)."""
        tone = self.near(index)
        size = tone.shape[1]
        out = np.zeros((tone.shape[0], length), dtype=np.float32)
        if size == 0:
            return out
        fade = min(half, size // 4)
        at = min(size, length)
        out[:, :at] = tone[:, :at]
        while at < length:
            piece = tone[:, int(rng.integers(0, max(size - 2 * fade, 1))):]
            overlap = min(fade, at)
            out[:, at - overlap:at] = equal_power_crossfade(out[:, at - overlap:at],
                                                            piece[:, :overlap])
            take = min(piece.shape[1] - overlap, length - at)
            if take <= 0:
                break
            out[:, at:at + take] = piece[:, overlap:overlap + take]
            at += take
        return out


# ----------------------------------------------------------------------------- rendering


def render_pieces(audio: Any, plan: RenderPlan, *, seed: int = 0) -> list[Piece]:
    """``plan`` (from :func:`plan_render`) as an edit list over ``audio`` (Audio or TrackView):
    the kept stretches by reference, and new samples only at the seams (crossfades, room tone,
    the short fades where the very start or end was cut)."""
    n, half = audio.num_samples, plan.half_crossfade
    if not plan.seams:
        return [Keep(0, n)]
    tone = RoomTone(audio) if any(s.fill for s in plan.seams) else None
    rng = np.random.default_rng(seed)
    pieces: list[Piece] = []
    read = 0  # next input sample to keep
    for seam in plan.seams:
        if seam.start <= 0:  # cut off the start: the new first samples fade in below
            read = seam.end
            continue
        if seam.end >= n:  # cut off the end: the new last samples fade out below
            pieces.append(Keep(read, seam.start))
            read = n
            break
        h = max(min(half, seam.start - read, n - seam.end), 0)
        pieces.append(Keep(read, seam.start - h))
        tail = audio.read(seam.start - h, seam.start + h)
        head = audio.read(seam.end - h, seam.end + h)
        if seam.fill and tone is not None:
            # input -> room tone over 2h, the bed, room tone -> input over 2h
            bed = tone.bed(seam.start, seam.fill + 2 * h, half, rng)
            pieces.append(equal_power_crossfade(tail, bed[:, :2 * h]).astype(np.float32))
            pieces.append(bed[:, 2 * h:seam.fill])
            pieces.append(equal_power_crossfade(bed[:, seam.fill:], head).astype(np.float32))
        else:
            pieces.append(equal_power_crossfade(tail, head).astype(np.float32))
        read = seam.end + h
    if read < n:
        pieces.append(Keep(read, n))
    pieces = _edge_fades(audio, pieces, plan, half)
    if output_samples(pieces) != plan.output_samples:  # pragma: no cover - a bookkeeping bug
        raise AssertionError(f"rendered {output_samples(pieces)} samples, planned "
                             f"{plan.output_samples}")
    return pieces


def _edge_fades(audio: Any, pieces: list[Piece], plan: RenderPlan, half: int) -> list[Piece]:
    """Short fades where a cut removed the very start or end of the recording."""
    ramp = np.sin((np.arange(half) + 0.5) / half * np.pi / 2).astype(np.float32)
    if plan.seams[0].start <= 0 and isinstance(pieces[0], Keep) and \
            pieces[0].stop - pieces[0].start >= half:
        first = pieces[0]
        pieces[:1] = [audio.read(first.start, first.start + half) * ramp,
                      Keep(first.start + half, first.stop)]
    if plan.seams[-1].end >= plan.num_samples and isinstance(pieces[-1], Keep) and \
            pieces[-1].stop - pieces[-1].start >= half:
        last = pieces[-1]
        pieces[-1:] = [Keep(last.start, last.stop - half),
                       audio.read(last.stop - half, last.stop) * ramp[::-1]]
    return pieces


def render_plan(audio: Audio, plan: RenderPlan, *, seed: int = 0) -> Audio:
    """Apply ``plan`` (from :func:`plan_render`) to ``audio``: one output allocation."""
    if not plan.seams:
        return audio
    return assemble(audio, render_pieces(audio, plan, seed=seed))


def render_cuts(audio: Audio, cuts: list[Cut], *, crossfade_ms: float = 15.0,
                search_ms: float = 25.0, seed: int = 0) -> Audio:
    """Remove the enabled ``cuts`` from ``audio`` (any rate, ``(channels, n)``) with quiet-point
    snapping, merged close cuts, equal-power crossfades and room-tone fills; a new Audio."""
    return render_plan(audio, plan_render(audio, cuts, crossfade_ms=crossfade_ms,
                                          search_ms=search_ms), seed=seed)


def with_enabled(cuts: list[Cut], enabled: dict[int, bool]) -> list[Cut]:
    """``cuts`` with ``enabled`` switched per index (as a reviewer accepts or undoes each cut)."""
    return [replace(c, enabled=enabled.get(i, c.enabled)) for i, c in enumerate(cuts)]
