"""DeepFilterNet 3 (Schroeter et al. 2023) through the ``deepfilternet`` package's own APIs.

Where the weights are looked for, in order:

1. the folder passed as ``model_dir``;
2. ``$ECHO_AGENT_DFN_DIR``;
3. the package's cache, ``~/.cache/DeepFilterNet/DeepFilterNet3`` on Linux (the folder that
   ``deepfilter`` and ``init_df()`` download to);
4. on a connected machine, the package's own download into that cache (not when
   ``ECHO_AGENT_OFFLINE=1`` or ``HF_HUB_OFFLINE=1`` is set).

A model folder holds ``config.ini`` and ``checkpoints/model_<epoch>.ckpt[.best]``. Nothing found:
:class:`SetupError` naming the folders and the fix.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import os
from pathlib import Path

import numpy as np

from tools.core.errors import SetupError

ENV_DIR = "ECHO_AGENT_DFN_DIR"
OFFLINE_ENV = ("ECHO_AGENT_OFFLINE", "HF_HUB_OFFLINE")
MODEL_NAME = "DeepFilterNet3"
DOWNLOAD_URL = "https://github.com/Rikorose/DeepFilterNet/raw/main/models/DeepFilterNet3.zip"


def cache_dir() -> Path:
    """The deepfilternet package's model cache folder for DeepFilterNet 3 (as ``df.utils``)."""
    try:
        from appdirs import user_cache_dir

        base = Path(user_cache_dir("DeepFilterNet"))
    except ImportError:
        base = Path("~/.cache/DeepFilterNet").expanduser()
    return base / MODEL_NAME


def is_model_dir(path: Path) -> bool:
    """A complete model folder: ``config.ini`` plus at least one checkpoint."""
    return (path / "config.ini").is_file() and any((path / "checkpoints").glob("model_*.ckpt*"))


def _offline() -> bool:
    return any(os.environ.get(name, "").strip() not in ("", "0") for name in OFFLINE_ENV)


def _candidates(model_dir: str | os.PathLike | None) -> list[tuple[Path, bool]]:
    """(folder, explicit) in search order; an explicit folder that is incomplete is an error."""
    found = []
    if model_dir is not None:
        found.append((Path(model_dir).expanduser(), True))
    if os.environ.get(ENV_DIR):
        found.append((Path(os.environ[ENV_DIR]).expanduser(), True))
    found.append((cache_dir(), False))
    return found


def search_dirs(model_dir: str | os.PathLike | None = None) -> list[Path]:
    """The local folders looked in, in order."""
    return [path for path, _ in _candidates(model_dir)]


def find_model_dir(model_dir: str | os.PathLike | None = None) -> Path | None:
    """The first complete DeepFilterNet 3 folder among the local places, else None."""
    for path, _ in _candidates(model_dir):
        if is_model_dir(path):
            return path
    return None


def _missing(looked: list[Path], why: str) -> SetupError:
    places = ", ".join(str(p) for p in looked)
    return SetupError(
        f"DeepFilterNet 3 weights not found ({why}); looked in: {places}. Fix: on a connected "
        f"machine run once without ECHO_AGENT_OFFLINE/HF_HUB_OFFLINE (the package downloads them), "
        f"or download {DOWNLOAD_URL}, unzip it and point ${ENV_DIR} at the DeepFilterNet3 folder "
        f"(or unzip into {cache_dir().parent}); or use backend='hybrid', which needs no download"
    )


def _import_df():
    from tools.models import torchaudio_compat

    try:
        torchaudio_compat.install()  # df.io imports torchaudio at import time; see that module
        df_enhance = importlib.import_module("df.enhance")  # not `from df import enhance`: a function
    except ImportError as exc:
        raise SetupError(f"the deepfilternet package cannot be imported ({exc}); "
                         "install it: pip install deepfilternet") from None
    return df_enhance


class DeepFilterNet:
    """:class:`tools.models.Denoiser` for a loaded DeepFilterNet model (48 kHz, any channels)."""

    name = "DeepFilterNet 3"

    def __init__(self, model, df_state, model_dir: Path) -> None:
        self.model, self.df_state, self.model_dir = model, df_state, model_dir
        self.sample_rate = int(df_state.sr())

    def denoise(self, samples: np.ndarray, *, attenuation_limit_db: float) -> np.ndarray:
        import torch

        df_enhance = _import_df()
        audio = torch.from_numpy(np.array(samples, dtype=np.float32))  # a writable copy
        out = df_enhance.enhance(self.model, self.df_state, audio, pad=True,
                                 atten_lim_db=abs(attenuation_limit_db))
        return out.detach().cpu().numpy().astype(np.float32)


def load_deepfilternet(model_dir: str | os.PathLike | None = None, *,
                       download: bool | None = None) -> DeepFilterNet:
    """Load DeepFilterNet 3 from the first place that has it (see the module docstring).

    ``download``: allow the package's own download when nothing is found locally; default: yes
    unless ``ECHO_AGENT_OFFLINE`` or ``HF_HUB_OFFLINE`` is set.
    """
    looked = []
    chosen = None
    for path, explicit in _candidates(model_dir):
        looked.append(path)
        if is_model_dir(path):
            chosen = path
            break
        if explicit:
            what = "no config.ini" if not (path / "config.ini").is_file() else "no checkpoints/"
            raise _missing(looked, f"{path} is not a complete model folder: {what}")
    df_enhance = _import_df()
    if chosen is None:
        if not (download if download is not None else not _offline()):
            raise _missing(looked, "offline, so no download was tried")
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                chosen = Path(df_enhance.maybe_download_model(MODEL_NAME))
        except (Exception, SystemExit) as exc:  # the package calls exit(1) on HTTP errors
            raise _missing(looked, f"download failed: {type(exc).__name__}: {exc}") from None
        if not is_model_dir(chosen):
            raise _missing([*looked, chosen], "the download did not give a complete folder")
    try:
        model, df_state, _ = df_enhance.init_df(str(chosen), log_level="none", log_file=None,
                                                epoch="best")
    except (Exception, SystemExit) as exc:  # init_df calls exit(1) when no checkpoint loads
        raise SetupError(f"DeepFilterNet 3 in {chosen} could not be loaded "
                         f"({type(exc).__name__}: {exc}); delete the folder and download it again"
                         ) from None
    return DeepFilterNet(model.eval(), df_state, chosen)
