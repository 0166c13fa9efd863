"""echo-agent batch end to end (beside test_batch.py): real files (espeak-ng speech, a corrupt file, an empty one),
the manifest, reruns, --force, -j 2 and --ray giving identical outputs, and a preset."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng")

PLAN = [{"tool": "gain", "args": {"gain_db": -3}},
        {"tool": "normalize_loudness", "args": {"target_lufs": -20, "true_peak_db": -1}}]


def _batch(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "agent.cli", "batch", *args, "-q"],
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def recordings(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("in")
    for i in range(3):
        subprocess.run(["espeak-ng", "-w", str(folder / f"take{i}.wav"),
                        f"This is take number {i} of the batch test."], check=True)
    (folder / "corrupt.wav").write_bytes(b"RIFF this is not audio at all")
    (folder / "empty.wav").write_bytes(b"")
    return folder


@pytest.fixture()
def plan(tmp_path) -> Path:
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(PLAN))
    return path


def _loudness(path: Path) -> float:
    import pyloudnorm

    data, rate = sf.read(path)
    return pyloudnorm.Meter(rate).integrated_loudness(data)


def _manifest(outdir: Path) -> dict:
    return json.loads((outdir / "echo-agent-batch.json").read_text())["files"]


def test_batch_outputs_failures_reruns(recordings, plan, tmp_path):
    out = tmp_path / "out"
    first = _batch(str(recordings), "-o", str(out), "--plan", str(plan))
    assert first.returncode == 1, first.stderr
    assert "corrupt.wav: not an audio file" in first.stderr + first.stdout
    assert "empty.wav: empty file (0 bytes)" in first.stderr + first.stdout
    files = _manifest(out)
    assert {k: v["state"] for k, v in files.items()} == {
        "take0.wav": "done", "take1.wav": "done", "take2.wav": "done",
        "corrupt.wav": "failed", "empty.wav": "failed"}
    for i in range(3):
        entry = files[f"take{i}.wav"]
        assert len(entry["input_sha256"]) == 64
        assert entry["outputs"][0]["path"] == f"take{i}.wav"
        assert entry["report"]["duration_s"] > 1.0
        output = out / f"take{i}.wav"
        assert sf.info(output).duration == pytest.approx(sf.info(recordings / output.name).duration,
                                                         abs=1e-3)
        assert _loudness(output) == pytest.approx(-20.0, abs=0.5)
    assert not (out / "corrupt.wav").exists() and not (out / "empty.wav").exists()
    finished = {k: v["finished"] for k, v in files.items() if v["state"] == "done"}

    again = _batch(str(recordings), "-o", str(out), "--plan", str(plan), "--json")
    summary = json.loads(again.stdout)
    assert again.returncode == 1  # the two bad files are retried and fail again
    assert (summary["processed"], summary["failed"], summary["skipped"]) == (0, 2, 3)
    assert {k: v["finished"] for k, v in _manifest(out).items() if v["state"] == "done"} == finished

    (out / "take1.wav").unlink()
    redo = json.loads(_batch(str(recordings), "-o", str(out), "--plan", str(plan),
                             "--json").stdout)
    assert (redo["processed"], redo["failed"], redo["skipped"]) == (1, 2, 2)
    assert (out / "take1.wav").is_file()
    files = _manifest(out)
    assert files["take1.wav"]["finished"] != finished["take1.wav"]
    assert files["take0.wav"]["finished"] == finished["take0.wav"]

    forced = json.loads(_batch(str(recordings), "-o", str(out), "--plan", str(plan), "--force",
                               "--json").stdout)
    assert (forced["processed"], forced["failed"], forced["skipped"]) == (3, 2, 0)


def test_pool_and_ray_give_identical_outputs(recordings, plan, tmp_path):
    pytest.importorskip("ray")
    good = tmp_path / "good"
    good.mkdir()
    for i in range(3):
        shutil.copy(recordings / f"take{i}.wav", good)
    outputs = {}
    for name, extra in (("inline", []), ("pool", ["-j", "2"]), ("ray", ["--ray"])):
        run = _batch(str(good), "-o", str(tmp_path / name), "--plan", str(plan), *extra)
        assert run.returncode == 0, run.stderr[-2000:]
        outputs[name] = {p.name: p.read_bytes() for p in sorted((tmp_path / name).glob("*.wav"))}
        assert len(outputs[name]) == 3
    assert outputs["pool"] == outputs["inline"]
    assert outputs["ray"] == outputs["inline"]


def test_podcast_preset_level_and_peak(recordings, tmp_path):
    one = tmp_path / "one"
    one.mkdir()
    data, rate = sf.read(recordings / "take0.wav")
    noise = np.random.default_rng(0).normal(0, 0.01, data.shape)
    sf.write(one / "noisy.wav", data * 0.3 + noise, rate)
    out = tmp_path / "out"
    run = _batch(str(one), "-o", str(out), "--preset", "podcast")
    assert run.returncode == 0, run.stderr[-2000:]
    report = _manifest(out)["noisy.wav"]["report"]
    loud = report["checks"]["noisy.wav"]["loudness"]
    assert loud["lufs"] == pytest.approx(-16.0, abs=0.5)
    assert loud["true_peak_db"] <= -1.0 + 1e-3
    assert _loudness(out / "noisy.wav") == pytest.approx(-16.0, abs=0.5)


def test_presets_command_lists_every_preset():
    run = subprocess.run([sys.executable, "-m", "agent.cli", "presets"], capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0
    names = [line.split(":")[0] for line in run.stdout.splitlines()]
    assert names == ["audiobook", "interview", "music-stems", "podcast"]
