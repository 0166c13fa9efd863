"""duck: lower a music track by N dB wherever a speech track has speech, with smooth ramps.

Speech presence comes from :func:`tools.algorithms.vad.speech_activity` on the speech track (Silero VAD, or
frame energy without onnxruntime). Pauses shorter than ``hold_ms`` keep the music down, so it does
not pump between words. Working offline, the ducker looks ahead: the fade down (a raised-cosine
curve in dB, ``ramp_ms`` long) ends as the speech starts, and the fade back up starts as it ends.
Both tracks are taken to start together; the music keeps its length, rate and channels.
The tool reads both tracks window by window (``session.track``) and stores the ducked music block
by block (``commit_blocks``), so hour-long tracks stay in bounded memory.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from pydantic import Field

from tools.algorithms.vad import speech_activity
from tools.core.audio import Audio
from tools.core.errors import ToolArgumentError
from tools.core.session import Session
from tools.core.tool import Tool, ToolArgs, ToolResult, commit_blocks

CONTROL_RATE_HZ = 1000  # the gain curve is computed every 1 ms and interpolated in between
_BLOCK = 1 << 20
Region = tuple[float, float]


class Args(ToolArgs):
    speech_track: str = Field(description="The track with the voice the music should make room for.")
    depth_db: float = Field(default=10.0, ge=1, le=40, description="How far the music goes down under speech, in dB, from 1 to 40 (10 default; 6 subtle, 15 to 20 strong).")
    ramp_ms: float = Field(default=300.0, ge=10, le=5000, description="Length of the fade down before the speech and back up after it, in ms, from 10 to 5000 (300 default).")
    hold_ms: float = Field(default=500.0, ge=0, le=5000, description="Pauses in the speech shorter than this keep the music down, in ms, from 0 to 5000 (500 default).")
    track: str | None = Field(default=None, description="The music track to lower; null for the current track.")


def _distance_s(times: np.ndarray, regions: Sequence[Region]) -> np.ndarray:
    """Seconds from each of ``times`` to the nearest region (0 inside one); inf with no regions."""
    if not regions:
        return np.full(times.shape, np.inf)
    starts = np.array([r[0] for r in regions])
    ends = np.array([r[1] for r in regions])
    here = np.clip(np.searchsorted(starts, times, side="right") - 1, 0, None)  # last start <= t
    following = np.minimum(here + 1, len(regions) - 1)
    d_here = np.where(times >= starts[here], np.maximum(times - ends[here], 0.0),
                      starts[here] - times)
    d_next = np.where(following > here, np.maximum(starts[following] - times, 0.0), np.inf)
    return np.minimum(d_here, d_next)


def ducking_gain_db(times_s: np.ndarray, regions: Sequence[Region], *, depth_db: float,
                    ramp_ms: float) -> np.ndarray:
    """Gain in dB at ``times_s``: ``-depth_db`` inside the regions, 0 further than ``ramp_ms``
    from them, a raised-cosine curve in between."""
    ramp_s = max(ramp_ms * 1e-3, 1e-6)
    x = np.clip(1.0 - _distance_s(np.asarray(times_s, dtype=np.float64), regions) / ramp_s, 0, 1)
    return -depth_db * (0.5 - 0.5 * np.cos(np.pi * x))


def ducking_blocks(music: Any, regions: Sequence[Region], *, depth_db: float,
                   ramp_ms: float) -> Iterator[np.ndarray]:
    """The float32 ``(channels, m)`` blocks of ``music`` (any reader with ``.read``,
    ``.sample_rate``, ``.num_samples``) with :func:`ducking_gain_db` applied, in order: the gain is
    computed at 1 kHz and interpolated per sample; memory is one block."""
    regions = sorted((float(a), float(b)) for a, b in regions)
    rate, total = music.sample_rate, music.num_samples
    for lo in range(0, total, _BLOCK):
        hi = min(lo + _BLOCK, total)
        c0 = int(np.floor(lo / rate * CONTROL_RATE_HZ))
        c1 = int(np.ceil(hi / rate * CONTROL_RATE_HZ)) + 2
        control_t = np.arange(c0, c1) / CONTROL_RATE_HZ
        control = 10.0 ** (ducking_gain_db(control_t, regions, depth_db=depth_db,
                                           ramp_ms=ramp_ms) / 20)
        t = np.arange(lo, hi) / rate
        block = np.asarray(music.read(lo, hi), dtype=np.float32)
        yield block * np.interp(t, control_t, control).astype(np.float32)


def apply_ducking(music: Audio, regions: Sequence[Region], *, depth_db: float,
                  ramp_ms: float) -> Audio:
    """``music`` with :func:`ducking_gain_db` applied (the blocks of :func:`ducking_blocks`)."""
    blocks = list(ducking_blocks(music, regions, depth_db=depth_db, ramp_ms=ramp_ms))
    out = np.concatenate(blocks, axis=1) if blocks else music.samples.copy()
    return music.replace(out)


def speech_regions(speech: Any, music_duration_s: float, *, hold_ms: float,
                   method: str = "auto") -> tuple[list[Region], str]:
    """The speech spans of ``speech`` (a reader; the VAD streams it) that the music should make
    room for, cut to ``music_duration_s``, and the detector used."""
    activity = speech_activity(speech, method=method)
    regions = activity.regions(min_silence_s=hold_ms * 1e-3, min_speech_s=0.1)
    return ([(a, min(b, music_duration_s)) for a, b in regions if a < music_duration_s],
            activity.method)


def _report(regions: Sequence[Region], method: str) -> dict:
    return {"regions": list(regions), "ducked_s": round(sum(b - a for a, b in regions), 3),
            "method": method}


def duck(music: Audio, speech: Audio, *, depth_db: float = 10.0, ramp_ms: float = 300.0,
         hold_ms: float = 500.0, method: str = "auto") -> tuple[Audio, dict]:
    """Lower ``music`` by ``depth_db`` where ``speech`` has speech. Returns the ducked music and a
    report: ``regions`` (the speech spans used, seconds), ``ducked_s`` and the detector ``method``."""
    if depth_db < 0:
        raise ToolArgumentError(f"depth_db={depth_db:g} must be positive (how far down)")
    regions, used = speech_regions(speech, music.duration_s, hold_ms=hold_ms, method=method)
    out = apply_ducking(music, regions, depth_db=depth_db, ramp_ms=ramp_ms)
    return out, _report(regions, used)


def _run(session: Session, args: Args) -> ToolResult:
    music_name = session.resolve_track(args.track)
    speech_name = session.resolve_track(args.speech_track)
    if music_name == speech_name:
        raise ToolArgumentError(f"track={music_name!r} and speech_track are the same; duck the "
                                "music track under a different speech track")
    music = session.track(music_name)  # both read window by window: long tracks stay out of memory
    regions, used = speech_regions(session.track(speech_name), music.duration_s,
                                   hold_ms=args.hold_ms)
    report = _report(regions, used)
    if not regions:
        summary = f"no speech found in {speech_name}; {music_name} left as it was"
    else:
        summary = (f"lowered {music_name} by {args.depth_db:g} dB under the speech of "
                   f"{speech_name} ({len(regions)} spans, {report['ducked_s']:.1f} s, "
                   f"{args.ramp_ms:g} ms ramps)")
    blocks = ducking_blocks(music, regions, depth_db=args.depth_db, ramp_ms=args.ramp_ms)
    return commit_blocks(session, music_name, blocks, sample_rate=music.sample_rate,
                         channels=music.channels, tool="duck", args=args, summary=summary,
                         data=report)


TOOL = Tool(
    name="duck",
    description=(
        "Turn a music (or background) track down by depth_db wherever another track has speech, "
        "with smooth fades: 'turn the music down 10 dB under the speech', 'duck the music under "
        "the voice', 'auto-duck'. Combine the tracks afterwards with remix."
    ),
    args_model=Args,
    run=_run,
)
