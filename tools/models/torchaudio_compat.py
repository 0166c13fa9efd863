"""A small stand-in for ``torchaudio``, only so that the ``deepfilternet`` package can be imported.

Why this exists: ``df/__init__.py`` imports ``df.enhance`` -> ``df.io``, which does
``import torchaudio`` and ``from torchaudio.backend.common import AudioMetaData`` at import time.
There is no CPU build of torchaudio for current torch (torchaudio 2.11 installs but fails to import
without CUDA libraries) and torchaudio >= 2.9 has no ``torchaudio.backend`` at all. DeepFilterNet's
inference path (``init_df`` + ``enhance``) never touches audio files; it only needs those names to
exist. This module provides them: ``backend.common.AudioMetaData``, ``functional.resample`` (scipy
polyphase), ``load``, ``save`` and ``info`` (soundfile).

:func:`install` puts it in ``sys.modules`` only when the real torchaudio cannot be imported; when a
real torchaudio imports but lacks ``torchaudio.backend.common``, only that missing piece is added.
"""

from __future__ import annotations

import importlib
import sys
import types
from dataclasses import dataclass
from math import gcd

import numpy as np
import soundfile as sf
import torch
from scipy.signal import resample_poly

__version__ = "0.0.0+echo-agent-compat"


@dataclass
class AudioMetaData:
    """What ``torchaudio.info`` returns (the fields df.io reads)."""

    sample_rate: int
    num_frames: int
    num_channels: int
    bits_per_sample: int = 0
    encoding: str = ""


def info(filepath: str, format: str | None = None, **_: object) -> AudioMetaData:  # noqa: A002
    meta = sf.info(str(filepath))
    bits = {"PCM_16": 16, "PCM_24": 24, "PCM_32": 32, "FLOAT": 32, "DOUBLE": 64}.get(meta.subtype, 0)
    return AudioMetaData(int(meta.samplerate), int(meta.frames), int(meta.channels), bits,
                         meta.subtype)


def load(filepath: str, frame_offset: int = 0, num_frames: int = -1, normalize: bool = True,
         channels_first: bool = True, **_: object) -> tuple[torch.Tensor, int]:
    """Read a file as float32 ``(channels, n)`` (or ``(n, channels)``) and its sample rate."""
    stop = None if num_frames is None or num_frames < 0 else frame_offset + num_frames
    data, rate = sf.read(str(filepath), start=frame_offset, stop=stop, dtype="float32",
                         always_2d=True)
    tensor = torch.from_numpy(np.ascontiguousarray(data.T if channels_first else data))
    return tensor, int(rate)


def save(filepath: str, src: torch.Tensor, sample_rate: int, channels_first: bool = True,
         **_: object) -> None:
    data = torch.as_tensor(src).detach().cpu()
    if data.ndim == 1:
        data = data.unsqueeze(0)
    if data.dtype == torch.int16:
        array, subtype = data.numpy(), "PCM_16"
    else:
        array, subtype = data.to(torch.float32).numpy(), "FLOAT"
    sf.write(str(filepath), array.T if channels_first else array, int(sample_rate), subtype=subtype)


def resample(waveform: torch.Tensor, orig_freq: int, new_freq: int, **_: object) -> torch.Tensor:
    """Polyphase resampling along the last axis (torchaudio's method arguments are ignored)."""
    if int(orig_freq) == int(new_freq):
        return waveform
    divisor = gcd(int(orig_freq), int(new_freq))
    array = waveform.detach().cpu().numpy()
    out = resample_poly(array, int(new_freq) // divisor, int(orig_freq) // divisor, axis=-1)
    return torch.from_numpy(np.ascontiguousarray(out, dtype=array.dtype))


def _module(name: str, **attrs: object) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__dict__.update(attrs)
    return module


def _real_torchaudio() -> types.ModuleType | None:
    try:
        return importlib.import_module("torchaudio")
    except Exception:  # ImportError, or OSError for a build without its CUDA libraries
        for name in [n for n in sys.modules if n == "torchaudio" or n.startswith("torchaudio.")]:
            del sys.modules[name]  # drop what the failed import left half-initialised
        return None


def install() -> str:
    """Make ``import torchaudio`` good enough for ``import df``; returns what was done:
    ``"real"`` (nothing needed), ``"patched"`` (real torchaudio, ``backend.common`` added) or
    ``"shim"`` (this module stands in for torchaudio). Idempotent."""
    if "torchaudio.backend.common" in sys.modules:
        return "shim" if sys.modules["torchaudio"] is sys.modules[__name__] else "real"
    common = _module("torchaudio.backend.common", AudioMetaData=AudioMetaData)
    backend = _module("torchaudio.backend", common=common)
    real = _real_torchaudio()
    if real is not None:
        try:
            importlib.import_module("torchaudio.backend.common")
            return "real"
        except ImportError:
            real.backend = backend
            sys.modules.update({"torchaudio.backend": backend, "torchaudio.backend.common": common})
            return "patched"
    this = sys.modules[__name__]
    functional = _module("torchaudio.functional", resample=resample)
    this.backend, this.functional = backend, functional
    sys.modules.update({
        "torchaudio": this,
        "torchaudio.backend": backend,
        "torchaudio.backend.common": common,
        "torchaudio.functional": functional,
    })
    return "shim"
