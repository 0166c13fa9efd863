"""The loudness, format and information tools: normalize_loudness, convert, info."""

from __future__ import annotations

import numpy as np
import pyloudnorm
import pytest
from conftest import bursts, percussive, sine

from tools.convert import convert
from tools.core.audio import Audio, load
from tools.core.dsp import integrated_loudness, rms_db, true_peak_db
from tools.core.errors import ToolError
from tools.gain import gain
from tools.info import info
from tools.normalize_loudness import normalize_loudness
from tools.registry import call_tool

RATE = 48_000


# ----------------------------------------------------------------------------- normalize_loudness


class TestNormalizeLoudness:
    @pytest.mark.parametrize(("target", "ceiling"), [(-9.0, -1.0), (-14.0, -3.0)])
    def test_loud_percussive_content_is_limited_to_the_target(self, target, ceiling):
        audio = percussive()
        out, report = normalize_loudness(audio, target_lufs=target, true_peak_db=ceiling)
        assert report["limited"] and report["reached"]
        assert integrated_loudness(out.samples, RATE) == pytest.approx(target, abs=0.5)
        assert true_peak_db(out.samples, RATE) <= ceiling + 0.1
        reference = pyloudnorm.Meter(RATE).integrated_loudness(out.samples.T.astype(np.float64))
        assert reference == pytest.approx(target, abs=0.6)  # an independent meter agrees
        assert np.all(np.isfinite(out.samples))

    @pytest.mark.parametrize("target", [-16.0, -12.0])
    def test_quiet_speech(self, speech_wav, target):
        speech = gain(load(speech_wav), gain_db=-25.0)
        out, report = normalize_loudness(speech, target_lufs=target, true_peak_db=-1.0)
        assert report["input_lufs"] < -40 and report["limited"] and report["reached"]
        assert integrated_loudness(out.samples, out.sample_rate) == pytest.approx(target, abs=0.5)
        assert true_peak_db(out.samples, out.sample_rate) <= -0.9
        assert out.num_samples == speech.num_samples
        assert np.all(np.isfinite(out.samples))

    def test_without_limiting_it_is_a_plain_gain(self):
        audio = sine(1000.0, amplitude=0.05, fade_ms=0)
        out, report = normalize_loudness(audio, target_lufs=-23.0)
        assert not report["limited"]
        assert integrated_loudness(out.samples, RATE) == pytest.approx(-23.0, abs=0.05)
        np.testing.assert_allclose(out.samples, audio.samples * 10 ** (report["gain_db"] / 20),
                                   rtol=1e-6, atol=1e-9)

    def test_an_unreachable_target_is_reported(self, session, speech_wav):
        """Speech cannot reach -5 LUFS under a -1 dBTP ceiling without crushing it: the tool
        says so instead of claiming the target."""
        session.commit({"take": load(speech_wav)}, tool="test", summary="speech")
        before = session.audio()
        result = call_tool(session, "normalize_loudness", {"target_lufs": -5})
        out = session.audio()
        assert not result.data["reached"] and result.data["output_lufs"] < -5.5
        assert "could not reach -5 LUFS under a -1 dBTP ceiling" in result.text
        rate = out.sample_rate
        assert integrated_loudness(out.samples, rate) > integrated_loudness(before.samples, rate) + 5
        assert true_peak_db(out.samples, rate) <= -0.9
        assert np.all(np.isfinite(out.samples))

    def test_silence_is_refused(self):
        with pytest.raises(ToolError, match="silent or shorter than 0.4 s"):
            normalize_loudness(Audio(np.zeros((1, RATE), np.float32), RATE), target_lufs=-16)


# ----------------------------------------------------------------------------- convert


class TestConvert:
    def test_to_mono_is_the_mean(self):
        stereo = Audio(np.concatenate([sine(440.0).samples, sine(660.0, amplitude=0.2).samples]), RATE)
        mono = convert(stereo, channels=1)
        assert (mono.channels, mono.num_samples, mono.sample_rate) == (1, RATE, RATE)
        np.testing.assert_allclose(mono.samples[0], stereo.samples.mean(axis=0), atol=1e-7)

    def test_to_stereo_copies_mono(self):
        out = convert(sine(), channels=2)
        assert out.channels == 2
        np.testing.assert_array_equal(out.samples[0], out.samples[1])
        np.testing.assert_array_equal(out.samples[0], sine().samples[0])

    def test_to_48k(self):
        tone = sine(1000.0, sample_rate=44_100, amplitude=0.5)
        out = convert(tone, sample_rate_hz=48_000)
        assert out.sample_rate == 48_000 and abs(out.num_samples - 48_000) <= 1
        spectrum = np.abs(np.fft.rfft(out.samples[0] * np.hanning(out.num_samples)))
        assert np.argmax(spectrum) * 48_000 / out.num_samples == pytest.approx(1000.0, abs=1.0)
        assert rms_db(out.samples[:, 12_000:36_000]) == pytest.approx(rms_db(tone.samples[:, 11_025:33_075]), abs=0.05)
        assert np.all(np.isfinite(out.samples))

    def test_both_at_once_through_the_registry(self, session):
        call_tool(session, "convert", {"sample_rate_hz": 16_000, "channels": 2})
        out = session.audio()
        assert (out.sample_rate, out.channels) == (16_000, 2)
        assert out.duration_s == pytest.approx(2.0, abs=1e-4)


# ----------------------------------------------------------------------------- info


class TestInfo:
    def test_a_1_khz_sine_at_minus_20_dbfs(self):
        facts = info(sine(1000.0, duration_s=1.0, amplitude=0.1, fade_ms=0))
        assert facts["duration_s"] == 1.0 and facts["samples"] == RATE
        assert (facts["sample_rate_hz"], facts["channels"]) == (RATE, 1)
        assert facts["peak_db"] == pytest.approx(-20.0, abs=0.01)
        assert facts["rms_db"] == pytest.approx(-23.01, abs=0.01)
        assert facts["true_peak_db"] == pytest.approx(-20.0, abs=0.05)
        assert facts["integrated_lufs"] == pytest.approx(-23.01, abs=0.05)

    @pytest.mark.parametrize("rate", [44_100, 48_000, 96_000])
    def test_full_scale_997_hz_sine_reads_minus_3_01_lufs(self, rate):
        """BS.1770-4: a 0 dBFS 997 Hz sine in one channel reads -3.01 LUFS."""
        facts = info(sine(997.0, duration_s=2.0, sample_rate=rate, amplitude=1.0, fade_ms=0))
        assert facts["integrated_lufs"] == pytest.approx(-3.01, abs=0.02)

    def test_two_channels_read_3_db_louder(self):
        facts = info(sine(1000.0, amplitude=0.1, fade_ms=0, channels=2))
        assert facts["integrated_lufs"] == pytest.approx(-20.0, abs=0.05)

    def test_under_400_ms_has_no_loudness(self):
        assert info(sine(duration_s=0.3))["integrated_lufs"] is None

    def test_agrees_with_pyloudnorm_on_noise(self):
        audio = bursts(3.0, channels=2, seed=4)
        reference = pyloudnorm.Meter(RATE).integrated_loudness(audio.samples.T.astype(np.float64))
        # pyloudnorm's high-pass has unity gain where BS.1770's has +0.04 dB
        assert integrated_loudness(audio.samples, RATE) - reference == pytest.approx(0.04, abs=0.02)

    def test_through_the_registry_edits_nothing(self, session):
        result = call_tool(session, "info", {})
        assert result.data["duration_s"] == 2.0 and result.data["channels"] == 1
        assert result.text.startswith("take: 0:02.000")
        assert len(session.history()) == 1
