"""add_reverb: the decay asked for, the wet level, the tail, an impulse-response file."""

from __future__ import annotations

import numpy as np
import pytest

from tools.add_reverb import add_reverb
from tools.algorithms.room import schroeder_rt60
from tools.core.audio import Audio, save
from tools.core.errors import ToolArgumentError

RATE = 16_000


def _impulse(channels=1, seconds=0.5):
    x = np.zeros((channels, int(seconds * RATE)), np.float32)
    x[:, 100] = 1.0
    return Audio(x, RATE)


@pytest.mark.parametrize("decay_s", [0.4, 2.0])
def test_decay_time_and_wet_level(decay_s):
    audio = _impulse(channels=2)
    before = audio.samples.copy()
    out, reverb = add_reverb(audio, decay_s=decay_s, wet_db=-6)
    wet = out.samples.copy()
    wet[:, 100] -= 1.0
    measured = np.mean([schroeder_rt60(wet, RATE, band_hz=b) for b in (500, 1000)])
    assert measured == pytest.approx(decay_s, rel=0.1)
    assert 10 * np.log10(np.sum(wet[0] ** 2)) == pytest.approx(-6, abs=0.1)
    assert out.num_samples == audio.num_samples + reverb.ir.shape[-1]
    assert abs(np.corrcoef(wet[0], wet[1])[0, 1]) < 0.2  # a wide stereo tail
    np.testing.assert_array_equal(audio.samples, before)


def test_presets_room_size_and_no_tail():
    out, reverb = add_reverb(_impulse(), preset="big_hall", keep_tail=False)
    assert out.num_samples == _impulse().num_samples and "2.80 s" in reverb.label
    _, small = add_reverb(_impulse(), room_size=0.0)
    assert "0.20 s" in small.label


def test_impulse_response_file(tmp_path):
    ir = np.zeros(RATE // 2, np.float32)
    ir[0], ir[800] = 1.0, 0.5  # a direct path and one reflection 50 ms later
    path = save(Audio(ir[None], RATE), tmp_path / "ir.wav")
    out, _ = add_reverb(_impulse(), impulse_response=str(path), wet_db=0, dry_db=-80)
    y = out.samples[0]
    assert y[100 + 800] / y[100] == pytest.approx(0.5, abs=0.01)
    with pytest.raises(ToolArgumentError, match="no such file"):
        add_reverb(_impulse(), impulse_response=str(tmp_path / "missing.wav"))
