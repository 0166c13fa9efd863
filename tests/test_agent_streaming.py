"""The agent's own steps (planning, the LLM's session context, the guard) never read a whole track:
on a three-hour file one such read is 4 GB. ``Session.audio`` is made to fail, and the steps that
only need durations still work; a streaming tool (declick) then runs end to end the same way."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import sine

from agent.guard import _removed_fraction
from agent.llm import session_context
from agent.offline import OfflineAgent
from tools.core.audio import Audio
from tools.core.session import Session

RATE = 16_000


@pytest.fixture
def session(tmp_path, monkeypatch):
    with Session.create(tmp_path / "s") as session:
        tone = sine(220.0, duration_s=3.0, sample_rate=RATE, amplitude=0.3)
        samples = tone.samples.copy()
        samples[0, RATE + 100] += 0.9  # one click, 1.0 s in
        session.add_track("tone", tone.replace(samples))

        def whole_read(*args, **kwargs):
            raise AssertionError("a whole-track read")

        monkeypatch.setattr(Session, "audio", whole_read)
        monkeypatch.setattr(Session, "version_audio", whole_read)
        yield session


def test_planning_reads_no_samples(session):
    calls = OfflineAgent().plan(session, "cut the last 0.5 seconds")
    assert [(c.tool, c.args["start_s"]) for c in calls] == [("cut", 2.5)]  # from the duration
    assert "3.000 s" in session_context(session)
    assert _removed_fraction(session, "cut", {"start_s": 0.0, "end_s": 1.5}) == pytest.approx(0.5)


def test_do_declick_streams(session):
    reply = OfflineAgent().respond(session, "remove the clicks")
    assert reply.understood
    view = session.track()
    assert view.num_samples == 3 * RATE
    out = view.read(RATE + 50, RATE + 150)[0]
    assert np.max(np.abs(out)) < 0.35  # the click (0.9 over a 0.3 tone) is repaired


def test_pause_removal_streams(session, monkeypatch):
    import tools.remove_disfluencies as module
    from agent.base import run_call

    monkeypatch.setattr(module, "session_transcript", lambda s, t: (None, "acoustic only"))
    rng = np.random.default_rng(3)
    t = np.arange(int(1.5 * RATE)) / RATE
    voiced = (np.sin(2 * np.pi * 140 * t) + 0.6 * np.sin(2 * np.pi * 280 * t)
              + 0.3 * np.sin(2 * np.pi * 420 * t)) * (0.5 + 0.5 * np.sin(2 * np.pi * 4 * t)) ** 2
    talk = (0.2 * voiced).astype(np.float32)[None, :]
    room = (1e-4 * rng.standard_normal((1, int(2.5 * RATE)))).astype(np.float32)
    session.add_track("talk", Audio(np.concatenate([talk, room, talk], axis=1), RATE))
    record = run_call(session, "remove_disfluencies", {"kinds": ["pause"], "track": "talk"})
    assert record.ok, record.text
    assert session.track("talk").duration_s < 5.5 - 1.0, record.text  # most of the pause is gone
