"""Bad output paths and bad usage through the command line: one error line, the right exit code,
and nothing written or overwritten (the input files are in ``test_bad_input.py``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import assert_one_error_line, sine

from tools.core.audio import save


@pytest.fixture
def cli(cli_fd):
    """Capture file descriptors: a C library writing to the terminal breaks the one-line rule too."""
    return cli_fd


# ----------------------------------------------------------------------------- outputs


@pytest.fixture
def source(tmp_path) -> Path:
    return save(sine(duration_s=1.0), tmp_path / "talk.wav")


@pytest.mark.parametrize("overwrite", [[], ["-y"]])
def test_output_equal_to_input_is_refused(cli, plan, source, overwrite):
    before = source.read_bytes()
    line = assert_one_error_line(cli("run", plan, "-i", source, "-o", source, *overwrite))
    assert "refusing to overwrite the input file" in line
    assert source.read_bytes() == before


def test_output_reaching_the_input_through_a_link_is_refused(cli, plan, source, tmp_path):
    link = tmp_path / "alias.wav"
    link.symlink_to(source)
    before = source.read_bytes()
    line = assert_one_error_line(cli("run", plan, "-i", source, "-o", link, "-y"))
    assert "refusing to overwrite the input file" in line
    assert source.read_bytes() == before and link.is_symlink()


def test_existing_output_needs_overwrite(cli, plan, source, tmp_path):
    out = tmp_path / "out.wav"
    out.write_bytes(b"precious")
    line = assert_one_error_line(cli("run", plan, "-i", source, "-o", out), mentions=str(out))
    assert "exists already; pass --overwrite (-y)" in line
    assert out.read_bytes() == b"precious"
    result = cli("run", plan, "-i", source, "-o", out, "-y")
    assert result.exit_code == 0 and out.read_bytes() != b"precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.wav", "plan.json", "talk.wav"]


@pytest.mark.parametrize("name", ["out.xyz", "out", "out.txt"])
def test_unknown_output_extension_is_refused(cli, plan, source, tmp_path, name):
    line = assert_one_error_line(cli("run", plan, "-i", source, "-o", tmp_path / name))
    assert "unknown output format" in line and "expected one of: " in line
    assert not (tmp_path / name).exists()


@pytest.mark.parametrize("name", ["out.mp4", "out.MOV", "out.mkv"])
def test_a_video_output_is_refused_with_how_to_put_the_audio_back(cli, plan, source, tmp_path, name):
    line = assert_one_error_line(cli("run", plan, "-i", source, "-o", tmp_path / name))
    assert "writes audio, not video; write .m4a (AAC) or .wav" in line
    assert "-map 0:v -map 1:a -c:v copy" in line
    assert not (tmp_path / name).exists()


def test_output_folder_must_exist(cli, plan, source, tmp_path):
    line = assert_one_error_line(cli("run", plan, "-i", source, "-o", tmp_path / "no" / "out.wav"))
    assert "output folder does not exist" in line


def test_output_that_is_a_directory_is_refused(cli, plan, source, tmp_path):
    (tmp_path / "out.wav").mkdir()
    line = assert_one_error_line(cli("run", plan, "-i", source, "-o", tmp_path / "out.wav", "-y"))
    assert "is a directory" in line


def test_a_failing_step_is_exit_1_and_writes_nothing(cli, source, tmp_path):
    plan = tmp_path / "loud.json"
    plan.write_text(json.dumps([{"tool": "gain", "args": {"gain_db": 100}}]))
    line = assert_one_error_line(cli("run", plan, "-i", source, "-o", tmp_path / "out.wav"), code=1)
    assert "gain_db=100" in line and "allowed: -60 to 60" in line
    assert not (tmp_path / "out.wav").exists()


# ----------------------------------------------------------------------------- bad usage


@pytest.mark.parametrize("argv", [
    ["frobnicate"],
    ["run", "plan.json", "-o", "out.wav"],  # no -i
    ["info"],  # no file
    ["info", "x.wav", "--bogus"],
    ["run", "plan.json", "-i"],  # -i without its value
], ids=["unknown command", "run without -i", "info without a file", "unknown option",
        "-i without a value"])
def test_bad_usage_is_one_line_and_exit_2(cli, argv):
    line = assert_one_error_line(cli(*argv))
    assert "--help" in line


def test_run_without_output_is_a_usage_error(cli, plan, source):
    line = assert_one_error_line(cli("run", plan, "-i", source))
    assert "-o/--output" in line


@pytest.mark.parametrize(("name", "text", "words"), [
    ("missing.json", None, "no such plan file"),
    ("broken.json", '[{"tool": "gain", ', "not a valid plan"),
    ("empty.json", "[]", "non-empty list"),
])
def test_bad_plan_file(cli, source, tmp_path, name, text, words):
    plan = tmp_path / name
    if text is not None:
        plan.write_text(text)
    line = assert_one_error_line(cli("run", plan, "-i", source, "-o", tmp_path / "out.wav"),
                                 mentions=str(plan))
    assert words in line
    assert not (tmp_path / "out.wav").exists()
