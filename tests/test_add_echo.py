"""add_echo: repeats at the delay, each feedback times the last, the tail rung out."""

from __future__ import annotations

import numpy as np
import pytest

from tools.add_echo import add_echo, tail_s
from tools.core.audio import Audio

RATE = 8_000


def test_repeats_fall_by_the_feedback():
    x = np.zeros((2, RATE), np.float32)
    x[:, 10] = 1.0
    audio = Audio(x, RATE)
    out = add_echo(audio, delay_ms=250, feedback=0.5, wet_db=-6)
    y = out.samples[0]
    echoes = [y[10 + k * 2000] for k in range(1, 4)]
    assert echoes[0] == pytest.approx(10 ** (-6 / 20), rel=0.01)
    assert echoes[1] / echoes[0] == pytest.approx(0.5, rel=0.01)
    assert out.num_samples == RATE + int(tail_s(250, 0.5) * RATE)
    assert np.all(out.samples[1] == out.samples[0])
    np.testing.assert_array_equal(audio.samples[:, :RATE], x)


def test_no_tail_keeps_the_length():
    out = add_echo(Audio(np.ones((1, RATE), np.float32) * 0.1, RATE), keep_tail=False)
    assert out.num_samples == RATE
