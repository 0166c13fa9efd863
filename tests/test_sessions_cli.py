"""``echo-agent sessions``: saved chat sessions listed with size and age, removed by ID, pruned by
age; a session open in a running echo-agent is never removed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from tools.core.audio import load
from tools.core.session import Session


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("ECHO_AGENT_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def _chat(home, wav, text: str) -> None:
    env = {**os.environ, "ECHO_AGENT_HOME": str(home)}
    done = subprocess.run([sys.executable, "-m", "agent.cli", "chat", str(wav)], input=text,
                          capture_output=True, text=True, env=env, check=False, timeout=300)
    assert done.returncode == 0, done.stderr


def _listed(cli) -> list[dict]:
    result = cli("sessions", "--json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_sessions_are_listed_removed_and_pruned(cli, home, speech_wav):
    _chat(home, speech_wav, "make it 3 dB louder\nfade out the last 2 seconds\n")
    _chat(home, speech_wav, "cut the first second\n")
    rows = _listed(cli)
    assert len(rows) == 2
    seconds = load(speech_wav).duration_s
    for row in rows:  # each keeps at least the imported track; the age is minutes at most
        assert row["size_bytes"] >= seconds * load(speech_wav).sample_rate * 2
        assert 0 <= row["age_s"] < 600 and row["files"] == [speech_wav.name]
        assert (home / "sessions" / row["id"]).is_dir()
    assert sorted(r["edits"] for r in rows) == [1, 2]
    table = cli("sessions")
    assert table.stdout.splitlines()[0].split() == ["ID", "SIZE", "AGE", "EDITS", "FILES"]
    assert "2 sessions" in table.stderr and str(home / "sessions") in table.stderr

    old, new = rows
    two_days_ago = time.time() - 2 * 86400
    for folder, _, files in os.walk(home / "sessions" / old["id"]):
        for name in [*files, "."]:
            os.utime(os.path.join(folder, name), (two_days_ago, two_days_ago))
    dry = cli("sessions", "prune", "--older-than", "1d", "--dry-run")
    assert dry.exit_code == 0 and dry.stdout.split()[0] == old["id"]
    assert "would remove 1 of the 2 sessions: those older than 1d" in dry.stderr
    assert len(_listed(cli)) == 2  # a dry run removes nothing
    pruned = cli("sessions", "prune", "--older-than", "1d")
    assert pruned.exit_code == 0 and pruned.stdout.split() == [old["id"]]
    assert [r["id"] for r in _listed(cli)] == [new["id"]]

    with Session.open(home / "sessions" / new["id"]):  # in use: refused in one line, kept
        busy = cli("sessions", "rm", new["id"])
        assert busy.exit_code == 1 and "open in another echo-agent process" in busy.stderr
        assert (home / "sessions" / new["id"]).is_dir()
    gone = cli("sessions", "rm", new["id"])
    assert gone.exit_code == 0 and gone.stdout.split() == [new["id"]]
    assert _listed(cli) == [] and not (home / "sessions" / new["id"]).exists()
    unknown = cli("sessions", "rm", "no-such-session")  # a bad name: a usage error, said once
    assert unknown.exit_code == 2 and "no-such-session" in unknown.stderr
    assert "removed 0" not in unknown.stderr
    banana = cli("sessions", "prune", "--older-than", "banana")
    assert banana.exit_code == 2 and "expected a number with s, m, h, d or w" in banana.stderr


def test_a_chat_on_a_file_it_cannot_open_leaves_no_session(cli, home, tmp_path, speech_wav):
    fake = tmp_path / "fake.wav"
    fake.write_text("not audio")
    for path in (tmp_path / "missing.wav", fake):
        env = {**os.environ, "ECHO_AGENT_HOME": str(home)}
        done = subprocess.run([sys.executable, "-m", "agent.cli", "chat", str(path)], input="/quit\n",
                              capture_output=True, text=True, env=env, timeout=120)
        assert done.returncode == 2 and "Traceback" not in done.stderr
    assert _listed(cli) == []
    _chat(home, speech_wav, "make it 3 dB louder\n")
    (row,) = _listed(cli)
    env = {**os.environ, "ECHO_AGENT_HOME": str(home)}
    resumed = subprocess.run([sys.executable, "-m", "agent.cli", "chat", "--session",
                              str(home / "sessions" / row["id"])], input="/quit\n",
                             capture_output=True, text=True, env=env, timeout=120)
    assert "1 edit, tracks" in resumed.stderr  # the open is not an edit (it said 2 edits)
