"""normalize_loudness: bring integrated loudness (ITU-R BS.1770) to a target, under a true-peak ceiling.

The gain that reaches the target is applied; where that pushes the true peak over the ceiling, a
look-ahead limiter holds the peaks down, and the gain is refined (a few passes) so the limited
result still measures at the target. Everything streams (one measuring pass, one per limiter
pass): memory is a block whatever the length; without limiting the gain is stored, not rewritten.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import Field

from tools.core.audio import Audio
from tools.core.dsp import db_to_amplitude, limited_blocks
from tools.core.edits import Keep, assemble, build
from tools.core.errors import ToolError
from tools.core.meter import Meter, measure
from tools.core.session import Session
from tools.core.tool import Tool, ToolArgs, ToolResult, described, track_field
from tools.core.versions import VersionBuilder

_MAX_PASSES = 8
_MAX_LIMITING_DB = 40.0  # never push the gain more than this above the unlimited gain


class Args(ToolArgs):
    target_lufs: float = Field(ge=-70, le=-5, description="Target integrated loudness in LUFS, from -70 to -5 (podcasts -16, broadcast EBU R128 -23, streaming music -14).")
    true_peak_db: float = Field(default=-1.0, ge=-20, le=0, description="True-peak ceiling in dBTP, from -20 to 0 (-1 is the usual delivery ceiling).")
    track: str | None = track_field()


@dataclass(frozen=True)
class Normalization:
    """How to reach the target: ``gain_db``, then (when ``limited``) the limiter and a final
    ``safety`` scale against inter-sample overshoot; ``report`` as :func:`normalize_loudness`."""

    gain_db: float
    limited: bool
    safety: float
    ceiling_db: float
    report: dict


def plan_normalization(signal: Any, sample_rate: int, *, target_lufs: float,
                       true_peak_db: float = -1.0) -> Normalization:
    """Measure ``signal`` (Audio, TrackView or array) and find the gain, streaming: one pass to
    measure, and one per limiter pass (at most :data:`_MAX_PASSES`) when peaks must be held."""
    levels = measure(signal, sample_rate)
    before = levels.integrated_lufs
    if not math.isfinite(before):
        raise ToolError("cannot measure loudness: the track is silent or shorter than 0.4 s")
    gain_db = plain_db = target_lufs - before
    if levels.true_peak_db + gain_db <= true_peak_db:  # true peak scales with gain
        after = before + gain_db
        return Normalization(gain_db, False, 1.0, true_peak_db, _report(
            before, after, gain_db, False, levels.true_peak_db + gain_db, target_lufs))
    previous: tuple[float, float] | None = None  # (gain_db, loudness) of the last limited pass
    for attempt in range(_MAX_PASSES):
        applied_db = gain_db
        meter = Meter(sample_rate, signal.shape[0])
        for block in limited_blocks(signal, sample_rate, ceiling_db=true_peak_db,
                                    pre_gain_db=gain_db):
            meter.add(block)
        loudness, peak_db = meter.integrated_lufs(), meter.true_peak_db()
        miss = target_lufs - loudness
        if abs(miss) < 0.05:
            break
        # The limiter eats part of any added gain: step along the secant of loudness over gain.
        slope = 1.0
        if previous is not None and gain_db != previous[0]:
            slope = (loudness - previous[1]) / (gain_db - previous[0])
        previous = (gain_db, loudness)
        gain_db += miss / min(max(slope, 0.1), 1.0)
        gain_db = min(max(gain_db, plain_db), plain_db + _MAX_LIMITING_DB)
        if gain_db == applied_db:  # held at the limit: another pass would give the same
            break
        if attempt == _MAX_PASSES - 1:  # out of passes: keep the gain that was measured
            gain_db = applied_db
    safety = min(1.0, db_to_amplitude(true_peak_db - peak_db))
    safety_db = 20 * math.log10(safety)
    return Normalization(applied_db, True, safety, true_peak_db, _report(
        before, loudness + safety_db, applied_db, True, peak_db + safety_db, target_lufs))


def _report(before: float, after: float, gain_db: float, limited: bool, peak_db: float,
            target_lufs: float) -> dict:
    return {"input_lufs": before, "output_lufs": after, "gain_db": gain_db, "limited": limited,
            "true_peak_db": peak_db, "reached": abs(after - target_lufs) <= 0.5}


def normalized_blocks(signal: Any, sample_rate: int, plan: Normalization) -> Iterator[np.ndarray]:
    """The limited output of a ``limited`` plan, block by block."""
    for block in limited_blocks(signal, sample_rate, ceiling_db=plan.ceiling_db,
                                pre_gain_db=plan.gain_db):
        yield block * np.float32(plan.safety) if plan.safety < 1.0 else block


def build_normalized(session: Session, view: Any, plan: Normalization) -> VersionBuilder:
    """A session version of ``view`` normalised by ``plan``: a plain gain is stored with the
    segments (nothing rewritten); a limited one is written block by block."""
    builder = session.builder(sample_rate=view.sample_rate, channels=view.channels)
    try:
        if plan.limited:
            for block in normalized_blocks(view, view.sample_rate, plan):
                builder.append(block)
        else:
            build(builder, view, [Keep(0, view.num_samples, db_to_amplitude(plan.gain_db))])
    except BaseException:
        session.discard_pending()
        raise
    return builder


def describe(report: dict, *, target_lufs: float, true_peak_db: float) -> str:
    # the change heard: a limited plan's gain before its limiter is larger than what comes out
    summary = (f"loudness {report['input_lufs']:.1f} -> {report['output_lufs']:.1f} LUFS "
               f"({report['output_lufs'] - report['input_lufs']:+.1f} dB"
               + (", peaks limited" if report["limited"] else "")
               + f", true peak {report['true_peak_db']:.1f} dBTP)")
    if not report["reached"]:
        summary += (f"; could not reach {target_lufs:g} LUFS under a {true_peak_db:g} dBTP "
                    "ceiling: the peaks would need heavier limiting")
    return summary


def normalize_loudness(audio: Audio, *, target_lufs: float, true_peak_db: float = -1.0) -> tuple[Audio, dict]:
    """Return ``audio`` at ``target_lufs`` with true peaks at or below ``true_peak_db``, plus a
    report (``input_lufs``, ``output_lufs``, ``gain_db``, ``limited``, ``true_peak_db``, and
    ``reached``: whether the output is within 0.5 LU of the target)."""
    plan = plan_normalization(audio, audio.sample_rate, target_lufs=target_lufs,
                              true_peak_db=true_peak_db)
    if not plan.limited:
        return assemble(audio, [Keep(0, audio.num_samples, db_to_amplitude(plan.gain_db))]), plan.report
    out = np.concatenate(list(normalized_blocks(audio, audio.sample_rate, plan)), axis=1)
    return audio.replace(out), plan.report


def _run(session: Session, args: Args) -> ToolResult:
    name = session.resolve_track(args.track)
    view = session.track(name)
    plan = plan_normalization(view, view.sample_rate, target_lufs=args.target_lufs,
                              true_peak_db=args.true_peak_db)
    summary = describe(plan.report, target_lufs=args.target_lufs, true_peak_db=args.true_peak_db)
    builder = build_normalized(session, view, plan)
    step = session.commit({name: builder}, tool="normalize_loudness",
                          args=args.model_dump(mode="json"), summary=summary, select=name)
    return described(session, name, step, summary=summary, duration_s=view.duration_s,
                     data=plan.report)

TOOL = Tool(
    name="normalize_loudness",
    description=(
        "Set the perceived loudness (integrated LUFS, ITU-R BS.1770) to a target with a true-peak "
        "ceiling. Use for 'normalize to -16 LUFS', 'podcast loudness' (-16), 'broadcast' (-23), "
        "'streaming' (-14)."
    ),
    args_model=Args,
    run=_run,
)
