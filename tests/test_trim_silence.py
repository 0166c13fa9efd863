"""trim_silence: leading and trailing quiet removed, the sound and a margin kept."""

from __future__ import annotations

import numpy as np
import pytest

from tools.core.audio import Audio
from tools.core.errors import ToolError
from tools.registry import call_tool
from tools.trim_silence import trim_silence

RATE = 16_000


def _padded(lead_s=1.0, sound_s=2.0, trail_s=1.5, floor=1e-3):
    rng = np.random.default_rng(0)
    n = int((lead_s + sound_s + trail_s) * RATE)
    y = rng.standard_normal((2, n)) * floor  # room tone
    t = np.arange(int(sound_s * RATE)) / RATE
    y[:, int(lead_s * RATE):int(lead_s * RATE) + t.size] += 0.3 * np.sin(2 * np.pi * 220 * t)
    return Audio.from_array(y, RATE)


def test_trims_both_ends_keeping_a_margin():
    audio = _padded()
    before = audio.samples.copy()
    out, plan = trim_silence(audio, keep_ms=100)
    assert plan.start / RATE == pytest.approx(0.9, abs=0.015)
    assert plan.stop / RATE == pytest.approx(3.1, abs=0.015)
    assert out.duration_s == pytest.approx(2.2, abs=0.03) and out.channels == 2
    assert abs(out.samples[0, 0]) < 1e-4  # faded in
    np.testing.assert_array_equal(audio.samples, before)


def test_one_end_and_nothing_to_trim(session):
    out, plan = trim_silence(_padded(), where="end", keep_ms=0)
    assert plan.start == 0 and out.duration_s == pytest.approx(3.0, abs=0.015)
    steps = len(session.history())
    result = call_tool(session, "trim_silence", {})  # a sine from start to end
    assert "nothing changed" in result.text and len(session.history()) == steps


def test_silent_track_is_refused():
    with pytest.raises(ToolError, match="silent from start to end"):
        trim_silence(Audio(np.zeros((1, RATE), np.float32), RATE))
