"""remix: combine tracks (stems or takes) into one, with per-track gain, pan, mute and solo.

Presets work on the stems of the latest ``separate``: ``karaoke`` is every stem but the vocals
(``no_vocals`` after a two-stem split), ``acapella`` the vocals alone. Per-track settings given with
a preset adjust its stems or add other tracks ("karaoke with the bass up 3 dB").

Pan law: a mono track panned into a stereo mix uses the constant-power sine law (-3 dB in each
channel at the centre, full level in one channel at the extremes); a stereo track's pan is a
balance control (unity at the centre; panning one way turns the other channel down, to silence at
+-1). Tracks of different rates are resampled to the highest one; shorter ones end in silence.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from pydantic import Field

from tools.core.audio import Audio
from tools.core.dsp import db_to_amplitude, peak_db
from tools.core.errors import ToolArgumentError
from tools.core.resample import resampled_blocks
from tools.core.session import TRACK_NAME, Session
from tools.core.tool import Tool, ToolArgs, ToolResult

STEM_NAMES = ("vocals", "drums", "bass", "other", "guitar", "piano", "no_vocals")
Preset = Literal["karaoke", "acapella"]
_BLOCK = 1 << 17


class TrackMix(ToolArgs):
    track: str = Field(description="Name of a track to include.")
    gain_db: float | None = Field(default=None, ge=-60, le=24, description="Gain for this track in dB, from -60 to +24; null for 0 dB.")
    pan: float | None = Field(default=None, ge=-1, le=1, description="Stereo position from -1 (hard left) through 0 (centre) to +1 (hard right); null for centre.")
    mute: bool | None = Field(default=None, description="True leaves this track out; null for false.")
    solo: bool | None = Field(default=None, description="True plays only the soloed tracks (all soloed ones); null for false.")


class Args(ToolArgs):
    preset: Preset | None = Field(default=None, description="'karaoke' (every stem of the last separation but the vocals) or 'acapella' (the vocals stem alone); null to mix exactly the listed tracks.")
    tracks: list[TrackMix] | None = Field(default=None, description="Tracks to combine, each with optional gain_db, pan, mute, solo; with a preset they adjust or add to its stems. Null with a preset for its stems as they are.")
    output: str | None = Field(default=None, description="Name of the resulting track (letters, digits, '_', '-', '.'); null for the preset's name or 'remix'.")


@dataclass(frozen=True)
class Part:
    """One track of a remix and its settings."""

    audio: Any  # an Audio or a session TrackView
    gain_db: float = 0.0
    pan: float = 0.0
    mute: bool = False
    solo: bool = False


def pan_gains(pan: float, *, source_channels: int) -> tuple[float, float]:
    """(left, right) gains for ``pan`` in [-1, 1]: constant-power sine law for a mono source,
    balance (unity at the centre) for a stereo one."""
    if not -1.0 <= pan <= 1.0:
        raise ToolArgumentError(f"pan={pan:g} must be from -1 (left) to +1 (right)")
    theta = (pan + 1.0) * np.pi / 4.0
    left, right = float(np.cos(theta)), float(np.sin(theta))
    if source_channels == 1:
        return left, right
    return min(1.0, np.sqrt(2.0) * left), min(1.0, np.sqrt(2.0) * right)


class _Reader:
    """Fixed-size takes from a stream of variable-size blocks; zeros once it has run out."""

    def __init__(self, blocks: Iterator[np.ndarray], channels: int) -> None:
        self.blocks, self.channels = blocks, channels
        self.buffer = np.zeros((channels, 0), dtype=np.float32)

    def take(self, count: int) -> np.ndarray:
        while self.buffer.shape[1] < count:
            block = next(self.blocks, None)
            if block is None:
                pad = np.zeros((self.channels, count - self.buffer.shape[1]), dtype=np.float32)
                self.buffer = np.concatenate([self.buffer, pad], axis=1)
                break
            self.buffer = np.concatenate([self.buffer, block], axis=1)
        out, self.buffer = self.buffer[:, :count], self.buffer[:, count:]
        return out


def remix_blocks(parts: Sequence[Part], *, block: int = _BLOCK) -> tuple[int, int, int,
                                                                            Iterator[np.ndarray]]:
    """Sum ``parts`` (each an Audio or a session TrackView) with their gains and pans; solo beats
    mute. As in a mixer, every part, muted or not, sets the output's format: the highest rate,
    the longest length; mono when every part is mono and nothing is panned, else stereo (or the
    parts' common channel count when that is more than two and nothing is panned).

    Returns ``(sample_rate, channels, length, blocks)``: the mix is made block by block, each
    part resampled as a stream, so memory is a block per part whatever the length."""
    playing = [p for p in parts if p.solo] or [p for p in parts if not p.mute]
    if not playing:
        raise ToolArgumentError("every track is muted; unmute or solo at least one")
    rate = max(p.audio.sample_rate for p in parts)
    channels = max(p.audio.channels for p in parts)
    panned = any(p.pan != 0.0 for p in playing)
    if channels > 2 and (panned or any(p.audio.channels not in (1, channels) for p in parts)):
        raise ToolArgumentError(f"cannot pan or mix {channels}-channel tracks with others; "
                                "convert them to stereo first")
    if panned:
        channels = max(channels, 2)
    length = max(-(-p.audio.num_samples * rate // p.audio.sample_rate) for p in parts)

    def blocks() -> Iterator[np.ndarray]:
        readers = [_Reader(resampled_blocks(p.audio, p.audio.sample_rate, rate), p.audio.channels)
                   for p in playing]
        for start in range(0, length, block):
            count = min(block, length - start)
            out = np.zeros((channels, count), dtype=np.float32)
            for part, reader in zip(playing, readers, strict=True):
                gain = db_to_amplitude(part.gain_db)
                samples = reader.take(count)
                if channels == 2 and (part.audio.channels == 1 or part.pan != 0.0):
                    left, right = pan_gains(part.pan, source_channels=part.audio.channels)
                    out[0] += samples[0] * np.float32(gain * left)
                    out[1] += samples[-1] * np.float32(gain * right)
                else:
                    out += samples * np.float32(gain)
            yield out

    return rate, channels, length, blocks()


def remix(parts: Sequence[Part]) -> Audio:
    """:func:`remix_blocks` gathered into one Audio."""
    rate, _, _, blocks = remix_blocks(parts)
    return Audio(np.concatenate(list(blocks), axis=1), rate)


def latest_stems(session: Session) -> list[str]:
    """The tracks made by the latest ``separate`` still in the session (else the tracks named like
    stems), in their order."""
    for step in reversed(session.history()):
        if step.tool == "separate":
            names = [c.track for c in step.changes if c.track in session.tracks]
            if names:
                return names
    return [name for name in STEM_NAMES if name in session.tracks]


def preset_tracks(session: Session, preset: str) -> list[str]:
    stems = latest_stems(session)
    if "vocals" not in stems:
        raise ToolArgumentError(
            f"preset={preset!r} needs a vocals stem; run separate first (two_stems='vocals' is "
            f"enough) (stem tracks found: {', '.join(stems) or 'none'})")
    if preset == "acapella":
        return ["vocals"]
    rest = [name for name in stems if name != "vocals"]
    return ["no_vocals"] if "no_vocals" in rest else rest


def _run(session: Session, args: Args) -> ToolResult:
    names = preset_tracks(session, args.preset) if args.preset else []
    settings: dict[str, TrackMix] = {name: TrackMix(track=name) for name in names}
    for item in args.tracks or []:
        session.resolve_track(item.track)  # a clear error for an unknown track
        settings[item.track] = item
    if not settings:
        raise ToolArgumentError("give tracks to combine, or a preset ('karaoke' or 'acapella')")
    output = args.output or args.preset or "remix"
    if not TRACK_NAME.match(output):
        raise ToolArgumentError(f"output={output!r} is not a valid track name; use letters, "
                                "digits, '_', '-', '.'")
    parts = [Part(session.track(name), gain_db=s.gain_db or 0.0, pan=s.pan or 0.0,
                  mute=bool(s.mute), solo=bool(s.solo)) for name, s in settings.items()]
    rate, channels, length, blocks = remix_blocks(parts)
    builder = session.builder(sample_rate=rate, channels=channels)
    peak = -120.0
    try:
        for block in blocks:
            builder.append(block)
            peak = max(peak, peak_db(block))
    except BaseException:
        session.discard_pending()
        raise
    played = [n for n, p in zip(settings, parts, strict=True)
              if (p.solo if any(q.solo for q in parts) else not p.mute)]
    summary = f"mixed {', '.join(played)} into {output}"
    if args.preset:
        summary = f"{args.preset}: " + summary
    if peak > 0.0:
        summary += f"; peaks reach {peak:+.1f} dBFS (lower a gain or normalize_loudness)"
    session.commit({output: builder}, tool="remix", args=args.model_dump(mode="json"),
                   summary=summary, select=output)
    return ToolResult(text=f"{summary} (track {output}: {length / rate:.2f} s)",
                      data={"track": output, "tracks": played, "peak_db": peak},
                      changed=(output,))


TOOL = Tool(
    name="remix",
    description=(
        "Combine tracks (stems or takes) into a new track with per-track gain_db, pan, mute and "
        "solo. Presets after separate: 'karaoke' (everything but the vocals), 'acapella' (vocals "
        "only). Use for 'make a karaoke version', 'vocals only', 'drums down 6 dB', 'mix these "
        "takes', 'pan the guitar left'."
    ),
    args_model=Args,
    run=_run,
)
