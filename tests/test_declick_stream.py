"""declick streams: the session tool reads the track window by window and stores the result block
by block, and the output equals one whole-array pass (the repairs made in time order, each seeing
the ones before it) to within 1e-6, at block edges too. Finding nothing refuses and leaves no
version behind."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import REPAIR_RATE as RATE
from conftest import harmonic, mono

from tools import declick as dc
from tools.algorithms import ar
from tools.core.audio import Audio
from tools.core.errors import ToolError
from tools.core.session import Session
from tools.core.versions import TrackView
from tools.registry import call_tool

DURATION_S = 24.0
BLOCK = int(dc.BLOCK_S * RATE)


def clicked_track() -> tuple[np.ndarray, list[int]]:
    """Two channels of a harmonic tone with 2-sample clicks, some right at block edges."""
    left, right = harmonic(DURATION_S), harmonic(DURATION_S, f0=247.0, seed=3)
    positions = [int(s * RATE) for s in np.arange(0.4, DURATION_S - 0.5, 1.37)]
    positions += [k * BLOCK + d for k, d in ((3, -1), (7, 0), (11, 2), (15, -5), (19, 40))]
    for i, p in enumerate(sorted(positions)):
        (left if i % 2 else right)[p:p + 2] += 0.3 * (1 if i % 3 else -1)
    return np.stack([left, right]).astype(np.float32), sorted(positions)


def whole_array_pass(samples: np.ndarray) -> tuple[np.ndarray, list[tuple[int, int, int]]]:
    """The reference: per channel, detection block by block on the input and every repair
    written into one whole-track output array, in time order."""
    threshold, min_level_db = dc.settings_for(0.5)
    max_click = int(5e-3 * RATE)
    margin = max(int(dc.MODEL_WINDOW_S * RATE), 64) + int(dc.SCALE_WINDOW_S * RATE) + max_click
    out = samples.copy()
    found = []
    for c, x in enumerate(samples):
        for begin in range(0, x.size, BLOCK):
            lo, hi = max(begin - margin, 0), min(begin + BLOCK + margin, x.size)
            for s, e in dc.detect_clicks(x[lo:hi].astype(np.float64), RATE, threshold=threshold,
                                         min_level_db=min_level_db, max_click=max_click):
                if begin <= lo + s < begin + BLOCK:
                    out[c, lo + s:lo + e] = ar.interpolate_short_gap(out[c], lo + s, lo + e,
                                                                     sample_rate=RATE)
                    found.append((c, lo + s, lo + e))
    return out, sorted(found)


def test_streamed_session_output_equals_the_whole_array_pass(tmp_path, monkeypatch):
    samples, positions = clicked_track()
    expected, spans = whole_array_pass(samples)
    assert len(spans) == len(positions)  # every click, the ones on block edges included
    for p in positions:
        assert any(s <= p and p + 2 <= e for _, s, e in spans)

    in_memory = dc.declick(Audio.from_array(samples, RATE))
    assert np.max(np.abs(in_memory.audio.samples - expected)) <= 1e-6
    assert list(in_memory.clicks) == spans

    windows: list[int] = []
    real_read = TrackView.read

    def spy(self, start, stop):
        windows.append(stop - start)
        return real_read(self, start, stop)

    with Session.create(tmp_path / "session") as session:
        session.add_track("take", Audio.from_array(samples, RATE))
        monkeypatch.setattr(TrackView, "read", spy)
        result = call_tool(session, "declick", {})
        monkeypatch.setattr(TrackView, "read", real_read)
        assert result.data["clicks"] == len(spans)
        assert f"repaired {len(spans)} click(s) at " in result.text
        out = session.audio().samples
    assert out.shape == samples.shape
    assert np.max(np.abs(out - expected)) <= 1e-6
    # the tool read windows of about a block, never the whole 24 s track
    assert windows and max(windows) <= BLOCK + 0.3 * RATE


def test_finding_nothing_refuses_and_leaves_no_version(tmp_path):
    clean = mono(harmonic(6.0, noise_db=-50))
    with Session.create(tmp_path / "session") as session:
        session.add_track("take", clean)
        steps, head, stored = len(session.history()), session.head(), session.disk_bytes()
        with pytest.raises(ToolError, match=r"^found no clicks: none stands out .* sensitivity 0.5 "):
            call_tool(session, "declick", {})
        assert len(session.history()) == steps and session.head() == head
        assert session.disk_bytes() == stored  # the blocks written while looking were dropped
        np.testing.assert_array_equal(session.audio().samples, clean.samples)
        clicked = clean.samples.copy()
        clicked[0, 40_000:40_002] += 0.3
        session.add_track("clicked", Audio.from_array(clicked, RATE))
        assert call_tool(session, "declick", {"track": "clicked"}).data["clicks"] == 1
        assert len(session.history()) == steps + 2
