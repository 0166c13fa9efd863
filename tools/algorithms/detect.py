"""Signal-level event detectors: silence, pauses, speech regions, breaths, clicks, clipping.

Each detector takes :class:`~tools.core.audio.Audio` or a session's track view (anything with
``sample_rate``, ``num_samples``, ``duration_s``, ``sample_index`` and ``read(start, stop)``: it
reads windows, never the whole track) and returns a list of :class:`Span` (seconds from the
start of the audio, sorted). They know nothing of the agent; ``locate`` and ``remove_disfluencies``
call them. Levels are measured on 10 ms frames (mean power over channels), block by block, so
memory stays bounded for long files.

- silence: frames below a threshold (default: adaptive, 10 dB over the noise floor, see
  :func:`silence_threshold_db`) for at least ``min_silence_s``.
- pauses: non-speech between speech (Silero VAD, :mod:`tools.algorithms.vad`), edges snapped to the 10 ms
  frame where the level crosses from speech to the pause's own floor.
- breaths: short (0.1 to 1 s) noise-like bumps inside non-speech, below the speech level.
- clicks: impulses in the residual of a short-term linear predictor (AR order 24, refitted every
  4096 samples) that stand out from their own neighbourhood (a voiced-speech excitation pulse has
  neighbours of the same size a pitch period away; a click does not) and are one spike, not a
  cluster (a plosive burst).
- clipping: runs of 3 or more consecutive samples at the channel's extreme value (flat tops).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter

from tools.algorithms.ar import fit_ar
from tools.algorithms.vad import SpeechActivity, runs, speech_activity
from tools.core.audio import Audio

FRAME_S = 0.01
_BLOCK_SAMPLES = 1 << 20
SILENT_DB = -90.0


@dataclass(frozen=True)
class Span:
    """One located event: ``start_s``..``end_s`` (seconds), its ``kind``, a short ``text``."""

    start_s: float
    end_s: float
    kind: str
    text: str = ""
    confidence: float = 1.0

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s

    def to_dict(self) -> dict:
        return {"start_s": round(self.start_s, 3), "end_s": round(self.end_s, 3), "kind": self.kind,
                "text": self.text, "confidence": round(float(self.confidence), 3)}


def format_time(time_s: float) -> str:
    """``83.456`` -> ``"1:23.46"`` (hours when needed)."""
    hours, rest = divmod(max(time_s, 0.0), 3600)
    minutes, seconds = divmod(rest, 60)
    head = f"{int(hours)}:{int(minutes):02d}" if hours >= 1 else f"{int(minutes)}"
    return f"{head}:{seconds:05.2f}"


def describe_spans(spans: list[Span], *, limit: int = 12) -> str:
    """One compact line: ``3 pauses: 0:01.20-0:02.40 (1.20 s), ...``."""
    if not spans:
        return "none found"
    parts = []
    for span in spans[:limit]:
        label = f" {span.text!r}" if span.text else ""
        parts.append(f"{format_time(span.start_s)}-{format_time(span.end_s)}{label}")
    more = f", ... ({len(spans) - limit} more)" if len(spans) > limit else ""
    return ", ".join(parts) + more


# ----------------------------------------------------------------------------- levels


def frame_levels_db(audio: Audio, *, frame_s: float = FRAME_S) -> np.ndarray:
    """Level of every ``frame_s`` frame in dBFS (mean power over channels; last frame partial)."""
    frame = max(int(round(frame_s * audio.sample_rate)), 1)
    block = max(_BLOCK_SAMPLES // frame, 1) * frame
    out = []
    for start in range(0, audio.num_samples, block):
        chunk = audio.read(start, start + block).astype(np.float64)
        power = np.square(chunk).mean(axis=0)
        count = -(-power.size // frame)
        padded = np.zeros(count * frame)
        padded[:power.size] = power
        sums = padded.reshape(count, frame).sum(axis=1)
        sizes = np.full(count, frame, dtype=np.float64)
        sizes[-1] = power.size - (count - 1) * frame
        out.append(10 * np.log10(np.maximum(sums / sizes, 1e-12)))
    return np.concatenate(out) if out else np.zeros(0)


def silence_threshold_db(levels_db: np.ndarray) -> float:
    """Adaptive silence threshold: 10 dB over the noise floor (5th percentile, at least -100 dB),
    at least 45 dB under the loud level (95th percentile) and never within 15 dB of it; anything
    under -90 dBFS counts as silence whatever the rest."""
    if levels_db.size == 0:
        return -60.0
    floor = max(float(np.percentile(levels_db, 5)), -100.0)
    loud = float(np.percentile(levels_db, 95))
    return max(min(max(floor + 10.0, loud - 45.0), loud - 15.0), SILENT_DB)


# ----------------------------------------------------------------------------- silence, speech


def silences(audio: Audio, *, threshold_db: float | None = None, min_silence_s: float = 0.3,
             levels_db: np.ndarray | None = None) -> list[Span]:
    """Stretches quieter than ``threshold_db`` (dBFS; None: adaptive) lasting ``min_silence_s``."""
    levels = frame_levels_db(audio) if levels_db is None else levels_db
    threshold = silence_threshold_db(levels) if threshold_db is None else threshold_db
    spans = []
    for start, stop in runs(levels < threshold):
        begin, end = start * FRAME_S, min(stop * FRAME_S, audio.duration_s)
        if end - begin >= min_silence_s:
            level = float(levels[start:stop].mean())
            spans.append(Span(begin, end, "silence", f"{end - begin:.2f} s below {threshold:.0f} dBFS",
                              confidence=float(np.clip((threshold - level) / 10.0, 0.0, 1.0))))
    return spans


def speech(audio: Audio, *, activity: SpeechActivity | None = None,
           min_silence_s: float = 0.3) -> list[Span]:
    """Speech regions (Silero VAD, energy fallback); gaps under ``min_silence_s`` are bridged."""
    activity = activity or speech_activity(audio)
    return [Span(a, b, "speech", confidence=activity.mean_probability(a, b))
            for a, b in activity.regions(min_silence_s=min_silence_s, min_speech_s=0.1)]


def non_speech(audio: Audio, *, activity: SpeechActivity | None = None,
               min_silence_s: float = 0.3) -> list[Span]:
    """Everything that is not speech (silence, music, noise, breaths), at least ``min_silence_s``."""
    activity = activity or speech_activity(audio)
    return [Span(a, b, "non_speech", confidence=1.0 - activity.mean_probability(a, b))
            for a, b in activity.non_speech(min_silence_s=min_silence_s, min_speech_s=0.1)
            if b - a >= min_silence_s]


def _refine_pause(levels: np.ndarray, start_s: float, end_s: float) -> tuple[float, float]:
    """Snap a VAD pause's edges to where the level leaves / regains speech level."""
    lo, hi = int(start_s / FRAME_S), int(np.ceil(end_s / FRAME_S))
    inside = levels[lo:hi]
    if inside.size == 0:
        return start_s, end_s
    threshold = float(np.percentile(inside, 20)) + 6.0
    back = levels[max(lo - 30, 0):min(lo + 10, levels.size)]
    loud = np.flatnonzero(back >= threshold)
    start = (max(lo - 30, 0) + int(loud[-1]) + 1) if loud.size else max(lo - 30, 0)
    ahead = levels[max(hi - 10, 0):min(hi + 30, levels.size)]
    loud = np.flatnonzero(ahead >= threshold)
    stop = (max(hi - 10, 0) + int(loud[0])) if loud.size else min(hi + 30, levels.size)
    return start * FRAME_S, stop * FRAME_S


def pauses(audio: Audio, *, min_pause_s: float = 0.5, activity: SpeechActivity | None = None,
           levels_db: np.ndarray | None = None) -> list[Span]:
    """Pauses between speech (not before the first word or after the last) of ``min_pause_s`` or
    more; edges within one 10 ms frame of the level change where the pause is quiet."""
    activity = activity or speech_activity(audio)
    levels = frame_levels_db(audio) if levels_db is None else levels_db
    regions = activity.regions(min_silence_s=0.05, min_speech_s=0.05)
    spans = []
    for (_, gap_start), (gap_end, _) in zip(regions[:-1], regions[1:], strict=True):
        start, end = _refine_pause(levels, gap_start, gap_end)
        if end - start >= min_pause_s:
            confidence = 1.0 - activity.mean_probability(start, end)
            spans.append(Span(start, end, "pause", f"pause {end - start:.2f} s", confidence))
    return spans


# ----------------------------------------------------------------------------- breaths


def _flatness(audio: Audio, start_s: float, end_s: float) -> float:
    """Spectral flatness (0 tonal .. 1 white) of the mono span, 300 Hz to 6 kHz."""
    i0, i1 = audio.sample_index(start_s), audio.sample_index(end_s)
    mono = audio.read(i0, i1).mean(axis=0).astype(np.float64)
    if mono.size < 64:
        return 0.0
    spectrum = np.abs(np.fft.rfft(mono * np.hanning(mono.size))) ** 2 + 1e-20
    freqs = np.fft.rfftfreq(mono.size, 1.0 / audio.sample_rate)
    band = spectrum[(freqs >= 300) & (freqs <= min(6000, audio.sample_rate / 2))]
    if band.size < 8:
        return 0.0
    # flatness over smoothed bands (32 of them), so one frame's fine structure does not count
    bands = np.array([chunk.mean() for chunk in np.array_split(band, 32)])
    return float(np.exp(np.mean(np.log(bands))) / np.mean(bands))


def breaths(audio: Audio, *, activity: SpeechActivity | None = None,
            levels_db: np.ndarray | None = None) -> list[Span]:
    """Breaths: 0.1 to 1.0 s noise-like sounds in non-speech, 10 dB or more over the pause floor,
    peaking 10 to 35 dB under the speech level (90th percentile), with a flat (noise-like) spectrum.
    Heuristic (no trained model): expect misses and false hits; confidence from flatness."""
    activity = activity or speech_activity(audio)
    levels = frame_levels_db(audio) if levels_db is None else levels_db
    regions = activity.regions(min_silence_s=0.1, min_speech_s=0.1)
    speech_frames = np.concatenate([levels[int(a / FRAME_S):int(b / FRAME_S)] for a, b in regions]
                                   ) if regions else np.zeros(0)
    if speech_frames.size == 0:
        return []
    speech_db = float(np.percentile(speech_frames, 90))
    floor_db = max(float(np.percentile(levels, 5)), -100.0)
    spans = []
    for gap_start, gap_end in activity.non_speech(min_silence_s=0.1, min_speech_s=0.1):
        lo, hi = int(gap_start / FRAME_S), int(np.ceil(gap_end / FRAME_S))
        part = levels[lo:hi]
        local_floor = max(float(np.percentile(part, 10)), floor_db) if part.size else floor_db
        for start, stop in runs(_close_gaps(part >= local_floor + 10.0, 5)):
            begin, end = (lo + start) * FRAME_S, (lo + stop) * FRAME_S
            peak_db = float(part[start:stop].max())
            if not 0.1 <= end - begin <= 1.0 or not speech_db - 35.0 <= peak_db <= speech_db - 10.0:
                continue
            flatness = _flatness(audio, begin, end)
            if flatness >= 0.2:
                spans.append(Span(begin, end, "breath", f"breath {end - begin:.2f} s",
                                  confidence=min(1.0, flatness * 2)))
    return spans


def _close_gaps(mask: np.ndarray, frames: int) -> np.ndarray:
    out = mask.copy()
    for start, stop in runs(~mask):
        if 0 < start and stop < mask.size and stop - start <= frames:
            out[start:stop] = True
    return out


# ----------------------------------------------------------------------------- clipping


def clipping(audio: Audio, *, min_run_samples: int = 3, min_level: float = 0.5) -> list[Span]:
    """Runs of ``min_run_samples`` or more consecutive samples sitting at a channel's own positive
    or negative extreme (within 1e-6 of it, at least ``min_level`` in amplitude); runs closer than
    10 ms are merged into one span."""
    if min_run_samples < 2:
        raise ValueError(f"min_run_samples={min_run_samples} must be at least 2")
    flat_runs: list[tuple[int, int]] = []
    starts = range(0, audio.num_samples, _BLOCK_SAMPLES)
    tops = np.full(audio.shape[0], -np.inf)
    bottoms = np.full(audio.shape[0], np.inf)
    for start in starts:  # first pass: each channel's extremes
        block = audio.read(start, start + _BLOCK_SAMPLES)
        tops, bottoms = np.maximum(tops, block.max(axis=1)), np.minimum(bottoms, block.min(axis=1))
    for start in starts:  # second pass: the runs at them
        window = audio.read(start, start + _BLOCK_SAMPLES + min_run_samples)
        for block, top, bottom in zip(window, tops, bottoms, strict=True):
            for level, sign in ((float(top), 1.0), (float(bottom), -1.0)):
                if sign * level < min_level:
                    continue
                flat = sign * (block - level) >= -abs(level) * 1e-6
                flat_runs += [(start + a, start + b) for a, b in runs(flat)
                              if b - a >= min_run_samples]
    merged: list[list[int]] = []
    gap = int(0.01 * audio.sample_rate)
    for start, stop in sorted(set(flat_runs)):
        if merged and start <= merged[-1][1] + gap:
            merged[-1][1] = max(merged[-1][1], stop)
            merged[-1][2] += stop - start
        else:
            merged.append([start, stop, stop - start])
    rate = audio.sample_rate
    return [Span(a / rate, b / rate, "clipping", f"{count} clipped samples",
                 confidence=min(1.0, 0.5 + count / 20)) for a, b, count in merged]


# ----------------------------------------------------------------------------- clicks


AR_ORDER = 24
AR_BLOCK = 4096
CLICK_MAD_FACTOR = 8.0
CLICK_NEIGHBOUR_RATIO = 5.0
CLICK_FLOOR = 1e-4  # residual amplitude under this (-80 dBFS) is never a click
CLICK_MAX_SPREAD_S = 0.0003  # an impulse: at most this much residual over 30 % of its peak (+-3 ms)


def _residual_envelope(mono: np.ndarray) -> np.ndarray:
    """|matched-filtered AR residual| of ``mono``, the model refitted on every ``AR_BLOCK`` samples.

    The residual of an impulse is the predictor ``a`` itself (``AR_ORDER`` samples long); filtering
    the residual with ``a`` reversed (Vaseghi & Rayner's two-sided detector) folds it back into one
    sample, scaled so that an impulse of amplitude ``A`` reads ``A``.
    """
    out = np.zeros(mono.size)
    for start in range(0, mono.size, AR_BLOCK):
        block = mono[start:start + AR_BLOCK]
        if block.size <= 2 * AR_ORDER:
            continue
        a, _ = fit_ar(block, AR_ORDER)
        lead = mono[max(start - AR_ORDER, 0):start]
        ext = np.concatenate([lead, block, mono[start + block.size:start + block.size + AR_ORDER]])
        residual = lfilter(a, [1.0], ext)[lead.size:]
        matched = np.correlate(residual, a, mode="full")[a.size - 1:a.size - 1 + block.size]
        out[start:start + block.size] = np.abs(matched) / float(np.dot(a, a))
    return out


def clicks(audio: Audio, *, sensitivity: float = 1.0) -> list[Span]:
    """Clicks and pops: residual impulses at least ``CLICK_MAD_FACTOR / sensitivity`` robust
    deviations over their block and ``CLICK_NEIGHBOUR_RATIO / sensitivity`` times the largest
    residual 1 to 15 ms around them, and impulsive (at most 0.3 ms of residual over 30 % of the
    peak within 3 ms: a plosive burst is a cluster, a click is one spike). ``sensitivity`` from
    0.25 (strict) to 4 (eager). On the mono mix; each span is the impulse (at least 2 ms)."""
    if not 0.25 <= sensitivity <= 4.0:
        raise ValueError(f"sensitivity={sensitivity} must be from 0.25 to 4")
    rate = audio.sample_rate
    near, far = max(int(0.001 * rate), 1), int(0.015 * rate)
    max_spread = max(4, int(CLICK_MAX_SPREAD_S * rate))
    spans: list[Span] = []
    step = max(_BLOCK_SAMPLES // AR_BLOCK, 1) * AR_BLOCK
    for start in range(0, audio.num_samples, step):
        lo = max(start - far, 0)
        mono = audio.read(lo, start + step + far).mean(axis=0, dtype=np.float64)
        env = _residual_envelope(mono)
        scale = np.zeros_like(env)
        for b in range(0, env.size, AR_BLOCK):
            part = env[b:b + AR_BLOCK]
            scale[b:b + AR_BLOCK] = 1.4826 * np.median(part) if part.size else 0.0
        candidate = (env > CLICK_MAD_FACTOR / sensitivity * scale) & (env > CLICK_FLOOR)
        own = slice(start - lo, start - lo + step)
        for a, b in runs(_dilate(candidate, near))[:5000]:
            peak_at = a + int(np.argmax(env[a:b]))
            if not own.start <= peak_at < own.stop or b - a > 10 * near:
                continue
            around = np.concatenate([env[max(a - far, 0):max(a - near, 0)], env[b + near:b + far]])
            neighbour = float(around.max()) if around.size else 0.0
            ratio = env[peak_at] / max(neighbour, CLICK_FLOOR / 10)
            core = env[max(peak_at - 3 * near, 0):peak_at + 3 * near]
            spread = int(np.count_nonzero(core > 0.3 * env[peak_at]))
            if ratio >= CLICK_NEIGHBOUR_RATIO / sensitivity and spread <= max_spread:
                center = (lo + peak_at) / rate
                width = max((b - a) / rate, 0.002)
                spans.append(Span(max(center - width / 2, 0.0), min(center + width / 2, audio.duration_s),
                                  "click", f"click ({ratio:.0f}x its surroundings)",
                                  confidence=min(1.0, ratio / (2 * CLICK_NEIGHBOUR_RATIO))))
    return spans


def _dilate(mask: np.ndarray, width: int) -> np.ndarray:
    """Join True samples closer than ``width`` (so one impulse's ringing is one event)."""
    if not mask.any():
        return mask
    kernel = np.ones(width, dtype=np.int32)
    return np.convolve(mask.astype(np.int32), kernel, mode="same") > 0
