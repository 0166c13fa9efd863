"""repair_dropouts reads a window at a time and commits an edit list: runs across scan-block edges
are found, the session tool never reads the whole track, gives what the in-memory pass gives, and
stores only the filled spans."""

from __future__ import annotations

import numpy as np

import tools.inpaint as inpaint
from agent.base import run_call
from tools.core.audio import Audio
from tools.core.session import Session
from tools.dropouts import find_dropouts, repair_dropouts, scan

RATE = 16_000


def _speechy(seconds: float) -> np.ndarray:
    rng = np.random.default_rng(7)
    t = np.arange(int(seconds * RATE)) / RATE
    voice = np.sin(2 * np.pi * 150 * t) + 0.5 * np.sin(2 * np.pi * 300 * t + 0.3)
    x = 0.3 * (1 + 0.5 * np.sin(2 * np.pi * 0.9 * t)) * voice + 0.003 * rng.standard_normal(t.size)
    return np.stack([x, x[::-1]]).astype(np.float32)


def test_runs_across_block_edges():
    x = _speechy(70.0)  # scan blocks of 2**20 samples (~65.5 s at 16 kHz): one edge
    edge = (1 << 20) // 800 * 800
    x[0, edge - 40:edge + 60] = 0.0  # a 100-sample dropout across the edge
    runs, powers = scan(x, RATE, 8)
    assert (edge - 40, edge + 60, 0.0) in runs[0]
    assert powers[0].size == x.shape[1] // 800
    assert find_dropouts(x, RATE)[0] == [(edge - 40, edge + 60)]


def test_tool_streams_and_shares_blocks(tmp_path, monkeypatch):
    monkeypatch.setattr(inpaint, "SEARCH_RADIUS_S", 2.0)  # windows of a few seconds in 40 s
    x = _speechy(40.0)
    spans = [(0, 3 * RATE, 40), (1, 11 * RATE, 160), (0, 25 * RATE + 7, 480), (1, 36 * RATE, 32)]
    for c, at, width in spans:
        x[c, at:at + width] = 0.0 if width % 3 else x[c, at]
    expected = repair_dropouts(Audio(x, RATE))
    assert len(expected.dropouts) == 4 and all(d.method for d in expected.dropouts)
    with Session.create(tmp_path / "s") as session:
        session.add_track("t", Audio(x, RATE))
        before = sum(p.stat().st_size for p in (tmp_path / "s").rglob("*.pack"))

        def whole_read(*args, **kwargs):
            raise AssertionError("a whole-track read")

        monkeypatch.setattr(Session, "audio", whole_read)
        result = run_call(session, "repair_dropouts", {})
        assert result.ok and result.data["repaired"] == 4
        out = session.track().read(0, x.shape[1])
        grown = sum(p.stat().st_size for p in (tmp_path / "s").rglob("*.pack")) - before
    assert np.array_equal(out, expected.audio.samples)
    assert grown < 0.05 * x.nbytes  # only the filled spans (with crossfades) are new samples
    for c, at, width in spans:
        assert np.std(out[c, at:at + width]) > 0.05  # filled with sound, not left at one value
