"""The chat REPL, driven as a script would: a conversation piped into `echo-agent chat`."""

from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
import pytest

from agent.base import Reply
from agent.chat import Chat
from tests.conftest import noise
from tools.core.audio import load
from tools.core.dsp import rms_db
from tools.core.session import Session
from tools.gain import gain


def chat(*args, stdin: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "agent.cli", "chat", *map(str, args)], input=stdin,
                          capture_output=True, text=True, cwd=cwd, timeout=120)


@pytest.fixture
def source(write):
    return write(noise(duration_s=3.0, sample_rate=16_000, level_db=-26), "talk.wav")


def test_piped_conversation_edits_exports_and_undo_is_bit_exact(tmp_path, source):
    conversation = "\n".join([
        "make it 6 dB louder",
        "/export louder.wav",
        "/undo",
        "/export undone.wav",
        "/redo",
        "/history",
        "/tracks",
        "/quit",
    ]) + "\n"
    result = chat(source, "--session", tmp_path / "s", stdin=conversation, cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    original = load(source).samples
    assert np.array_equal(load(tmp_path / "undone.wav").samples, original)
    assert rms_db(load(tmp_path / "louder.wav").samples) == pytest.approx(rms_db(original) + 6, abs=0.01)
    assert result.stdout.splitlines() == [
        "applied +6.0 dB (track talk: now 3.00 s)",
        "Exported talk to louder.wav",
        "Undid: applied +6.0 dB",
        "Exported talk to undone.wav",
        "Redid: applied +6.0 dB",
        "1. opened " + str(source),
        "2. applied +6.0 dB",
        "* talk  3.00 s",
    ]
    assert "[ok] gain(gain_db=6.0)" in result.stderr
    assert "offline planner" in result.stderr  # says plainly that the fallback is used


def test_session_resumes_and_end_of_input_quits(tmp_path, source):
    first = chat(source, "--session", tmp_path / "s", stdin="turn it down by 3 dB\n", cwd=tmp_path)
    assert first.returncode == 0
    again = chat("--session", tmp_path / "s", stdin="/history\n/export out.wav\n", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "2. applied -3.0 dB" in again.stdout
    assert rms_db(load(tmp_path / "out.wav").samples) == pytest.approx(rms_db(load(source).samples) - 3, abs=0.01)


def test_refusals_and_mistakes_are_answered_not_fatal(tmp_path, source):
    conversation = "\n".join([
        "write a poem about this song",
        "/frobnicate",
        "/export talk.wav",
        "/export sub/none.wav",
        "make it 200 dB louder",
        "/history",
    ]) + "\n"
    result = chat(source, "--session", tmp_path / "s", stdin=conversation, cwd=tmp_path)
    assert result.returncode == 0
    out = result.stdout
    assert "not understand" in out.lower() or "didn't understand" in out.lower()
    assert "Error: unknown command /frobnicate; /help lists the commands" in out
    assert "refusing to overwrite the input file" in out
    assert "output folder does not exist" in out
    assert out.strip().endswith("1. opened " + str(source))  # nothing was edited
    assert "Traceback" not in result.stderr


class _InterruptedAgent:
    """Commits an edit, then is interrupted (as by Ctrl-C) before it finishes the request."""

    name = "test"

    def respond(self, session, request, *, on_event=None):
        if request == "slow":
            session.commit({"a": gain(session.audio(), gain_db=1)}, tool="gain", summary="+1")
            raise KeyboardInterrupt
        return Reply(text=f"ok: {request}")


def test_ctrl_c_cancels_the_request_and_keeps_the_session(tmp_path):
    with Session.create(tmp_path / "s") as session:
        session.add_track("a", noise(duration_s=0.5))
        before = session.audio().samples.copy()
        out, err = io.StringIO(), io.StringIO()
        code = Chat(_InterruptedAgent(), session, inp=io.StringIO("slow\nnext\n"), out=out, err=err).run()
        assert code == 0
        assert out.getvalue() == "ok: next\n"
        assert "cancelled" in err.getvalue()
        assert np.array_equal(session.audio().samples, before)
        assert len(session.history()) == 1
