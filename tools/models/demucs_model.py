"""Demucs v4 (Hybrid Transformer Demucs, Rouard et al. 2023) behind the :class:`Separator` protocol.

Weights are looked for, in order:

1. a local model folder in the format demucs itself reads (``<sig>.th`` files plus ``<name>.yaml``
   listing ``models: [sig, ...]``): the ``repo`` argument (``--model-repo``) or, when that is not
   given, ``$ECHO_AGENT_DEMUCS_REPO``. A folder given this way is the only place looked at;
2. the torch hub cache (``torch.hub.get_dir()/checkpoints``), where ``demucs`` <= 4.0 and its
   legacy download path put ``955717e8-8726e21a.th`` and friends;
3. the Hugging Face cache (``adefossez/HTDemucs...``), where demucs 4.1 downloads first;
4. a download through ``demucs.pretrained.get_model`` (Hugging Face hub, then dl.fbaipublicfiles),
   only when :func:`tools.models.sources.can_download` says the network is there (so an offline
   machine gives up at once instead of retrying), with its progress sent to stderr.

When all fail, :class:`SetupError` lists every place and the command that fixes it. torch and
demucs are imported on first use only, so that the CLI starts fast.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from tools.core.errors import SetupError, ToolArgumentError

REPO_ENV = "ECHO_AGENT_DEMUCS_REPO"
DEFAULT_MODEL = "htdemucs"
MODELS = {
    "htdemucs": "4 stems (drums, bass, other, vocals); the default, fast",
    "htdemucs_ft": "4 stems, fine-tuned per source: a little better, 4x slower",
    "htdemucs_6s": "6 stems (adds guitar and piano; piano is weak)",
}
DEVICES = ("auto", "cpu", "cuda", "mps")
_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


class Separator(Protocol):
    """A source separator.

    ``separate`` takes float32 ``(channels, n)`` at ``sample_rate`` (``None``: any rate) with
    ``channels`` channels (``None``: any count) and returns ``(len(sources), channels, n)``,
    sample-aligned with the input. Long signals reach it in chunks of ``chunk_s`` seconds plus
    ``context_s`` of run-up on each side.
    """

    name: str
    sources: tuple[str, ...]
    sample_rate: int | None
    channels: int | None
    context_s: float
    chunk_s: float

    def separate(self, samples: np.ndarray, *, shifts: int = 1, overlap: float = 0.25,
                 segment_s: float | None = None) -> np.ndarray: ...


def resolve_device(device: str = "auto") -> str:
    """``auto`` -> ``cuda`` when a CUDA GPU is visible, else ``mps`` on Apple silicon, else ``cpu``."""
    if device not in DEVICES:
        raise ToolArgumentError(f"device={device!r}; expected one of: {', '.join(DEVICES)}")
    import torch

    if device == "auto":
        if torch.cuda.is_available():
            return "cuda"
        mps = getattr(torch.backends, "mps", None)
        return "mps" if mps is not None and mps.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise SetupError("device='cuda' but torch sees no CUDA GPU; use device='auto' or 'cpu'")
    return device


@dataclass
class DemucsSeparator:
    """A loaded demucs model (a ``BagOfModels`` or a single model) on ``device``."""

    model: Any
    name: str
    device: str
    origin: str  # where the weights came from, for the report
    chunk_s: float = 60.0  # separate() feeds the model chunks this long (memory bound)

    def __post_init__(self) -> None:
        self.sources = tuple(self.model.sources)
        self.sample_rate = int(self.model.samplerate)
        self.channels = int(self.model.audio_channels)
        self.max_segment_s = float(getattr(self.model, "max_allowed_segment", 0.0) or 0.0)
        if not np.isfinite(self.max_segment_s) or self.max_segment_s <= 0:
            self.max_segment_s = float(getattr(self.model, "segment", 10.0))
        # a chunk edge is zero-padded for the model: give it a quarter of a segment of run-up
        self.context_s = min(0.25 * self.max_segment_s, 2.0)
        self.model.to(self.device)
        self.model.eval()

    def separate(self, samples: np.ndarray, *, shifts: int = 1, overlap: float = 0.25,
                 segment_s: float | None = None) -> np.ndarray:
        """``(channels, n)`` at ``sample_rate`` -> ``(sources, channels, n)`` through
        ``demucs.apply.apply_model`` (its own split into segments, shift trick and overlap)."""
        import torch
        from demucs.apply import apply_model

        if segment_s is not None and not 0.5 <= segment_s <= self.max_segment_s:
            raise ToolArgumentError(
                f"segment_s={segment_s:g} must be from 0.5 to {self.max_segment_s:g} s for "
                f"{self.name} (a transformer model cannot run longer segments than it was trained on)")
        mix = torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32))[None]
        with torch.inference_mode():
            out = apply_model(self.model, mix, shifts=shifts, split=True, overlap=overlap,
                              segment=segment_s, device=self.device, progress=False)
        return out[0].to("cpu", torch.float32).numpy()


# ----------------------------------------------------------------------------- locating weights


def _bundled_bags() -> dict[str, Path]:
    """The bag-of-models YAML files shipped inside the demucs package (``demucs/remote``)."""
    from demucs.pretrained import REMOTE_ROOT

    return {path.stem: path for path in sorted(REMOTE_ROOT.glob("*.yaml"))}


def _bag_spec(path: Path) -> dict[str, Any]:
    import yaml

    return yaml.safe_load(path.read_text()) or {}


def _remote_files() -> dict[str, str]:
    """sig -> file name the legacy download gives it (e.g. ``955717e8-8726e21a.th``)."""
    from demucs.pretrained import REMOTE_ROOT, _parse_remote_files

    return {sig: url.rsplit("/", 1)[1]
            for sig, url in _parse_remote_files(REMOTE_ROOT / "files.txt").items()}


def _make_bag(spec: dict[str, Any], models: list[Any]) -> Any:
    from demucs.apply import BagOfModels

    return BagOfModels(models, spec.get("weights"), spec.get("segment"))


def _from_local_repo(name: str, repo: Path) -> Any:
    from demucs.pretrained import get_model

    if not repo.is_dir():
        raise SetupError(f"demucs model folder {repo} does not exist or is not a folder; pass a "
                         f"folder holding <sig>.th files and {name}.yaml (--model-repo or ${REPO_ENV})")
    has_bag = (repo / f"{name}.yaml").is_file()
    has_single = any(p.stem == name or p.stem.startswith(f"{name}-") for p in repo.glob("*.th"))
    if not (has_bag or has_single):
        found = sorted({p.stem for p in repo.glob("*.yaml")} | {p.stem for p in repo.glob("*.th")})
        raise SetupError(
            f"demucs model {name!r} is not in {repo} (found: {', '.join(found) or 'nothing'}); "
            f"it needs {name}.yaml plus the <sig>.th files it lists, e.g. copied from "
            f"{_torch_hub_dir()} on a machine that has run demucs -n {name}")
    return _loading(f"{repo}", lambda: get_model(name, repo=repo))


def _loading(where: str, load: Any) -> Any:
    """Run ``load()``; a broken file (bad checksum, truncated, missing signature) is a SetupError."""
    try:
        return load()
    except (Exception, SystemExit) as exc:  # demucs calls sys.exit through fatal()
        raise SetupError(f"cannot load the demucs model from {where}: {type(exc).__name__}: "
                         f"{exc}; replace the damaged or missing files (or delete them to "
                         "download again)") from None


def _torch_hub_dir() -> Path:
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints"


def _from_torch_hub_cache(name: str, spec: dict[str, Any]) -> Any | None:
    from demucs.repo import check_checksum
    from demucs.states import load_model

    files = _remote_files()
    paths = [_torch_hub_dir() / files.get(sig, f"{sig}.th") for sig in spec.get("models", [])]
    if not paths or not all(path.is_file() for path in paths):
        return None
    def load() -> Any:
        for path in paths:
            if "-" in path.stem:
                check_checksum(path, path.stem.rsplit("-", 1)[1])
        return _make_bag(spec, [load_model(path) for path in paths])

    return _loading(str(_torch_hub_dir()), load)


def _from_hf_cache(name: str) -> Any | None:
    from demucs.hf import DEFAULT_NAMESPACE, hf_repo_name, load_safetensors_model
    from huggingface_hub import try_to_load_from_cache

    repo_id = f"{DEFAULT_NAMESPACE}/{hf_repo_name(name)}"
    bag_path = try_to_load_from_cache(repo_id, f"{name}.yaml")
    if not isinstance(bag_path, str):
        return None
    spec = _bag_spec(Path(bag_path))
    paths = [try_to_load_from_cache(repo_id, f"{sig}.safetensors") for sig in spec.get("models", [])]
    if not paths or not all(isinstance(path, str) for path in paths):
        return None
    return _loading(_hf_cache_dir(), lambda: _make_bag(
        spec, [load_safetensors_model(path) for path in paths]))


def _hf_cache_dir() -> str:
    from huggingface_hub import constants

    return str(constants.HF_HUB_CACHE)


def locate_demucs(name: str = DEFAULT_MODEL, *, repo: str | os.PathLike | None = None,
                  ) -> tuple[str, list[Path]] | None:
    """``(origin, weight files)`` of demucs model ``name`` on this machine, without loading it or
    touching the network; None when its weights are not here (as :func:`load_demucs` looks)."""
    explicit = repo if repo is not None else os.environ.get(REPO_ENV) or None
    if explicit is not None:
        folder = Path(explicit).expanduser()
        files = sorted(folder.glob("*.th")) if folder.is_dir() else []
        return (f"local folder {folder}", files) if (folder / f"{name}.yaml").is_file() or any(
            p.stem == name or p.stem.startswith(f"{name}-") for p in files) else None
    bags = _bundled_bags()
    if name not in bags:
        return None
    spec = _bag_spec(bags[name])
    files = _remote_files()
    paths = [_torch_hub_dir() / files.get(sig, f"{sig}.th") for sig in spec.get("models", [])]
    if paths and all(path.is_file() for path in paths):
        return f"torch hub cache {_torch_hub_dir()}", paths
    from demucs.hf import DEFAULT_NAMESPACE, hf_repo_name
    from huggingface_hub import try_to_load_from_cache

    repo_id = f"{DEFAULT_NAMESPACE}/{hf_repo_name(name)}"
    bag_path = try_to_load_from_cache(repo_id, f"{name}.yaml")
    if isinstance(bag_path, str):
        found = [try_to_load_from_cache(repo_id, f"{sig}.safetensors")
                 for sig in _bag_spec(Path(bag_path)).get("models", [])]
        if found and all(isinstance(path, str) for path in found):
            return f"Hugging Face cache {_hf_cache_dir()}", [Path(path) for path in found]
    return None


def load_demucs(name: str = DEFAULT_MODEL, *, repo: str | os.PathLike | None = None,
                device: str = "auto", allow_download: bool = True) -> DemucsSeparator:
    """Load demucs model ``name`` (see the module docstring for where it looks).

    Raises:
        ToolArgumentError: ``name`` is not a demucs model name.
        SetupError: no weights anywhere (the message lists the places and how to fix it).
    """
    if not _NAME.match(name):
        raise ToolArgumentError(f"model={name!r} is not a model name; expected one of: "
                                f"{', '.join(MODELS)}")
    device = resolve_device(device)
    explicit = repo if repo is not None else os.environ.get(REPO_ENV) or None
    if explicit is not None:
        folder = Path(explicit).expanduser()
        model = _from_local_repo(name, folder)
        return DemucsSeparator(model, name, device, origin=f"local folder {folder}")
    bags = _bundled_bags()
    if name not in bags:
        raise ToolArgumentError(f"model={name!r} is not a demucs model; expected one of: "
                                f"{', '.join(MODELS)} (or any model in a --model-repo folder)")
    spec = _bag_spec(bags[name])
    model = _from_torch_hub_cache(name, spec)
    if model is not None:
        return DemucsSeparator(model, name, device, origin=f"torch hub cache {_torch_hub_dir()}")
    model = _from_hf_cache(name)
    if model is not None:
        return DemucsSeparator(model, name, device, origin=f"Hugging Face cache {_hf_cache_dir()}")
    reason = "not tried (local places only)"
    if allow_download:
        from demucs.pretrained import get_model

        from tools.models import sources

        allowed, why = sources.can_download("https://huggingface.co")
        reason = f"not attempted ({why})"
        if allowed:
            try:
                with sources.stdout_to_stderr():  # torch hub prints "Downloading: ..." on stdout
                    return DemucsSeparator(get_model(name), name, device, origin="downloaded")
            except (Exception, SystemExit) as exc:  # demucs calls sys.exit through fatal()
                reason = f"failed ({type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''})"
    files = _remote_files()
    wanted = ", ".join(files.get(sig, f"{sig}.th") for sig in spec.get("models", []))
    raise SetupError(
        f"no weights for demucs model {name!r}. Looked in: ${REPO_ENV} (not set); the torch hub "
        f"cache {_torch_hub_dir()} (needs {wanted}); the Hugging Face cache {_hf_cache_dir()}; "
        f"download {reason}. Fix: on a machine with internet run "
        f"`python -c \"from demucs.pretrained import get_model; get_model('{name}')\"` and copy "
        f"its cache here, or put the .th files and {name}.yaml in a folder and pass --model-repo "
        f"DIR (or set {REPO_ENV}=DIR). Without weights, backend='classical' separates "
        "vocals/accompaniment and drums/harmonic (two_stems='vocals' or 'drums')")


def save_model_repo(model: Any, folder: str | os.PathLike, name: str) -> Path:
    """Save a demucs model (e.g. a freshly initialised ``HTDemucs``, or your own fine-tune) as a
    one-model bag in the local folder format that ``get_model(name, repo=folder)`` reads:
    ``<sig>.th`` (``klass``, ``args``, ``kwargs``, ``state``) plus ``<name>.yaml``. Returns the
    folder."""
    import torch
    import yaml
    from demucs.states import get_state

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    args, kwargs = model._init_args_kwargs  # recorded by demucs' @capture_init
    buffer = io.BytesIO()
    torch.save({"klass": model.__class__, "args": args, "kwargs": kwargs,
                "state": get_state(model, None)}, buffer)
    sig = hashlib.sha256(buffer.getvalue()).hexdigest()[:8]
    (folder / f"{sig}.th").write_bytes(buffer.getvalue())
    (folder / f"{name}.yaml").write_text(yaml.safe_dump({"models": [sig]}))
    return folder
