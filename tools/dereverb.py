"""dereverb: take the room out of a recording (reverberation, the "echo" of a hard room).

Two stages, both in the short-time Fourier domain (nara_wpe's ``stft``/``istft``: 32 ms Blackman
frames, hop 8 ms, at any rate):

1. Weighted prediction error (WPE, Nakatani et al. 2010; ``nara_wpe.wpe.wpe``): per frequency, a
   linear filter over the past ``taps`` frames (after a ``delay``-frame gap that keeps the direct
   sound and early reflections) predicts the late reverberation, which is subtracted. Each
   channel on its own: joint multichannel WPE is ill-conditioned on the near-identical channels of
   ordinary stereo (measured: dual-mono input diverged).
2. Late-reverberation suppression (Lebart et al. 2001): what is left of the reverberant tail is
   modelled as the signal's own smoothed power 30 ms earlier (20 ms when 'strong'), decayed at
   the room's rate (RT60
   ``decay_s``, or estimated blind: :func:`tools.algorithms.room.estimate_rt60`), and taken out by
   a spectral gain no lower than ``floor``. nara_wpe has no such post-filter, hence the few lines
   here. Measured on LibriSpeech with a 1 s synthetic room: WPE alone +0.6 dB SI-SDR, both +2.5 dB
   (dry speech keeps about 20 dB SI-SDR through it).
3. A neural post-filter (``post_filter``, on by default): DeepFilterNet 3 (:mod:`tools.denoise`,
   limited to ``POST_LIMIT_DB``) takes out the diffuse tail that is left, as it does noise, when its
   weights are installed, the audio is wideband (the same rule as ``denoise``'s ``auto``; on
   narrowband audio it was not measured) and it is mostly speech: DeepFilterNet 3 takes music and
   other sounds for noise, so it runs only when Silero VAD (:mod:`tools.algorithms.vad`) calls at
   least ``SPEECH_SHARE`` of the sounding 32 ms windows speech (measured on the corpus: speech
   0.62-0.98, a cappella vocals 0.68, music 0.00-0.13). Measured on the toolbox eval's 1 s synthetic room, 8 s of
   five corpus recordings: stages 1-2 alone +1.06 to +2.43 dB SI-SDR, with the post-filter +2.03 to
   +3.02 dB; DeepFilterNet 3 alone +1.11 to +2.15 dB. Without the weights, stages 1-2 run alone
   and the summary says so.

Held sounds are kept (:func:`held_share`): a sustained vowel or a steady tone is predictable from
its past, so WPE cancels it, and DeepFilterNet 3 takes it for noise (measured: a disfluency-corpus
recording with a 3.4 s vowel, dry, came out at 3.8 dB SI-SDR). Where a bin's level stays within a
few dB over half a second, the output keeps at least ``HELD_SHARE`` of its energy, moved back
toward the input along the line between the two; a reverberant tail falls too fast to count, and
ordinary speech changes too fast. In the steady part of a held vowel the room's sound cannot be
told from the voice (a fixed gain per harmonic), so it stays as it came.

Known limits (toolbox eval, SI-SDR gain against the dry speech). A room whose strongest
reflections come within 2 ms of the direct sound (the corpus RIR: 0.76 and 0.72 of it at 1.33 and
1.79 ms) gains only +0.4 to +1.5 dB: removing everything after 32 ms of that room would gain no
more than +1.3 dB. Undoing the early part blind failed: a maximum-kurtosis inverse filter of the
LP residual locks onto spikes (SI-SDR -5 to -35 dB), and a minimum-phase inverse of the long-term
spectrum mistakes the speaker's own spectral shape for the room (jfk -1.4 to -4.0 dB). A vowel
held for seconds in a room cannot be restored from its magnitudes (even the true dry magnitudes,
with the output's phase, gain about 0 dB): its f0 drifts while the room's response decorrelates
within about 5 Hz.

Long files go through :func:`tools.core.overlap_add.overlap_add_blocks` in 8 s chunks with 1.5 s of
context (WPE's statistics need a run-up) and 0.5 s crossfades. Same length, rate and channels; the
input is not changed. Early reflections within about 25 ms (the "boxy" colour of a small room) are
mostly kept: that is what WPE leaves by design.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from nara_wpe.utils import istft, stft
from nara_wpe.wpe import wpe
from pydantic import Field

from tools.algorithms.room import estimate_rt60
from tools.algorithms.streaming import Source, collect, source_of, stream_edit
from tools.core.audio import Audio
from tools.core.errors import ToolArgumentError
from tools.core.overlap_add import overlap_add_blocks
from tools.core.session import Session
from tools.core.tool import Tool, ToolArgs, ToolResult, track_field

Strength = Literal["light", "medium", "strong"]
# strength -> (WPE taps, WPE delay in frames, WPE iterations, suppression floor in dB or None for
# WPE alone, where the suppressed tail starts in s). Tuned on dev (jfk, 198-209-0000; the corpus
# RIR and the 1 s room, post-filter on): 'medium' 30 taps and the tail from 25 ms, mean +1.95 dB
# SI-SDR against +1.86 with 20 taps from 30 ms (dry speech before the post-filter 17.3 / 20.2 dB,
# was 18.7 / 22.5). A delay of 1 frame helped jfk in the corpus room (+1.62 against +1.00) but cost
# held-out LibriSpeech about 0.8 dB in the 1 s room (it whitens the speech itself), so 3 stays.
STRENGTHS: dict[str, tuple[int, int, int, float | None, float]] = {
    "light": (10, 3, 3, None, 0.05),
    "medium": (30, 3, 3, -12.0, 0.025),
    "strong": (40, 3, 5, -20.0, 0.02),
}
FRAME_S = 0.032
POST_LIMIT_DB = 20.0  # DeepFilterNet 3's attenuation limit here: on dev the same SI-SDR as 30 dB
# (mean +1.86 / +1.87), and less of a recording's own steady hiss taken (jfk dry: 13.4 dB / 12.9)
SMOOTH = 0.8  # power smoothing over frames (8 ms hop): 0.8 measured best (0.6-0.92 tried)
SPEECH_SHARE = 0.4  # the post-filter runs on audio at least this much speech (see the docstring)
SHARE_WINDOWS, SHARE_WINDOW_S = 12, 10.0
SHARE_PIECE_S = 2.0  # Silero VAD scores each piece from a fresh state (see speech_share)
# Held sounds (a sustained vowel, a steady tone): linear prediction cancels what is predictable from
# its past, and DeepFilterNet 3 takes a steady sound for noise, so where a bin's level stays within
# HELD_RANGE_DB over HELD_S the output keeps at least HELD_SHARE of its energy (see held_share).
HELD_S, HELD_RANGE_DB, HELD_SHARE = 0.5, (2.0, 6.0), 0.7
# With the post-filter after it, the tail model is scaled by this (under-subtraction: DeepFilterNet 3
# takes what is left). Dev, 1 s room: 5703 +1.76 -> +2.02 dB, 3436 +2.22 -> +2.30, 198 3.38 -> 3.33,
# freesound 3.20 -> 3.09; dry speech 0.7-1.1 dB closer to itself; 0.8 lifted 5703 more but cost
# freesound 0.24 dB.
TAIL_SCALE_WITH_POST = 0.9
SEGMENT_S, CONTEXT_S, OVERLAP_S = 8.0, 1.5, 0.5  # WPE holds about 0.6 GB per 10 s of 44.1 kHz


class Args(ToolArgs):
    strength: Strength = Field(default="medium", description="'light' (WPE prediction alone: the gentlest), 'medium' (default: WPE, then the remaining tail turned down by up to 12 dB) or 'strong' (longer prediction, up to 20 dB).")
    decay_s: float | None = Field(default=None, ge=0.1, le=5, description="The room's reverberation time (RT60) in seconds, from 0.1 to 5, if known; null to estimate it from the recording.")
    post_filter: bool = Field(default=True, description="After WPE, let DeepFilterNet 3 take out the diffuse tail that is left (default true; used when its weights are installed and the audio is wideband and mostly speech). false: WPE and the spectral suppression alone.")
    track: str | None = track_field()


@dataclass(frozen=True)
class DereverbSettings:
    taps: int
    delay: int
    iterations: int
    floor_db: float | None
    late_s: float
    decay_s: float
    estimated: bool
    post: Callable[[np.ndarray], np.ndarray] | None = field(default=None, compare=False, repr=False)
    post_note: str = "no post-filter (asked for none)"


def speech_share(source: Source, sample_rate: int) -> float:
    """The share of sounding 32 ms windows (within 45 dB of the loudest) that Silero VAD calls
    speech, over up to ``SHARE_WINDOWS`` windows of ``SHARE_WINDOW_S`` spread over ``source``.

    Each ``SHARE_PIECE_S`` piece is scored from a fresh recurrent state: in one pass over
    reverberant speech Silero's probabilities collapse after a few seconds (measured: jfk in the
    1 s room 0.01 in one pass, 0.28 in 2 s pieces, dry 0.62 / 0.59; in the corpus room 0.01 / 0.49),
    while music stays low either way (eight corpus pieces, dry and reverberant: at most 0.16)."""
    from tools.algorithms.vad import speech_activity

    n, width = source.shape[-1], int(SHARE_WINDOW_S * sample_rate)
    starts = [0] if n <= width else np.linspace(0, n - width, SHARE_WINDOWS).astype(int)
    x = np.concatenate([np.asarray(source[:, a:a + width], dtype=np.float32).mean(axis=0)
                        for a in starts])
    piece = int(SHARE_PIECE_S * sample_rate)
    probs, energy = [], []
    for a in range(0, x.size, piece):
        seg = x[a:a + piece]
        activity = speech_activity(Audio.from_array(seg, sample_rate))
        hop = max(int(round(activity.hop_s * sample_rate)), 1)
        count = min(len(activity.probabilities), seg.size // hop)
        if count == 0:
            continue
        probs.append(np.asarray(activity.probabilities)[:count])
        energy.append(np.mean(np.square(seg[:count * hop].reshape(count, hop)), axis=1))
    if not probs:
        return 0.0
    energy_db = 10 * np.log10(np.concatenate(energy) + 1e-12)
    sounding = energy_db > max(energy_db.max() - 45.0, -60.0)
    return float(np.mean(np.concatenate(probs)[sounding] > 0.5)) if sounding.any() else 0.0


def _post_filter(source: Source, sample_rate: int, model) -> tuple[Callable | None, str]:
    """DeepFilterNet 3's chunk function for ``source`` and a line saying what runs after WPE."""
    from tools.denoise import plan_denoise, resolve_backend, wideband_signal

    if not wideband_signal(source, sample_rate):
        return None, "no post-filter: narrowband audio"
    share = speech_share(source, sample_rate)
    if share < SPEECH_SHARE:
        return None, f"no post-filter: not mostly speech ({100 * share:.0f}% speech)"
    ran, loaded, _ = resolve_backend("auto", model=model, wideband=True)
    if ran != "deepfilternet":
        return None, "no post-filter: DeepFilterNet 3 weights are not installed"
    plan = plan_denoise(source, sample_rate, backend="deepfilternet", model=loaded,
                        attenuation_limit_db=POST_LIMIT_DB)
    return plan.process, "DeepFilterNet 3 post-filter"


def plan_dereverb(source: Source, sample_rate: int, *, strength: str = "medium",
                  decay_s: float | None = None, post_filter: bool = False,
                  model=None) -> DereverbSettings:
    """The settings for ``source``; ``post_filter`` adds DeepFilterNet 3 after WPE when it can
    run (``model``: an already loaded one, e.g. the session's)."""
    if strength not in STRENGTHS:
        raise ToolArgumentError(f"strength={strength!r} is unknown; expected one of: "
                                f"{', '.join(STRENGTHS)}")
    taps, delay, iterations, floor, late = STRENGTHS[strength]
    estimated = decay_s is None
    if estimated:
        decay_s = estimate_rt60(source, sample_rate)
    post, note = _post_filter(source, sample_rate, model) if post_filter else (
        None, "no post-filter (asked for none)")
    return DereverbSettings(taps, delay, iterations, floor, late, float(decay_s), estimated, post,
                            note)


def _frame(sample_rate: int) -> tuple[int, int]:
    size = int(2 ** np.round(np.log2(FRAME_S * sample_rate)))
    return size, size // 4


def _smooth_power(spec: np.ndarray) -> np.ndarray:
    """``|spec|^2`` smoothed over frames (one-pole, ``SMOOTH``); ``(channels, frames, bins)``."""
    from scipy.signal import lfilter

    power = np.abs(spec) ** 2
    smooth, _ = lfilter([1 - SMOOTH], [1, -SMOOTH], power, axis=1, zi=SMOOTH * power[:, :1])
    return smooth


def _suppress_late(spec: np.ndarray, sample_rate: int, shift: int, settings: DereverbSettings
                   ) -> np.ndarray:
    """Lebart's late-reverberation gain on ``spec`` (``(channels, frames, bins)``)."""
    smooth = _smooth_power(spec)
    lag = max(int(round(settings.late_s * sample_rate / shift)), 1)
    decay = np.exp(-2 * 3 * np.log(10) / settings.decay_s * lag * shift / sample_rate)
    late = np.zeros_like(smooth)
    scale = 1.0 if settings.post is None else TAIL_SCALE_WITH_POST
    late[:, lag:] = scale * decay * smooth[:, :-lag]
    floor = 10 ** (settings.floor_db / 10)
    gain = np.sqrt(np.maximum(1 - late / np.maximum(smooth, 1e-30), floor))
    return spec * gain


def held_share(spec: np.ndarray, sample_rate: int, shift: int) -> np.ndarray:
    """The least share of each bin's energy (``(channels, frames, bins)``, 0 to ``HELD_SHARE``)
    that the output must keep: ``HELD_SHARE`` where the bin's smoothed level (3 bins wide) stays
    within ``HELD_RANGE_DB[0]`` dB over some ``HELD_S`` window around it, none beyond
    ``HELD_RANGE_DB[1]``, linear between."""
    from scipy.ndimage import maximum_filter1d, minimum_filter1d, uniform_filter1d

    # the running mean of float32 powers can round just below 0 in silence: clamp, not NaN
    level = 10 * np.log10(np.maximum(uniform_filter1d(_smooth_power(spec), 3, axis=-1), 1e-20))
    width = max(int(round(HELD_S * sample_rate / shift)), 3)
    spread = (maximum_filter1d(level, width, axis=1, mode="nearest")
              - minimum_filter1d(level, width, axis=1, mode="nearest"))
    lo, hi = HELD_RANGE_DB
    held = np.clip((hi - spread) / (hi - lo), 0.0, 1.0)
    return HELD_SHARE * maximum_filter1d(held, width, axis=1, mode="nearest")


def keep_share(spec: np.ndarray, out: np.ndarray, share: np.ndarray) -> np.ndarray:
    """``out`` with each bin that holds less than ``share`` of ``spec``'s energy moved back along
    the line to ``spec`` (``spec - a (spec - out)``, the largest ``a`` in 0-1 that keeps it)."""
    removed = spec - out
    e_in, e_rm = np.abs(spec) ** 2, np.maximum(np.abs(removed) ** 2, 1e-30)
    cross = np.real(spec * np.conj(removed))
    a = (cross - np.sqrt(np.maximum(cross ** 2 - e_rm * (1 - share) * e_in, 0))) / e_rm
    low = np.abs(out) ** 2 < share * e_in
    return np.where(low, spec - np.clip(a, 0.0, 1.0) * removed, out)


def _istft(spec: np.ndarray, size: int, shift: int, m: int) -> np.ndarray:
    y = istft(spec, size=size, shift=shift)[..., :m]
    return np.pad(y, ((0, 0), (0, m - y.shape[-1]))) if y.shape[-1] < m else y


def dereverb_chunk(chunk: np.ndarray, sample_rate: int, settings: DereverbSettings) -> np.ndarray:
    """One ``(channels, m)`` chunk dereverberated (see the module docstring); same shape."""
    size, shift = _frame(sample_rate)
    m = chunk.shape[-1]
    if m < 2 * size or not np.any(chunk):
        return chunk
    spec = stft(chunk.astype(np.float64), size=size, shift=shift)  # (channels, frames, bins)
    out = np.stack([wpe(spec[c:c + 1].transpose(2, 0, 1), taps=settings.taps, delay=settings.delay,
                        iterations=settings.iterations).transpose(1, 2, 0)[0]
                    for c in range(spec.shape[0])])
    if settings.floor_db is not None:
        out = _suppress_late(out, sample_rate, shift, settings)
    share = held_share(spec, sample_rate, shift)
    if settings.post is None:
        return _istft(keep_share(spec, out, share), size, shift, m).astype(np.float32)
    y = settings.post(_istft(out, size, shift, m).astype(np.float32)).astype(np.float64)
    if not np.any(share):
        return y.astype(np.float32)
    post = stft(y, size=size, shift=shift)[:, :spec.shape[1]]
    return _istft(keep_share(spec[:, :post.shape[1]], post, share[:, :post.shape[1]]),
                  size, shift, m).astype(np.float32)


def dereverb_blocks(source: Source, sample_rate: int, settings: DereverbSettings,
                    progress=None) -> Iterator[np.ndarray]:
    """Blocks of ``source`` (``(channels, n)``) dereverberated with ``settings``; same length."""
    for _, block in overlap_add_blocks(
            source, lambda chunk: dereverb_chunk(chunk, sample_rate, settings),
            segment=int(SEGMENT_S * sample_rate), overlap=int(OVERLAP_S * sample_rate),
            context=int(CONTEXT_S * sample_rate), progress=progress):
        yield block


def dereverb(audio: Audio, *, strength: str = "medium", decay_s: float | None = None,
             post_filter: bool = True, model=None) -> tuple[Audio, DereverbSettings]:
    """``audio`` with its reverberation reduced, and the settings used."""
    settings = plan_dereverb(audio.samples, audio.sample_rate, strength=strength, decay_s=decay_s,
                             post_filter=post_filter, model=model)
    out = collect(dereverb_blocks(audio.samples, audio.sample_rate, settings), audio.channels)
    return audio.replace(out), settings


def _run(session: Session, args: Args) -> ToolResult:
    source, rate = source_of(session, args.track)
    from tools.denoise import session_model

    model = session_model(session, "auto", source) if args.post_filter else None
    s = plan_dereverb(source, rate, strength=args.strength, decay_s=args.decay_s,
                      post_filter=args.post_filter, model=model)
    how = "estimated" if s.estimated else "given"
    summary = (f"reduced the reverberation ({args.strength}: WPE"
               + ("" if s.floor_db is None else
                  f" and late-tail suppression up to {-s.floor_db:g} dB")
               + f", {s.post_note}; room decay {s.decay_s:.2f} s, {how})")
    blocks = dereverb_blocks(source, rate, s,
                             progress=lambda done, total: session.progress("dereverb", done, total))
    return stream_edit(session, args.track, blocks, sample_rate=rate, tool="dereverb", args=args,
                       summary=summary, data={"decay_s": s.decay_s, "estimated": s.estimated,
                             "post_filter": s.post is not None})


TOOL = Tool(
    name="dereverb",
    description=(
        "Reduce room reverberation (the hollow, echoey sound of a hard or large room): 'take the "
        "echo out', 'take the room out of it', 'remove the reverb', 'it sounds like a bathroom', "
        "'dereverb'. Speech recordings first. For background noise use denoise; to make tracks "
        "sound like the same room use match_room."
    ),
    args_model=Args,
    run=_run,
)
