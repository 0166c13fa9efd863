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
