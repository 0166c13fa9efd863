"""Outputs keep the input's format and bit depth unless asked otherwise: 16-bit in, 16-bit out
(TPDF dither; exact when untouched), float in, float out; --bit-depth and --bitrate choose."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import soundfile as sf
from conftest import assert_one_error_line, noise

from tools.core.audio_write import quantize

RATE = 48_000


@pytest.fixture
def source(tmp_path):
    def make(subtype: str, name: str = "in.wav", level_db: float = -20.0):
        path = tmp_path / name
        audio = noise(duration_s=3.0, sample_rate=RATE, channels=2, level_db=level_db)
        sf.write(path, audio.samples.T, RATE, subtype=subtype)
        return path
    return make


@pytest.mark.parametrize("subtype", ["PCM_16", "PCM_24", "FLOAT"])
def test_a_wav_keeps_its_sample_format(cli, source, tmp_path, subtype):
    path = source(subtype)
    out = tmp_path / "out.wav"
    result = cli("do", "make it 2 dB louder", "-i", str(path), "-o", str(out))
    assert result.exit_code == 0, result.stderr
    assert sf.info(out).subtype == subtype
    gained = sf.read(out, dtype="float64")[0]
    original = sf.read(path, dtype="float64")[0]
    rms = 10 * np.log10(np.mean(gained**2) / np.mean(original**2))
    assert rms == pytest.approx(2.0, abs=0.01)


def test_an_untouched_16_bit_stretch_is_written_exactly(cli, source, tmp_path):
    path = source("PCM_16")
    out = tmp_path / "out.wav"
    assert cli("do", "cut from 1 to 1.5 seconds", "-i", str(path), "-o", str(out)).exit_code == 0
    before = sf.read(path, dtype="int16")[0]
    after = sf.read(out, dtype="int16")[0]
    assert len(after) == len(before) - RATE // 2
    np.testing.assert_array_equal(after[:RATE // 2], before[:RATE // 2])  # no dither noise
    np.testing.assert_array_equal(after[-RATE:], before[-RATE:])


def test_16_bit_output_of_an_edit_is_dithered_not_truncated():
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((1, 200_000)) * 0.01).astype(np.float32)
    ints, clipped = quantize(x, "PCM_16")
    error = ints[:, 0] / 32768.0 - x[0]
    assert clipped == 0
    assert abs(error.mean()) < 1e-6  # TPDF: unbiased
    # rounding noise (1/12 LSB^2) plus triangular dither (1/6 LSB^2): 1/4 LSB^2 in all
    assert np.mean((error * 32768) ** 2) == pytest.approx(0.25, rel=0.05)
    again, _ = quantize(x, "PCM_16")
    np.testing.assert_array_equal(ints, again)  # the same input writes the same file


def test_bit_depth_option_and_clipping_note(cli, source, tmp_path):
    path = source("PCM_16", level_db=-3.0)
    out = tmp_path / "out.flac"
    result = cli("do", "make it 12 dB louder", "-i", str(path), "-o", str(out), "--bit-depth", "24")
    assert result.exit_code == 0 and sf.info(out).subtype == "PCM_24"
    assert "clipped" in result.stderr
    floats = tmp_path / "out.wav"
    result = cli("do", "make it 12 dB louder", "-i", str(path), "-o", str(floats),
                 "--bit-depth", "float")
    assert sf.info(floats).subtype == "FLOAT" and "clipped" not in result.stderr
    assert np.abs(sf.read(floats)[0]).max() > 1.0  # float keeps the headroom


def test_clipping_is_said_once_by_the_export_not_again_by_the_step(cli, source, tmp_path):
    path = source("PCM_16", level_db=-3.0)
    out = tmp_path / "out.wav"
    loud = cli("do", "make it 12 dB louder", "-i", str(path), "-o", str(out))
    assert loud.stderr.count("clip") == 1 and "samples went past full scale" in loud.stderr
    # louder then quieter again: the file does not clip, so nothing says it will
    back = cli("do", "make it 12 dB louder then 12 dB quieter", "-i", str(path), "-o", str(out),
               "-y")
    assert back.exit_code == 0 and "clip" not in back.stderr


def test_bit_depth_refused_where_the_format_has_none(cli, source, tmp_path):
    result = cli("do", "make it louder by 1 dB", "-i", str(source("PCM_16")), "-o",
                 str(tmp_path / "out.ogg"), "--bit-depth", "24")
    assert_one_error_line(result, code=2, mentions="no bit depth")  # a usage error
    assert not (tmp_path / "out.ogg").exists()


@pytest.mark.parametrize("name, option, value, says", [
    ("out.mp3", "--bitrate", "fast", "bitrate=fast: expected kilobits per second"),
    ("out.mp3", "--bitrate", "999k", "from 8 to 320k for .mp3"),
    ("out.wav", "--bitrate", "64k", "only .mp3, .m4a and .opus take a bitrate"),
    ("out.flac", "--bit-depth", "float", ".flac holds PCM_16, PCM_24"),
])
def test_a_format_option_the_output_cannot_take_is_a_usage_error_found_first(
        cli, source, tmp_path, name, option, value, says):
    result = cli("do", "make it louder by 1 dB", "-i", str(source("PCM_16")), "-o",
                 str(tmp_path / name), option, value)
    assert_one_error_line(result, code=2, mentions=says)
    assert "applied" not in result.stderr and not (tmp_path / name).exists()


def test_batch_refuses_bad_inputs_and_formats_before_making_its_folder(tmp_path, source):
    import json
    import subprocess
    import sys

    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps([{"tool": "gain", "args": {"gain_db": -3}}]))
    folder = tmp_path / "in"
    folder.mkdir()
    source("PCM_16", name="in/take.wav")
    for inputs, extra, says in (([str(tmp_path / "nothing")], [], "no such file or folder"),
                                ([str(folder)], ["--format", "wav", "--bitrate", "64k"],
                                 "only .mp3, .m4a and .opus take a bitrate")):
        out = tmp_path / "out"
        result = subprocess.run([sys.executable, "-m", "agent.cli", "batch", *inputs, "-o",
                                 str(out), "--plan", str(plan), *extra],
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 2 and says in result.stderr, result.stderr
        assert not out.exists()  # no folder, no stale lock left behind


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")
def test_bitrate_for_lossy_outputs(cli, source, tmp_path):
    path = source("PCM_16")
    low, high = tmp_path / "low.mp3", tmp_path / "high.mp3"
    for out, rate in ((low, "64k"), (high, "256k")):
        assert cli("do", "make it 1 dB louder", "-i", str(path), "-o", str(out),
                   "--bitrate", rate).exit_code == 0
    assert high.stat().st_size > 3 * low.stat().st_size
