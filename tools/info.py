"""info: describe a track: duration, rate, channels, loudness, peaks. Edits nothing."""

from __future__ import annotations

from typing import Any

from tools.core.audio import Audio
from tools.core.meter import measure
from tools.core.session import Session
from tools.core.tool import Tool, ToolArgs, ToolResult, track_field


class Args(ToolArgs):
    track: str | None = track_field()


def info(audio: Audio | Any) -> dict[str, Any]:
    """Measurements of ``audio``: ``duration_s``, ``sample_rate_hz``, ``channels``,
    ``integrated_lufs`` (None when unmeasurable), ``true_peak_db``, ``peak_db``, ``rms_db``."""
    levels = measure(audio, audio.sample_rate)  # one streamed pass (Audio or a TrackView)
    lufs = levels.integrated_lufs
    return {
        "duration_s": round(audio.duration_s, 6),
        "sample_rate_hz": audio.sample_rate,
        "channels": audio.channels,
        "samples": audio.num_samples,
        "integrated_lufs": round(lufs, 2) if lufs != float("-inf") else None,
        "true_peak_db": round(levels.true_peak_db, 2),
        "peak_db": round(levels.peak_db, 2),
        "rms_db": round(levels.rms_db, 2),
    }


def describe(facts: dict[str, Any]) -> str:
    """One line a person reads, from :func:`info`'s dict."""
    lufs = facts["integrated_lufs"]
    loud = f"{lufs:.1f} LUFS" if lufs is not None else "loudness n/a"
    minutes, seconds = divmod(facts["duration_s"], 60)
    return (f"{int(minutes)}:{seconds:06.3f} ({facts['duration_s']:.3f} s), "
            f"{facts['sample_rate_hz']} Hz, {facts['channels']} ch, {loud}, "
            f"true peak {facts['true_peak_db']:.1f} dBTP, RMS {facts['rms_db']:.1f} dBFS")


def _run(session: Session, args: Args) -> ToolResult:
    name = session.resolve_track(args.track)
    facts = info(session.track(name))
    return ToolResult(text=f"{name}: {describe(facts)}", data={"track": name, **facts})


TOOL = Tool(
    name="info",
    description="Measure a track without changing it: duration, sample rate, channels, integrated loudness (LUFS), true peak. Use when asked how long or how loud something is.",
    args_model=Args,
    run=_run,
    edits=False,
)
