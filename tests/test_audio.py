"""The Audio type and its file I/O: validation on construction, round trips through every format,
every sample rate and channel count, resampling, channel conversion, atomic writes."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import noise, sine
from scipy.signal import correlate

from tools.core import audio_write
from tools.core.audio import Audio, load, resample, save, to_channels
from tools.core.dsp import rms_db
from tools.core.errors import AudioInputError, ToolArgumentError, ToolError

needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None,
                                  reason="ffmpeg is not installed (apt-get install ffmpeg)")

RATES = (8_000, 16_000, 22_050, 44_100, 48_000, 96_000, 192_000)


def two_tones(*, sample_rate: int = 48_000, duration_s: float = 1.0) -> Audio:
    """Stereo: 440 Hz left, 660 Hz right (so a swapped or mixed channel shows)."""
    left = sine(440.0, duration_s=duration_s, sample_rate=sample_rate, amplitude=0.5)
    right = sine(660.0, duration_s=duration_s, sample_rate=sample_rate, amplitude=0.3)
    return Audio(np.concatenate([left.samples, right.samples]), sample_rate)


def dominant_hz(samples: np.ndarray, sample_rate: int) -> float:
    """Frequency of the strongest FFT bin of the channel mean (Hann window)."""
    mono = samples.mean(axis=0)
    spectrum = np.abs(np.fft.rfft(mono * np.hanning(mono.size)))
    return float(np.argmax(spectrum) * sample_rate / mono.size)


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-y", *args], check=True,
                   capture_output=True)


# ----------------------------------------------------------------------------- validation


class TestValidation:
    @pytest.mark.parametrize("shape", [(100,), (1, 2, 50), (0, 100)])
    def test_shape_must_be_channels_by_samples(self, shape):
        with pytest.raises(ValueError, match=r"channel"):
            Audio(np.zeros(shape, np.float32), 48_000)

    @pytest.mark.parametrize("dtype", [np.float64, np.int16, np.int32, np.float16])
    def test_dtype_must_be_float32(self, dtype):
        with pytest.raises(ValueError, match=rf"float32, got {np.dtype(dtype).name}"):
            Audio(np.zeros((1, 100), dtype), 48_000)

    def test_samples_must_be_an_array(self):
        with pytest.raises(TypeError, match="numpy array, got list"):
            Audio([[0.0, 0.1]], 48_000)

    @pytest.mark.parametrize("rate", [0, -48_000, 999, 1_000_000, 44_100.0, "48000", None])
    def test_sample_rate_must_be_an_integer_in_range(self, rate):
        with pytest.raises(ValueError, match=r"sample_rate=.* must be an integer from 1000 to 768000 Hz"):
            Audio(np.zeros((1, 100), np.float32), rate)

    def test_numpy_integer_rate_is_stored_as_int(self):
        audio = Audio(np.zeros((1, 10), np.float32), np.int64(22_050))
        assert type(audio.sample_rate) is int and audio.sample_rate == 22_050

    @pytest.mark.parametrize(("bad", "channel", "index", "where"),
                             [(np.nan, 0, 4_800, "0.100 s"), (np.inf, 1, 24_000, "0.500 s"),
                              (-np.inf, 1, 47_999, "1.000 s")])
    def test_nan_and_inf_are_refused_with_their_position(self, bad, channel, index, where):
        samples = np.zeros((2, 48_000), np.float32)
        samples[channel, index] = bad
        with pytest.raises(ValueError, match=rf"NaN or infinite values \(first at {where}\)"):
            Audio(samples, 48_000)

    def test_samples_are_read_only(self):
        audio = sine()
        assert not audio.samples.flags.writeable
        with pytest.raises(ValueError, match="read-only"):
            audio.samples[0, 0] = 1.0

    def test_the_callers_array_cannot_change_the_audio(self):
        owned = np.zeros((1, 100), np.float32)
        audio = Audio(owned, 8_000)
        with pytest.raises(ValueError):  # frozen in place rather than copied
            owned[0, 0] = 1.0
        base = np.zeros((2, 100), np.float32)
        view = Audio(base[:1], 8_000)  # a view: its owner stays writable, so it is copied
        base[0, 0] = 1.0
        assert audio.samples[0, 0] == 0.0 and view.samples[0, 0] == 0.0

    def test_fields_are_frozen(self):
        audio = sine()
        with pytest.raises(dataclasses.FrozenInstanceError):
            audio.sample_rate = 8_000

    def test_from_array_scales_int16_to_plus_minus_one(self):
        audio = Audio.from_array(np.array([-32768, -16384, 0, 16384, 32767], np.int16), 16_000)
        assert audio.samples.dtype == np.float32 and audio.samples.shape == (1, 5)
        np.testing.assert_array_equal(audio.samples[0], [-1.0, -0.5, 0.0, 0.5, 32767 / 32768])

    def test_from_array_scales_int32_and_converts_float64(self):
        ints = Audio.from_array(np.array([[2**30, -2**31]], np.int32), 8_000)
        np.testing.assert_array_equal(ints.samples, [[0.5, -1.0]])
        floats = Audio.from_array(np.array([[0.25, -0.75], [0.5, 1.0]]), 8_000)
        assert floats.samples.dtype == np.float32 and floats.channels == 2

    def test_from_array_refuses_nan(self):
        with pytest.raises(ValueError, match="NaN"):
            Audio.from_array(np.array([0.0, np.nan]), 8_000)

    def test_sizes_and_times(self):
        audio = noise(duration_s=1.5, sample_rate=16_000, channels=3)
        assert (audio.channels, audio.num_samples, audio.sample_rate) == (3, 24_000, 16_000)
        assert audio.duration_s == pytest.approx(1.5, abs=1e-12)
        assert audio.sample_index(0.5) == 8_000
        assert audio.sample_index(-1.0) == 0 and audio.sample_index(99.0) == 24_000


# ----------------------------------------------------------------------------- round trips


class TestRoundTrips:
    @pytest.mark.parametrize("ext", ["wav", "flac", "aiff"])
    def test_lossless_formats(self, tmp_path, ext, capfd):
        original = two_tones()
        loaded = load(save(original, tmp_path / f"x.{ext}"))
        assert (loaded.channels, loaded.sample_rate) == (2, 48_000)
        assert loaded.num_samples == original.num_samples
        error = np.max(np.abs(loaded.samples - original.samples))
        if ext == "wav":  # 32-bit float: exact
            assert error == 0.0
        else:  # 24-bit PCM: within one quantisation step
            assert error <= 2.0**-23
        assert capfd.readouterr().err == ""

    @needs_ffmpeg
    @pytest.mark.parametrize("ext", ["ogg", "mp3", "m4a", "opus"])
    def test_lossy_formats(self, tmp_path, ext, capfd):
        original = two_tones()
        loaded = load(save(original, tmp_path / f"x.{ext}"))
        assert (loaded.channels, loaded.sample_rate) == (2, 48_000)
        assert abs(loaded.duration_s - original.duration_s) <= 0.05
        for channel in range(2):
            ref = original.samples[channel].astype(np.float64)
            out = loaded.samples[channel].astype(np.float64)
            # align on the best lag (encoder delay) within 50 ms, then compare
            full = correlate(out, ref, mode="full")
            lags = np.arange(-ref.size + 1, out.size)
            near = np.abs(lags) <= 2_400
            lag = int(lags[near][np.argmax(full[near])])
            n = min(ref.size, out.size - lag) if lag >= 0 else min(ref.size + lag, out.size)
            a = ref[max(-lag, 0):max(-lag, 0) + n]
            b = out[max(lag, 0):max(lag, 0) + n]
            assert np.corrcoef(a, b)[0, 1] > 0.99
            assert abs(rms_db(b) - rms_db(a)) < 0.5
        assert capfd.readouterr().err == ""

    @needs_ffmpeg
    @pytest.mark.parametrize(("name", "args", "rate"), [
        ("x.aac", ["-c:a", "aac"], 44_100),
        ("x.webm", ["-c:a", "libopus"], 48_000),
        ("x.mp4", ["-f", "lavfi", "-i", "testsrc=duration=1:size=64x48:rate=10", "-map", "1:v",
                   "-map", "0:a", "-shortest", "-c:v", "mpeg4", "-c:a", "aac"], 44_100),
    ])
    def test_loads_aac_webm_and_the_audio_of_a_video(self, tmp_path, name, args, rate):
        path = tmp_path / name
        try:
            ffmpeg("-f", "lavfi", "-i", "sine=frequency=1000:duration=1:sample_rate=44100",
                   *args, str(path))
        except subprocess.CalledProcessError as exc:
            pytest.skip(f"this ffmpeg cannot make {name}: {exc.stderr.decode()[-200:]}")
        audio = load(path)
        assert audio.channels == 1 and audio.sample_rate == rate
        assert abs(audio.duration_s - 1.0) <= 0.05
        assert dominant_hz(audio.samples, audio.sample_rate) == pytest.approx(1000, abs=3)
        assert np.all(np.isfinite(audio.samples))

    @pytest.mark.parametrize("rate", RATES)
    @pytest.mark.parametrize("channels", [1, 2, 6])
    def test_every_rate_and_channel_count_through_wav(self, tmp_path, rate, channels):
        original = noise(duration_s=0.25, sample_rate=rate, channels=channels, seed=channels)
        loaded = load(save(original, tmp_path / "x.wav"))
        assert (loaded.sample_rate, loaded.channels) == (rate, channels)
        np.testing.assert_array_equal(loaded.samples, original.samples)

    def test_pcm16_wav_reads_as_float(self, tmp_path):
        ints = (np.arange(-4, 4, dtype=np.int16) * 4096).reshape(1, -1)
        sf.write(tmp_path / "x.wav", ints.T, 8_000, subtype="PCM_16")
        np.testing.assert_array_equal(load(tmp_path / "x.wav").samples, ints / 32768.0)

    @needs_ffmpeg
    def test_mp3_with_a_stale_length_header_loads_quietly(self, tmp_path, capfd):
        """libsndfile's mp3 backend prints warnings to fd 2; mp3 must go through ffmpeg."""
        path = save(sine(duration_s=2.0), tmp_path / "x.mp3")
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])  # its Xing header still promises 2 s
        capfd.readouterr()
        audio = load(path)
        assert 0.5 < audio.duration_s < 1.5
        assert capfd.readouterr().err == ""


# ----------------------------------------------------------------------------- conversions


class TestResample:
    @pytest.mark.parametrize(("source", "target"), [(44_100, 48_000), (48_000, 16_000),
                                                    (8_000, 192_000), (96_000, 22_050)])
    def test_duration_level_and_pitch_are_kept(self, source, target):
        tone = sine(1000.0, duration_s=1.0, sample_rate=source, amplitude=0.5)
        out = resample(tone, sample_rate_hz=target)
        assert out.sample_rate == target
        assert abs(out.num_samples - target) <= 1
        assert dominant_hz(out.samples, target) == pytest.approx(1000.0, abs=1.0)
        middle = slice(target // 4, 3 * target // 4)
        assert rms_db(out.samples[:, middle]) == pytest.approx(rms_db(tone.samples[:, source // 4:3 * source // 4]), abs=0.05)
        assert np.all(np.isfinite(out.samples))

    def test_content_above_the_new_nyquist_is_removed(self):
        tone = sine(10_000.0, sample_rate=48_000, amplitude=0.5)
        out = resample(tone, sample_rate_hz=16_000)  # 10 kHz would alias to 6 kHz
        assert rms_db(out.samples) < rms_db(tone.samples) - 50  # no filter: 0 dB alias

    def test_same_rate_is_the_same_audio(self):
        tone = sine()
        assert resample(tone, sample_rate_hz=48_000) is tone

    @pytest.mark.parametrize("rate", [500, 1_000_000])
    def test_rate_out_of_range_names_the_argument(self, rate):
        with pytest.raises(ToolArgumentError, match=rf"sample_rate_hz={rate} must be from 1000 to 768000 Hz"):
            resample(sine(), sample_rate_hz=rate)


class TestToChannels:
    def test_stereo_to_mono_is_the_mean(self):
        stereo = two_tones()
        mono = to_channels(stereo, channels=1)
        assert mono.samples.shape == (1, stereo.num_samples)
        np.testing.assert_allclose(mono.samples[0], stereo.samples.mean(axis=0), atol=1e-7)

    @pytest.mark.parametrize("channels", [2, 6])
    def test_mono_is_copied_out(self, channels):
        mono = sine()
        out = to_channels(mono, channels=channels)
        assert out.channels == channels
        for channel in out.samples:
            np.testing.assert_array_equal(channel, mono.samples[0])

    def test_six_to_mono(self):
        six = noise(channels=6)
        np.testing.assert_allclose(to_channels(six, channels=1).samples[0],
                                   six.samples.mean(axis=0), atol=1e-7)

    def test_same_count_is_the_same_audio(self):
        stereo = two_tones()
        assert to_channels(stereo, channels=2) is stereo

    @pytest.mark.parametrize("channels", [0, 6])
    def test_impossible_mappings_are_refused(self, channels):
        with pytest.raises(ToolArgumentError, match=rf"channels={channels}"):
            to_channels(two_tones(), channels=channels)


# ----------------------------------------------------------------------------- atomic writes


class TestAtomicSave:
    @pytest.fixture
    def existing(self, tmp_path) -> tuple[Path, bytes]:
        path = save(sine(330.0), tmp_path / "keep.wav")
        return path, path.read_bytes()

    @staticmethod
    def assert_untouched(folder: Path, existing: tuple[Path, bytes]) -> None:
        path, data = existing
        assert sorted(p.name for p in folder.iterdir()) == [path.name]  # no temp file left
        assert path.read_bytes() == data

    def test_unknown_extension(self, tmp_path, existing):
        with pytest.raises(ToolArgumentError, match=r"unknown extension '.xyz'; expected one of: .aif"):
            save(sine(), tmp_path / "keep.xyz")
        with pytest.raises(ToolArgumentError, match=r"unknown extension '\(none\)'"):
            save(sine(), tmp_path / "keep")
        self.assert_untouched(tmp_path, existing)

    @needs_ffmpeg
    def test_failing_ffmpeg_encode(self, tmp_path, existing, monkeypatch):
        monkeypatch.setitem(audio_write._FFMPEG_WRITE, ".wav",
                            (["-c:a", "no_such_encoder", "-f", "wav"], "192k"))
        monkeypatch.delitem(audio_write._SOUNDFILE_WRITE, ".wav")
        with pytest.raises(ToolError) as caught:
            save(noise(), existing[0])
        message = str(caught.value)
        assert message.startswith(f"{existing[0]}: ffmpeg could not encode")
        assert ".partial" not in message
        self.assert_untouched(tmp_path, existing)

    def test_failing_libsndfile_write(self, tmp_path, existing):
        target = tmp_path / "keep.flac"
        with pytest.raises(ToolError, match=r"keep.flac: cannot write FLAC PCM_24 with 10 channels"):
            save(noise(channels=10), target)  # FLAC holds at most 8 channels
        self.assert_untouched(tmp_path, existing)

    def test_too_many_channels_for_mp3(self, tmp_path, existing):
        with pytest.raises(ToolArgumentError, match=r".mp3 holds at most 2 channels, the audio has 6"):
            save(noise(channels=6), tmp_path / "keep.mp3")
        self.assert_untouched(tmp_path, existing)

    def test_interrupted_write_keeps_the_old_file(self, tmp_path, existing, monkeypatch):
        def interrupted(tmp, path):
            assert tmp.exists() and tmp.name.endswith(".partial")
            raise KeyboardInterrupt

        monkeypatch.setattr(audio_write, "fsync_and_replace", interrupted)
        with pytest.raises(KeyboardInterrupt):
            save(noise(), existing[0])
        self.assert_untouched(tmp_path, existing)

    def test_missing_folder(self, tmp_path):
        with pytest.raises(AudioInputError, match="output folder does not exist"):
            save(sine(), tmp_path / "nowhere" / "x.wav")
        assert list(tmp_path.iterdir()) == []

    def test_successful_overwrite_replaces_and_leaves_nothing_else(self, tmp_path, existing):
        new = noise(duration_s=0.5)
        save(new, existing[0])
        assert [p.name for p in tmp_path.iterdir()] == ["keep.wav"]
        np.testing.assert_array_equal(load(existing[0]).samples, new.samples)
