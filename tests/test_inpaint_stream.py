"""inpaint_gap in a session reads only the gap's search window and commits an edit list: the same
fill as on the whole track in memory (times of a copied source in track seconds), and the session
stores only the filled span."""

from __future__ import annotations

import numpy as np
import pytest

import tools.inpaint as inpaint
from agent.base import run_call
from tools.core.audio import Audio
from tools.core.session import Session

RATE = 8_000


def _melody(seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    notes = 220 * 2 ** (np.floor(t / 0.25) % 8 / 12)  # a 2 s phrase, repeated
    return (0.3 * np.sin(2 * np.pi * np.cumsum(notes) / RATE))[None].astype(np.float32)


@pytest.mark.parametrize("start_s, end_s", [(30.0, 30.01), (29.0, 29.6)])  # ar; similarity
def test_inpaint_in_a_session_reads_a_window(tmp_path, monkeypatch, start_s, end_s):
    monkeypatch.setattr(inpaint, "SEARCH_RADIUS_S", 5.0)  # the window: 12 s of a 40 s track
    x = _melody(40.0)
    x[:, int(start_s * RATE):int(end_s * RATE)] = 0.0
    expected = inpaint.inpaint_gap(Audio(x, RATE), start_s=start_s, end_s=end_s)
    with Session.create(tmp_path / "s") as session:
        session.add_track("t", Audio(x, RATE))
        before = sum(p.stat().st_size for p in (tmp_path / "s").rglob("*.pack"))

        def whole_read(*args, **kwargs):
            raise AssertionError("a whole-track read")

        monkeypatch.setattr(Session, "audio", whole_read)
        record = run_call(session, "inpaint_gap", {"start_s": start_s, "end_s": end_s})
        assert record.ok, record.text
        out = session.track().read(0, x.shape[1])
        grown = sum(p.stat().st_size for p in (tmp_path / "s").rglob("*.pack")) - before
    assert record.data["method"] == expected.method == ("ar" if end_s - start_s < 0.05
                                                         else "similarity")
    assert np.max(np.abs(out - expected.audio.samples)) < 1e-6
    assert grown < 0.05 * x.nbytes
    if expected.method == "similarity":  # copied from a repeat of the phrase, in track seconds
        source_s = record.data["source_s"]
        assert source_s == pytest.approx(expected.details["source_s"])
        assert abs(source_s - start_s) >= 1.0 and (source_s - start_s) % 2.0 == pytest.approx(
            0.0, abs=0.01) or (source_s - start_s) % 2.0 == pytest.approx(2.0, abs=0.01)
