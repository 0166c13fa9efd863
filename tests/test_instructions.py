"""Instructions files (`echo-agent run EDITS.txt`) and one-shot requests (`echo-agent do`)."""

from __future__ import annotations

import json

import pytest

from tests.conftest import noise
from tools.core.audio import load
from tools.core.dsp import integrated_loudness, rms_db


@pytest.fixture
def source(write):
    return write(noise(duration_s=12.0, sample_rate=16_000, level_db=-26), "in.wav")


def test_instructions_file_runs_every_line_in_order(cli, tmp_path, source):
    edits = tmp_path / "edits.txt"
    edits.write_text("# tidy up\n\ncut the first 2 seconds\n  make it 3 dB louder\n"
                     "normalize to -20 LUFS  \n")
    out = tmp_path / "out.wav"
    result = cli("run", edits, "-i", source, "-o", out)
    assert result.exit_code == 0, result.stderr
    edited = load(out)
    assert edited.duration_s == pytest.approx(10.0, abs=0.01)
    assert integrated_loudness(edited.samples, edited.sample_rate) == pytest.approx(-20, abs=0.5)


def test_dry_run_prints_the_calls_and_writes_nothing(cli, tmp_path, source):
    edits = tmp_path / "edits.txt"
    edits.write_text("remove the last 3 seconds\nfade out the last 2 seconds\n")
    out = tmp_path / "out.wav"
    result = cli("run", edits, "-i", source, "-o", out, "--dry-run")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("1. cut ") and '"start_s": 9.0' in lines[0]
    assert lines[1].startswith("2. fade ") and '"duration_s": 2' in lines[1]
    assert lines[0].endswith("(line 1)") and lines[1].endswith("(line 2)")
    assert not out.exists()


def test_a_dry_run_of_one_request_numbers_each_call_and_lists_them_once(cli, tmp_path, source):
    result = cli("do", "cut 0:01 to 0:02, make it 3 dB louder and fade out the last 2 s", "-i",
                 source, "-o", tmp_path / "out.wav", "--dry-run")
    assert result.exit_code == 0, result.stderr
    assert [line.split(" ")[:2] for line in result.stdout.splitlines()] == [
        ["1.", "cut"], ["2.", "gain"], ["3.", "fade"]]  # was 1. 1. 1.
    assert "[ok]" not in result.stderr and not (tmp_path / "out.wav").exists()


def test_a_question_needs_no_output_file(cli, tmp_path, source):
    asked = cli("do", "how long is it", "-i", source)
    assert asked.exit_code == 0, asked.stderr
    assert asked.stdout.startswith("in: 0:12.000 (12.000 s), 16000 Hz")  # the answer, on stdout
    assert [p.name for p in tmp_path.iterdir()] == ["in.wav"]  # nothing written
    edit = cli("do", "make it 3 dB louder", "-i", source)
    assert edit.exit_code == 2 and "do needs -o/--output" in edit.stderr


def test_a_failing_line_stops_with_its_number_and_nothing_is_written(cli, tmp_path, source):
    edits = tmp_path / "edits.txt"
    edits.write_text("make it 3 dB louder\n# fine so far\nwrite a poem about this song\ngain 1 dB\n")
    out = tmp_path / "out.wav"
    result = cli("run", edits, "-i", source, "-o", out)
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[-1].startswith(
        "echo-agent: error: line 3 ('write a poem about this song'):")
    assert not out.exists()


def test_json_log(cli, tmp_path, source):
    edits = tmp_path / "edits.txt"
    edits.write_text("make it 6 dB louder\nfade in over 1 second\n")
    result = cli("run", edits, "-i", source, "-o", tmp_path / "out.wav", "--json")
    assert result.exit_code == 0, result.stderr
    log = json.loads(result.stdout)
    assert [entry["line"] for entry in log] == [1, 2]
    assert log[0]["calls"][0]["tool"] == "gain" and log[0]["calls"][0]["arguments"]["gain_db"] == 6
    assert all(entry["ok"] for entry in log)


def test_do_one_request(cli, tmp_path, source):
    out = tmp_path / "b.wav"
    result = cli("do", "make it 6 dB louder", "-i", source, "-o", out)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == str(out)
    assert rms_db(load(out).samples) == pytest.approx(rms_db(load(source).samples) + 6, abs=0.01)
    assert "offline planner" in result.stderr


def test_do_refuses_what_it_does_not_understand(cli, tmp_path, source):
    out = tmp_path / "b.wav"
    result = cli("do", "translate this into French", "-i", source, "-o", out)
    assert result.exit_code == 1
    assert len(result.stderr.strip().splitlines()[-1]) > 20
    assert not out.exists()


def test_missing_instructions_file_is_a_usage_error(cli, tmp_path, source):
    result = cli("run", tmp_path / "nope.txt", "-i", source, "-o", tmp_path / "o.wav")
    assert result.exit_code == 2
    assert "no such instructions file" in result.stderr
