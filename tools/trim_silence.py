"""trim_silence: remove the silence (or room tone) before the first sound and after the last.

Levels are read in 10 ms frames (the loudest channel; :mod:`tools.algorithms.levels`). Sound is
where 30 ms or more of any 50 ms lies above the threshold, so a lone click or a breath of hiss
does not count. The default threshold follows the recording: 10 dB over its noise floor, but no
higher than 6 dB under its loud level and no lower than 45 dB under it (as Audacity's "Truncate
Silence" with a level set from the track). ``keep_ms`` of the quiet is kept on each side so the
first word is not clipped, and the new edges get a 5 ms fade (no click where room tone is cut).
Only the ends change; pauses inside are kept (remove_disfluencies shortens those).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import Field

from tools.algorithms.levels import frame_levels_db, loud_level_db, noise_floor_db
from tools.algorithms.streaming import Source, collect, read_blocks, source_of, stream_edit
from tools.core.audio import Audio
from tools.core.errors import ToolError
from tools.core.session import Session
from tools.core.tool import Tool, ToolArgs, ToolResult, track_field

FRAME_S = 0.01
FADE_S = 0.005
RUN_FRAMES, NEED_FRAMES = 5, 3  # sound: 3 loud frames in any 5


class Args(ToolArgs):
    threshold_db: float | None = Field(default=None, ge=-100, le=-10, description="Level in dBFS under which it counts as silence, from -100 to -10; null to set it from the recording (10 dB over its noise floor).")
    keep_ms: float = Field(default=150.0, ge=0, le=2000, description="Quiet kept before the first and after the last sound, in ms, from 0 to 2000 (150 default).")
    where: Literal["both", "start", "end"] = Field(default="both", description="Trim the 'start', the 'end' or 'both' (default).")
    track: str | None = track_field()


@dataclass(frozen=True)
class TrimPlan:
    start: int  # first sample kept
    stop: int  # one past the last sample kept
    threshold_db: float
    total: int

    @property
    def changed(self) -> bool:
        return self.start > 0 or self.stop < self.total


def auto_threshold_db(levels_db: np.ndarray) -> float:
    loud, floor = loud_level_db(levels_db), noise_floor_db(levels_db)
    return float(min(max(floor + 10.0, loud - 45.0), loud - 6.0))


def plan_trim(source: Source, sample_rate: int, *, threshold_db: float | None = None,
              keep_ms: float = 150.0, where: str = "both") -> TrimPlan:
    """Where the sound starts and ends (see the module docstring); refuses a silent track."""
    n = source.shape[-1]
    levels = frame_levels_db(source, sample_rate, frame_s=FRAME_S)
    if levels.size == 0 or levels.max() <= -100:
        raise ToolError("the track is silent from start to end; there is no sound to keep")
    threshold = auto_threshold_db(levels) if threshold_db is None else float(threshold_db)
    loud = (levels > threshold).astype(int)
    runs = np.convolve(loud, np.ones(RUN_FRAMES, dtype=int), mode="full")[:loud.size]
    sound = np.nonzero(runs >= min(NEED_FRAMES, loud.size))[0]  # a run ends at these frames
    if sound.size == 0:
        raise ToolError(f"nothing in the track rises above {threshold:.1f} dBFS; give a lower "
                        "threshold_db")
    frame = int(round(FRAME_S * sample_rate))
    first = int(np.nonzero(loud[max(sound[0] - RUN_FRAMES + 1, 0):])[0][0]) + \
        max(sound[0] - RUN_FRAMES + 1, 0)
    last = int(sound[-1])
    while last > 0 and not loud[last]:
        last -= 1
    keep = int(keep_ms * 1e-3 * sample_rate)
    start = max(first * frame - keep, 0) if where in ("both", "start") else 0
    stop = min((last + 1) * frame + keep, n) if where in ("both", "end") else n
    return TrimPlan(start, stop, threshold, n)


def trim_blocks(source: Source, sample_rate: int, plan: TrimPlan) -> Iterator[np.ndarray]:
    """The kept part of ``source`` (``source[:, start:stop]``) in blocks, its new edges faded."""
    fade = min(int(FADE_S * sample_rate), (plan.stop - plan.start) // 2)
    ramp = ((np.arange(fade) + 0.5) / max(fade, 1)).astype(np.float32)
    done = plan.start
    for block in read_blocks(source, start=plan.start, stop=plan.stop):
        block = block.copy()
        lo, hi = done - plan.start, done - plan.start + block.shape[-1]
        if plan.start > 0 and lo < fade:
            block[:, :min(fade, hi) - lo] *= ramp[lo:min(fade, hi)]
        tail_from = plan.stop - plan.start - fade
        if plan.stop < plan.total and hi > tail_from:
            a = max(tail_from, lo)
            block[:, a - lo:] *= ramp[::-1][a - tail_from:hi - tail_from]
        done += block.shape[-1]
        yield block


def trim_silence(audio: Audio, **kwargs) -> tuple[Audio, TrimPlan]:
    """``audio`` without its leading/trailing silence (keyword arguments as :func:`plan_trim`)."""
    plan = plan_trim(audio.samples, audio.sample_rate, **kwargs)
    return audio.replace(collect(trim_blocks(audio.samples, audio.sample_rate, plan),
                                 audio.channels)), plan


def _run(session: Session, args: Args) -> ToolResult:
    source, rate = source_of(session, args.track)
    plan = plan_trim(source, rate, threshold_db=args.threshold_db, keep_ms=args.keep_ms,
                     where=args.where)
    name = session.resolve_track(args.track)
    if not plan.changed:
        return ToolResult(text=f"no silence to trim at the {args.where.replace('both', 'start or end')} "
                               f"of {name} (below {plan.threshold_db:.1f} dBFS); nothing changed",
                          data={"track": name, "threshold_db": plan.threshold_db})
    summary = (f"trimmed {plan.start / rate:.2f} s of silence from the start and "
               f"{(plan.total - plan.stop) / rate:.2f} s from the end (below "
               f"{plan.threshold_db:.1f} dBFS, {args.keep_ms:g} ms kept)")
    return stream_edit(session, args.track, trim_blocks(source, rate, plan), sample_rate=rate,
                       tool="trim_silence", args=args, summary=summary,
                       data={"start_s": plan.start / rate, "end_s": plan.stop / rate,
                             "threshold_db": plan.threshold_db})


TOOL = Tool(
    name="trim_silence",
    description=(
        "Remove the silence or room tone before the first sound and after the last one: 'trim "
        "the silence at the start and end', 'cut the dead air at the beginning', 'remove the "
        "silence at the end' (where 'end'). Found from the levels; pauses inside stay (to shorten "
        "those use remove_disfluencies). To cut a given time span use cut or trim."
    ),
    args_model=Args,
    run=_run,
)
