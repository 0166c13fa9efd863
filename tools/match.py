"""match_loudness and match_eq: make tracks sound alike (level, then tonal balance).

- ``match_loudness`` brings several tracks to one integrated loudness (ITU-R BS.1770), either a
  target in LUFS or a reference track's loudness, through :func:`normalize_loudness` (true-peak
  limited). All tracks change in one undoable step.
- ``match_eq`` shapes a track's long-term average spectrum toward a reference track's, as the
  "match EQ" of mastering and podcast tools: both spectra (Welch averages of ~186 ms Hann frames,
  block by block) are smoothed over fractional octaves (1/3 by default); their ratio in dB, less
  its mean over octaves (the level difference), clamped to +-``max_gain_db`` and scaled by ``amount``, is
  applied as a linear-phase FIR (zero delay after compensation). Where either track has nothing to
  compare (below 20 Hz, above 0.95 x the lower Nyquist, or 80 dB below its own peak) the nearest
  valid correction is held. Loudness changes little; run match_loudness after it.

Both stream: analysis passes and output are block by block over the session's tracks.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
from pydantic import Field
from scipy.signal import fftconvolve, firwin2, welch

from tools.core.audio import Audio
from tools.core.dsp import integrated_loudness
from tools.core.errors import ToolArgumentError, ToolError
from tools.core.overlap_add import overlap_add_blocks
from tools.core.session import Session
from tools.core.tool import Tool, ToolArgs, ToolResult, commit_blocks, track_field
from tools.normalize_loudness import build_normalized, normalize_loudness, plan_normalization

FRAME_S = 0.186  # 8192 samples at 44.1 kHz
LOW_HZ = 20.0
FLOOR_DB = -80.0
_BLOCK = 1 << 20


class LoudnessArgs(ToolArgs):
    tracks: list[str] = Field(min_length=1, description="Tracks to bring to the same loudness (one or more track names).")
    target_lufs: float | None = Field(default=None, ge=-70, le=-5, description="Common target in LUFS, from -70 to -5 (podcasts -16, broadcast -23); null to match the reference track instead.")
    reference: str | None = Field(default=None, description="Track whose loudness the others take (it is left unchanged); null for the first of tracks. Ignored when target_lufs is given.")
    true_peak_db: float = Field(default=-1.0, ge=-20, le=0, description="True-peak ceiling in dBTP, from -20 to 0 (-1 default).")


class EqArgs(ToolArgs):
    reference: str = Field(description="Track whose tonal balance (long-term spectrum) to copy.")
    max_gain_db: float = Field(default=12.0, ge=1, le=24, description="Largest boost or cut of the correction in dB, from 1 to 24 (12 default).")
    smoothing_octaves: float = Field(default=1 / 3, ge=0.1, le=2, description="Width of the spectral smoothing in octaves, from 0.1 to 2 (1/3 default: the broad balance, not single resonances).")
    amount: float = Field(default=1.0, ge=0, le=1, description="How much of the correction to apply, from 0 (none) to 1 (all, default).")
    track: str | None = track_field()


# ----------------------------------------------------------------------------- loudness


def match_loudness(audios: dict[str, Audio], *, target_lufs: float,
                   true_peak_db: float = -1.0) -> tuple[dict[str, Audio], dict[str, dict]]:
    """Every audio at ``target_lufs``: ``({name: audio}, {name: normalize_loudness report})``."""
    out, reports = {}, {}
    for name, audio in audios.items():
        out[name], reports[name] = normalize_loudness(audio, target_lufs=target_lufs,
                                                      true_peak_db=true_peak_db)
    return out, reports


def _run_loudness(session: Session, args: LoudnessArgs) -> ToolResult:
    names = list(dict.fromkeys(session.resolve_track(t) for t in args.tracks))
    target = args.target_lufs
    if target is None:
        reference = session.resolve_track(args.reference or names[0])
        ref_view = session.track(reference)
        target = integrated_loudness(ref_view, ref_view.sample_rate)
        if not math.isfinite(target):
            raise ToolError(f"cannot measure the loudness of {reference}: silent or under 0.4 s")
        names = [n for n in names if n != reference]
        if not names:
            raise ToolArgumentError(f"only the reference track {reference!r} was given; list the "
                                    "tracks to match to it")
        source = f"{reference} ({target:.1f} LUFS)"
    else:
        source = f"{target:g} LUFS"
    out, reports = {}, {}
    for n in names:  # every track streamed; all change in one step
        view = session.track(n)
        plan = plan_normalization(view, view.sample_rate, target_lufs=target,
                                  true_peak_db=args.true_peak_db)
        out[n], reports[n] = build_normalized(session, view, plan), plan.report
    parts = [f"{n} {r['input_lufs']:.1f} -> {r['output_lufs']:.1f}" for n, r in reports.items()]
    summary = f"matched loudness to {source}: " + "; ".join(parts) + " LUFS"
    missed = [n for n, r in reports.items() if not r["reached"]]
    if missed:
        summary += f" ({', '.join(missed)} limited by the {args.true_peak_db:g} dBTP ceiling)"
    session.commit(out, tool="match_loudness", args=args.model_dump(mode="json"), summary=summary,
                   select=names[0])
    return ToolResult(text=summary, data={"target_lufs": target, "tracks": reports},
                      changed=tuple(names))


# ----------------------------------------------------------------------------- eq


def long_term_spectrum(audio: Any, *, n_fft: int) -> tuple[np.ndarray, np.ndarray]:
    """(frequencies in Hz, mean power spectral density over channels and time), Welch-averaged
    block by block with Hann frames of ``n_fft`` and 50% overlap."""
    total, frames = None, 0
    for lo in range(0, audio.num_samples, _BLOCK):
        block = np.asarray(audio[:, lo:lo + _BLOCK + n_fft // 2])
        if block.shape[-1] < n_fft:
            if frames:
                break
            block = np.pad(block, [(0, 0), (0, n_fft - block.shape[-1])])
        freqs, psd = welch(block, fs=audio.sample_rate, nperseg=n_fft, noverlap=n_fft // 2,
                           window="hann", axis=-1)
        count = 1 + (block.shape[-1] - n_fft) // (n_fft // 2)
        total = psd.mean(axis=0) * count + (0 if total is None else total)
        frames += count
    return freqs, total / max(frames, 1)


def smooth_octaves(freqs: np.ndarray, power: np.ndarray, *, octaves: float) -> np.ndarray:
    """Mean of ``power`` over ``[f 2^(-octaves/2), f 2^(octaves/2)]`` around each frequency."""
    cumulative = np.concatenate([[0.0], np.cumsum(power, dtype=np.float64)])
    half = 2.0 ** (octaves / 2)
    lo = np.searchsorted(freqs, freqs / half, side="left")
    hi = np.maximum(np.searchsorted(freqs, freqs * half, side="right"), lo + 1)
    return (cumulative[hi] - cumulative[lo]) / (hi - lo)


def eq_correction_db(audio: Any, reference: Any, *, max_gain_db: float = 12.0,
                     smoothing_octaves: float = 1 / 3, amount: float = 1.0,
                     ) -> tuple[np.ndarray, np.ndarray]:
    """(frequencies on ``audio``'s grid, correction in dB) that moves ``audio``'s smoothed
    long-term spectrum toward ``reference``'s, level difference removed, clamped, scaled."""
    n_fft = int(2 ** np.round(np.log2(FRAME_S * audio.sample_rate)))
    ref_fft = int(2 ** np.round(np.log2(FRAME_S * reference.sample_rate)))
    freqs, own = long_term_spectrum(audio, n_fft=n_fft)
    ref_freqs, ref = long_term_spectrum(reference, n_fft=ref_fft)
    own_s = smooth_octaves(freqs, own, octaves=smoothing_octaves)
    ref_s = np.interp(freqs, ref_freqs, smooth_octaves(ref_freqs, ref, octaves=smoothing_octaves))
    top = 0.95 * min(audio.sample_rate, reference.sample_rate) / 2
    floor = 10 ** (FLOOR_DB / 10)
    valid = ((freqs >= LOW_HZ) & (freqs <= top) & (own_s > own_s.max() * floor)
             & (ref_s > ref_s.max() * floor))
    if valid.sum() < 2:
        raise ToolError("the tracks share no audible frequency range to compare")
    ratio_db = 10 * np.log10(ref_s[valid] / own_s[valid])
    # remove the broadband level difference: the correction averages 0 dB over octaves (bins
    # weighted 1/f), so it changes the balance, not the level, and the clamp is spent on shape
    ratio_db -= np.sum(ratio_db / freqs[valid]) / np.sum(1.0 / freqs[valid])
    correction = np.interp(freqs, freqs[valid], ratio_db)  # held flat outside the valid band
    correction = np.clip(correction, -max_gain_db, max_gain_db) * amount
    return freqs, correction


def match_eq_blocks(audio: Any, reference: Any, *, max_gain_db: float = 12.0,
                    smoothing_octaves: float = 1 / 3, amount: float = 1.0
                    ) -> tuple[Iterator[np.ndarray], dict]:
    """``audio`` (Audio or TrackView) filtered so its long-term spectrum follows ``reference``'s
    (see the module docstring), as output blocks in order, and a report of the correction at
    octave centres (``bands_db``). Analysis is one streamed pass over each track."""
    for name, value, lo, hi in (("max_gain_db", max_gain_db, 0, 48),
                                ("smoothing_octaves", smoothing_octaves, 0.01, 4),
                                ("amount", amount, 0, 1)):
        if not lo <= value <= hi:
            raise ToolArgumentError(f"{name}={value:g} must be from {lo:g} to {hi:g}")
    freqs, correction = eq_correction_db(audio, reference, max_gain_db=max_gain_db,
                                         smoothing_octaves=smoothing_octaves, amount=amount)
    taps = 2 * (len(freqs) - 1) + 1  # odd: a type I linear-phase filter, delay (taps - 1) / 2
    fir = firwin2(taps, freqs, 10 ** (correction / 20), fs=audio.sample_rate).astype(np.float32)
    half = (taps - 1) // 2

    def filtered(chunk: np.ndarray) -> np.ndarray:
        return fftconvolve(chunk, fir[None, :], mode="full", axes=-1)[:, half:half + chunk.shape[-1]]

    blocks = (block for _, block in overlap_add_blocks(audio, filtered, segment=_BLOCK,
                                                        context=half + 1))
    centres = [31.5 * 2**k for k in range(10) if 31.5 * 2**k < audio.sample_rate / 2]
    bands = {f"{c:.0f}": round(float(np.interp(c, freqs, correction)), 1) for c in centres}
    return blocks, {"bands_db": bands, "max_abs_db": float(np.abs(correction).max())}


def match_eq(audio: Audio, reference: Audio, *, max_gain_db: float = 12.0,
             smoothing_octaves: float = 1 / 3, amount: float = 1.0) -> tuple[Audio, dict]:
    """:func:`match_eq_blocks` gathered into one Audio (same length, rate, channels)."""
    blocks, report = match_eq_blocks(audio, reference, max_gain_db=max_gain_db,
                                     smoothing_octaves=smoothing_octaves, amount=amount)
    return audio.replace(np.concatenate(list(blocks), axis=1)), report


def _run_eq(session: Session, args: EqArgs) -> ToolResult:
    name = session.resolve_track(args.track)
    reference = session.resolve_track(args.reference)
    if name == reference:
        raise ToolArgumentError(f"track and reference are both {name!r}; choose another reference")
    view = session.track(name)
    blocks, report = match_eq_blocks(view, session.track(reference), max_gain_db=args.max_gain_db,
                                     smoothing_octaves=args.smoothing_octaves, amount=args.amount)
    shown = ", ".join(f"{hz} Hz {db:+.1f}" for hz, db in report["bands_db"].items())
    summary = f"matched the tone of {name} to {reference} (dB per octave: {shown})"
    return commit_blocks(session, name, blocks, sample_rate=view.sample_rate, tool="match_eq",
                         args=args, summary=summary, data=report)

MATCH_LOUDNESS = Tool(
    name="match_loudness",
    description=(
        "Bring several tracks to the same loudness (LUFS), either a target or the loudness of a "
        "reference track: 'make both speakers equally loud', 'level the takes', 'same volume'."
    ),
    args_model=LoudnessArgs,
    run=_run_loudness,
)

MATCH_EQ = Tool(
    name="match_eq",
    description=(
        "Shape a track's tonal balance (long-term spectrum) toward a reference track's, as a "
        "match EQ: 'make speaker B sound like speaker A', 'same tone on both mics', 'make both "
        "speakers sound alike' (then match_loudness)."
    ),
    args_model=EqArgs,
    run=_run_eq,
)
