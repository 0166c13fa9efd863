"""``echo-agent batch``: a folder of recordings with one recipe. Bad files fail alone with their
reasons, the manifest makes a rerun skip what is done and redo only what is missing, and ``-j 2``
writes the same outputs as ``-j 1``."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from tools.core.audio import load, save
from tools.core.dsp import rms_db


@pytest.fixture
def folder(tmp_path, speech_wav):
    inputs = tmp_path / "in"
    inputs.mkdir()
    speech = load(speech_wav)
    save(speech, inputs / "one.wav")
    save(speech.replace(speech.samples[:, : speech.num_samples // 2] * 0.5), inputs / "two.wav")
    (inputs / "corrupt.wav").write_bytes(np.random.default_rng(0).bytes(4000))
    (inputs / "empty.wav").write_bytes(b"")
    plan = tmp_path / "quieter.json"
    plan.write_text(json.dumps([{"tool": "gain", "args": {"gain_db": -3}}]))
    return inputs, plan


def _manifest(out) -> dict:
    return json.loads((out / "echo-agent-batch.json").read_text())["files"]


def test_bad_files_fail_alone_and_a_rerun_does_only_what_is_missing(cli, tmp_path, folder):
    inputs, plan = folder
    out = tmp_path / "out"
    first = cli("batch", inputs, "-o", out, "--plan", plan, "-q")
    assert first.exit_code == 1  # some file failed
    assert "corrupt.wav: not an audio file" in first.stderr
    assert "empty.wav: empty file (0 bytes)" in first.stderr
    for name in ("one.wav", "two.wav"):
        before, after = load(inputs / name), load(out / name)
        assert after.num_samples == before.num_samples
        assert rms_db(after.samples) == pytest.approx(rms_db(before.samples) - 3, abs=0.05)
    assert not (out / "corrupt.wav").exists() and not (out / "empty.wav").exists()
    manifest = _manifest(out)
    assert {k: v["state"] for k, v in manifest.items()} == {
        "one.wav": "done", "two.wav": "done", "corrupt.wav": "failed", "empty.wav": "failed"}
    assert len(manifest["one.wav"]["input_sha256"]) == 64 and manifest["one.wav"]["report"]["steps"]

    stamp = {name: (out / name).stat().st_mtime_ns for name in ("one.wav", "two.wav")}
    again = cli("batch", inputs, "-o", out, "--plan", plan, "-q")
    assert again.exit_code == 1 and "0 processed, 2 already done, 2 failed" in again.stderr
    assert {name: (out / name).stat().st_mtime_ns for name in stamp} == stamp  # nothing redone

    (out / "two.wav").unlink()
    redo = cli("batch", inputs, "-o", out, "--plan", plan, "-q")
    assert "1 processed, 1 already done, 2 failed" in redo.stderr
    assert (out / "two.wav").is_file() and (out / "one.wav").stat().st_mtime_ns == stamp["one.wav"]
    assert _manifest(out)["two.wav"]["attempts"] == 2


def test_two_workers_write_what_one_does(cli, tmp_path, folder):
    inputs, plan = folder
    for name in ("corrupt.wav", "empty.wav"):
        (inputs / name).unlink()
    one, two = tmp_path / "j1", tmp_path / "j2"
    assert cli("batch", inputs, "-o", one, "--plan", plan, "-q", "-j", "1").exit_code == 0
    assert cli("batch", inputs, "-o", two, "--plan", plan, "-q", "-j", "2").exit_code == 0
    for name in ("one.wav", "two.wav"):  # samples, not bytes: a float WAV's PEAK chunk has a time
        assert np.array_equal(load(one / name).samples, load(two / name).samples)
        assert sf.info(one / name).subtype == sf.info(two / name).subtype
