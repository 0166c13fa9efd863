"""Session workspace: versions, undo/redo, tracks, persistence, and survival of SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from tests.conftest import noise, sine
from tools.core.dsp import rms_db
from tools.core.errors import SessionError, ToolArgumentError
from tools.core.session import JOURNAL, Session
from tools.gain import gain


def test_every_edit_is_a_version_and_undo_redo_are_bit_exact(tmp_path):
    original = noise(duration_s=0.5)
    with Session.create(tmp_path / "s") as session:
        session.add_track("a", original)
        louder = gain(original, gain_db=6)
        session.commit({"a": louder}, tool="gain", summary="+6 dB")
        assert np.array_equal(session.audio().samples, louder.samples)
        assert session.undo().summary == "+6 dB"
        assert np.array_equal(session.audio().samples, original.samples)
        assert session.redo().summary == "+6 dB"
        assert np.array_equal(session.audio().samples, louder.samples)
        assert [s.tool for s in session.history()] == ["open", "gain"]


def test_new_edit_after_undo_drops_the_redo_branch(tmp_path):
    with Session.create(tmp_path / "s") as session:
        session.add_track("a", sine())
        session.commit({"a": gain(session.audio(), gain_db=3)}, tool="gain", summary="+3")
        session.undo()
        session.commit({"a": gain(session.audio(), gain_db=-3)}, tool="gain", summary="-3")
        assert session.redo() is None
        assert [s.summary for s in session.history()][-1] == "-3"


def test_state_survives_reopen(tmp_path):
    root = tmp_path / "s"
    with Session.create(root) as session:
        session.add_track("voice", sine(duration_s=0.3))
        session.add_track("music", noise(duration_s=0.3))
        session.commit({"voice": gain(session.audio("voice"), gain_db=-6)}, tool="gain",
                       summary="-6", select="voice")
        session.undo()
        expected = session.audio("voice").samples.copy()
    with Session.open(root) as again:
        assert again.tracks == ["voice", "music"]
        assert again.current_track == "music"
        assert np.array_equal(again.audio("voice").samples, expected)
        assert again.redo().summary == "-6"


def test_undo_of_track_creation_removes_the_track(tmp_path):
    with Session.create(tmp_path / "s") as session:
        session.add_track("a", sine())
        session.add_track("b", sine())
        session.undo()
        assert session.tracks == ["a"]
        assert session.current_track == "a"


def test_unknown_track_names_the_choices(tmp_path):
    with Session.create(tmp_path / "s") as session:
        session.add_track("a", sine())
        with pytest.raises(ToolArgumentError, match="track='zz' does not exist; expected one of: a"):
            session.audio("zz")


def test_a_session_is_locked_against_a_second_process(tmp_path):
    root = tmp_path / "s"
    with Session.create(root):
        with pytest.raises(SessionError, match="open in another process"):
            Session.open(root)
    Session.open(root).close()


def test_torn_last_journal_line_is_dropped(tmp_path):
    root = tmp_path / "s"
    with Session.create(root) as session:
        session.add_track("a", sine())
    with open(root / JOURNAL, "ab") as handle:
        handle.write(b'{"op":"commit","changes":[{"track":"a","vers')
    with Session.open(root) as session:
        assert len(session.history()) == 1
        session.commit({"a": gain(session.audio(), gain_db=1)}, tool="gain", summary="+1")
    lines = (root / JOURNAL).read_text().splitlines()
    assert all(json.loads(line) for line in lines) and len(lines) == 2


def test_create_refuses_a_non_empty_folder(tmp_path):
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "file.txt").write_text("mine")
    with pytest.raises(SessionError, match="not empty"):
        Session.create(tmp_path / "s")
    assert (tmp_path / "s" / "file.txt").read_text() == "mine"


@pytest.mark.parametrize("kill_after_commits", [2, 5])
def test_sigkill_during_a_run_loses_no_committed_version(tmp_path, write, kill_after_commits):
    """A real `echo-agent run` process is killed with SIGKILL mid-plan; every version the journal
    names is intact on reopening, with the level the plan gave it, and the session goes on."""
    source = write(noise(duration_s=20.0, sample_rate=48_000, level_db=-30), "in.wav")
    before = source.read_bytes()
    steps = [{"tool": "gain", "args": {"gain_db": 0.5}} for _ in range(60)]
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps(steps))
    root = tmp_path / "session"
    proc = subprocess.Popen(
        [sys.executable, "-m", "agent.cli", "run", str(plan), "-i", str(source),
         "-o", str(tmp_path / "out.wav"), "--session", str(root), "-q"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    journal = root / JOURNAL
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if journal.exists() and journal.read_bytes().count(b"\n") >= kill_after_commits:
            break
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (tmp_path / "out.wav").exists()
    assert source.read_bytes() == before

    with Session.open(root) as session:
        history = session.history()
        assert len(history) >= kill_after_commits
        input_level = rms_db(session.version_audio(history[0].changes[0].version).samples)
        for number, step in enumerate(history):
            level = rms_db(session.version_audio(step.changes[0].version).samples)
            assert level == pytest.approx(input_level + 0.5 * number, abs=0.01)
        session.commit({session.current_track: gain(session.audio(), gain_db=1)}, tool="gain",
                       summary="after the crash")
        assert len(session.history()) == len(history) + 1


def test_new_session_dirs_in_one_second_do_not_collide(tmp_path, monkeypatch):
    from agent.workspace import new_session_dir

    monkeypatch.setenv("ECHO_AGENT_HOME", str(tmp_path))
    monkeypatch.setattr("time.strftime", lambda fmt: "20261204-010203")  # the same second
    first, second = new_session_dir("batch"), new_session_dir("batch")
    assert first != second and first.parent == second.parent
    assert first.name.startswith("20261204-010203-batch-") and not any(first.iterdir())
