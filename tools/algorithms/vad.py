"""Speech versus non-speech: Silero VAD (the ONNX copy inside faster-whisper), energy as a fallback.

Silero VAD v6 (snakers4/silero-vad, MIT) scores 32 ms windows (512 samples at 16 kHz) with a small
recurrent network. faster-whisper ships the model (``faster_whisper/assets/silero_vad_v6.onnx``) and
runs it through onnxruntime, so it works offline with nothing to download. Here the audio is mixed
to mono, resampled to 16 kHz and fed in blocks of :data:`BLOCK_S` seconds with the recurrent state
and the 64-sample context carried from block to block: the probabilities are those of one pass over
the whole file, and memory is bounded by one block.

Without onnxruntime (or faster-whisper) :func:`speech_activity` falls back to frame energy against
an adaptive floor, turned into pseudo-probabilities on the same 32 ms grid; ``method`` says which
ran. :meth:`SpeechActivity.regions` turns probabilities into ``(start_s, end_s)`` spans with
hysteresis, gap closing, a minimum length, padding and an optional maximum length (long spans are
split at their least speech-like window, as ASR wants chunks of at most 30 s).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from math import gcd
from typing import Protocol

import numpy as np
from scipy.signal import resample_poly

VAD_RATE_HZ = 16_000
WINDOW_SAMPLES = 512  # 32 ms at 16 kHz: Silero's window
CONTEXT_SAMPLES = 64
HOP_S = WINDOW_SAMPLES / VAD_RATE_HZ
BLOCK_S = 30.0
_RESAMPLE_MARGIN_S = 0.05
_ENERGY_SPEECH_ABOVE_FLOOR_DB = 12.0
_ENERGY_SLOPE_DB = 3.0

Region = tuple[float, float]


class Reader(Protocol):
    """What the functions here read: an :class:`Audio` or a session's track view."""

    sample_rate: int
    num_samples: int
    duration_s: float

    def read(self, start: int, stop: int) -> np.ndarray: ...


# ----------------------------------------------------------------------------- resampling


def mono_resampled(audio: Reader, rate_hz: int, *, start_s: float = 0.0,
                   end_s: float | None = None) -> np.ndarray:
    """``audio[start_s:end_s]`` mixed to mono and resampled to ``rate_hz``: float32 ``(m,)``.

    ``audio``: an :class:`Audio` or any reader with ``sample_rate``, ``num_samples`` and
    ``read(start, stop)`` (a session's track view). Only the span (plus a short margin for the
    filter) is read and converted, so a caller walking a long file span by span needs memory for
    one span. Output sample 0 is at ``start_s``.
    """
    n = audio.num_samples
    i0 = _index(audio, start_s)
    i1 = n if end_s is None else max(_index(audio, end_s), i0)
    if rate_hz == audio.sample_rate:
        return audio.read(i0, i1).mean(axis=0).astype(np.float32)
    divisor = gcd(int(rate_hz), audio.sample_rate)
    up, down = int(rate_hz) // divisor, audio.sample_rate // divisor
    margin = -(-int(_RESAMPLE_MARGIN_S * audio.sample_rate) // down) * down
    lo = i0 - min(margin, (i0 // down) * down)  # i0 - lo is a multiple of down: exact offsets
    hi = min(i1 + margin, n)
    span = audio.read(lo, hi).mean(axis=0, dtype=np.float64)
    out = resample_poly(span, up, down) if span.size else np.zeros(0)
    first = (i0 - lo) // down * up
    count = -(-(i1 - i0) * up // down)
    return out[first:first + count].astype(np.float32)


def _index(audio: Reader, time_s: float) -> int:
    """The sample index nearest ``time_s``, clamped to ``[0, num_samples]``."""
    return int(min(max(round(time_s * audio.sample_rate), 0), audio.num_samples))


def resampled_blocks(audio: Reader, rate_hz: int = VAD_RATE_HZ, *, start_s: float = 0.0,
                     end_s: float | None = None, block_s: float = 30.0) -> Iterator[np.ndarray]:
    """``audio[start_s:end_s]`` as mono ``rate_hz`` blocks of about ``block_s`` (consecutive, no
    gaps or overlaps: their concatenation is :func:`mono_resampled` of the span), so memory is one
    block of the source however long the span."""
    divisor = gcd(int(rate_hz), audio.sample_rate)
    down = audio.sample_rate // divisor
    step = max(int(block_s * audio.sample_rate) // down, 1) * down
    first = _index(audio, start_s)
    last = audio.num_samples if end_s is None else max(_index(audio, end_s), first)
    for start in range(first, last, step):
        yield mono_resampled(audio, rate_hz, start_s=start / audio.sample_rate,
                             end_s=min(start + step, last) / audio.sample_rate)


def _blocks(audio: Reader, block_s: float) -> Iterator[np.ndarray]:
    """The whole file at 16 kHz mono, block by block (consecutive, no gaps or overlaps)."""
    return resampled_blocks(audio, VAD_RATE_HZ, block_s=block_s)


# ----------------------------------------------------------------------------- Silero


def silero_path() -> str:
    """Where faster-whisper keeps its copy of Silero VAD (ImportError without faster-whisper)."""
    from faster_whisper.utils import get_assets_path

    return os.path.join(get_assets_path(), "silero_vad_v6.onnx")


class SileroVad:
    """Silero VAD v6 through onnxruntime, single-threaded (it is tiny: ~0.2 % of real time)."""

    name = "silero-vad-v6"

    def __init__(self, path: str | None = None) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.inter_op_num_threads = 1
        options.intra_op_num_threads = 1
        options.log_severity_level = 4
        options.enable_cpu_mem_arena = False
        self._session = onnxruntime.InferenceSession(
            path or silero_path(), providers=["CPUExecutionProvider"], sess_options=options)

    def probabilities(self, blocks: Iterator[np.ndarray]) -> np.ndarray:
        """Speech probability of every 32 ms window of the concatenated 16 kHz ``blocks``."""
        state = np.zeros((2, 1, 1, 128), dtype=np.float32)
        context = np.zeros(CONTEXT_SAMPLES, dtype=np.float32)
        pending = np.zeros(0, dtype=np.float32)
        out = []
        for block in blocks:
            pending = np.concatenate([pending, block])
            usable = pending.size - pending.size % WINDOW_SAMPLES
            if usable:
                out.append(self._run(pending[:usable], context, state))
                context = pending[usable - CONTEXT_SAMPLES:usable].copy()
                pending = pending[usable:]
        if pending.size:  # the last partial window, zero-padded as faster-whisper does
            tail = np.zeros(WINDOW_SAMPLES, dtype=np.float32)
            tail[:pending.size] = pending
            out.append(self._run(tail, context, state))
        return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)

    def _run(self, samples: np.ndarray, context: np.ndarray, state: np.ndarray) -> np.ndarray:
        windows = samples.reshape(-1, WINDOW_SAMPLES)
        previous = np.concatenate([context[None, :], windows[:-1, -CONTEXT_SAMPLES:]], axis=0)
        batch = np.concatenate([previous, windows], axis=1)
        probs, h, c = self._session.run(None, {"input": batch, "h": state[0], "c": state[1]})
        state[0], state[1] = h, c
        return np.asarray(probs, dtype=np.float32).reshape(-1)


# ----------------------------------------------------------------------------- energy fallback


def _energy_probabilities(audio: Reader) -> np.ndarray:
    """Pseudo speech probabilities from 32 ms frame energy against an adaptive floor."""
    levels = []
    for block in _blocks(audio, BLOCK_S):
        usable = np.zeros(-(-block.size // WINDOW_SAMPLES) * WINDOW_SAMPLES, dtype=np.float64)
        usable[:block.size] = block
        power = np.mean(usable.reshape(-1, WINDOW_SAMPLES) ** 2, axis=1)
        levels.append(10 * np.log10(power + 1e-12))
    level_db = np.concatenate(levels) if levels else np.zeros(0)
    if level_db.size == 0:
        return np.zeros(0, dtype=np.float32)
    floor_db = float(np.percentile(level_db, 10))
    loud_db = float(np.percentile(level_db, 95))
    threshold_db = max(min(floor_db + _ENERGY_SPEECH_ABOVE_FLOOR_DB, loud_db - 6.0), -60.0)
    return (1.0 / (1.0 + np.exp(-(level_db - threshold_db) / _ENERGY_SLOPE_DB))).astype(np.float32)


# ----------------------------------------------------------------------------- regions


@dataclass(frozen=True, eq=False)
class SpeechActivity:
    """Speech probability per ``hop_s`` window from the start of the audio, and how it was made."""

    probabilities: np.ndarray
    hop_s: float
    duration_s: float
    method: str  # "silero" or "energy"

    def regions(self, *, threshold: float = 0.5, min_speech_s: float = 0.1,
                min_silence_s: float = 0.1, pad_s: float = 0.0,
                max_region_s: float | None = None) -> list[Region]:
        """Speech spans ``(start_s, end_s)``, sorted and disjoint.

        A window is speech from the first one at ``threshold`` or above until the probability drops
        below ``threshold - 0.15``; gaps shorter than ``min_silence_s`` are closed, spans shorter
        than ``min_speech_s`` dropped, the rest padded by ``pad_s`` each side (clamped to the
        audio) and, with ``max_region_s``, split at their least speech-like window.
        """
        probs = self.probabilities
        speech = _hysteresis(probs, threshold, max(threshold - 0.15, 0.01))
        runs_ = runs(speech)
        hop = self.hop_s
        closed: list[list[int]] = []
        for start, stop in runs_:
            if closed and (start - closed[-1][1]) * hop < min_silence_s:
                closed[-1][1] = stop
            else:
                closed.append([start, stop])
        out: list[Region] = []
        for start, stop in closed:
            if (stop - start) * hop < min_speech_s:
                continue
            begin = round(max(start * hop - pad_s, 0.0), 3)
            end = round(min(stop * hop + pad_s, self.duration_s), 3)
            if out and begin <= out[-1][1]:
                out[-1] = (out[-1][0], end)
            else:
                out.append((begin, end))
        if max_region_s is not None:
            out = [piece for region in out for piece in self._split(region, max_region_s)]
        return out

    def non_speech(self, **kwargs: float) -> list[Region]:
        """The complement of :meth:`regions` within ``[0, duration_s]``."""
        out, at = [], 0.0
        for start, end in self.regions(**kwargs):
            if start > at:
                out.append((at, start))
            at = end
        if at < self.duration_s:
            out.append((at, self.duration_s))
        return out

    def mean_probability(self, start_s: float, end_s: float) -> float:
        lo = int(start_s / self.hop_s)
        hi = max(int(np.ceil(end_s / self.hop_s)), lo + 1)
        part = self.probabilities[lo:hi]
        return float(part.mean()) if part.size else 0.0

    def _split(self, region: Region, max_s: float) -> list[Region]:
        start, end = region
        if end - start <= max_s:
            return [region]
        lo = int((start + max_s / 2) / self.hop_s)
        hi = max(int((start + max_s) / self.hop_s), lo + 1)
        window = self.probabilities[lo:hi]
        cut = (lo + int(np.argmin(window))) * self.hop_s if window.size else start + max_s
        cut = round(min(max(cut, start + self.hop_s), start + max_s), 3)
        return [(start, cut), *self._split((cut, end), max_s)]


def _hysteresis(probs: np.ndarray, on: float, off: float) -> np.ndarray:
    speech = np.zeros(probs.size, dtype=bool)
    active = False
    for index, p in enumerate(probs.tolist()):
        active = p >= off if active else p >= on
        speech[index] = active
    return speech


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """``(start, stop)`` index pairs of the True runs of ``mask``."""
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def speech_activity(audio: Reader, *, method: str = "auto", vad: SileroVad | None = None,
                    progress: Callable[[float, float], None] | None = None) -> SpeechActivity:
    """Speech probabilities of ``audio`` (any rate, any channels; mixed to mono).

    ``method``: ``"silero"``, ``"energy"`` or ``"auto"`` (Silero when onnxruntime and faster-whisper
    are importable, else energy). ``vad``: a loaded :class:`SileroVad` to reuse.
    ``progress(done_s, total_s)`` is called after each block.
    """
    if method not in ("auto", "silero", "energy"):
        raise ValueError(f"method={method!r}; expected one of: auto, silero, energy")
    if method != "energy" and vad is None:
        try:
            vad = SileroVad()
        except ImportError:
            if method == "silero":
                raise
            vad = None
    if vad is None:
        return SpeechActivity(_energy_probabilities(audio), HOP_S, audio.duration_s, "energy")

    def blocks() -> Iterator[np.ndarray]:
        done = 0.0
        for block in _blocks(audio, BLOCK_S):
            yield block
            done = min(done + block.size / VAD_RATE_HZ, audio.duration_s)
            if progress is not None:
                progress(done, audio.duration_s)

    return SpeechActivity(vad.probabilities(blocks()), HOP_S, audio.duration_s, "silero")
