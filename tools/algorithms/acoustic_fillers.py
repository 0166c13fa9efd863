"""Filled pauses ("uh", "um", "er") found in the signal alone, without a transcript.

A filled pause is a sustained, voiced, spectrally steady sound with a flat or slowly falling pitch
(Goto, Itou & Hayamizu 1999: "small F0 transition and small spectral envelope deformation"). Words
contain steady vowels too, so a steady stretch needs evidence that it is a filler:

- pocketsphinx's phone loop (its bundled en-us acoustic model, no words) labels it ``+SPN+``,
  the "speech noise" model that takes "uh" (all eight "uh"s of the corpus came out so);
- or it is a vowel closing into a long, quieter nasal murmur: "um" (:func:`um_shape`);
- or it stands alone between pauses as one steady vowel (:func:`alone_shape`);

and the signal itself must agree (:func:`acoustic_score`: a long steady core, pauses, a pitch that
holds or falls). Pipeline, on a 16 kHz mono mix processed a minute at a time:

1. :func:`tools.algorithms.speech_frames.frame_features`: every 10 ms, level, periodicity and F0
   (normalised autocorrelation of a 40 ms frame), spectral envelope change (cepstral distance over +-20 ms) and low-band share;
2. :func:`candidates`: steady voiced runs, joined across the "u"-"m" transition, widened to the
   sound's onset and decay, with the pauses around them and their pitch line;
3. :func:`detect_acoustic_fillers`: the phone loop over the utterances holding candidates, then
   the confidence of each.

:func:`tools.algorithms.speech_frames.silences` gives the pauses (room tone, and breaths next to it) for
pause shortening; step 1 lives in :mod:`tools.algorithms.speech_frames` too.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.signal import resample_poly

from tools.algorithms.speech_frames import (
    FRAME_S,
    RATE_HZ,
    FrameFeatures,
    Levels,
    close_gaps,
    frame_features,
    levels,
    runs,
    silences,
)
from tools.core.audio import Audio


@dataclass(frozen=True)
class AcousticFiller:
    """A filled pause found in the signal: span in seconds, score in 0..1, a guess at what it is
    ("um" when it closes into a nasal, else "uh") and why."""

    start_s: float
    end_s: float
    confidence: float
    reason: str
    label: str = "uh"


# ----------------------------------------------------------------------------- features


# ----------------------------------------------------------------------------- candidates


@dataclass(frozen=True)
class Candidate:
    """A stretch of steady voicing, in frames: the steady core and the whole sound around it."""

    core: tuple[int, int]
    span: tuple[int, int]
    pause_before_s: float
    pause_after_s: float
    slope_st_per_s: float  # pitch movement over the core, semitones per second
    pitch_sd_st: float  # pitch wobble around that line
    pitch_rel_st: float  # median pitch relative to the voice's median nearby, semitones
    level_db: float  # median level of the core relative to the speech level
    um_shape: float = 0.0  # 0..1: a vowel that closes into a long, quieter nasal murmur ("um")

    @property
    def core_s(self) -> float:
        return (self.core[1] - self.core[0]) * FRAME_S

    @property
    def span_s(self) -> float:
        return (self.span[1] - self.span[0]) * FRAME_S


def _semitones(f0_hz: np.ndarray) -> np.ndarray:
    st = 12 * np.log2(np.maximum(f0_hz, 1.0) / 100.0)
    padded = np.pad(st, 2, mode="edge")
    return np.median(np.lib.stride_tricks.sliding_window_view(padded, 5), axis=1)


def steady_mask(features: FrameFeatures, lv: Levels) -> np.ndarray:
    """Frames that are loud enough, voiced, and neither the envelope nor the pitch moves."""
    e = features.energy_db
    st = _semitones(features.f0_hz)
    jump = np.zeros_like(st)
    jump[2:-2] = np.abs(st[4:] - st[:-4])
    voiced = (features.periodicity > 0.55) & (e > lv.speech_db - 30) & (e > lv.active_db)
    return close_gaps(voiced & (features.change_db < 0.9) & (jump < 1.5), 4)


def um_shape(features: FrameFeatures, start: int, end: int) -> float:
    """0..1: how much the core ``start..end`` (frames) looks like "um": a vowel (little of its power
    below 500 Hz) that closes into a nasal murmur (most power below 500 Hz) at least 8 dB quieter
    and at least 0.15 s long. Content words hold a nasal for well under 0.1 s."""
    low, e = features.low_share[start:end], features.energy_db[start:end]
    if end - start < 16:
        return 0.0
    best = 0.0
    for split in range(8, end - start - 8):
        before, after = np.median(low[:split]), np.median(low[split:])
        if before >= 0.4:
            continue
        drop = np.median(e[:split]) - np.median(e[split:])
        best = max(best, _ramp(after - before, 0.2, 0.5) * _ramp(drop, 5.0, 10.0)
                   * _ramp((end - start - split) * FRAME_S, 0.1, 0.25))
    return float(best)


def _edge(e: np.ndarray, start: int, step: int, limit: int, quiet_db: float) -> int:
    """Walk from ``start`` in direction ``step`` up to ``limit`` frames to where the sound ends:
    the first frame below ``quiet_db``, else the lowest-energy frame (a dip between two sounds)."""
    stop = min(max(start + step * limit, -1), e.size)
    idx = np.arange(start, stop, step)
    if idx.size == 0:
        return start
    quiet = np.flatnonzero(e[idx] < quiet_db)
    if quiet.size:
        return int(idx[quiet[0]])
    return int(idx[int(np.argmin(e[idx]))])


def _pause(active: np.ndarray, edge: int, step: int, decay: int = 10) -> float:
    """Seconds of inactivity outward from ``edge`` (``step`` -1: before, +1: after), after at most
    ``decay`` frames of the sound's own fading edge."""
    i = edge
    for _ in range(decay):
        if not 0 <= i < active.size or not active[i]:
            break
        i += step
    count = 0
    while 0 <= i < active.size and not active[i]:
        count += 1
        i += step
    if not 0 <= i < active.size:  # the recording's edge counts as a long pause
        count = max(count, 100)
    return count * FRAME_S


def candidates(features: FrameFeatures, *, min_core_s: float = 0.1,
               min_alone_core_s: float = 0.06) -> list[Candidate]:
    """Steady voiced stretches (:func:`steady_mask`) joined across short voiced transitions
    (the "u" and "m" of "um"), widened to the sound's onset and decay, with their context.
    A core shorter than ``min_core_s`` counts only for a sound standing alone between pauses."""
    if features.frames < 10:
        return []
    lv = levels(features)
    e = features.energy_db
    active = e > lv.active_db
    voiced = features.periodicity > 0.45
    st = _semitones(features.f0_hz)
    merged: list[list[int]] = []
    for start, end in runs(steady_mask(features, lv)):
        if merged:
            prev = merged[-1]
            gap = slice(prev[1], start)
            if (start - prev[1] <= 10 and voiced[gap].all() and active[gap].all()
                    and abs(np.median(st[prev[1] - 3:prev[1]]) - np.median(st[start:start + 3])) < 2):
                prev[1] = end
                continue
        merged.append([start, end])
    voiced_st = st[(features.periodicity > 0.6) & active]
    out = []
    for start, end in merged:
        if (end - start) * FRAME_S < min_alone_core_s:
            continue
        # the sound ends where it has fallen 15 dB below its steady part (or into silence)
        edge_db = max(lv.active_db, float(np.median(e[start:end])) - 15.0)
        left = _edge(e, start - 1, -1, 15, edge_db)
        right = _edge(e, end, 1, 15, edge_db)
        core = st[start:end]
        t = np.arange(core.size) * FRAME_S
        slope, intercept = np.polyfit(t, core, 1)
        sd = float(np.std(core - (slope * t + intercept)))
        lo, hi = max(start - 3000, 0), min(end + 3000, e.size)  # the voice within +-30 s
        nearby = st[lo:hi][(features.periodicity[lo:hi] > 0.6) & active[lo:hi]]
        reference = np.median(nearby) if nearby.size > 20 else np.median(voiced_st)
        out.append(Candidate(
            core=(start, end), span=(left + 1, right),
            pause_before_s=_pause(active, left, -1), pause_after_s=_pause(active, right, 1),
            slope_st_per_s=float(slope), pitch_sd_st=sd,
            pitch_rel_st=float(np.median(core) - reference),
            level_db=float(np.median(e[start:end]) - lv.speech_db),
            um_shape=um_shape(features, start, end),
        ))
        short = (end - start) * FRAME_S < min_core_s
        if short and min(out[-1].pause_before_s, out[-1].pause_after_s) < 0.2:
            out.pop()
    return out


# ----------------------------------------------------------------------------- phone evidence


def _phone_decoder():
    """pocketsphinx in phone-loop mode with its bundled en-us acoustic model, or None if absent.

    Its ``+SPN+`` model ("speech noise") takes filled pauses: a second, independent opinion on a
    steady voiced stretch (measured here: every "uh" of the corpus came out as ``+SPN+``).
    """
    try:
        import pocketsphinx
    except ImportError:
        return None
    model = Path(pocketsphinx.__file__).parent / "model" / "en-us"
    if not (model / "en-us-phone.lm.bin").is_file():
        return None
    return pocketsphinx.Decoder(allphone=str(model / "en-us-phone.lm.bin"), loglevel="FATAL",
                                beam=1e-20, pbeam=1e-20, lw=2.0)


def phone_spans(audio: Audio, start_s: float, end_s: float, decoder) -> list[tuple[str, float, float]]:
    """Phones ``(label, start_s, end_s)`` that pocketsphinx's phone loop hears in ``start_s..end_s``."""
    lo, hi = audio.sample_index(start_s), audio.sample_index(end_s)
    mono = audio.read(lo, hi).mean(axis=0, dtype=np.float64)
    if audio.sample_rate != RATE_HZ:
        mono = resample_poly(mono, RATE_HZ, audio.sample_rate)
    pcm = np.clip(mono * 32767.0, -32768, 32767).astype(np.int16)
    decoder.start_utt()
    decoder.process_raw(pcm.tobytes(), full_utt=True)
    decoder.end_utt()
    offset = lo / audio.sample_rate
    return [(seg.word, offset + seg.start_frame * FRAME_S, offset + (seg.end_frame + 1) * FRAME_S)
            for seg in decoder.seg()]


def filler_phone_share(phones: list[tuple[str, float, float]], start_s: float, end_s: float) -> float:
    """Share of ``start_s..end_s`` that the phone loop labelled ``+SPN+`` (speech noise)."""
    covered = sum(max(0.0, min(b, end_s) - max(a, start_s)) for p, a, b in phones if p == "+SPN+")
    return covered / max(end_s - start_s, 1e-9)


# ----------------------------------------------------------------------------- scoring

MAX_FILLER_S = 2.0  # a steady vowel longer than this is a drawl or singing, not a filled pause
_PHONE_CONTEXT_S = 1.0  # the phone loop hears each candidate with this much context each side
_MAX_UTTERANCE_S = 20.0


def _ramp(value: float, lo: float, hi: float) -> float:
    return float(min(max((value - lo) / (hi - lo), 0.0), 1.0))


def _join(found: list[Candidate], features: FrameFeatures) -> list[Candidate]:
    """Join candidates that are one sound broken by a wobble: spans touching, the same pitch
    (within 3 semitones: the pitch may step down into the "m" of "um") and no dip of 10 dB or
    more between the cores. The context comes from the outer sides, the pitch line from the
    longer core."""
    st = _semitones(features.f0_hz)
    e = features.energy_db
    out: list[Candidate] = []
    for cand in found:
        if out and cand.span[0] - out[-1].span[1] <= 3:
            prev = out[-1]
            (a0, a1), (b0, b1) = prev.core, cand.core
            same_pitch = abs(np.median(st[a0:a1]) - np.median(st[b0:b1])) < 3.0
            between = e[a1:b0].min() if b0 > a1 else np.inf
            dip = min(np.median(e[a0:a1]), np.median(e[b0:b1])) - between
            if same_pitch and dip < 10.0:
                longer = prev if prev.core_s >= cand.core_s else cand
                out[-1] = Candidate(
                    core=(a0, b1), span=(prev.span[0], cand.span[1]),
                    pause_before_s=prev.pause_before_s, pause_after_s=cand.pause_after_s,
                    slope_st_per_s=longer.slope_st_per_s, pitch_sd_st=longer.pitch_sd_st,
                    pitch_rel_st=longer.pitch_rel_st, level_db=longer.level_db,
                    um_shape=max(prev.um_shape, cand.um_shape, um_shape(features, a0, b1)))
                continue
        out.append(cand)
    return out


def _pitch_gate(cand: Candidate) -> float:
    """A filled pause holds or lowers its pitch; a rising one is a word (or a question)."""
    return 1.0 if cand.slope_st_per_s <= 3.0 else 0.3


def alone_shape(cand: Candidate) -> float:
    """0..1: a sound standing alone between pauses that is one steady vowel (content words have
    consonants: their steady part is a small share of the sound)."""
    if min(cand.pause_before_s, cand.pause_after_s) < 0.15:
        return 0.0
    return _ramp(cand.core_s, 0.2, 0.35) * _ramp(cand.core_s / max(cand.span_s, 1e-9), 0.5, 0.7)


def acoustic_score(cand: Candidate) -> float:
    """0..1 from the signal alone: a long steady core, pauses around it, a flat or falling pitch
    that is not above the voice's usual pitch."""
    length = _ramp(cand.core_s, 0.1, 0.5)
    alone = min(cand.pause_before_s, cand.pause_after_s) >= 0.2
    one_side = max(cand.pause_before_s, cand.pause_after_s) >= 0.2
    isolation = 1.0 if alone else 0.5 if one_side else 0.0
    flat = -14.0 <= cand.slope_st_per_s <= 3.0 and cand.pitch_sd_st <= 1.0
    low = cand.pitch_rel_st <= 2.0
    return 0.4 * length + 0.3 * isolation + 0.2 * flat + 0.1 * low


def _utterances(found: list[Candidate], quiet: list[tuple[float, float]],
                duration_s: float) -> list[tuple[float, float]]:
    """Stretches for the phone loop: each candidate with ``_PHONE_CONTEXT_S`` around it, joined
    when they overlap (up to ``_MAX_UTTERANCE_S``), the ends moved out to the middle of a pause
    within a second where there is one, as an utterance is decoded."""
    middles = [(a + b) / 2 for a, b in quiet]

    def settle(t: float, outward: int) -> float:
        k = bisect_right(middles, t) - 1 if outward < 0 else bisect_left(middles, t)
        if 0 <= k < len(middles) and abs(middles[k] - t) <= 1.0:
            return middles[k]
        return t

    windows: list[list[float]] = []
    for cand in found:
        lo = max(cand.span[0] * FRAME_S - _PHONE_CONTEXT_S, 0.0)
        hi = min(cand.span[1] * FRAME_S + _PHONE_CONTEXT_S, duration_s)
        if windows and lo <= windows[-1][1] and hi - windows[-1][0] <= _MAX_UTTERANCE_S:
            windows[-1][1] = hi
        else:
            windows.append([lo, hi])
    return [(max(settle(lo, -1), 0.0), min(settle(hi, 1), duration_s)) for lo, hi in windows]


def detect_acoustic_fillers(audio: Audio, *, features: FrameFeatures | None = None,
                            use_phones: bool = True, min_confidence: float = 0.3,
                            progress=None) -> list[AcousticFiller]:
    """Filled pauses in ``audio`` (any rate, channels mixed), sorted, each with a confidence.

    confidence = 0.6 x evidence + 0.4 x :func:`acoustic_score`. The evidence is the largest of how
    much of the steady core pocketsphinx's phone loop calls ``+SPN+`` (20 % -> 0, 70 % -> 1; its
    speech-noise model takes "uh"), :func:`um_shape` (the phone loop has no model of "um") and
    :func:`alone_shape` (a lone steady vowel between pauses). Without pocketsphinx the last two.
    Evidence for a sound whose pitch rises counts 0.3 times. Candidates longer than
    ``MAX_FILLER_S`` are dropped; ``progress(done, total)`` follows the phone pass.
    """
    features = features if features is not None else frame_features(audio)
    found = candidates(features)
    found = [c for c in _join(found, features) if c.span_s <= MAX_FILLER_S] if found else []
    decoder = _phone_decoder() if use_phones and found else None
    phones: list[tuple[str, float, float]] = []
    if decoder is not None:
        windows = _utterances(found, silences(features, min_s=0.15), audio.duration_s)
        for index, (lo, hi) in enumerate(windows):
            phones += phone_spans(audio, lo, hi, decoder)
            if progress is not None:
                progress(index + 1, len(windows))
    out = []
    for cand in found:
        start_s, end_s = cand.span[0] * FRAME_S, cand.span[1] * FRAME_S
        score = acoustic_score(cand)
        if decoder is not None:
            share = filler_phone_share(phones, cand.core[0] * FRAME_S, cand.core[1] * FRAME_S)
            # a short vowel inside speech is too little to go on: the phone loop must hear a
            # long one, or a short one standing alone
            alone = min(cand.pause_before_s, cand.pause_after_s) >= 0.15
            heard = _ramp(share, 0.2, 0.7) * (1.0 if alone else _ramp(cand.core_s, 0.1, 0.2))
            evidence = max(heard, cand.um_shape, alone_shape(cand))
            confidence = 0.6 * evidence * _pitch_gate(cand) + 0.4 * score
            reason = f"steady voicing {cand.core_s:.2f} s, phone loop +SPN+ {share:.0%}"
        else:
            evidence = max(cand.um_shape, alone_shape(cand))
            confidence = 0.6 * evidence * _pitch_gate(cand) + 0.4 * score
            reason = f"steady voicing {cand.core_s:.2f} s (no phone check: pocketsphinx missing)"
        if cand.um_shape >= 0.5:
            reason += f", vowel closing into a nasal murmur ({cand.um_shape:.0%})"
        if confidence >= min_confidence:
            out.append(AcousticFiller(round(start_s, 3), round(end_s, 3), round(confidence, 3),
                                      reason, "um" if cand.um_shape >= 0.5 else "uh"))
    return out
