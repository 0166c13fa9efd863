"""declick: find impulsive clicks and pops (vinyl, digital ticks, mouth clicks) and repair them.

Detection is AR-residual outlier detection (Vaseghi & Rayner), per channel:

1. Short-time AR models (order ``ORDER_S``, fitted on ``MODEL_WINDOW_S`` windows every half
   window) follow the sound closely. Each sample's *interpolation error*, the sample minus its
   least-squares estimate from its neighbours on both sides, is the click statistic: an impulse
   passes through it whole, the predictable signal does not.
2. It is divided by a robust local scale: the larger of its running medians over
   ``SCALE_WINDOW_S`` just before and just after, so that an onset (where the error rises and
   stays up) does not read as a click.
3. A click is a run above the threshold (set by ``sensitivity``) that is also loud enough to
   matter: its error at least ``min_level_db`` relative to the local RMS (a "click" 30 dB under
   loud music is inaudible, and repairing it would only risk the music's own transients) and at
   least ``MIN_CLICK_DBFS`` (quantisation steps in a faded-out 16-bit tail are not clicks). Runs
   closer than ``MERGE_S`` form one event; an event longer than ``max_click_ms`` is sound (a
   drum hit, a plosive), not a click, and is left alone.
4. Each click is filled by two-sided least-squares AR interpolation, the short-gap method of
   :mod:`tools.algorithms.ar`, in time order, so later repairs see earlier ones.

Blocks of ``BLOCK_S`` (plus margins) keep memory bounded by the block, not the file: the tool
reads the session's track window by window and stores the result block by block
(``session.track`` / ``commit_blocks``), so an hours-long track never sits in memory. Known
limits, measured on the repair eval: in 16 kHz read speech, plosive bursts and sharp glottal
closures look like small clicks (lower the sensitivity there); a click within about 10 ms before
a loud onset is taken for part of the attack and left alone. From 40 kHz up, glottal pulses are
kept apart by the isolation test (:func:`_isolated`: a click stands alone, so crackle denser than
one click per 20 ms is left alone). Below 40 kHz speech fills most of the band and one threshold
cannot tell clicks from pulses and bursts, so a learned weighing decides (:func:`click_candidates`,
:mod:`tools.algorithms.click_model`: one model below 12 kHz, one from 12 to 40 kHz): candidates 6
times over the scale, taken when the model's probability passes the sensitivity's cut, or half
that evidence for a candidate the hand-set tests take; the repair takes the tighter of the two
spans. Measured on the repair eval (dev / held-out): at 8 kHz recall 86.4 / 82.1 % at 2.85 /
4.86 false detections a minute (hand-set tests alone: 79.9 / 74.9 % at 3.56 / 12.16); at 16 kHz
97.5 / 96.4 % at 1.07 / 4.46 (hand-set: 96.0 / 96.4 % at 2.85 / 7.70); at 22.05 kHz 98.1 / 98.9 %
at 0 / 2.03 (hand-set: 98.5 / 98.2 % at 0.36 / 3.24). The misses lie in
fricatives and breath noise, as high as the noise's own peaks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import Field
from scipy.signal import fftconvolve

from tools.algorithms import ar, click_features, click_model
from tools.core.audio import Audio
from tools.core.errors import NothingFound, ToolArgumentError
from tools.core.session import Session
from tools.core.threads import one_blas_thread
from tools.core.tool import Tool, ToolArgs, ToolResult, commit_blocks, track_field

BLOCK_S = 1.0
MODEL_WINDOW_S = 0.046
ORDER_S = 0.001
SCALE_WINDOW_S = click_features.SCALE_WINDOW_S
# sensitivity 0 .. 1 maps log-linearly onto these (robust-scale units; dB re local RMS)
THRESHOLD_STRICT, THRESHOLD_LOOSE = 45.0, 6.5
MIN_LEVEL_STRICT_DB, MIN_LEVEL_LOOSE_DB = -2.0, -20.0
GROSS_OUTLIER = 5.0  # re-fit the model without samples this far out (robust-scale units)
MAX_GROSS = 64
EXTEND_RATIO = 0.3  # a click extends while the statistic stays above this x the threshold
MERGE_S = 0.002  # outliers this close belong to one event
PAD_SAMPLES = 2
WIDEN_S = 0.001  # "click widening" after the detected span (as RX calls it)
# An interpolation error below this is no click whatever the surroundings: the last bits of a
# 16-bit fade-out or of digital silence step by single quanta (-90 dBFS), which the statistic,
# relative to a near-zero local scale, would otherwise read as ~100 clicks a second.
MIN_CLICK_DBFS = -72.0
# a click stands alone: no residual peak of ISOLATION_RATIO x its height from ISOLATION_GAP_S to
# ISOLATION_REACH_S away (a pitch period, for glottal pulses; see _isolated)
ISOLATION_GAP_S, ISOLATION_REACH_S = click_features.ISOLATION_GAP_S, click_features.ISOLATION_REACH_S
ISOLATION_RATIO = 0.5
# Below 40 kHz a learned detector decides (tools.algorithms.click_model.MODEL_RATES): candidates
# stand CANDIDATE_THRESHOLD over the robust scale and CANDIDATE_MIN_LEVEL_DB over the local RMS.
CANDIDATE_THRESHOLD, CANDIDATE_MIN_LEVEL_DB = 6.0, -20.0
CANDIDATE_EXTEND = 5.0  # a candidate extends while the ratio stays above this
# a candidate the hand-set tests take needs only this probability (the model learnt from speech:
# clicks on steady tones or among creak are rare there)
RULED_PROBABILITY = 0.5
RECUR_NCC, RECUR_NEAR_SHARE = 0.9, 0.7


class Args(ToolArgs):
    sensitivity: float = Field(default=0.5, ge=0, le=1, description="How readily a transient counts as a click, from 0 (only loud, obvious clicks) to 1 (also faint ones, with more risk of touching real transients such as plosives or drum attacks).")
    max_click_ms: float = Field(default=5.0, ge=0.05, le=20, description="Longest event treated as a click, in ms (0.05 to 20); longer transients are left alone.")
    track: str | None = track_field()


@dataclass(frozen=True)
class Declicked:
    """The repaired audio and the clicks found, as ``(channel, start, stop)`` sample spans."""

    audio: Audio
    clicks: tuple[tuple[int, int, int], ...]
    threshold: float
    min_level_db: float


def settings_for(sensitivity: float) -> tuple[float, float]:
    """``(threshold, min_level_db)`` for a sensitivity from 0 (strict) to 1 (loose)."""
    if not 0.0 <= sensitivity <= 1.0:
        raise ToolArgumentError(f"sensitivity={sensitivity:g} must be from 0 to 1")
    threshold = THRESHOLD_STRICT * (THRESHOLD_LOOSE / THRESHOLD_STRICT) ** sensitivity
    level = MIN_LEVEL_STRICT_DB + (MIN_LEVEL_LOOSE_DB - MIN_LEVEL_STRICT_DB) * sensitivity
    return float(threshold), float(level)


def interpolation_error(x: np.ndarray, a: np.ndarray) -> np.ndarray:
    """Each sample minus its least-squares estimate from all the others under model ``a``:
    ``(A^T A x)[t] / |a|^2``, aligned with ``x`` (the first and last ``p`` samples get 0)."""
    p = a.size - 1
    forward = fftconvolve(x, a, mode="full")[p : x.size]  # rows t = p .. n-1
    both = fftconvolve(forward, a[::-1], mode="full")[p : forward.size]  # t = p .. n-p-1
    out = np.zeros(x.size)
    out[p : x.size - p] = both / float(np.dot(a, a))
    return out


def _robust_fit(segment: np.ndarray, order: int) -> np.ndarray:
    """AR fit that a loud click cannot bend: fit, fill the gross outliers of the interpolation
    error by LSAR (at most ``MAX_GROSS`` samples), and fit again on the cleaned segment."""
    a, _ = ar.fit_ar(segment, order)
    error = np.abs(interpolation_error(segment, a))
    gross = error > GROSS_OUTLIER * float(np.median(error)) / 0.6745
    gross[:order] = gross[segment.size - order :] = False
    if not gross.any():
        return a
    if gross.sum() > MAX_GROSS:
        gross &= error >= np.sort(error[gross])[-MAX_GROSS]
    return ar.fit_ar(ar.lsar_fill_mask(segment, gross, a), order)[0]


def click_statistic(x: np.ndarray, rate: int) -> np.ndarray:
    """|Interpolation error| of ``x`` (1-D) under short-time AR models, one per half window."""
    window = max(int(MODEL_WINDOW_S * rate), 64)
    hop = window // 2
    order = max(int(ORDER_S * rate), ar.MIN_ORDER)
    reach = window // 4 + order
    out = np.zeros(x.size)
    for begin in range(0, x.size, hop):
        lo, hi = max(begin - reach, 0), min(begin + hop + reach, x.size)
        segment = np.asarray(x[lo:hi], dtype=np.float64)
        if segment.size <= 4 * order or not np.any(segment):
            continue
        a = _robust_fit(segment, order)
        stop = min(begin + hop, x.size)
        out[begin:stop] = np.abs(interpolation_error(segment, a)[begin - lo : stop - lo])
    return out


def robust_scale(stat: np.ndarray, rate: int) -> np.ndarray:
    """Per sample, the larger of the medians of ``stat`` over ``SCALE_WINDOW_S`` just before and
    just after, scaled to a Gaussian sigma (:func:`click_features.side_scales`)."""
    return np.maximum(*click_features.side_scales(stat, rate))


def find_runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """``(start, stop)`` of each run of True in ``flags``."""
    edges = np.diff(np.concatenate([[0], flags.astype(np.int8), [0]]))
    starts, stops = np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()
    return list(zip(starts, stops, strict=True))


def _groups(core: list[tuple[int, int]], loose: np.ndarray, max_click: int, merge: int,
            *, core_gap: bool = False) -> list[list[int]]:
    """Each core run extended while ``loose`` holds (at most ``max_click`` each way), runs
    closer than ``merge`` joined (their extended spans, or with ``core_gap`` their cores):
    ``[core start, core stop, span start, span stop]``."""
    groups: list[list[int]] = []
    for start, stop in core:
        lo, hi = start, stop
        while lo > 0 and loose[lo - 1] and start - lo < max_click:
            lo -= 1
        while hi < loose.size and loose[hi] and hi - stop < max_click:
            hi += 1
        if groups and (start - groups[-1][1] if core_gap else lo - groups[-1][3]) <= merge:
            groups[-1][1], groups[-1][3] = stop, max(groups[-1][3], hi)
        else:
            groups.append([start, stop, lo, hi])
    return groups


def _span(lo: int, hi: int, rate: int, n: int) -> tuple[int, int]:
    """The repair span of an outlier ``lo:hi``: padded, and widened after it, since a pop's
    decaying tail is predictable, so not flagged ("click widening", as RX calls it)."""
    return max(lo - PAD_SAMPLES, 0), min(hi + PAD_SAMPLES + int(WIDEN_S * rate), n)


def click_candidates(x: np.ndarray, rate: int, *, max_click: int, threshold: float,
                     min_level_db: float
                     ) -> tuple[list[tuple[int, int]], np.ndarray, np.ndarray]:
    """Candidate click spans in ``x`` (1-D), their :data:`click_features.FEATURES` rows, and
    whether the hand-set tests take each (``threshold`` and ``min_level_db`` over the robust
    scale and the local RMS, isolated, and not recurring unless on a steady tone). Candidates
    are the outliers ``CANDIDATE_THRESHOLD`` over the robust scale, at most ``max_click`` long,
    and the hand-set tests' own spans."""
    stat = click_statistic(x, rate)
    before, after = click_features.side_scales(stat, rate)
    ratio = stat / np.maximum(before, after)
    rms = click_features.local_rms(x, rate)
    floor = 10 ** (MIN_CLICK_DBFS / 20)
    outliers = ratio > CANDIDATE_THRESHOLD
    low = np.maximum(rms * 10 ** (CANDIDATE_MIN_LEVEL_DB / 20), floor)
    groups = _groups(find_runs(outliers & (stat >= low)), ratio > CANDIDATE_EXTEND,
                     max_click, int(MERGE_S * rate), core_gap=True)
    events = [(lo, hi) for start, stop, lo, hi in groups if stop - start <= max_click]
    high = np.maximum(rms * 10 ** (min_level_db / 20), floor)
    ruled_events = [(lo, hi) for start, stop, lo, hi in
                    _groups(find_runs((ratio > threshold) & (stat >= high)),
                            ratio > threshold * EXTEND_RATIO, max_click, int(MERGE_S * rate))
                    if stop - start <= max_click]
    events += [(lo, hi) for lo, hi in ruled_events
               if not any(a < hi and lo < b for a, b in events)]
    events.sort()
    if not events:
        return [], np.zeros((0, len(click_features.FEATURES))), np.zeros(0, dtype=bool)
    spans = [_span(lo, hi, rate, x.size) for lo, hi in events]
    features = click_features.event_features(x, rate, stat, before, after, rms, events, spans,
                                             outliers)
    # the repair takes the tighter of a candidate's span and the hand-set tests' span within it
    # (a candidate extends while the ratio passes 5, which on a quiet steady tone is 3 ms)
    spans = [_span(*min([(a, b) for a, b in ruled_events if a < hi and lo < b] + [(lo, hi)],
                        key=lambda span: span[1] - span[0]), rate, x.size) for lo, hi in events]
    column = {name: features[:, i] for i, name in enumerate(click_features.FEATURES)}
    loud = np.array([stat[lo:hi].max() >= high[lo:hi].min() for lo, hi in events])
    ruled = ((column["ratio_max"] > 20 * np.log10(threshold)) & loud
             & (np.minimum(column["iso_before"], column["iso_after"])
                < 20 * np.log10(ISOLATION_RATIO + 1e-3))
             & ~((np.maximum(column["recur_before"], column["recur_after"]) > RECUR_NCC)
                 & (column["leftover_near"] < RECUR_NEAR_SHARE)))
    return spans, features, ruled


def sensitivity_of(threshold: float) -> float:
    """The sensitivity that :func:`settings_for` maps onto ``threshold``."""
    return float(np.clip(np.log(threshold / THRESHOLD_STRICT)
                         / np.log(THRESHOLD_LOOSE / THRESHOLD_STRICT), 0.0, 1.0))


def detect_clicks(x: np.ndarray, rate: int, *, threshold: float, min_level_db: float,
                  max_click: int, model: click_model.ClickModel | None = None
                  ) -> list[tuple[int, int]]:
    """Click spans ``(start, stop)`` in ``x`` (1-D, one block with its margins). Below
    40 kHz (:data:`click_model.MODEL_RATES`) the candidates are weighed by ``model`` (the shipped
    one for ``rate`` by default), at the probability cut of the sensitivity behind ``threshold``."""
    model = model or click_model.load_for(rate)
    if model is not None:
        spans, features, ruled = click_candidates(x, rate, max_click=max_click,
                                                  threshold=threshold, min_level_db=min_level_db)
        cut = click_model.min_probability(sensitivity_of(threshold))
        p = model.probability(features)
        keep = (p > cut) | (ruled & (p > RULED_PROBABILITY))
        return [span for span, k in zip(spans, keep, strict=True) if k]
    stat = click_statistic(x, rate)
    ratio = stat / robust_scale(stat, rate)
    audible = stat >= np.maximum(click_features.local_rms(x, rate) * 10 ** (min_level_db / 20),
                                 10 ** (MIN_CLICK_DBFS / 20))
    groups = _groups(find_runs((ratio > threshold) & audible), ratio > threshold * EXTEND_RATIO,
                     max_click, int(MERGE_S * rate))
    # a burst of outliers longer than a click is a real transient (a hit, a plosive): skip it
    return [_span(lo, hi, rate, x.size) for start, stop, lo, hi in groups
            if stop - start <= max_click and _isolated(stat, lo, hi, rate)]


def _isolated(stat: np.ndarray, lo: int, hi: int, rate: int) -> bool:
    """Whether the outlier ``lo:hi`` stands alone. A glottal closure leaves an AR residual peak
    much like a click, but one that recurs every pitch period (2.5 to 20 ms, up to 400 Hz) at a
    similar height; a click has no such neighbours. Below 32 kHz speech fills the band and these
    pulses are the main false detections (measured: 10 to 24 a minute of clean LibriSpeech at
    8 to 22.05 kHz)."""
    gap, reach = int(ISOLATION_GAP_S * rate), int(ISOLATION_REACH_S * rate)
    # a pulse train has neighbours on both sides; a wide click's own far edge is on one side only
    return min(click_features.isolation(stat, lo, hi, gap, reach)) < ISOLATION_RATIO


def repair_reach(rate: int) -> int:
    """Samples of context each click repair reads on each side (:func:`ar.interpolate_short_gap`)."""
    context, order = ar._settings(rate)[0]
    return context + order


def declick_blocks(signal: Any, rate: int, *, threshold: float, min_level_db: float,
                   max_click: int, found: list[tuple[int, int, int]],
                   progress: Callable[[int, int], None] | None = None) -> Iterator[np.ndarray]:
    """Repair ``signal`` (anything with ``.shape`` == ``(channels, n)`` and ``[:, lo:hi]``: an
    array or a session's track view) block by block, yielding the float32 ``(channels, m)``
    output blocks in order and appending each click to ``found`` as ``(channel, start, stop)``
    while it goes (``progress(blocks_done, blocks)`` after each block).

    Each ``BLOCK_S`` block is read with margins wide enough for the detector, and each channel's
    clicks are filled in time order from the output so far, so later repairs see earlier ones,
    exactly as one pass over the whole track would: a repair writes only its own span and reads
    ``repair_reach`` samples on each side, so the output before a block's end is final once
    that block is done, and the repaired samples past it are carried into the next block."""
    channels, n = signal.shape
    block = int(BLOCK_S * rate)
    margin = max(int(MODEL_WINDOW_S * rate), 64) + int(SCALE_WINDOW_S * rate) + max_click
    reach = repair_reach(rate)
    left = max(margin, reach)  # the input and the output read before a block's start
    carry = np.zeros((channels, 0), dtype=np.float32)  # output from carry_start on, repaired
    model = click_model.load_for(rate)
    carry_start = 0
    starts = range(0, n, block)
    for index, begin in enumerate(starts):
        lo, hi = max(begin - margin, 0), min(begin + block + margin, n)
        work_lo, work_hi = max(begin - left, 0), min(begin + block + margin + reach, n)
        window = np.asarray(signal[:, work_lo:work_hi], dtype=np.float32)
        work = np.array(window, dtype=np.float32)
        kept = min(carry.shape[1] - (work_lo - carry_start), work.shape[1])
        work[:, :kept] = carry[:, work_lo - carry_start:work_lo - carry_start + kept]
        with one_blas_thread():  # thousands of small AR fits (tools.core.threads)
            for c in range(channels):
                x = np.asarray(window[c, lo - work_lo:hi - work_lo], dtype=np.float64)  # the input
                spans = detect_clicks(x, rate, threshold=threshold, min_level_db=min_level_db,
                                      max_click=max_click, model=model)
                for s, e in spans:
                    start, stop = lo + s, lo + e
                    if not begin <= start < begin + block:
                        continue  # the neighbouring block owns it
                    a, b = start - work_lo, stop - work_lo
                    work[c, a:b] = ar.interpolate_short_gap(work[c], a, b, sample_rate=rate)
                    found.append((c, start, stop))
        done = min(begin + block, n)
        yield work[:, begin - work_lo:done - work_lo].copy()
        carry_start = max(done - left, work_lo)
        carry = work[:, carry_start - work_lo:]
        if progress is not None:
            progress(index + 1, len(starts))


def declick(audio: Audio, *, sensitivity: float = 0.5, max_click_ms: float = 5.0,
            progress: Callable[[int, int], None] | None = None) -> Declicked:
    """Find and repair clicks in every channel of ``audio``, each channel alone;
    ``progress(blocks_done, blocks)`` after each block of ``BLOCK_S``."""
    threshold, min_level_db, max_click = _settings(sensitivity, max_click_ms, audio.sample_rate)
    found: list[tuple[int, int, int]] = []
    blocks = list(declick_blocks(audio.samples, audio.sample_rate, threshold=threshold,
                                 min_level_db=min_level_db, max_click=max_click, found=found,
                                 progress=progress))
    out = np.concatenate(blocks, axis=1) if blocks else np.empty_like(audio.samples)
    return Declicked(audio.replace(out), tuple(sorted(found)), threshold, min_level_db)


def _settings(sensitivity: float, max_click_ms: float, rate: int) -> tuple[float, float, int]:
    if not 0.05 <= max_click_ms <= 20:
        raise ToolArgumentError(f"max_click_ms={max_click_ms:g} must be from 0.05 to 20 ms")
    threshold, min_level_db = settings_for(sensitivity)
    return threshold, min_level_db, max(int(max_click_ms * 1e-3 * rate), 1)


def _refuse_if_none(blocks: Iterator[np.ndarray], found: list, sensitivity: float
                    ) -> Iterator[np.ndarray]:
    """Pass ``blocks`` on; once they are spent with no click found, refuse (commit_blocks then
    discards what it stored, so no version is left)."""
    yield from blocks
    if not found:
        raise NothingFound(f"found no clicks: none stands out from the sound around it at sensitivity "
                        f"{sensitivity:g} (raise sensitivity, up to 1, to look harder)")


def _run(session: Session, args: Args) -> ToolResult:
    view = session.track(args.track)  # read window by window: long tracks never sit in memory
    rate = view.sample_rate
    threshold, min_level_db, max_click = _settings(args.sensitivity, args.max_click_ms, rate)
    found: list[tuple[int, int, int]] = []
    blocks = declick_blocks(view, rate, threshold=threshold, min_level_db=min_level_db,
                            max_click=max_click, found=found,
                            progress=lambda done, total: session.progress("declick", done, total))

    def times() -> list[float]:
        return sorted({round(s / rate, 3) for _, s, _ in found})

    def summary() -> str:
        shown = ", ".join(f"{t:.3f} s" for t in times()[:8]) + (" ..." if len(times()) > 8 else "")
        return f"repaired {len(found)} click(s) at {shown} (sensitivity {args.sensitivity:g})"

    return commit_blocks(session, args.track, _refuse_if_none(blocks, found, args.sensitivity),
                         sample_rate=rate, channels=view.channels, tool="declick", args=args,
                         summary=summary,
                         data=lambda: {"clicks": len(found), "click_times_s": times()[:200],
                                       "threshold": threshold, "min_level_db": min_level_db})


TOOL = Tool(
    name="declick",
    description=(
        "Find and remove clicks, pops, ticks and crackle-like impulses (vinyl clicks, digital "
        "ticks, mouth clicks and lip smacks in speech) across the whole track, repairing each "
        "from its surroundings: 'remove the clicks', 'de-click', 'get rid of the mouth clicks', "
        "'clean up the pops'. Raise sensitivity if some remain; lower it if real transients "
        "(plosives, drum attacks) are touched."
    ),
    args_model=Args,
    run=_run,
)
