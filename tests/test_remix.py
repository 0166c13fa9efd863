"""remix (gains, mute/solo, pan law, karaoke/acapella presets), duck, match_loudness, match_eq."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import butter, sosfilt

from tests.conftest import noise, sine
from tools.core.audio import Audio, load
from tools.core.dsp import integrated_loudness
from tools.core.errors import ToolArgumentError
from tools.core.session import Session
from tools.ducking import apply_ducking, duck
from tools.match import long_term_spectrum, match_eq, smooth_octaves
from tools.registry import call_tool
from tools.remix import Part, pan_gains, remix

RATE = 44_100


def _level_db(samples: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(np.square(samples, dtype=np.float64)) + 1e-20))


@pytest.fixture
def session(tmp_path):
    with Session.create(tmp_path / "session") as s:
        yield s


def _stems(seconds: float = 1.0) -> dict[str, Audio]:
    return {name: sine(freq, duration_s=seconds, sample_rate=RATE, channels=2, amplitude=0.2)
            for name, freq in (("drums", 110), ("bass", 55), ("other", 660), ("vocals", 330))}


# ----------------------------------------------------------------------------- remix


def test_gains_mute_and_solo():
    a = sine(440, duration_s=0.5, sample_rate=RATE, amplitude=0.5)
    b = sine(440, duration_s=1.0, sample_rate=RATE, amplitude=0.5)
    out = remix([Part(a, gain_db=-6.0), Part(b, mute=True)])
    assert out.num_samples == b.num_samples  # the longest part sets the length
    assert _level_db(out.samples[:, :a.num_samples]) == pytest.approx(_level_db(a.samples) - 6, abs=0.01)
    solo = remix([Part(a, solo=True, mute=True), Part(b)])  # solo beats mute, others drop out
    np.testing.assert_array_equal(solo.samples[:, :a.num_samples], a.samples)
    assert not solo.samples[:, a.num_samples:].any()
    with pytest.raises(ToolArgumentError, match="muted"):
        remix([Part(a, mute=True)])


def test_pan_law_constant_power_for_mono_and_balance_for_stereo():
    for pan in np.linspace(-1, 1, 9):
        left, right = pan_gains(float(pan), source_channels=1)
        assert left**2 + right**2 == pytest.approx(1.0)  # constant power
    assert pan_gains(0.0, source_channels=1) == pytest.approx((0.7071, 0.7071), abs=1e-4)  # -3 dB
    assert pan_gains(-1.0, source_channels=1) == pytest.approx((1.0, 0.0), abs=1e-12)
    assert pan_gains(0.0, source_channels=2) == pytest.approx((1.0, 1.0))
    assert pan_gains(1.0, source_channels=2) == pytest.approx((0.0, 1.0), abs=1e-12)
    mono = sine(440, duration_s=0.5, sample_rate=RATE)
    out = remix([Part(mono, pan=-0.5)])
    assert out.channels == 2
    left, right = pan_gains(-0.5, source_channels=1)
    np.testing.assert_allclose(out.samples, np.vstack([mono.samples * left, mono.samples * right]),
                               atol=1e-6)
    assert remix([Part(mono)]).channels == 1  # mono stays mono when nothing is panned


def test_karaoke_and_acapella_presets_use_the_latest_stems(session):
    stems = _stems()
    session.add_track("song", sum_audio(stems), source="song.wav")
    session.commit(stems, tool="separate", summary="separated", select="vocals")
    call_tool(session, "remix", {"preset": "karaoke"})
    expected = stems["drums"].samples + stems["bass"].samples + stems["other"].samples
    np.testing.assert_allclose(session.audio("karaoke").samples, expected, atol=1e-6)
    assert session.current_track == "karaoke"
    call_tool(session, "remix", {"preset": "acapella"})
    np.testing.assert_array_equal(session.audio("acapella").samples, stems["vocals"].samples)
    call_tool(session, "remix", {"preset": "karaoke", "output": "quiet_drums",
                                 "tracks": [{"track": "drums", "gain_db": -6}]})
    quieter = expected - stems["drums"].samples * (1 - 10 ** (-6 / 20))
    np.testing.assert_allclose(session.audio("quiet_drums").samples, quieter, atol=1e-6)
    # after a two-stem separation karaoke is the no_vocals stem
    two = {"vocals": stems["vocals"], "no_vocals": sine(99, duration_s=1.0, sample_rate=RATE,
                                                          channels=2)}
    session.commit(two, tool="separate", summary="separated")
    call_tool(session, "remix", {"preset": "karaoke"})
    np.testing.assert_array_equal(session.audio("karaoke").samples, two["no_vocals"].samples)


def test_remix_without_stems_says_what_to_do(session):
    session.add_track("song", sine(440, sample_rate=RATE), source="song.wav")
    with pytest.raises(ToolArgumentError, match="run separate first"):
        call_tool(session, "remix", {"preset": "karaoke"})
    with pytest.raises(ToolArgumentError, match="does not exist"):
        call_tool(session, "remix", {"tracks": [{"track": "nope"}]})


def sum_audio(stems: dict[str, Audio]) -> Audio:
    return Audio(sum(s.samples for s in stems.values()).astype(np.float32), RATE)


# ----------------------------------------------------------------------------- duck


def _window_gain_db(out: Audio, music: Audio, start_s: float, end_s: float) -> float:
    lo, hi = int(start_s * RATE), int(end_s * RATE)
    return _level_db(out.samples[:, lo:hi]) - _level_db(music.samples[:, lo:hi])


def test_ducking_depth_and_ramp_lengths():
    music = noise(duration_s=8.0, sample_rate=RATE, channels=2, level_db=-20)
    out = apply_ducking(music, [(2.0, 4.0), (6.0, 6.5)], depth_db=10.0, ramp_ms=400.0)
    assert _window_gain_db(out, music, 2.0, 4.0) == pytest.approx(-10.0, abs=0.05)
    assert _window_gain_db(out, music, 6.0, 6.5) == pytest.approx(-10.0, abs=0.05)
    for quiet in ((0.0, 1.55), (4.45, 5.55), (6.95, 8.0)):  # further than the ramp: untouched
        assert _window_gain_db(out, music, *quiet) == pytest.approx(0.0, abs=0.01)
    gain_db = 20 * np.log10(np.abs(out.samples[0]) / np.maximum(np.abs(music.samples[0]), 1e-9))
    t = np.arange(music.num_samples) / RATE
    down = (t > 1.0) & (t < 2.0)
    ramp = t[down][(gain_db[down] < -0.001) & (gain_db[down] > -9.999)]
    assert ramp.min() == pytest.approx(1.6, abs=0.03) and ramp.max() == pytest.approx(2.0, abs=0.01)
    up = (t > 4.0) & (t < 5.0)
    ramp = t[up][(gain_db[up] < -0.001) & (gain_db[up] > -9.999)]
    assert ramp.min() == pytest.approx(4.0, abs=0.01) and ramp.max() == pytest.approx(4.4, abs=0.03)
    assert np.abs(np.diff(gain_db[down | up])).max() < 0.01  # smooth: no step anywhere


def test_duck_finds_the_speech(speech_wav, session):
    speech = load(speech_wav)  # ~12 s of espeak-ng speech at 22.05 kHz
    rate = speech.sample_rate
    padded = np.zeros((1, speech.num_samples + 6 * rate), dtype=np.float32)
    padded[:, 3 * rate:3 * rate + speech.num_samples] = speech.samples
    voice = Audio(padded, rate)
    music = noise(duration_s=voice.duration_s, sample_rate=RATE, channels=2, level_db=-25, seed=3)
    session.add_track("music", music, source="music.wav")
    session.add_track("voice", voice, source="voice.wav")
    result = call_tool(session, "duck", {"track": "music", "speech_track": "voice",
                                         "depth_db": 10, "ramp_ms": 200})
    regions = result.data["regions"]
    assert regions[0][0] == pytest.approx(3.0, abs=0.25)
    assert regions[-1][1] == pytest.approx(3.0 + speech.duration_s, abs=0.4)
    out = session.audio("music")
    middle = (regions[0][0] + regions[0][1]) / 2
    assert _window_gain_db(out, music, middle - 0.05, middle + 0.05) == pytest.approx(-10, abs=1)
    assert _window_gain_db(out, music, 0.0, 2.5) == pytest.approx(0.0, abs=0.01)
    assert _window_gain_db(out, music, voice.duration_s - 2.5, voice.duration_s) == pytest.approx(0.0, abs=0.01)


def test_duck_energy_detector_on_tone_bursts():
    rate = 16_000
    t = np.arange(6 * rate) / rate
    bursts = 0.3 * np.sin(2 * np.pi * 300 * t) * ((t > 1.0) & (t < 2.0) | (t > 4.0) & (t < 4.5))
    music = sine(200, duration_s=6.0, sample_rate=rate, amplitude=0.2)
    out, report = duck(music, Audio.from_array(bursts, rate), depth_db=6, ramp_ms=100,
                       hold_ms=200, method="energy")
    assert report["method"] == "energy" and len(report["regions"]) == 2
    assert report["regions"][0] == pytest.approx((1.0, 2.0), abs=0.05)
    lo, hi = int(1.2 * rate), int(1.8 * rate)
    assert _level_db(out.samples[:, lo:hi]) - _level_db(music.samples[:, lo:hi]) == pytest.approx(-6, abs=0.1)


# ----------------------------------------------------------------------------- match


def test_match_loudness_to_reference_and_to_target(session):
    session.add_track("host", noise(duration_s=3, sample_rate=RATE, level_db=-18), source="a")
    session.add_track("guest", noise(duration_s=3, sample_rate=RATE, level_db=-33, seed=1), source="b")
    call_tool(session, "match_loudness", {"tracks": ["host", "guest"]})  # to the first (host)
    host, guest = session.audio("host"), session.audio("guest")
    assert integrated_loudness(guest.samples, RATE) == pytest.approx(
        integrated_loudness(host.samples, RATE), abs=0.5)
    assert len(session.history()[-1].changes) == 1  # the reference is left as it was
    call_tool(session, "match_loudness", {"tracks": ["host", "guest"], "target_lufs": -23})
    for name in ("host", "guest"):
        audio = session.audio(name)
        assert integrated_loudness(audio.samples, RATE) == pytest.approx(-23, abs=0.5)
    assert len(session.history()[-1].changes) == 2  # both in one undoable step


def _smoothed_db(audio: Audio) -> tuple[np.ndarray, np.ndarray]:
    freqs, power = long_term_spectrum(audio, n_fft=4096)
    return freqs, 10 * np.log10(smooth_octaves(freqs, power, octaves=1 / 3) + 1e-20)


def _spectral_distance_db(a: Audio, b: Audio) -> float:
    """RMS over 50 Hz to 16 kHz of the difference of the 1/3-octave smoothed spectra in dB, the
    broadband level difference removed."""
    freqs, a_db = _smoothed_db(a)
    _, b_db = _smoothed_db(b)
    band = (freqs > 50) & (freqs < 16_000)
    diff = a_db[band] - b_db[band]
    return float(np.sqrt(np.mean((diff - diff.mean()) ** 2)))


def test_match_eq_moves_the_long_term_spectrum_toward_the_reference(session):
    base = noise(duration_s=6, sample_rate=RATE, level_db=-20, seed=5).samples
    dark = base + sosfilt(butter(2, 1000, "lowpass", fs=RATE, output="sos"), base) * 2  # boomy
    bright = noise(duration_s=6, sample_rate=RATE, level_db=-20, seed=6).samples
    bright = bright + sosfilt(butter(2, 4000, "highpass", fs=RATE, output="sos"), bright) * 2
    target, reference = Audio.from_array(dark, RATE), Audio.from_array(bright, RATE)
    before = _spectral_distance_db(target, reference)
    out, report = match_eq(target, reference)
    after = _spectral_distance_db(out, reference)
    assert before > 4 and after < 0.3 * before
    assert report["max_abs_db"] <= 12.0 + 1e-6  # clamped
    assert out.num_samples == target.num_samples
    lag = np.argmax(np.correlate(out.samples[0, 44_100:46_100], target.samples[0, 44_000:46_200], "valid"))
    assert lag == 100  # linear phase, delay compensated: still aligned
    half, _ = match_eq(target, reference, amount=0.5)
    assert after < _spectral_distance_db(half, reference) < before
    session.add_track("guest", target, source="guest.wav")
    session.add_track("host", reference, source="host.wav")
    result = call_tool(session, "match_eq", {"track": "guest", "reference": "host"})
    assert "matched the tone of guest to host" in result.text
