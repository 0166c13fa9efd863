"""dereverb: WPE plus late-tail suppression brings reverberant sound closer to the dry one."""

from __future__ import annotations

import numpy as np
from conftest import bursts
from scipy.signal import fftconvolve

from evals.metrics import si_sdr_db
from tools.algorithms.room import synthetic_ir
from tools.core.audio import Audio
from tools.dereverb import dereverb

RATE = 16_000


def _reverberant(dry, decay_s=1.0):
    ir = synthetic_ir(RATE, decay_s=decay_s, seed=4)[0]
    wet = fftconvolve(dry, ir)[:dry.size]
    return dry + wet  # direct sound and the room at equal energy


def test_reverberant_gets_closer_to_dry_and_dry_is_kept():
    dry = bursts(5.0, sample_rate=RATE, seed=5).samples[0]
    wet = _reverberant(dry)
    audio = Audio.from_array(np.stack([wet, wet]), RATE)
    before = audio.samples.copy()
    out, settings = dereverb(audio)
    assert out.samples.shape == audio.samples.shape and np.all(np.isfinite(out.samples))
    assert si_sdr_db(dry[None], out.samples[:1]) > si_sdr_db(dry[None], wet[None]) + 1.0
    assert settings.estimated and 0.2 <= settings.decay_s <= 2.0
    np.testing.assert_array_equal(audio.samples, before)
    kept, _ = dereverb(Audio.from_array(dry, RATE), strength="light")
    assert si_sdr_db(dry[None], kept.samples) > 15
