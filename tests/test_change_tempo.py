"""change_tempo: Rubber Band time stretch with the pitch kept, in pieces on long files."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import harmonic

from tools.algorithms.pitch import f0_ratio
from tools.algorithms.streaming import collect
from tools.algorithms.stretch import stretch_blocks
from tools.change_tempo import change_tempo
from tools.core.audio import Audio
from tools.core.errors import ToolArgumentError
from tools.registry import validate_call

RATE = 16_000


def _tone(seconds=2.0, channels=1):
    y = harmonic(seconds, f0=220.0, rate=RATE)
    return Audio.from_array(np.tile(y, (channels, 1)), RATE)


@pytest.mark.parametrize("ratio", [1.1, 0.8])
def test_length_follows_the_ratio_and_pitch_stays(ratio):
    audio = _tone(channels=2)
    before = audio.samples.copy()
    out = change_tempo(audio, tempo_ratio=ratio)
    assert out.num_samples == round(audio.num_samples / ratio)
    assert out.channels == 2 and out.sample_rate == RATE
    assert f0_ratio(audio.samples, out.samples, RATE) == pytest.approx(1.0, abs=0.01)
    np.testing.assert_array_equal(audio.samples, before)
    assert np.all(np.isfinite(out.samples))


def test_target_duration():
    out = change_tempo(_tone(), target_duration_s=2.5)
    assert out.duration_s == pytest.approx(2.5, abs=1 / RATE)


def test_pieces_join_without_holes():
    audio = _tone(5.0)
    out = collect(stretch_blocks(audio.samples, RATE, tempo_ratio=1.1, segment_s=1.0), 1)
    assert out.shape[-1] == round(audio.num_samples / 1.1)
    frame = int(0.02 * RATE)
    body = out[0, frame * 5:-frame * 5]
    rms = np.sqrt(np.square(body[:body.size // frame * frame]).reshape(-1, frame).mean(axis=1))
    assert np.all(np.abs(20 * np.log10(rms / np.median(rms))) < 1.5)  # no dropouts or bumps


def test_arguments_are_checked():
    with pytest.raises(ToolArgumentError, match="exactly one of tempo_ratio"):
        validate_call("change_tempo", {"tempo_ratio": 1.1, "target_duration_s": 3})
    with pytest.raises(ToolArgumentError, match="tempo_ratio=5"):
        validate_call("change_tempo", {"tempo_ratio": 5})
    with pytest.raises(ToolArgumentError, match="target_duration_s=100 is 50.00 times"):
        change_tempo(_tone(), target_duration_s=100)
