"""The basic edit tools, one class each, asserted by numbers: durations, levels, loudness, seam
positions and smoothness. Stereo must equal each channel processed alone (librosa style) and every
output must be finite (pedalboard style). Bad arguments name the argument, value and range."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import bursts, sine

from tools.core.audio import Audio
from tools.core.dsp import peak_db, rms_db
from tools.core.errors import ToolArgumentError
from tools.cut import cut
from tools.fade import fade
from tools.gain import gain
from tools.insert_silence import insert_silence
from tools.registry import call_tool
from tools.trim import trim

RATE = 48_000


def max_second_difference(x: np.ndarray) -> float:
    return float(np.max(np.abs(np.diff(np.asarray(x, np.float64), n=2))))


def per_channel(tool, audio: Audio, **kwargs) -> np.ndarray:
    """``tool`` applied to each channel alone, stacked back."""
    return np.concatenate([tool(Audio(audio.samples[c:c + 1].copy(), audio.sample_rate),
                                **kwargs).samples for c in range(audio.channels)])


def seam_extent(original: Audio, edited: Audio, removed: int) -> tuple[int, int]:
    """First output sample that differs from the input, and last one that differs from the input
    shifted by the ``removed`` samples: the crossfade, wherever the cut put it."""
    x, y, n = original.samples, edited.samples, edited.num_samples
    first = np.nonzero(np.any(y != x[:, :n], axis=0))[0][0]
    last = np.nonzero(np.any(y != x[:, removed:removed + n], axis=0))[0][-1]
    return int(first), int(last)


# ----------------------------------------------------------------------------- cut


class TestCut:
    def test_removes_exactly_the_span(self):
        audio = bursts(3.0)
        out = cut(audio, start_s=1.0, end_s=1.75)
        assert out.num_samples == audio.num_samples - 36_000
        assert np.all(np.isfinite(out.samples))

    @pytest.mark.parametrize("start_s", [0.5, 0.5 + 0.3 / 440], ids=["phase 0", "phase 108"])
    @pytest.mark.parametrize("cycles", [0.25, 0.5], ids=["90 deg jump", "180 deg jump"])
    def test_seam_has_no_click(self, start_s, cycles):
        tone = sine(440.0, duration_s=2.0, amplitude=0.5)
        x = tone.samples[0]
        length_s = 0.3 + cycles / 440  # whole cycles plus a fraction: the sides are out of phase
        out = cut(tone, start_s=start_s, end_s=start_s + length_s).samples[0]
        seam = round(start_s * RATE)
        window = slice(seam - 2_000, seam + 2_000)
        smooth = max_second_difference(x[RATE // 4:3 * RATE // 4])
        hard = np.concatenate([x[:seam], x[seam + round(length_s * RATE):]])
        assert max_second_difference(hard[window]) > 10 * smooth  # a plain splice does click
        assert max_second_difference(out[window]) <= 1.5 * smooth
        assert np.all(np.isfinite(out))

    @pytest.mark.parametrize("start_s", [0.4, 0.75, 1.3])
    def test_seam_is_near_the_request_and_the_rest_is_untouched(self, start_s):
        audio = bursts(2.0)
        removed = round(0.5 * RATE)
        out = cut(audio, start_s=start_s, end_s=start_s + 0.5)
        first, last = seam_extent(audio, out, removed)
        requested = round(start_s * RATE)
        assert abs((first + last + 1) / 2 - requested) <= 0.010 * RATE
        far = round(0.020 * RATE)  # 10 ms search + 5 ms half crossfade, and a margin
        np.testing.assert_array_equal(out.samples[:, :requested - far],
                                      audio.samples[:, :requested - far])
        np.testing.assert_array_equal(out.samples[:, requested + far:],
                                      audio.samples[:, requested + far + removed:])

    def test_search_for_a_quiet_point_stays_within_10_ms(self):
        """A near-silent stretch starting 8 ms after the request, whose first zero crossings lie
        just beyond 10 ms: the seam moves toward the quiet, but not past 10 ms."""
        rng = np.random.default_rng(1)
        x = rng.standard_normal(RATE) * 0.3
        request = RATE // 2
        lo, hi = request + int(0.008 * RATE), request + int(0.030 * RATE)
        phase = np.arange(lo, hi) - (request + 540)  # a zero crossing 11.25 ms after the request
        x[lo:hi] = 1e-3 * np.sin(2 * np.pi * 100 * phase / RATE)
        audio = Audio.from_array(x, RATE)
        out = cut(audio, start_s=0.5, end_s=0.6)
        first, last = seam_extent(audio, out, round(0.1 * RATE))
        moved = (first + last + 1) / 2 - request
        assert 0 < moved <= 0.010 * RATE

    def test_cutting_off_the_start(self):
        audio = bursts(2.0)
        out = cut(audio, start_s=0.0, end_s=0.5)
        assert out.num_samples == audio.num_samples - 24_000
        ramp = 240  # half the 10 ms crossfade becomes a fade-in on the new first sample
        np.testing.assert_array_equal(out.samples[:, ramp:], audio.samples[:, 24_000 + ramp:])
        assert abs(out.samples[0, 0]) <= 0.01 * abs(audio.samples[0, 24_000])

    def test_cutting_off_the_end(self):
        audio = bursts(2.0)
        out = cut(audio, start_s=1.5)
        assert out.num_samples == 72_000
        np.testing.assert_array_equal(out.samples[:, :-240], audio.samples[:, :72_000 - 240])
        assert abs(out.samples[0, -1]) <= 0.01 * abs(audio.samples[0, 71_999])

    def test_stereo_equals_each_channel_alone(self):
        # channels sharing their quiet points: the (channel-linked) seam search agrees
        mono = bursts(2.0).samples
        linked = Audio(np.concatenate([mono, -0.5 * mono]), RATE)
        np.testing.assert_array_equal(cut(linked, start_s=0.6, end_s=1.1).samples,
                                      per_channel(cut, linked, start_s=0.6, end_s=1.1))
        # independent channels: equal once the search is off (it is linked by design)
        independent = bursts(2.0, channels=2, seed=5)
        np.testing.assert_array_equal(
            cut(independent, start_s=0.6, end_s=1.1, search_ms=0).samples,
            per_channel(cut, independent, start_s=0.6, end_s=1.1, search_ms=0))

    def test_refuses_to_cut_everything_or_past_the_end(self):
        audio = bursts(1.0)
        with pytest.raises(ToolArgumentError, match="cannot cut the whole track"):
            cut(audio, start_s=0.0)
        with pytest.raises(ToolArgumentError, match=r"end_s=3 is beyond the end of the track \(1.000 s\)"):
            cut(audio, start_s=0.5, end_s=3.0)


# ----------------------------------------------------------------------------- trim


class TestTrim:
    def test_keeps_exactly_start_to_end(self):
        audio = bursts(3.0, channels=2)
        out = trim(audio, start_s=0.5, end_s=2.25)
        assert out.num_samples == 84_000
        edge = round(0.003 * RATE)
        np.testing.assert_array_equal(out.samples[:, edge:-edge],
                                      audio.samples[:, 24_000 + edge:108_000 - edge])
        # the new edges fade from / to silence so they do not click
        assert np.all(np.abs(out.samples[:, 0]) <= 0.01 * np.abs(audio.samples[:, 24_000]) + 1e-9)
        assert np.all(np.abs(out.samples[:, -1]) <= 0.01 * np.abs(audio.samples[:, 107_999]) + 1e-9)
        assert np.all(np.isfinite(out.samples))

    def test_without_edge_fade_it_is_the_plain_slice(self):
        audio = bursts(2.0)
        out = trim(audio, start_s=0.25, end_s=1.0, edge_fade_ms=0)
        np.testing.assert_array_equal(out.samples, audio.samples[:, 12_000:48_000])

    def test_original_edges_are_not_faded(self):
        audio = bursts(2.0)
        np.testing.assert_array_equal(trim(audio, start_s=0.0).samples, audio.samples)

    def test_refuses_a_start_past_the_end(self):
        with pytest.raises(ToolArgumentError, match=r"start_s=4 is at or beyond the end"):
            trim(bursts(2.0), start_s=4.0)


# ----------------------------------------------------------------------------- gain


class TestGain:
    @pytest.mark.parametrize("gain_db", [-40.0, -6.0, 0.5, 12.0])
    def test_rms_changes_by_gain_db(self, gain_db):
        audio = bursts(1.0, channels=2)
        out = gain(audio, gain_db=gain_db)
        assert rms_db(out.samples) - rms_db(audio.samples) == pytest.approx(gain_db, abs=0.01)
        assert np.all(np.isfinite(out.samples))

    def test_peaks_over_full_scale_stay_in_float(self):
        out = gain(sine(amplitude=0.5), gain_db=12.0)
        assert peak_db(out.samples) == pytest.approx(6.0, abs=0.05)  # not clipped at 0 dBFS

    def test_stereo_equals_each_channel_alone(self):
        audio = bursts(1.0, channels=2, seed=2)
        np.testing.assert_array_equal(gain(audio, gain_db=-7.5).samples,
                                      per_channel(gain, audio, gain_db=-7.5))


# ----------------------------------------------------------------------------- fade


SHAPES = ["cosine", "linear", "exponential"]


class TestFade:
    @pytest.mark.parametrize("shape", SHAPES)
    def test_fade_in(self, shape):
        audio = sine(440.0, duration_s=2.0, amplitude=0.5, fade_ms=0)
        out = fade(audio, direction="in", duration_s=1.0, shape=shape)
        assert out.num_samples == audio.num_samples
        assert peak_db(out.samples[:, :48]) < -60  # silent at the edge (first ms)
        np.testing.assert_array_equal(out.samples[:, RATE:], audio.samples[:, RATE:])
        assert np.all(np.isfinite(out.samples))

    @pytest.mark.parametrize("shape", SHAPES)
    def test_fade_out(self, shape):
        audio = sine(440.0, duration_s=2.0, amplitude=0.5, fade_ms=0)
        out = fade(audio, direction="out", duration_s=1.0, shape=shape)
        assert peak_db(out.samples[:, -48:]) < -60  # silent at the edge (last ms)
        np.testing.assert_array_equal(out.samples[:, :RATE], audio.samples[:, :RATE])
        assert np.all(np.isfinite(out.samples))

    @pytest.mark.parametrize("shape", SHAPES)
    def test_gain_curves_are_monotonic(self, shape):
        ones = Audio(np.ones((1, RATE), np.float32), RATE)
        rising = fade(ones, direction="in", duration_s=0.5, shape=shape).samples[0]
        falling = fade(ones, direction="out", duration_s=0.5, shape=shape).samples[0]
        assert np.all(np.diff(rising) >= 0) and np.all(np.diff(falling) <= 0)
        assert rising[0] < 1e-3 and rising[RATE // 2 - 1] > 0.99
        assert falling[-1] < 1e-3 and falling[RATE // 2] > 0.99

    @pytest.mark.parametrize("direction", ["in", "out"])
    def test_stereo_equals_each_channel_alone(self, direction):
        audio = bursts(1.0, channels=2, seed=3)
        np.testing.assert_array_equal(
            fade(audio, direction=direction, duration_s=0.4).samples,
            per_channel(fade, audio, direction=direction, duration_s=0.4))

    def test_refuses_a_fade_longer_than_the_track(self):
        with pytest.raises(ToolArgumentError, match=r"duration_s=3 is longer than the track \(1.000 s\)"):
            fade(sine(), direction="out", duration_s=3.0)


# ----------------------------------------------------------------------------- insert_silence


class TestInsertSilence:
    @pytest.mark.parametrize("at_s", [0.0, 0.4, 1.0])
    def test_adds_exactly_the_duration_of_silence(self, at_s):
        audio = bursts(1.0, channels=2)
        out = insert_silence(audio, at_s=at_s, duration_s=0.25)
        assert out.num_samples == audio.num_samples + 12_000
        at = round(at_s * RATE)
        gap = out.samples[:, at:at + 12_000]
        assert rms_db(gap) < -60 and peak_db(gap) < -60
        edge = round(0.003 * RATE)  # the audio next to the gap fades over 3 ms
        np.testing.assert_array_equal(out.samples[:, :max(at - edge, 0)],
                                      audio.samples[:, :max(at - edge, 0)])
        np.testing.assert_array_equal(out.samples[:, at + 12_000 + edge:],
                                      audio.samples[:, at + edge:])
        assert np.all(np.isfinite(out.samples))

    def test_refuses_a_point_past_the_end(self):
        with pytest.raises(ToolArgumentError, match=r"at_s=2 is beyond the end of the track \(1.000 s\)"):
            insert_silence(bursts(1.0), at_s=2.0, duration_s=1.0)


# ----------------------------------------------------------------------------- through the registry


@pytest.mark.parametrize(("name", "arguments", "duration_s"), [
    ("cut", {"start_s": 0.5, "end_s": 1.0}, 1.5),
    ("trim", {"start_s": 0.25, "end_s": 1.25}, 1.0),
    ("gain", {"gain_db": -6}, 2.0),
    ("fade", {"direction": "out", "duration_s": 0.5}, 2.0),
    ("normalize_loudness", {"target_lufs": -20}, 2.0),
    ("insert_silence", {"at_s": 1.0, "duration_s": 0.5}, 2.5),
    ("convert", {"sample_rate_hz": 16_000}, 2.0),
])
def test_every_edit_through_the_registry(session, name, arguments, duration_s):
    result = call_tool(session, name, arguments)
    out = session.audio()
    assert result.changed == ("take",) and len(session.history()) == 2
    assert out.duration_s == pytest.approx(duration_s, abs=1e-3)
    assert np.all(np.isfinite(out.samples))


@pytest.mark.parametrize(("name", "arguments", "expected"), [
    ("cut", {"start_s": -1}, ["start_s=-1", "allowed: >= 0"]),
    ("cut", {"start_s": 0.5, "crossfade_ms": 500}, ["crossfade_ms=500", "allowed: 0 to 200"]),
    ("cut", {"start_s": 1.5, "end_s": 0.5}, ["end_s=0.5", "greater than start_s=1.5"]),
    ("cut", {"start_s": 0.5, "end_s": 9}, ["end_s=9", "beyond the end of the track (2.000 s)"]),
    ("trim", {"start_s": 5}, ["start_s=5", "at or beyond the end of the track (2.000 s)"]),
    ("trim", {"edge_fade_ms": 1000}, ["edge_fade_ms=1000", "allowed: 0 to 100"]),
    ("gain", {"gain_db": 100}, ["gain_db=100", "allowed: -60 to 60"]),
    ("gain", {"gain_db": "loud"}, ['gain_db="loud"', "allowed: -60 to 60"]),
    ("fade", {"direction": "in", "duration_s": 0}, ["duration_s=0", "allowed: > 0 and <= 600"]),
    ("fade", {"direction": "in", "duration_s": 5}, ["duration_s=5", "longer than the track (2.000 s)"]),
    ("fade", {"direction": "up", "duration_s": 1}, ['direction="up"', "'in' or 'out'"]),
    ("normalize_loudness", {"target_lufs": 0}, ["target_lufs=0", "allowed: -70 to -5"]),
    ("normalize_loudness", {"target_lufs": -16, "true_peak_db": 2}, ["true_peak_db=2", "allowed: -20 to 0"]),
    ("insert_silence", {"duration_s": -1}, ["duration_s=-1", "allowed: > 0 and <= 3600"]),
    ("insert_silence", {"at_s": 9, "duration_s": 1}, ["at_s=9", "beyond the end of the track (2.000 s)"]),
    ("convert", {"sample_rate_hz": 4000}, ["sample_rate_hz=4000", "allowed: 8000 to 192000"]),
    ("convert", {"channels": 0}, ["channels=0", "allowed: 1 to 8"]),
    ("convert", {"channels": 12}, ["channels=12", "allowed: 1 to 8"]),
])
def test_bad_arguments_name_the_argument_value_and_range(session, name, arguments, expected):
    with pytest.raises(ToolArgumentError) as caught:
        call_tool(session, name, arguments)
    text = str(caught.value)
    assert "\n" not in text
    for words in expected:
        assert words in text
    assert len(session.history()) == 1  # nothing was committed
