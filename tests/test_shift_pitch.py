"""shift_pitch: semitones up or down, the duration kept."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import assert_untouched_and_finite, harmonic

from tools.algorithms.pitch import f0_ratio, median_f0
from tools.core.audio import Audio
from tools.core.errors import ToolArgumentError
from tools.registry import validate_call
from tools.shift_pitch import shift_pitch

RATE = 22_050


@pytest.mark.parametrize("semitones", [-1.0, 2.0, 12.0])
def test_f0_moves_by_the_semitones_and_length_stays(semitones):
    audio = Audio.from_array(np.tile(harmonic(2.0, f0=196.0, rate=RATE), (2, 1)), RATE)
    before = audio.samples.copy()
    out = shift_pitch(audio, semitones=semitones)
    assert out.num_samples == audio.num_samples
    assert f0_ratio(audio.samples, out.samples, RATE, fmax_hz=900) == pytest.approx(
        2 ** (semitones / 12), rel=0.005)
    assert_untouched_and_finite(before, audio, out)


def test_without_formants_still_shifts():
    audio = Audio.from_array(harmonic(1.5, f0=150.0, rate=RATE), RATE)
    out = shift_pitch(audio, semitones=-3, preserve_formants=False)
    assert median_f0(out.samples, RATE) == pytest.approx(150 * 2 ** (-3 / 12), rel=0.01)


def test_range_is_checked():
    with pytest.raises(ToolArgumentError, match="semitones=30"):
        validate_call("shift_pitch", {"semitones": 30})
