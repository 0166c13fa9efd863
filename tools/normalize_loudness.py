"""normalize_loudness: bring integrated loudness (ITU-R BS.1770) to a target, under a true-peak ceiling.

The gain that reaches the target is applied; where that pushes the true peak over the ceiling, a
look-ahead limiter holds the peaks down, and the gain is refined (a few passes) so the limited
result still measures at the target.
"""

from __future__ import annotations

import math

import numpy as np
from pydantic import Field

from tools.core.audio import Audio
from tools.core.dsp import db_to_amplitude, integrated_loudness, limit_true_peak
from tools.core.dsp import true_peak_db as true_peak_db_of
from tools.core.errors import ToolError
from tools.core.session import Session
from tools.core.tool import Tool, ToolArgs, ToolResult, commit_edit, track_field

_MAX_PASSES = 8
_MAX_LIMITING_DB = 40.0  # never push the gain more than this above the unlimited gain


class Args(ToolArgs):
    target_lufs: float = Field(ge=-70, le=-5, description="Target integrated loudness in LUFS, from -70 to -5 (podcasts -16, broadcast EBU R128 -23, streaming music -14).")
    true_peak_db: float = Field(default=-1.0, ge=-20, le=0, description="True-peak ceiling in dBTP, from -20 to 0 (-1 is the usual delivery ceiling).")
    track: str | None = track_field()


def normalize_loudness(audio: Audio, *, target_lufs: float, true_peak_db: float = -1.0) -> tuple[Audio, dict]:
    """Return ``audio`` at ``target_lufs`` with true peaks at or below ``true_peak_db``, plus a
    report (``input_lufs``, ``output_lufs``, ``gain_db``, ``limited``, ``true_peak_db``, and
    ``reached``: whether the output is within 0.5 LU of the target)."""
    before = integrated_loudness(audio.samples, audio.sample_rate)
    if not math.isfinite(before):
        raise ToolError("cannot measure loudness: the track is silent or shorter than 0.4 s")
    gain_db = plain_db = target_lufs - before
    applied_db = gain_db
    limited = False
    out = audio.samples
    peak_in_db = true_peak_db_of(audio.samples, audio.sample_rate)  # true peak scales with gain
    previous: tuple[float, float] | None = None  # (gain_db, loudness) of the last limited pass
    for _ in range(_MAX_PASSES):
        applied_db = gain_db
        out = None  # let the last pass's copy go before making the next (hour-long files)
        if peak_in_db + gain_db <= true_peak_db:
            out = audio.samples * np.float32(db_to_amplitude(gain_db))
            break
        limited = True
        out = limit_true_peak(audio.samples, audio.sample_rate, ceiling_db=true_peak_db,
                              pre_gain_db=gain_db)
        loudness = integrated_loudness(out, audio.sample_rate)
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
    result = audio.replace(out)
    after = integrated_loudness(result.samples, result.sample_rate)
    report = {"input_lufs": before, "output_lufs": after, "gain_db": applied_db, "limited": limited,
              "true_peak_db": true_peak_db_of(result.samples, result.sample_rate),
              "reached": abs(after - target_lufs) <= 0.5}
    return result, report


def _run(session: Session, args: Args) -> ToolResult:
    out, report = normalize_loudness(session.audio(args.track), target_lufs=args.target_lufs,
                                     true_peak_db=args.true_peak_db)
    summary = (f"loudness {report['input_lufs']:.1f} -> {report['output_lufs']:.1f} LUFS "
               f"({report['gain_db']:+.1f} dB"
               + (", peaks limited" if report["limited"] else "")
               + f", true peak {report['true_peak_db']:.1f} dBTP)")
    if not report["reached"]:
        summary += (f"; could not reach {args.target_lufs:g} LUFS under a {args.true_peak_db:g} dBTP "
                    "ceiling: the peaks would need heavier limiting")
    return commit_edit(session, args.track, out, tool="normalize_loudness", args=args,
                       summary=summary, data=report)


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
