"""add_reverb: put the track in a room: from a small room to a cathedral, or a measured one.

Convolution reverb: the track is convolved (pedalboard's ``Convolution``, JUCE's partitioned
convolution, block by block with ``reset=False``) with an impulse response, either one made for
the asked decay (:func:`tools.algorithms.room.synthetic_ir`: a diffuse exponential tail whose
mid-frequency RT60 is ``decay_s``, highs decaying faster, early reflections, pre-delay, a different
tail per channel for width) or one read from a file (``impulse_response``: a measured room or
plate, resampled to the track's rate). The wet signal is added to the dry one at ``wet_db`` (the
impulse response has unit energy, so 0 dB makes the reverb as loud as the dry sound), the dry at
``dry_db``. With ``keep_tail`` the track grows by the reverb's ring-out, as a DAW renders it.

Why not pedalboard's ``Reverb``: it is Freeverb, whose decay is set by a 0-1 room size, not in
seconds, and cannot be shorter than about half a second; a synthesised response gives any decay
from 0.1 to 10 s exactly (as the synthesised mode of Logic's Space Designer).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pedalboard
from pydantic import Field

from tools.algorithms.room import synthetic_ir
from tools.algorithms.streaming import (
    PluginStream,
    Source,
    collect,
    read_blocks,
    source_of,
    stream_edit,
)
from tools.core.audio import Audio, load, resample
from tools.core.errors import ToolArgumentError
from tools.core.session import Session
from tools.core.tool import Tool, ToolArgs, ToolResult, track_field

Preset = Literal["small_room", "room", "studio", "hall", "big_hall", "cathedral", "plate"]
# preset -> (decay s, pre-delay ms, HF decay ratio, wet dB)
PRESETS: dict[str, tuple[float, float, float, float]] = {
    "small_room": (0.4, 3.0, 0.5, -14.0),
    "room": (0.7, 8.0, 0.5, -12.0),
    "studio": (0.3, 2.0, 0.6, -16.0),
    "hall": (1.8, 20.0, 0.6, -10.0),
    "big_hall": (2.8, 30.0, 0.6, -8.0),
    "cathedral": (5.0, 40.0, 0.5, -8.0),
    "plate": (1.5, 0.0, 0.9, -12.0),
}
MAX_TAIL_S = 12.0


class Args(ToolArgs):
    preset: Preset | None = Field(default=None, description="A room: 'small_room' (0.4 s), 'room' (0.7 s, the default), 'studio' (0.3 s), 'hall' (1.8 s), 'big_hall' (2.8 s), 'cathedral' (5 s) or 'plate' (1.5 s, bright); the values below replace the preset's.")
    decay_s: float | None = Field(default=None, ge=0.1, le=10, description="Reverberation time (RT60: how long the reverb takes to fall by 60 dB) in seconds, from 0.1 to 10; null for the preset's.")
    room_size: float | None = Field(default=None, ge=0, le=1, description="Room size from 0 (a booth, 0.2 s) to 1 (a huge hall, 8 s), as a reverb plug-in's size knob; sets decay_s when that is null.")
    wet_db: float | None = Field(default=None, ge=-40, le=6, description="Level of the reverb relative to the dry sound in dB, from -40 to +6 (-18 'a touch', -12 'some', -6 'a lot'); null for the preset's.")
    dry_db: float = Field(default=0.0, ge=-80, le=0, description="Level of the dry sound in dB, from -80 (reverb only) to 0 (unchanged, default).")
    pre_delay_ms: float | None = Field(default=None, ge=0, le=200, description="Gap before the reverb starts, in ms, from 0 to 200; null for the preset's.")
    impulse_response: str | None = Field(default=None, description="Path of an impulse-response audio file (a measured room, hall or plate) to convolve with instead of a made one; decay_s, room_size and pre_delay_ms are then ignored.")
    keep_tail: bool = Field(default=True, description="Let the reverb ring out past the end (the track gets longer by up to the decay time); false keeps the length.")
    track: str | None = track_field()


@dataclass(frozen=True)
class Reverb:
    ir: np.ndarray  # (ir_channels, m) float32, unit energy per channel
    wet_db: float
    dry_db: float
    keep_tail: bool
    label: str


def room_size_to_decay_s(room_size: float) -> float:
    """0 -> 0.2 s, 0.5 -> 1.26 s, 1 -> 8 s (logarithmic, as a plug-in's size knob feels)."""
    return float(0.2 * 40 ** room_size)


def _load_ir(path: str, sample_rate: int) -> np.ndarray:
    file = Path(path).expanduser()
    if not file.is_file():
        raise ToolArgumentError(f"impulse_response={path!r}: no such file")
    audio = resample(load(file), sample_rate_hz=sample_rate)
    ir = audio.samples.astype(np.float64)
    energy = np.sqrt(np.sum(np.square(ir), axis=-1, keepdims=True))
    if not np.all(energy > 0):
        raise ToolArgumentError(f"impulse_response={path!r} is silent")
    # trim the silence after the ring-out (below -90 dB of the peak)
    loud = np.nonzero(np.abs(ir).max(axis=0) > np.abs(ir).max() * 10 ** (-90 / 20))[0]
    ir = ir[:, :loud[-1] + 1]
    return (ir / np.sqrt(np.sum(np.square(ir), axis=-1, keepdims=True))).astype(np.float32)


def plan_reverb(sample_rate: int, channels: int, *, preset: str | None = None,
                decay_s: float | None = None, room_size: float | None = None,
                wet_db: float | None = None, dry_db: float = 0.0,
                pre_delay_ms: float | None = None, impulse_response: str | None = None,
                keep_tail: bool = True, seed: int = 0) -> Reverb:
    """The impulse response and levels for these settings (see :class:`Args`)."""
    if preset is not None and preset not in PRESETS:
        raise ToolArgumentError(f"preset={preset!r} is unknown; expected one of: {', '.join(PRESETS)}")
    p_decay, p_pre, hf, p_wet = PRESETS[preset or "room"]
    wet = p_wet if wet_db is None else float(wet_db)
    if impulse_response is not None:
        ir = _load_ir(impulse_response, sample_rate)
        return Reverb(ir, wet, float(dry_db), keep_tail, f"the impulse response {impulse_response}")
    decay = decay_s if decay_s is not None else (
        room_size_to_decay_s(room_size) if room_size is not None else p_decay)
    if not 0.1 <= decay <= 10:
        raise ToolArgumentError(f"decay_s={decay:g} must be from 0.1 to 10")
    pre = p_pre if pre_delay_ms is None else float(pre_delay_ms)
    ir = synthetic_ir(sample_rate, decay_s=decay, channels=min(channels, 8), pre_delay_ms=pre,
                      hf_decay_ratio=hf, seed=seed)
    name = f"'{preset.replace('_', ' ')}' " if preset else ""
    return Reverb(ir, wet, float(dry_db), keep_tail,
                  f"a {name}{decay:.2f} s room (pre-delay {pre:g} ms)")


def _convolver(ir: np.ndarray, sample_rate: int) -> tuple[pedalboard.Convolution, float]:
    """A Convolution plugin for mono ``ir`` and the factor that undoes its normalisation (JUCE
    scales impulse responses; measured once on an impulse so the wet level is exact)."""
    plugin = pedalboard.Convolution(np.ascontiguousarray(ir[None, :]), sample_rate=float(sample_rate))
    probe = np.zeros((1, ir.size + 16), dtype=np.float32)
    probe[0, 0] = 1.0
    response = plugin.process(probe, float(sample_rate), reset=True)
    energy = float(np.sum(np.square(response, dtype=np.float64)))
    return plugin, (1.0 / np.sqrt(energy) if energy > 0 else 0.0)


def reverb_blocks(source: Source, sample_rate: int, reverb: Reverb) -> Iterator[np.ndarray]:
    """Blocks of ``source`` (``(channels, n)``) with ``reverb`` added; ``n`` samples, or ``n``
    plus the impulse response's length with ``keep_tail``."""
    channels = source.shape[0]
    streams, scales = [], []
    for c in range(channels):
        plugin, scale = _convolver(reverb.ir[c % reverb.ir.shape[0]], sample_rate)
        streams.append(PluginStream(plugin, sample_rate))
        scales.append(scale * 10 ** (reverb.wet_db / 20))
    dry = np.float32(10 ** (reverb.dry_db / 20))
    wet_gain = np.asarray(scales, dtype=np.float32)[:, None]

    def wet(block: np.ndarray) -> np.ndarray:
        return np.concatenate([s(block[c:c + 1]) for c, s in enumerate(streams)]) * wet_gain

    for block in read_blocks(source):
        yield block * dry + wet(block)
    if reverb.keep_tail:
        tail = min(reverb.ir.shape[-1], int(MAX_TAIL_S * sample_rate))
        for lo in range(0, tail, 1 << 16):
            yield wet(np.zeros((channels, min(1 << 16, tail - lo)), dtype=np.float32))


def add_reverb(audio: Audio, **kwargs) -> tuple[Audio, Reverb]:
    """``audio`` with reverb (keyword arguments as :func:`plan_reverb`), and the reverb used."""
    reverb = plan_reverb(audio.sample_rate, audio.channels, **kwargs)
    out = collect(reverb_blocks(audio.samples, audio.sample_rate, reverb), audio.channels)
    return audio.replace(out), reverb


def _run(session: Session, args: Args) -> ToolResult:
    source, rate = source_of(session, args.track)
    reverb = plan_reverb(rate, source.shape[0], preset=args.preset, decay_s=args.decay_s,
                         room_size=args.room_size, wet_db=args.wet_db, dry_db=args.dry_db,
                         pre_delay_ms=args.pre_delay_ms, impulse_response=args.impulse_response,
                         keep_tail=args.keep_tail)
    summary = f"added the reverb of {reverb.label} at {reverb.wet_db:+g} dB"
    if reverb.dry_db < 0:
        summary += f", dry sound at {reverb.dry_db:+g} dB"
    if reverb.keep_tail:
        summary += f", ringing out {min(reverb.ir.shape[-1] / rate, MAX_TAIL_S):.1f} s past the end"
    return stream_edit(session, args.track, reverb_blocks(source, rate, reverb), sample_rate=rate,
                       tool="add_reverb", args=args, summary=summary,
                       data={"wet_db": reverb.wet_db, "ir_s": reverb.ir.shape[-1] / rate})


TOOL = Tool(
    name="add_reverb",
    description=(
        "Add reverberation, the sound of a room, hall or church: 'add a bit of reverb' (wet_db "
        "-18), 'add some reverb', 'make it sound like a big hall' (preset big_hall), 'like a "
        "cathedral', 'a small room', 'a 2 second reverb' (decay_s 2), or a measured impulse "
        "response file. For repeating echoes use add_echo; to match another track's room use "
        "match_room; to remove reverb use dereverb."
    ),
    args_model=Args,
    run=_run,
)
