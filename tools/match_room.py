"""match_room: make a track sound as if it was recorded in the same room as a reference track.

The practical form of acoustic style transfer, as iZotope's Ambience Match and the match modes of
post-production tools, in three steps:

1. Reverberation. The decay time of both tracks is estimated blind
   (:func:`tools.algorithms.room.estimate_rt60`). If the track is clearly more reverberant than the
   reference (by more than ``MARGIN_S``), it is dereverberated first (:mod:`tools.dereverb`,
   medium). If the reference is the more reverberant one, a synthetic room of the reference's
   decay is added (:mod:`tools.add_reverb`, no tail: the length stays), at the wet level for which
   the track's *late-reverberation ratio* matches the reference's: the energy that WPE
   (nara_wpe) predicts as late reverberation, over what it keeps, on 20 s excerpts at 16 kHz, a
   measure that stationary background noise hardly moves. The level is found by bisection.
2. Tone: the long-term spectrum (of the first minute, after step 1) is matched to the
   reference's as ``match_eq`` does (``tools.match.eq_correction_db``, a linear-phase FIR), which
   also carries over the colour of the reference's microphone and room.
3. Loudness is left alone (``match_loudness`` does that).

Everything streams: the stages are chained block by block (:class:`~tools.algorithms.streaming.
BlockReader`), so the track is never in memory whole; same length, rate and channels.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from math import gcd

import numpy as np
from nara_wpe.utils import stft
from nara_wpe.wpe import wpe
from pydantic import Field
from scipy.signal import fftconvolve, firwin2, resample_poly

from tools.add_reverb import PRESETS as REVERB_PRESETS
from tools.add_reverb import Reverb, reverb_blocks
from tools.algorithms.room import estimate_rt60, synthetic_ir
from tools.algorithms.streaming import (
    BlockReader,
    Source,
    collect,
    read_blocks,
    source_of,
    stream_edit,
)
from tools.core.audio import Audio
from tools.core.errors import ToolArgumentError
from tools.core.overlap_add import overlap_add_blocks
from tools.core.session import Session
from tools.core.tool import Tool, ToolArgs, ToolResult, track_field
from tools.dereverb import dereverb_blocks, plan_dereverb
from tools.match import eq_correction_db

MARGIN_S = 0.15
ANALYSIS_RATE = 16_000
EXCERPT_S = 20.0
WET_RANGE_DB = (-30.0, 0.0)
BISECTIONS = 7
TONE_S = 60.0
TONE_OCTAVES, TONE_MAX_DB = 1.0, 6.0  # broad: the room's and microphone's colour, not the voice


class Args(ToolArgs):
    reference: str = Field(description="The track whose room and tone to copy (it is not changed).")
    reverb: bool = Field(default=True, description="Match the reverberation (add the reference's room, or take the track's own room out first when it has more); false for tone only.")
    tone: bool = Field(default=True, description="Match the tonal balance (long-term spectrum) too; false for the room only.")
    track: str | None = track_field()


@dataclass(frozen=True)
class RoomMatch:
    reference_decay_s: float
    track_decay_s: float
    dereverbed: bool
    added_decay_s: float | None  # None when no reverb was added
    wet_db: float | None
    late_ratio_db: tuple[float, float]  # (reference, track after the change)


def _excerpt(source: Source, sample_rate: int) -> np.ndarray:
    """The first ``EXCERPT_S`` seconds, mixed to mono, at ``ANALYSIS_RATE`` (float64 ``(n,)``)."""
    x = np.asarray(source[:, :int(EXCERPT_S * sample_rate)], dtype=np.float64).mean(axis=0)
    divisor = gcd(ANALYSIS_RATE, sample_rate)
    return resample_poly(x, ANALYSIS_RATE // divisor, sample_rate // divisor)


def late_ratio_db(x: np.ndarray) -> float:
    """Energy WPE predicts as late reverberation over the energy it keeps, in dB, of mono ``x``
    at ``ANALYSIS_RATE`` (32 ms frames, 10 taps after a 3-frame delay)."""
    spec = stft(x[None], size=512, shift=128)  # (1, frames, bins)
    kept = wpe(spec.transpose(2, 0, 1), taps=10, delay=3, iterations=3).transpose(1, 2, 0)
    late = np.sum(np.abs(spec - kept) ** 2)
    return float(10 * np.log10(max(late, 1e-20) / max(np.sum(np.abs(kept) ** 2), 1e-20)))


def _wet_for(dry: np.ndarray, ir: np.ndarray, target_s: float) -> float:
    """The wet level (dB) at which ``dry`` + ``ir`` reads the decay ``target_s`` by
    :func:`estimate_rt60` (which rises with the wet level as the tails emerge from the direct
    sound), by bisection over ``WET_RANGE_DB``."""
    wet = fftconvolve(dry, ir)[:dry.size]
    lo, hi = WET_RANGE_DB
    for _ in range(BISECTIONS):
        mid = 0.5 * (lo + hi)
        decay = estimate_rt60((dry + wet * 10 ** (mid / 20))[None], ANALYSIS_RATE)
        if decay < target_s:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def plan_room(source: Source, reference: Source, sample_rate: int, reference_rate: int,
              *, reverb: bool = True) -> RoomMatch:
    """What to change so that ``source`` sounds like ``reference``'s room (see the module
    docstring); reads excerpts of both."""
    ref_decay = estimate_rt60(reference, reference_rate)
    own_decay = estimate_rt60(source, sample_rate)
    ref_x = _excerpt(reference, reference_rate)
    ref_ratio = late_ratio_db(ref_x)
    if not reverb:
        return RoomMatch(ref_decay, own_decay, False, None, None, (ref_ratio, ref_ratio))
    dereverbed = own_decay > ref_decay + MARGIN_S
    x = _excerpt(source, sample_rate)
    if dereverbed:
        settings = plan_dereverb(x[None].astype(np.float32), ANALYSIS_RATE, decay_s=own_decay)
        x = collect(dereverb_blocks(x[None].astype(np.float32), ANALYSIS_RATE, settings), 1)[0]
        x = x.astype(np.float64)
        own_decay = estimate_rt60(x[None], ANALYSIS_RATE)
    own_ratio = late_ratio_db(x)
    if ref_decay <= own_decay + MARGIN_S / 2 or ref_ratio <= own_ratio + 1.0:
        return RoomMatch(ref_decay, own_decay, dereverbed, None, None, (ref_ratio, own_ratio))
    ir = synthetic_ir(ANALYSIS_RATE, decay_s=ref_decay, hf_decay_ratio=REVERB_PRESETS["room"][2])[0]
    wet_db = _wet_for(x, ir.astype(np.float64), ref_decay)
    ratio = late_ratio_db(x + fftconvolve(x, ir)[:x.size] * 10 ** (wet_db / 20))
    return RoomMatch(ref_decay, own_decay, dereverbed, ref_decay, wet_db, (ref_ratio, ratio))


def _stages(source: Source, sample_rate: int, plan: RoomMatch) -> Iterator[np.ndarray]:
    """``source`` through the plan's dereverberation and added room, as blocks (same length)."""
    channels, n = source.shape[0], source.shape[-1]
    blocks: Iterator[np.ndarray] = read_blocks(source)
    if plan.dereverbed:
        settings = plan_dereverb(source, sample_rate, decay_s=plan.track_decay_s)
        blocks = dereverb_blocks(source, sample_rate, settings)
    if plan.added_decay_s is not None:
        ir = synthetic_ir(sample_rate, decay_s=plan.added_decay_s, channels=min(channels, 8),
                          hf_decay_ratio=REVERB_PRESETS["room"][2])
        reverb = Reverb(ir, plan.wet_db, 0.0, False, "")
        blocks = reverb_blocks(BlockReader(blocks, channels, n), sample_rate, reverb)
    return blocks


def match_room_blocks(source: Source, reference: Source, sample_rate: int, plan: RoomMatch, *,
                      reference_rate: int, tone: bool = True) -> Iterator[np.ndarray]:
    """Blocks of ``source`` changed as ``plan`` says, then tone-matched to ``reference``: the EQ
    correction is measured on the first ``TONE_S`` seconds after the room stages (as
    ``tools.match`` does on whole tracks) and applied as a linear-phase FIR over the stream."""
    channels, n = source.shape[0], source.shape[-1]
    if not tone:
        yield from _stages(source, sample_rate, plan)
        return
    head_n = min(n, int(TONE_S * sample_rate))
    head = Audio(collect(_stages(np.asarray(source[:, :head_n], dtype=np.float32), sample_rate,
                                 plan), channels), sample_rate)
    ref = reference if hasattr(reference, "num_samples") else Audio(
        np.asarray(reference[:, :reference.shape[-1]], dtype=np.float32), reference_rate)
    freqs, correction = eq_correction_db(head, ref, max_gain_db=TONE_MAX_DB,
                                         smoothing_octaves=TONE_OCTAVES)
    taps = 2 * (len(freqs) - 1) + 1  # odd: linear phase, delay (taps - 1) / 2
    fir = firwin2(taps, freqs, 10 ** (correction / 20), fs=sample_rate).astype(np.float32)
    half = (taps - 1) // 2

    def filtered(chunk: np.ndarray) -> np.ndarray:
        return fftconvolve(chunk, fir[None, :], mode="full", axes=-1)[:, half:half + chunk.shape[-1]]

    reader = BlockReader(_stages(source, sample_rate, plan), channels, n)
    for _, block in overlap_add_blocks(reader, filtered, segment=1 << 18, context=half + 1):
        yield block


def match_room(audio: Audio, reference: Audio, *, reverb: bool = True, tone: bool = True
               ) -> tuple[Audio, RoomMatch]:
    """``audio`` made to sound like it was recorded in ``reference``'s room; and what was done."""
    plan = plan_room(audio.samples, reference.samples, audio.sample_rate, reference.sample_rate,
                     reverb=reverb)
    blocks = match_room_blocks(audio.samples, reference, audio.sample_rate, plan,
                               reference_rate=reference.sample_rate, tone=tone)
    return audio.replace(collect(blocks, audio.channels)), plan


def describe(plan: RoomMatch, name: str, reference: str, tone: bool) -> str:
    parts = [f"room of {name} matched to {reference} (decay {plan.track_decay_s:.2f} s -> "
             f"{reference}'s {plan.reference_decay_s:.2f} s)"]
    if plan.dereverbed:
        parts.append("took out its own reverberation first")
    if plan.added_decay_s is not None:
        parts.append(f"added a {plan.added_decay_s:.2f} s room at {plan.wet_db:+.1f} dB (late "
                     f"reverberation {plan.late_ratio_db[1]:.1f} dB against the reference's "
                     f"{plan.late_ratio_db[0]:.1f} dB)")
    elif not plan.dereverbed:
        parts.append("no reverberation needed adding")
    if tone:
        parts.append("tone matched to the reference's long-term spectrum")
    return "; ".join(parts)


def _run(session: Session, args: Args) -> ToolResult:
    name = session.resolve_track(args.track)
    reference = session.resolve_track(args.reference)
    if name == reference:
        raise ToolArgumentError(f"track and reference are both {name!r}; choose another reference")
    source, rate = source_of(session, name)
    ref_view = session.track(reference)
    plan = plan_room(source, ref_view, rate, ref_view.sample_rate, reverb=args.reverb)
    blocks = match_room_blocks(source, ref_view, rate, plan, reference_rate=ref_view.sample_rate,
                               tone=args.tone)
    return stream_edit(session, name, blocks, sample_rate=rate, tool="match_room", args=args,
                       summary=describe(plan, name, reference, args.tone),
                       data={"reference_decay_s": plan.reference_decay_s,
                             "track_decay_s": plan.track_decay_s, "wet_db": plan.wet_db,
                             "dereverbed": plan.dereverbed})


TOOL = Tool(
    name="match_room",
    description=(
        "Make a track sound as if it was recorded in the same room as another track: its "
        "reverberation and tone are matched to the reference's: 'make the guest sound like they "
        "were in the same room as the host' (track guest, reference host), 'match the ambience', "
        "'make both mics sound like one room'. For tone alone use match_eq; then match_loudness "
        "for level."
    ),
    args_model=Args,
    run=_run,
)
