"""compress: static curve, stereo link, automatic make-up, the leveler preset."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import bursts

from tools.compress import compress
from tools.core.audio import Audio
from tools.core.dsp import integrated_loudness
from tools.registry import validate_call

RATE = 16_000


def _db(x):
    return 10 * np.log10(np.mean(np.square(x, dtype=np.float64)))


def test_steady_level_follows_the_ratio():
    t = np.arange(2 * RATE) / RATE
    y = (0.5 * np.sin(2 * np.pi * 500 * t)).astype(np.float32)  # peak -6 dBFS
    out, _ = compress(Audio(y[None], RATE), threshold_db=-16, ratio=4, attack_ms=1,
                      release_ms=50, makeup_db=0)
    # 10 dB over the threshold comes out 2.5 dB over it (peak level)
    peak = 20 * np.log10(np.abs(out.samples[0, RATE:]).max())
    assert peak == pytest.approx(-16 + 10 / 4, abs=0.5)


def test_channels_share_one_gain():
    loud = bursts(2.0, sample_rate=RATE).samples[0]
    out, _ = compress(Audio(np.stack([loud, 0.1 * loud]), RATE), preset="heavy")
    ratio = out.samples[1] / np.where(np.abs(out.samples[0]) > 1e-6, out.samples[0], np.nan)
    assert np.nanmax(np.abs(ratio - 0.1)) < 1e-4  # the stereo image stays


@pytest.mark.parametrize("level", [1.0, 0.02])  # 0.02: a track 34 dB quieter
def test_level_out_the_voice_evens_quiet_and_loud_and_keeps_the_loudness(level):
    y = level * bursts(6.0, sample_rate=RATE).samples[0].copy()
    y[3 * RATE:] *= 0.25  # the second half 12 dB quieter
    audio = Audio(y[None], RATE)
    out, settings = compress(audio, preset="level_voice")
    before = _db(y[:3 * RATE]) - _db(y[3 * RATE:])
    after = _db(out.samples[0, :3 * RATE]) - _db(out.samples[0, 3 * RATE:])
    assert before == pytest.approx(12.0, abs=0.2) and after < 5.0
    # the make-up gives back the integrated loudness (it gave back an energy average: 1-4 LU
    # short on real speech, and on quiet tracks BS.1770's absolute gate made it worse)
    assert abs(integrated_loudness(out.samples, RATE) - integrated_loudness(y[None], RATE)) < 0.3
    assert len(settings.stages) == 2


def test_schema():
    assert validate_call("compress", {"preset": "level_voice"})[1].preset == "level_voice"
