"""change_speed: varispeed, pitch and tempo together."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import harmonic

from tools.algorithms.pitch import median_f0
from tools.change_speed import change_speed
from tools.core.audio import Audio
from tools.core.errors import ToolArgumentError
from tools.registry import validate_call

RATE = 16_000


@pytest.mark.parametrize("ratio, channels", [(1.5, 1), (0.8, 2), (2.0, 3)])
def test_speed_moves_duration_and_pitch_together(ratio, channels):
    audio = Audio.from_array(np.tile(harmonic(2.0, f0=150.0, rate=RATE), (channels, 1)), RATE)
    before = audio.samples.copy()
    out = change_speed(audio, speed_ratio=ratio)
    assert out.num_samples == round(audio.num_samples / ratio)
    assert median_f0(out.samples, RATE) == pytest.approx(150.0 * ratio, rel=0.005)
    np.testing.assert_array_equal(audio.samples, before)
    assert np.all(np.isfinite(out.samples))


def test_semitones_give_the_ratio(session):
    before = session.audio().num_samples
    result = validate_call("change_speed", {"semitones": 12})[1]
    assert result.semitones == 12
    from tools.registry import call_tool

    call_tool(session, "change_speed", {"semitones": 12})
    assert session.audio().num_samples == round(before / 2)


def test_one_of_ratio_or_semitones():
    with pytest.raises(ToolArgumentError, match="exactly one of speed_ratio"):
        validate_call("change_speed", {})
