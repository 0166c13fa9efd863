"""gate: the pauses turned down by the reduction, the sound passing, threshold from the floor."""

from __future__ import annotations

import numpy as np
import pytest

from tools.core.audio import Audio
from tools.gate import auto_threshold_db, gate

RATE = 16_000


def _phrases(channels=1):
    """0.5 s tones at -10 dBFS separated by 0.5 s pauses of -50 dBFS noise."""
    rng = np.random.default_rng(1)
    n = 4 * RATE
    y = rng.standard_normal((channels, n)) * 10 ** (-50 / 20)
    t = np.arange(n) / RATE
    on = (t % 1.0) < 0.5
    y[:, on] += 0.45 * np.sin(2 * np.pi * 300 * t[on])
    return Audio.from_array(y, RATE), on


def _db(x):
    return 10 * np.log10(np.mean(np.square(x, dtype=np.float64)))


def test_pauses_drop_by_the_reduction_and_phrases_pass():
    audio, on = _phrases(channels=2)
    before = audio.samples.copy()
    out, settings = gate(audio, reduction_db=20)
    assert -52 < settings.noise_floor_db < -48 and settings.threshold_db < -30
    t = np.arange(audio.num_samples) / RATE
    pause = (~on) & ((t % 1.0) > 0.8) & ((t % 1.0) < 0.95)  # after the release, before opening
    assert _db(before[0, pause]) - _db(out.samples[0, pause]) == pytest.approx(20, abs=1.0)
    word = on & ((t % 1.0) > 0.02)
    assert abs(_db(before[0, word]) - _db(out.samples[0, word])) < 0.1
    np.testing.assert_array_equal(audio.samples, before)


def test_lookahead_opens_before_the_word():
    audio, on = _phrases()
    out, _ = gate(audio, reduction_db=60, lookahead_ms=5)
    start = int(1.0 * RATE)  # a word starts here
    np.testing.assert_allclose(out.samples[0, start:start + 80], audio.samples[0, start:start + 80],
                               rtol=0.05, atol=1e-4)


def test_threshold_sits_between_floor_and_level():
    audio, _ = _phrases()
    threshold, floor, loud = auto_threshold_db(audio.samples, RATE)
    assert floor < threshold < loud and threshold == pytest.approx(floor + 10, abs=0.5)
