"""equalize: filters measured on an impulse's spectrum at the stated frequencies."""

from __future__ import annotations

import numpy as np
import pytest

from tools.core.audio import Audio
from tools.core.errors import ToolArgumentError
from tools.equalize import equalize
from tools.registry import call_tool, validate_call


def _response_db(out: Audio, freqs) -> list[float]:
    spectrum = np.abs(np.fft.rfft(out.samples[0]))
    grid = np.fft.rfftfreq(out.num_samples, 1 / out.sample_rate)
    return [float(20 * np.log10(np.interp(f, grid, spectrum))) for f in freqs]


def _impulse(rate, channels=1, seconds=2.0):
    x = np.zeros((channels, int(seconds * rate)), np.float32)
    x[:, 0] = 1.0
    return Audio(x, rate)


@pytest.mark.parametrize("rate", [16_000, 48_000])
def test_highpass_cutoff_and_slope(rate):
    hp = _response_db(equalize(_impulse(rate), highpass_hz=100, slope_db_per_octave=48),
                      [50, 100, 1000])
    assert hp[1] == pytest.approx(-3.01, abs=0.1)
    assert hp[0] < -45 and abs(hp[2]) < 0.1
    lp = _response_db(equalize(_impulse(rate), lowpass_hz=3000), [3000, 6000, 500])
    assert lp[0] == pytest.approx(-3.01, abs=0.1) and lp[1] < -23.5  # 24 dB/octave or more


def test_peaks_and_shelves_hit_their_gain():
    out = equalize(_impulse(44_100), bands=[("peak", 1000.0, 6.0, 2.0),
                                            ("low_shelf", 100.0, -4.0, None)])
    peak, far_low, corner = _response_db(out, [1000, 25, 100])
    assert peak == pytest.approx(6.0, abs=0.15)
    assert far_low == pytest.approx(-4.0, abs=0.3) and corner == pytest.approx(-2.0, abs=0.5)


def test_presets():
    tel = _response_db(equalize(_impulse(16_000), preset="telephone"), [100, 1500, 6000])
    assert tel[0] < -20 and tel[1] == pytest.approx(4.0, abs=0.5) and tel[2] < -20
    radio = _response_db(equalize(_impulse(44_100), preset="radio"), [40, 2000, 3400, 12_000])
    assert radio[0] < -20 and radio[1] == pytest.approx(3.0, abs=0.6) and radio[2] > -1
    assert radio[3] < -20  # an AM radio's top ends near 4.5 kHz
    bright = _response_db(equalize(_impulse(48_000), preset="brighten"), [12_000, 200])
    assert bright[0] == pytest.approx(4.0, abs=0.3) and abs(bright[1]) < 0.1


def test_channels_alike_and_input_untouched():
    rng = np.random.default_rng(0)
    y = rng.standard_normal(16_000).astype(np.float32) * 0.1
    stereo = Audio(np.stack([y, y]), 16_000)
    before = stereo.samples.copy()
    out = equalize(stereo, preset="less_boomy")
    np.testing.assert_allclose(out.samples[0], out.samples[1])
    np.testing.assert_allclose(out.samples[0], equalize(Audio(y[None], 16_000),
                                                        preset="less_boomy").samples[0])
    np.testing.assert_array_equal(stereo.samples, before)


def test_bands_past_nyquist_are_left_out_and_said(session):
    result = call_tool(session, "equalize", {"bands": [
        {"type": "high_shelf", "frequency_hz": 23_500, "gain_db": 3, "q": None},
        {"type": "peak", "frequency_hz": 1000, "gain_db": 3, "q": 1}]})
    assert "left out" in result.text and "23500" in result.text
    # with every band past what the track holds there is nothing to do, and it is said so
    with pytest.raises(ToolArgumentError, match="nothing to equalize"):
        call_tool(session, "equalize", {"bands": [{"type": "high_shelf", "frequency_hz": 23_500,
                                                   "gain_db": 3, "q": None}]})


def test_arguments_are_strict():
    with pytest.raises(ToolArgumentError, match="nothing to do"):
        validate_call("equalize", {})
    with pytest.raises(ToolArgumentError, match="unknown argument"):
        validate_call("equalize", {"bands": [{"type": "peak", "frequency_hz": 100, "gain_db": 1,
                                              "width": 2}]})
    with pytest.raises(ToolArgumentError, match="must be below lowpass_hz"):
        equalize(_impulse(16_000), highpass_hz=500, lowpass_hz=400)
