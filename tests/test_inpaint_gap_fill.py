"""Speech gap fills of tools/algorithms/gap_fill.py (``ar_pitch``, ``periodic``) and the default
method by gap length, asserted by numbers on generated voiced signals: SNR and log-spectral
distance in a 100 ms gap against leaving it silent, the pitch period found, and every sample
outside the gap untouched."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import REPAIR_RATE as RATE
from conftest import assert_untouched_and_finite, harmonic, mono

from evals.metrics import log_spectral_distance_db, snr_db
from tools.algorithms import gap_fill
from tools.core.errors import ToolError
from tools.inpaint import choose_method, fill_span, inpaint_gap

START, STOP = 16_000, 17_600  # 100 ms at 16 kHz


def voiced(duration_s: float = 2.0, *, rate: int = RATE) -> np.ndarray:
    """A vowel-like tone: 6 harmonics of an f0 gliding 150 -> 190 Hz, under a 3 Hz swell, so no
    stretch of it repeats another (a copy cannot fill it)."""
    t = np.arange(int(duration_s * rate)) / rate
    phase = 2 * np.pi * (150 * t + 10 * t**2)
    y = sum(0.3 / k * np.sin(k * phase + k) for k in range(1, 7))
    return y * (0.7 + 0.3 * np.sin(2 * np.pi * 3 * t)) + np.random.default_rng(2).standard_normal(
        t.size) * 1e-3


@pytest.mark.parametrize("method,min_snr_db,max_lsd_db", [("ar_pitch", 6.0, 14.0),
                                                          ("periodic", 6.0, 9.0)])
def test_a_100_ms_gap_in_a_voiced_tone_beats_silence(method, min_snr_db, max_lsd_db):
    y = voiced()
    damaged = y.copy()
    damaged[START:STOP] = 0.0
    audio = mono(damaged)
    before = audio.samples.copy()
    done = inpaint_gap(audio, start_s=1.0, end_s=1.1, method=method)
    assert done.method == method
    assert_untouched_and_finite(before, audio, done.audio)
    out = done.audio.samples[0].astype(np.float64)
    reference = y[START:STOP]
    silence_lsd = log_spectral_distance_db(reference[None], np.zeros((1, STOP - START)), RATE)
    assert snr_db(reference, out[START:STOP]) > min_snr_db  # silence scores 0 dB (measured 9.5)
    lsd = log_spectral_distance_db(reference[None], out[None, START:STOP], RATE)
    assert lsd < max_lsd_db and lsd < silence_lsd - 10.0
    # every sample outside the gap is exactly the input
    np.testing.assert_array_equal(out[:START], audio.samples[0, :START])
    np.testing.assert_array_equal(out[STOP:], audio.samples[0, STOP:])


def test_fill_span_writes_only_the_gap_and_each_channel_alone():
    left, right = voiced(), harmonic(f0=220.0)
    stereo = np.stack([left, right])
    for method in ("ar_pitch", "periodic"):
        fill = fill_span(stereo, START, STOP, RATE, method=method)
        assert (fill.start, fill.stop, fill.samples.shape) == (START, STOP, (2, STOP - START))
        alone = fill_span(right[None], START, STOP, RATE, method=method)
        np.testing.assert_allclose(fill.samples[1], alone.samples[0], atol=1e-12)


@pytest.mark.parametrize("f0", [110.0, 196.0, 310.0])
def test_pitch_period_of_a_harmonic_tone(f0):
    period, corr = gap_fill.pitch_period(harmonic(0.2, f0=f0), RATE)
    assert period == pytest.approx(RATE / f0, abs=1.0)
    assert corr > 0.99


def test_the_default_by_gap_length_and_its_limits():
    y = voiced(3.0)
    assert choose_method(y[None], START, START + 160, RATE) == "ar"          # 10 ms
    assert choose_method(y[None], START, START + 320, RATE) == "periodic"    # 20 ms
    assert choose_method(y[None], START, START + 800, RATE) == "ar_pitch"    # 50 ms
    assert choose_method(y[None], START, START + 1600, RATE) == "ar_pitch"   # 100 ms
    assert choose_method(y[None], START, START + 4000, RATE) == "ar_pitch"   # 250 ms
    assert choose_method(y[None], START, START + 6400, RATE) == "similarity"  # 400 ms
    assert fill_span(y[None], START, START + 4000, RATE).method == "ar_pitch"
    with pytest.raises(ToolError, match="the gap is 400 ms, longer than periodic can fill"):
        fill_span(y[None], START, START + 6400, RATE, method="periodic")


def test_a_gap_at_the_very_start_falls_back_and_stays_finite():
    y = voiced()
    fill = gap_fill.ar_pitch_fill(y, 40, 40 + 800, sample_rate=RATE)
    assert fill.shape == (800,) and np.all(np.isfinite(fill))
    fill = gap_fill.pitch_fill(y, 40, 40 + 800, sample_rate=RATE)
    assert fill.shape == (800,) and np.all(np.isfinite(fill))
