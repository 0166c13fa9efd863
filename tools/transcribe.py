"""transcribe: the words of a track with their times (faster-whisper, or pocketsphinx offline).

Backends:

- ``whisper``: faster-whisper (:mod:`tools.models.whisper`), accurate, fillers kept by a prompt.
- ``pocketsphinx``: the engine bundled with its model (:mod:`tools.models.sphinx`), nothing to
  download, far less accurate; the transcript says so in its ``notes``.
- ``auto``: whisper when its weights are on this machine (never downloading), else pocketsphinx
  with a note saying where it looked and how to get Whisper.

Transcripts are cached by audio content: the key is a hash of the samples, the sample rate, the
backend's identity (engine, model folder, precision) and the language, and the transcript is
stored as JSON under ``SESSION/transcripts/`` (or any ``cache_dir``), so asking twice, or asking
``locate`` and ``remove_disfluencies`` about the same audio, decodes once.

Settings read from ``session.settings``: ``whisper_model_dir`` (the CLI's ``--model-dir``; the
``ECHO_AGENT_WHISPER_DIR`` environment variable is the other way to say it) and
``whisper_download`` (False to never download, default True for an explicit ``backend=whisper``),
``whisper_options`` (a dict of :class:`~tools.models.whisper.WhisperTranscriber` keyword arguments:
device, compute_type, batch_size, beam_size, max_new_tokens, initial_prompt, cpu_threads).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field

from tools.algorithms.transcript import Transcriber, Transcript
from tools.core.audio import atomic_path
from tools.core.errors import AudioInputError, SetupError, ToolArgumentError
from tools.core.session import Session
from tools.core.tool import Tool, ToolArgs, ToolResult, track_field

BACKENDS = ("auto", "whisper", "pocketsphinx")
CACHE_FOLDER = "transcripts"
CACHE_VERSION = 2  # 2: loop guard, normalised timelines, block-wise key
KEY_BLOCK_FRAMES = 1 << 20
TEXT_LIMIT_CHARS = 1500
DATA_TEXT_LIMIT_CHARS = 20_000
DATA_SEGMENT_LIMIT = 300


class Args(ToolArgs):
    backend: Literal["auto", "whisper", "pocketsphinx"] = Field(default="auto", description="Speech engine: 'whisper' (faster-whisper, accurate), 'pocketsphinx' (offline, far less accurate) or 'auto' (whisper when its model is on this machine, else pocketsphinx).")
    model: str | None = Field(default=None, description="faster-whisper model size or folder: tiny, base, small, medium, medium.en, large-v3, turbo, ...; null for the default (small). Ignored by pocketsphinx.")
    language: str | None = Field(default=None, pattern=r"^[a-z]{2,3}$", description="Spoken language as a 2- or 3-letter ISO 639 code ('en', 'fr'); null to detect it (whisper) or English (pocketsphinx).")
    track: str | None = track_field()


# ----------------------------------------------------------------------------- backends


def _sphinx(models: dict[str, Any]) -> Transcriber:
    from tools.models.sphinx import SphinxTranscriber

    return models.setdefault("transcriber:pocketsphinx", SphinxTranscriber())


def _whisper(models: dict[str, Any], model: str | None, model_dir: str | None, *,
             download: bool, options: dict[str, Any]) -> Transcriber:
    from tools.models import whisper

    name = model or whisper.DEFAULT_MODEL
    path = whisper.resolve_model(name, model_dir=model_dir, download=download)
    key = f"transcriber:whisper:{path.resolve()}:{sorted(options.items())}"
    if key not in models:
        models[key] = whisper.WhisperTranscriber(path, label=whisper.label_for(name, path),
                                                 **options)
    return models[key]


def pick_transcriber(models: dict[str, Any], *, backend: str = "auto", model: str | None = None,
                     model_dir: str | os.PathLike | None = None, download: bool = True,
                     whisper_options: dict[str, Any] | None = None,
                     ) -> tuple[Transcriber, tuple[str, ...]]:
    """The transcriber for ``backend`` (loaded once into ``models``) and notes about the choice.
    ``whisper_options``: keyword arguments of :class:`tools.models.whisper.WhisperTranscriber`
    (device, compute_type, batch_size, beam_size, max_new_tokens, initial_prompt, cpu_threads)."""
    if backend not in BACKENDS:
        raise ToolArgumentError(f"backend={backend!r}; expected one of: {', '.join(BACKENDS)}")
    model_dir = str(model_dir) if model_dir else None
    options = dict(whisper_options or {})
    if backend == "pocketsphinx":
        return _sphinx(models), ()
    if backend == "whisper":
        return _whisper(models, model, model_dir, download=download, options=options), ()
    try:  # auto: whisper if it is here, without downloading
        return _whisper(models, model, model_dir, download=False, options=options), ()
    except SetupError as exc:
        reason = str(exc).split("; or use --backend")[0]
        return _sphinx(models), (f"Whisper was not used: {reason}",)


# ----------------------------------------------------------------------------- files


class FileReader:
    """A window reader over an audio file that libsndfile can seek in (WAV, FLAC, OGG, AIFF...):
    ``read(start, stop)`` decodes that window only, so transcribing a long file never holds it
    whole. NaN samples are refused when met (:class:`AudioInputError`)."""

    def __init__(self, path: str | os.PathLike, sample_rate: int, channels: int, frames: int) -> None:
        self.path = Path(path)
        self.sample_rate, self.channels, self.num_samples = sample_rate, channels, frames

    @property
    def shape(self) -> tuple[int, int]:
        return (self.channels, self.num_samples)

    @property
    def duration_s(self) -> float:
        return self.num_samples / self.sample_rate

    def read(self, start: int, stop: int) -> np.ndarray:
        import soundfile as sf

        start, stop = max(int(start), 0), min(int(stop), self.num_samples)
        with sf.SoundFile(str(self.path)) as handle:
            handle.seek(start)
            block = handle.read(max(stop - start, 0), dtype="float32", always_2d=True).T
        if not np.isfinite(block).all():
            raise AudioInputError(f"{self.path}: NaN or infinite samples near "
                                  f"{start / self.sample_rate:.1f} s")
        return np.ascontiguousarray(block)


def open_audio(path: str | os.PathLike):
    """A :class:`FileReader` for a seekable file, else the whole file as Audio (formats decoded by
    ffmpeg). Unusable files raise :class:`AudioInputError` (one line)."""
    from tools.core.audio import load
    from tools.core.audio_read import open_input

    source = open_input(path)
    if source.format == "ffmpeg" or source.frames <= 0:
        return load(path)
    return FileReader(source.path, source.sample_rate, source.channels, source.frames)


# ----------------------------------------------------------------------------- caching


def audio_key(audio, *, identity: str, language: str | None) -> str:
    """Hex digest naming a transcript: samples, rate, transcriber identity, language. ``audio`` is
    an Audio or a track view, read :data:`KEY_BLOCK_FRAMES` at a time (never whole)."""
    digest = hashlib.sha256()
    digest.update(f"v{CACHE_VERSION}|{audio.sample_rate}|{tuple(audio.shape)}|{identity}|"
                  f"{language or 'auto'}|".encode())
    for start in range(0, audio.num_samples, KEY_BLOCK_FRAMES):
        block = audio.read(start, min(start + KEY_BLOCK_FRAMES, audio.num_samples))
        digest.update(np.ascontiguousarray(block, dtype=np.float32).tobytes())
    return digest.hexdigest()[:32]


def _read_cache(path: Path) -> Transcript | None:
    try:
        return Transcript.from_dict(json.loads(path.read_text()))
    except (OSError, ValueError, KeyError, TypeError):
        return None  # absent, torn or from another version: decode again


def _write_cache(path: Path, transcript: Transcript) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = atomic_path(path)
    tmp.write_text(json.dumps(transcript.to_dict(), ensure_ascii=False))
    os.replace(tmp, path)


def transcribe(audio, *, transcriber: Transcriber, language: str | None = None,
               progress: Callable[[float, float], None] | None = None) -> Transcript:
    """Transcribe ``audio`` (an Audio or a track view; any rate and channels, speech is taken from
    the mono mix)."""
    return transcriber.transcribe(audio, language=language, progress=progress)


def cached_transcribe(audio, transcriber: Transcriber, *, cache_dir: str | os.PathLike | None,
                      language: str | None = None, notes: tuple[str, ...] = (),
                      progress: Callable[[float, float], None] | None = None) -> Transcript:
    """:func:`transcribe`, or the transcript stored in ``cache_dir`` for this very audio (an Audio
    or a track view)."""
    identity = getattr(transcriber, "identity", transcriber.name)
    path = None
    if cache_dir is not None:
        path = Path(cache_dir) / f"{audio_key(audio, identity=identity, language=language)}.json"
        cached = _read_cache(path)
        if cached is not None:
            return cached
    result = transcribe(audio, transcriber=transcriber, language=language, progress=progress)
    if notes:
        result = dataclasses.replace(result, notes=(*notes, *result.notes))
    if path is not None:
        _write_cache(path, result)
    return result


def get_transcript(session: Session, track: str | None = None, *, backend: str = "auto",
                   model: str | None = None, language: str | None = None,
                   model_dir: str | os.PathLike | None = None) -> Transcript:
    """The transcript of ``track``'s current audio: from the session's cache, else decoded (the
    model loaded once per session) and cached. The track is read window by window through
    ``session.track()``, never whole. Progress goes to ``session.progress``."""
    audio = session.track(track)
    model_dir = model_dir or session.settings.get("whisper_model_dir")
    download = bool(session.settings.get("whisper_download", True))
    transcriber, notes = pick_transcriber(
        session.models, backend=backend, model=model, model_dir=model_dir, download=download,
        whisper_options=session.settings.get("whisper_options"))
    return cached_transcribe(
        audio, transcriber, cache_dir=session.root / CACHE_FOLDER, language=language, notes=notes,
        progress=lambda done, total: session.progress("transcribe", done, total))


# ----------------------------------------------------------------------------- the tool


def summary(transcript: Transcript, *, limit_chars: int = TEXT_LIMIT_CHARS) -> str:
    text = transcript.text
    if len(text) > limit_chars:
        text = text[:limit_chars].rsplit(" ", 1)[0] + " ..."
    minutes, seconds = divmod(transcript.duration_s, 60)
    head = (f"{len(transcript.words)} words in {int(minutes)}:{seconds:04.1f}, language "
            f"{transcript.language}, by {transcript.backend}")
    notes = "".join(f"\nNote: {note}" for note in transcript.notes)
    return f"{head}{notes}\nTranscript: {text or '(no speech found)'}"


def _run(session: Session, args: Args) -> ToolResult:
    name = session.resolve_track(args.track)
    transcript = get_transcript(session, name, backend=args.backend, model=args.model,
                                language=args.language)
    segments = [{"start_s": s.start_s, "end_s": s.end_s, "text": s.text}
                for s in transcript.segments[:DATA_SEGMENT_LIMIT]]
    return ToolResult(
        text=f"{name}: {summary(transcript)}",
        data={"track": name, "backend": transcript.backend, "language": transcript.language,
              "duration_s": transcript.duration_s, "word_count": len(transcript.words),
              "notes": list(transcript.notes),
              "transcript": transcript.text[:DATA_TEXT_LIMIT_CHARS], "segments": segments,
              "truncated": len(transcript.segments) > DATA_SEGMENT_LIMIT
              or len(transcript.text) > DATA_TEXT_LIMIT_CHARS})


TOOL = Tool(
    name="transcribe",
    description=(
        "Write down what is said in a track, with the time of every word. Use for 'transcribe "
        "this', 'what does she say', 'make subtitles', and before editing by words. Edits nothing."
    ),
    args_model=Args,
    run=_run,
    edits=False,
)
