"""What the chat and ``do`` print: each answer once, refusals in at most 3 short lines that say
where the full list is, fallback notes in one line, once per session (not in /history)."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import noise
from tools.core.audio import Audio, save


@pytest.fixture
def noisy(tmp_path, speech_wav):
    from tools.core.audio import load

    speech = load(speech_wav)
    hiss = noise(duration_s=speech.duration_s, sample_rate=speech.sample_rate, level_db=-30).samples
    return save(Audio.from_array(speech.samples + hiss[:, :speech.num_samples], speech.sample_rate),
                tmp_path / "noisy.wav")


def _run(args, *, stdin="", tmp_path):
    env = {**os.environ, "ECHO_AGENT_HOME": str(tmp_path / "home"), "ECHO_AGENT_PACKAGED": "0"}
    return subprocess.run([sys.executable, "-m", "agent.cli", *map(str, args)], input=stdin,
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)


def test_chat_answers_once_refuses_briefly_and_notes_a_fallback_once(tmp_path, noisy):
    done = _run(["chat", noisy], tmp_path=tmp_path, stdin="reduce the noise\nreduce the noise\n"
                "write a poem about it\nmake it 3 dB louder\n/history\n")
    assert done.returncode == 0, done.stderr
    out = done.stdout.splitlines()
    assert sum(line.startswith("denoised with") for line in out) == 2  # one per request
    assert sum("applied +3.0 dB" in line for line in out) == 2  # the answer, then /history's line
    refusal = [i for i, line in enumerate(out) if "write a poem" in line]
    assert len(refusal) == 1
    after = next(i for i in range(refusal[0], len(out)) if "applied +3.0 dB" in out[i])
    lines = out[refusal[0]:after]  # the refusal, up to the next request's answer
    assert 1 <= len(lines) <= 3 and all(len(line) <= 100 for line in lines)
    assert "/help" in lines[-1]
    notes = [line for line in done.stderr.splitlines() if "DeepFilterNet" in line]
    assert len(notes) == 1 and notes[0].startswith("note: ") and len(notes[0]) <= 160
    history = out[out.index("1. opened " + str(noisy)):]
    assert not any("DeepFilterNet" in line or "note" in line for line in history)
    assert "Traceback" not in done.stderr


def test_do_prints_the_answer_once_and_a_refusal_in_at_most_three_lines(tmp_path, noisy):
    done = _run(["do", "make it 3 dB louder", "-i", noisy, "-o", tmp_path / "o.wav"],
                tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [str(tmp_path / "o.wav")]
    assert done.stderr.count("applied +3.0 dB") == 1
    refused = _run(["do", "write a poem about it", "-i", noisy, "-o", tmp_path / "p.wav"],
                   tmp_path=tmp_path)
    assert refused.returncode == 1 and refused.stdout == ""
    lines = [line for line in refused.stderr.splitlines() if not line.startswith("no LLM")]
    assert 1 <= len(lines) <= 3 and "echo-agent tools" in lines[-1]
    assert not (tmp_path / "p.wav").exists()
    assert len(refused.stderr) < 400  # was about 2,400 characters on one line


def test_undo_after_a_three_step_request_gives_back_the_samples_from_before_it(tmp_path, noisy):
    from tools.core.audio import load

    done = _run(["chat", noisy], tmp_path=tmp_path, stdin="make it 2 dB quieter\n/export quieter.wav\n"
                "cut the first second, make it 3 dB louder and fade out the last 2 seconds\n"
                "/export after.wav\n/undo\n/export undone.wav\n/undo\n/export original.wav\n")
    assert done.returncode == 0, done.stderr
    undid = [line for line in done.stdout.splitlines() if line.startswith("Undid")]
    assert len(undid) == 2 and all(word in undid[0] for word in ("cut", "+3.0 dB", "faded out"))
    original = load(noisy)
    assert load(tmp_path / "after.wav").duration_s == pytest.approx(original.duration_s - 1, abs=1e-3)
    # the whole request undone at once, exactly: as it was after the first request
    assert np.array_equal(load(tmp_path / "undone.wav").samples, load(tmp_path / "quieter.wav").samples)
    assert np.array_equal(load(tmp_path / "original.wav").samples, original.samples)


def test_undo_and_redo_name_the_step_without_its_fallback_note(tmp_path, noisy):
    done = _run(["chat", noisy], tmp_path=tmp_path, stdin="reduce the noise\n/undo\n/redo\n")
    assert done.returncode == 0, done.stderr
    said = [line for line in done.stdout.splitlines() if line.startswith(("Undid: ", "Redid: "))]
    assert len(said) == 2 and all(line.split(": ", 1)[1].startswith("denoised with") for line in said)
    assert not any("fallback" in line or "pip install" in line for line in said)
    assert all(len(line) < 120 for line in said)
