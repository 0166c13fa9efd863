"""Decoding with faster-whisper: VAD clips, windows read one at a time, and the loop guard.

Transcription goes through :class:`faster_whisper.BatchedInferencePipeline` (several 30 s clips
decoded together: the large speed-up on GPU, a smaller one on CPU) with word timestamps. The clips
come from Silero VAD (:mod:`tools.algorithms.vad`): speech regions merged up to 29.5 s, never
across a silence longer than 3 s. The track is walked in windows of at most :data:`WINDOW_S`, each
read and resampled to 16 kHz on its own (block by block), so memory is bounded by one window
whatever the length of the track, which may be an :class:`~tools.core.audio.Audio` or a session's
track view.

Whisper drops fillers ("um", "uh", "hmm"); a short filler prompt (:data:`FILLER_PROMPT`) nudges it
to write them. A prompt can also make it loop or copy the prompt out: with the longer
:data:`LONG_FILLER_PROMPT` Whisper base looped on spontaneous noisy speech ("like, thinking, like,
thinking, ..."). The *loop guard* checks every decoded clip (:mod:`tools.algorithms.transcript_loops`)
and decodes a bad one again: first without the prompt, then one clip at a time through
:meth:`WhisperModel.transcribe` with ``condition_on_previous_text=False`` and the temperature
fallback on a compression ratio above 2.4 (the batched pipeline uses only the first temperature),
and when a loop survives both, it keeps the decode that loops least, minus the repeats that the
word alignment gave no audio of their own (zero-length words piled up at one instant).
:attr:`WhisperTranscriber.last_guard` counts what happened; the transcript's notes say it.

Clip boundaries are handed over in seconds within the window and clamped to the samples actually
read: faster-whisper's batched ``transcribe`` logs ``format_timestamp(duration -
duration_after_vad)``, whose ``assert seconds >= 0`` ("non-negative timestamp expected") fires when
the clips add up to more than the audio given (a clip end one sample past the window was enough).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from tools.algorithms import transcript_loops as loops
from tools.algorithms.transcript import Segment, Transcript, Word, normalise_timeline
from tools.algorithms.vad import VAD_RATE_HZ, SileroVad, resampled_blocks, speech_activity
from tools.core.errors import SetupError

logger = logging.getLogger(__name__)

FILLER_PROMPT = "Umm, uh, hmm."
LONG_FILLER_PROMPT = "Umm, let me think like, hmm... Okay, here's what I'm, like, thinking."
MAX_CLIP_S = 29.5
MAX_GAP_IN_CLIP_S = 3.0
WINDOW_S = 120.0
FALLBACK_TEMPERATURES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
MIN_LOOP_WORD_S = 0.05  # a repeat Whisper timed at least this long is kept by the collapse
FALLBACK_SEED = 0  # the temperature fallback samples: the same audio gives the same words


def choose_device(device: str = "auto", compute_type: str = "auto") -> tuple[str, str]:
    """``(device, compute_type)``: CUDA + float16 when a GPU is visible, else CPU + int8."""
    import ctranslate2

    if device == "auto":
        device = "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
    if compute_type == "auto":
        compute_type = "float16" if device == "cuda" else "int8"
    return device, compute_type


def plan_clips(regions: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Merge neighbouring speech regions into clips of at most ``MAX_CLIP_S`` (regions are at most
    that long already), never across a gap longer than ``MAX_GAP_IN_CLIP_S``."""
    clips: list[list[float]] = []
    for start, end in regions:
        if clips and end - clips[-1][0] <= MAX_CLIP_S and start - clips[-1][1] <= MAX_GAP_IN_CLIP_S:
            clips[-1][1] = end
        else:
            clips.append([start, end])
    return [(a, b) for a, b in clips]


def plan_windows(clips: list[tuple[float, float]]) -> list[list[tuple[float, float]]]:
    """Group clips into windows spanning at most ``WINDOW_S`` (one clip per window at least)."""
    windows: list[list[tuple[float, float]]] = []
    for clip in clips:
        if windows and clip[1] - windows[-1][0][0] <= WINDOW_S:
            windows[-1].append(clip)
        else:
            windows.append([clip])
    return windows


def clip_dicts(clips: list[tuple[float, float]], offset_s: float,
               num_samples: int) -> list[dict[str, float]]:
    """faster-whisper ``clip_timestamps`` (seconds within a window of ``num_samples`` at 16 kHz
    starting at ``offset_s``): clamped to the window, in order, disjoint and non-empty, so their
    total never exceeds the window (see the module docstring)."""
    limit = num_samples / VAD_RATE_HZ
    out: list[dict[str, float]] = []
    at = 0.0
    for start, end in clips:
        lo = min(max(start - offset_s, at, 0.0), limit)
        hi = min(max(end - offset_s, 0.0), limit)
        if (int(hi * VAD_RATE_HZ) - int(lo * VAD_RATE_HZ)) > 0:
            out.append({"start": lo, "end": hi})
            at = hi
    return out


def _convert(segment, offset: float) -> Segment:
    words = tuple(Word(w.word, offset + float(w.start), offset + float(w.end), float(w.probability))
                  for w in segment.words or ())
    return Segment(segment.text, offset + float(segment.start), offset + float(segment.end), words)


def _texts(segments: list[Segment]) -> list[str]:
    return [w.text for s in segments for w in s.words] or [s.text for s in segments]


def _coverage(segments: list[Segment]) -> int:
    loop = loops.find_loop(loops.keys(_texts(segments)))
    return 0 if loop is None else loop.stop - loop.start


def _collapsed(segments: list[Segment]) -> list[Segment]:
    """``segments`` with their repeated phrases cut (:func:`transcript_loops.collapse`), except the
    sayings Whisper timed as real words: every word at least :data:`MIN_LOOP_WORD_S` long and
    starting after the last word kept. Hallucinated repeats get no audio from the word
    alignment, so they pile up as zero-length words at one instant."""
    words = [w for s in segments for w in s.words]
    kept = set(loops.collapse([w.text for w in words])[0])
    last_end = -1.0
    for index, word in enumerate(words):
        timed = word.end_s - word.start_s >= MIN_LOOP_WORD_S and word.start_s >= last_end - 1e-3
        if index in kept or timed:
            kept.add(index)
            last_end = max(last_end, word.end_s)
    chosen = tuple(words[i] for i in sorted(kept))
    if not chosen:
        return []
    return [Segment(" ".join(w.text.strip() for w in chosen), chosen[0].start_s, chosen[-1].end_s,
                    chosen)]


class WhisperTranscriber:
    """:class:`tools.algorithms.transcript.Transcriber` over a faster-whisper model folder.

    ``loop_guard=False`` decodes once and only counts the bad clips (for measuring the guard)."""

    def __init__(self, path: str | os.PathLike, *, label: str | None = None, device: str = "auto",
                 compute_type: str = "auto", batch_size: int | None = None, beam_size: int = 5,
                 max_new_tokens: int | None = None, initial_prompt: str | None = FILLER_PROMPT,
                 cpu_threads: int = 0, loop_guard: bool = True) -> None:
        try:
            from faster_whisper import BatchedInferencePipeline, WhisperModel
        except ImportError as exc:
            raise SetupError(f"faster-whisper is not installed ({exc}); install it: "
                             "pip install faster-whisper") from None
        self.path = Path(path)
        self.device, self.compute_type = choose_device(device, compute_type)
        try:
            model = WhisperModel(str(self.path), device=self.device, compute_type=self.compute_type,
                                 cpu_threads=cpu_threads, local_files_only=True)
        except (RuntimeError, ValueError, OSError) as exc:
            raise SetupError(f"cannot load the faster-whisper model in {self.path} ({exc}); "
                             "is it a complete CTranslate2 Whisper folder?") from None
        logger.info("loaded faster-whisper from %s on %s (%s)", self.path, self.device,
                    self.compute_type)
        self.model = model
        self.pipeline = BatchedInferencePipeline(model)
        self.name = f"faster-whisper:{label or self.path.name}"
        self.identity = (f"{self.name} {self.path.resolve()} {self.compute_type} "
                         f"prompt={initial_prompt!r} guard={loop_guard}")
        self.batch_size = batch_size or (16 if self.device == "cuda" else 4)
        self.beam_size = beam_size
        self.max_new_tokens = max_new_tokens
        self.initial_prompt = initial_prompt
        self.loop_guard = loop_guard
        self.last_guard: dict[str, int] = {}
        self._vad: SileroVad | None = None

    # ------------------------------------------------------------------------- decoding

    def _batched(self, samples: np.ndarray, clips: list[dict[str, float]], language: str | None,
                 prompt: str | None):
        found, info = self.pipeline.transcribe(
            samples, language=language, task="transcribe", word_timestamps=True,
            clip_timestamps=clips, vad_filter=False, batch_size=self.batch_size,
            beam_size=self.beam_size, max_new_tokens=self.max_new_tokens, initial_prompt=prompt)
        per_clip: list[list[Segment]] = [[] for _ in clips]
        for segment in found:
            middle = (float(segment.start) + float(segment.end)) / 2
            index = min(range(len(clips)), key=lambda i: 0.0 if clips[i]["start"] <= middle <=
                        clips[i]["end"] else min(abs(middle - clips[i]["start"]),
                                                 abs(middle - clips[i]["end"])))
            per_clip[index].append(_convert(segment, 0.0))
        return per_clip, info

    def _sequential(self, samples: np.ndarray, clip: dict[str, float], language: str) -> list[Segment]:
        import ctranslate2

        ctranslate2.set_random_seed(FALLBACK_SEED)
        lo, hi = int(clip["start"] * VAD_RATE_HZ), int(clip["end"] * VAD_RATE_HZ)
        found, _ = self.model.transcribe(
            samples[lo:hi], language=language, task="transcribe", word_timestamps=True,
            vad_filter=False, beam_size=self.beam_size, initial_prompt=None,
            condition_on_previous_text=False, temperature=list(FALLBACK_TEMPERATURES),
            compression_ratio_threshold=2.4, max_new_tokens=self.max_new_tokens)
        return [_convert(segment, lo / VAD_RATE_HZ) for segment in found]  # generator: decode now

    def _guard(self, samples, clips, per_clip, language, counts) -> list[list[Segment]]:
        bad = [i for i, segs in enumerate(per_clip)
               if loops.problem(_texts(segs), self.initial_prompt)]
        counts["clips"] += len(clips)
        counts["flagged"] += len(bad)
        if not bad or not self.loop_guard:
            return per_clip
        if self.initial_prompt:
            again, _ = self._batched(samples, [clips[i] for i in bad], language, None)
            for i, segs in zip(bad, again, strict=True):
                per_clip[i] = segs
            fixed = [i for i in bad if not loops.problem(_texts(per_clip[i]))]
            counts["fixed_without_prompt"] += len(fixed)
            bad = [i for i in bad if i not in fixed]
        for i in bad:
            tried = [per_clip[i], self._sequential(samples, clips[i], language)]
            if not loops.problem(_texts(tried[1])):
                per_clip[i] = tried[1]
                counts["fixed_by_fallback"] += 1
            else:  # keep the decode that loops least, without its hallucinated repeats
                per_clip[i] = _collapsed(min(tried, key=_coverage))
                counts["collapsed"] += 1
        return per_clip

    def transcribe(self, audio, *, language: str | None = None,
                   progress: Callable[[float, float], None] | None = None) -> Transcript:
        """Transcribe ``audio`` (an Audio or a track view: any rate and channels, mixed to mono)."""
        if self._vad is None:
            self._vad = SileroVad()
        activity = speech_activity(audio, vad=self._vad)
        regions = activity.regions(min_silence_s=0.3, min_speech_s=0.1, pad_s=0.2,
                                   max_region_s=MAX_CLIP_S)
        segments: list[Segment] = []
        notes = []
        detected = language
        counts = dict.fromkeys(("clips", "flagged", "fixed_without_prompt", "fixed_by_fallback",
                                "collapsed"), 0)
        for window in plan_windows(plan_clips(regions)):
            offset, stop = window[0][0], window[-1][1]
            samples = np.concatenate(list(resampled_blocks(audio, VAD_RATE_HZ, start_s=offset,
                                                           end_s=stop)) or [np.zeros(0, np.float32)])
            clips = clip_dicts(window, offset, samples.size)
            if not clips:
                continue
            per_clip, info = self._batched(samples, clips, detected, self.initial_prompt)
            if detected is None:
                detected = info.language
                notes.append(f"language detected: {info.language} "
                             f"(probability {info.language_probability:.2f})")
            per_clip = self._guard(samples, clips, per_clip, detected, counts)
            segments.extend(Segment(s.text, s.start_s + offset, s.end_s + offset,
                                    tuple(Word(w.text, w.start_s + offset, w.end_s + offset,
                                               w.probability) for w in s.words))
                            for segs in per_clip for s in segs)
            if progress is not None:
                progress(min(stop, audio.duration_s), audio.duration_s)
        if progress is not None:
            progress(audio.duration_s, audio.duration_s)
        self.last_guard = counts
        if counts["flagged"] and self.loop_guard:
            notes.append(_guard_note(counts))
        return Transcript(normalise_timeline(segments, audio.duration_s), language=detected or "en",
                          backend=self.name, duration_s=audio.duration_s, notes=tuple(notes))


def _guard_note(counts: dict[str, int]) -> str:
    parts = [f"{counts[key]} {label}" for key, label in (
        ("fixed_without_prompt", "decoded again without the prompt"),
        ("fixed_by_fallback", "decoded again with the temperature fallback"),
        ("collapsed", "with repeats that had no audio of their own cut out")) if counts[key]]
    return (f"loop guard: {counts['flagged']} of {counts['clips']} clips repeated a phrase or the "
            f"prompt: {', '.join(parts)}")
