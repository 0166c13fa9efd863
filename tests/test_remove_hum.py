"""remove_hum: 50/60 Hz found, every harmonic notched 30 dB or more, the rest kept."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import bursts

from evals.metrics import si_sdr_db
from tools.core.audio import Audio
from tools.core.errors import ToolError
from tools.remove_hum import remove_hum

RATE = 16_000


def _hum(f0, n, harmonics=8, level=0.02):
    t = np.arange(n) / RATE
    return sum(level * 0.8 ** (k - 1) * np.sin(2 * np.pi * f0 * k * t + k)
               for k in range(1, harmonics + 1))


def _level_at(x, f):
    t = np.arange(x.shape[-1]) / RATE
    return abs(np.mean(x * np.exp(-2j * np.pi * f * t)))


@pytest.mark.parametrize("f0", [50.0, 60.0, 59.97])
def test_hum_found_and_removed(f0):
    clean = bursts(8.0, sample_rate=RATE, seed=3).samples[0]
    hummed = clean + _hum(f0, clean.size)
    audio = Audio.from_array(np.stack([hummed, hummed]), RATE)
    before = audio.samples.copy()
    out, hum = remove_hum(audio)
    assert hum.fundamental_hz == pytest.approx(f0, abs=0.005) and len(hum.harmonics) >= 8
    for k in range(1, 9):
        drop = 20 * np.log10(_level_at(hummed, k * f0) / _level_at(out.samples[0], k * f0))
        assert drop >= 30, (k, drop)
    assert si_sdr_db(clean[None], out.samples[:1]) > si_sdr_db(clean[None], hummed[None]) + 15
    np.testing.assert_array_equal(audio.samples, before)


def test_no_hum_is_said_and_a_given_fundamental_still_works():
    clean = Audio.from_array(bursts(4.0, sample_rate=RATE).samples, RATE)
    with pytest.raises(ToolError, match="found no mains hum"):
        remove_hum(clean)
    out, hum = remove_hum(clean, fundamental_hz=50)
    assert abs(hum.fundamental_hz - 50) <= 0.5 and out.num_samples == clean.num_samples
