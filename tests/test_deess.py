"""deess: sibilant bursts turned down, the voiced parts untouched."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import butter, sosfilt

from tools.core.audio import Audio
from tools.core.errors import ToolArgumentError
from tools.deess import deess

RATE = 32_000


def _voice():
    """Voiced 0.3 s vowels (150 Hz harmonics) alternating with 0.15 s 's' (6-10 kHz noise)."""
    rng = np.random.default_rng(2)
    t = np.arange(3 * RATE) / RATE
    vowel = sum(0.2 / k * np.sin(2 * np.pi * 150 * k * t) for k in range(1, 15))
    hiss = sosfilt(butter(6, [6000, 10000], "bandpass", fs=RATE, output="sos"),
                   rng.standard_normal(t.size)) * 0.4
    s_part = (t % 0.45) >= 0.3
    return Audio.from_array(np.where(s_part, hiss, vowel), RATE), s_part


def test_sibilants_turned_down_vowels_kept():
    audio, s_part = _voice()
    before = audio.samples.copy()
    out = deess(audio, max_reduction_db=10)
    edge = int(0.03 * RATE)
    inner = s_part & ~np.convolve(np.diff(s_part.astype(int), prepend=0) != 0,
                                  np.ones(2 * edge), mode="same").astype(bool)
    drop = 10 * np.log10(np.mean(before[0, inner] ** 2) / np.mean(out.samples[0, inner] ** 2))
    assert drop == pytest.approx(10, abs=1.5)
    vowels = ~s_part & ~np.convolve(np.diff(s_part.astype(int), prepend=0) != 0,
                                    np.ones(4 * edge), mode="same").astype(bool)
    err = out.samples[0, vowels] - before[0, vowels]
    assert 10 * np.log10(np.sum(before[0, vowels] ** 2) / np.sum(err ** 2)) > 40
    np.testing.assert_array_equal(audio.samples, before)


def test_band_beyond_the_rate_is_refused():
    with pytest.raises(ToolArgumentError, match="frequency_hz=9000 is beyond"):
        deess(Audio(np.zeros((1, 16_000), np.float32) + 0.01, 16_000), frequency_hz=9000)
