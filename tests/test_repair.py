"""Repair tools, asserted by numbers on generated audio: SNR inside filled gaps, clicks found at
their positions, breaths lowered by the asked dB (dropouts and declip: test_repair_faults.py).
Stereo equals each channel processed alone; outputs are finite; inputs stay untouched."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from conftest import REPAIR_RATE as RATE
from conftest import assert_untouched_and_finite, espeak, harmonic, mono
from scipy.signal import butter, chirp, sosfilt

from evals.metrics import snr_db
from tools.algorithms import ar
from tools.breaths import reduce_breaths
from tools.core.audio import Audio
from tools.core.errors import ToolArgumentError, ToolError
from tools.core.session import Session
from tools.declick import declick
from tools.inpaint import inpaint_gap
from tools.registry import call_tool


def melody(duration_s: float = 6.0, *, rate: int = RATE) -> np.ndarray:
    """A four-note phrase repeated every second (integer frequencies: exactly periodic)."""
    t = np.arange(int(duration_s * rate)) / rate
    y = np.zeros(t.size)
    for i, freq in enumerate((220, 277, 330, 440)):
        note = ((t % 1.0) >= i * 0.25) & ((t % 1.0) < (i + 1) * 0.25)
        y += sum(note * np.exp(-(t % 0.25) * 6) * np.sin(2 * np.pi * freq * k * t) / k * 0.2
                 for k in (1, 2, 3))
    return y + np.random.default_rng(1).standard_normal(t.size) * 1e-3


# ----------------------------------------------------------------------------- AR core


class TestAr:
    def test_two_sided_interpolation_of_a_harmonic_tone(self):
        x = harmonic()
        start, stop = 16_000, 16_000 + 320  # 20 ms
        fill = ar.interpolate_gap(x, start, stop, sample_rate=RATE)
        assert snr_db(x[start:stop], fill.samples) > 30
        assert fill.iterations >= 1 and fill.order > 0

    def test_a_chirp_sweeping_through_the_gap(self):
        t = np.arange(2 * RATE) / RATE
        x = 0.5 * chirp(t, f0=300, t1=2.0, f1=900)
        start, stop = 16_000, 16_160  # 10 ms
        assert snr_db(x[start:stop], ar.interpolate_gap(x, start, stop, sample_rate=RATE).samples) > 20

    def test_extrapolate_continues_a_sine_and_work_is_bounded(self):
        x = harmonic(1.0)
        a, _ = ar.fit_ar(x[:4000], 256)
        assert snr_db(x[4000:4160], ar.extrapolate(x[:4000], a, 160)) > 30
        reach = int((ar.LONG_CONTEXT_S + ar.VALIDATION_HORIZON_S) * RATE) + 64
        y = harmonic(4.0)
        y[: 2 * RATE - reach - 1] = np.nan  # never read: the fill must stay finite
        fill = ar.interpolate_gap(y, 2 * RATE, 2 * RATE + 160, sample_rate=RATE)
        assert np.all(np.isfinite(fill.samples))


# ----------------------------------------------------------------------------- inpaint_gap


class TestInpaint:
    def test_short_gap_uses_ar_and_matches_the_original(self):
        y = harmonic()
        audio = mono(y)
        before = audio.samples.copy()
        done = inpaint_gap(audio, start_s=1.0, end_s=1.01)
        assert done.method == "ar"
        assert_untouched_and_finite(before, audio, done.audio)
        assert snr_db(y[16_000:16_160], done.audio.samples[0, 16_000:16_160]) > 30
        np.testing.assert_array_equal(done.audio.samples[0, :16_000], audio.samples[0, :16_000])
        np.testing.assert_array_equal(done.audio.samples[0, 16_160:], audio.samples[0, 16_160:])

    def test_the_current_content_of_the_gap_is_ignored(self):
        y = harmonic()
        damaged = y.copy()
        damaged[16_000:16_320] = np.random.default_rng(3).standard_normal(320)  # garbage
        for method in ("ar", "periodic"):  # the 20 ms default
            done = inpaint_gap(mono(damaged), start_s=1.0, end_s=1.02, method=method)
            assert snr_db(y[16_000:16_320], done.audio.samples[0, 16_000:16_320]) > (
                30 if method == "ar" else 10)

    def test_stereo_equals_each_channel_alone(self):
        left, right = harmonic(f0=196.0), harmonic(f0=247.0, seed=1)
        stereo = inpaint_gap(Audio.from_array(np.stack([left, right]).astype(np.float32), RATE),
                             start_s=1.0, end_s=1.03, method="ar")
        for c, y in enumerate((left, right)):
            alone = inpaint_gap(mono(y), start_s=1.0, end_s=1.03, method="ar")
            np.testing.assert_allclose(stereo.audio.samples[c], alone.audio.samples[0], atol=1e-7)

    def test_long_gap_copies_the_matching_repetition(self):
        y = melody()
        done = inpaint_gap(mono(y), start_s=3.3, end_s=3.55)
        assert done.method == "similarity"
        assert abs(done.details["source_s"] - round(done.details["source_s"] - 0.3) - 0.3) < 1e-3
        start, stop = int(3.3 * RATE), int(3.55 * RATE)
        assert snr_db(y[start:stop], done.audio.samples[0, start:stop]) > 25

    def test_a_pause_gets_room_tone_at_the_noise_level(self):
        rng = np.random.default_rng(4)
        y = rng.standard_normal(3 * RATE) * 0.003  # -50 dBFS room noise
        t = np.arange(y.size) / RATE
        talk = (t < 1.0) | (t > 2.0)
        y += talk * 0.3 * np.sin(2 * np.pi * 180 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 4 * t))
        damaged = y.copy()
        damaged[int(1.3 * RATE) : int(1.7 * RATE)] = 0.0
        done = inpaint_gap(mono(damaged), start_s=1.3, end_s=1.7)
        assert done.method == "room_tone"
        filled = done.audio.samples[0, int(1.35 * RATE) : int(1.65 * RATE)]
        level = 20 * np.log10(np.sqrt(np.mean(filled.astype(np.float64) ** 2)))
        assert level == pytest.approx(-50.5, abs=2.0)

    def test_refusals_say_why(self):
        y = harmonic(3.0)
        with pytest.raises(ToolError, match="longer than ar can fill believably"):
            inpaint_gap(mono(y), start_s=1.0, end_s=1.15, method="ar")
        t = np.arange(6 * RATE) / RATE
        sweep = 0.3 * chirp(t, f0=100, t1=6.0, f1=4000)  # nothing else in it sounds alike
        with pytest.raises(ToolError, match="matches the gap's surroundings well enough"):
            inpaint_gap(mono(sweep), start_s=3.0, end_s=3.3)
        with pytest.raises(ToolError, match="longer than similarity"):
            inpaint_gap(mono(melody(12.0)), start_s=2.0, end_s=7.0, method="similarity")
        with pytest.raises(ToolArgumentError, match="not inside the track"):
            inpaint_gap(mono(y), start_s=2.9, end_s=3.5)

    def test_through_the_registry(self, tmp_path):
        with Session.create(tmp_path / "session") as session:
            session.add_track("take", mono(harmonic()))
            result = call_tool(session, "inpaint_gap", {"start_s": 1.0, "end_s": 1.01,
                                                        "method": None, "track": None})
            assert result.data["method"] == "ar" and "by ar" in result.text
            with pytest.raises(ToolArgumentError, match="end_s=1.0 must be greater than start_s=1.0"):
                call_tool(session, "inpaint_gap", {"start_s": 1.0, "end_s": 1.0})


    def test_every_repair_tool_through_the_registry(self, tmp_path):
        y = harmonic(2.0, noise_db=-50)
        y[8000:8080] = 0.0
        y = np.clip(y, -0.3, 0.3)
        k = 20000 + int(np.argmin(np.abs(y[20000:20100])))  # a click at a zero crossing
        y[k:k + 2] += 0.6  # twice the clip level: a click over the tone (0.2 is within its peaks)
        with Session.create(tmp_path / "session") as session:
            session.add_track("take", mono(y))
            assert "click(s)" in call_tool(session, "declick", {}).text
            assert call_tool(session, "repair_dropouts", {}).data["repaired"] == 1
            result = call_tool(session, "declip", {"clip_level_db": None})
            assert result.data["clipped_samples"][0] > 0 and "restored" in result.text
            with pytest.raises(ToolError, match="found no breaths: "):
                call_tool(session, "reduce_breaths", {"reduction_db": 10})
            assert len(session.history()) == 4  # the added track and three edits: no breath, no step
            assert np.all(np.isfinite(session.audio().samples))


# ----------------------------------------------------------------------------- declick


def with_clicks(y: np.ndarray, positions: list[int], amplitude: float) -> np.ndarray:
    out = y.copy()
    for i, p in enumerate(positions):
        out[p : p + 2] += amplitude * (1 if i % 2 else -1)
    return out


class TestDeclick:
    POSITIONS = [int(s * RATE) for s in (0.31, 0.77, 1.24, 1.66, 2.13, 2.58)]

    def test_clicks_found_at_their_positions_and_repaired(self):
        y = harmonic(3.0, noise_db=-50)
        clicked = with_clicks(y, self.POSITIONS, 0.3)
        audio = mono(clicked)
        before = audio.samples.copy()
        done = declick(audio)
        assert_untouched_and_finite(before, audio, done.audio)
        spans = sorted((s, e) for _, s, e in done.clicks)
        assert len(spans) == len(self.POSITIONS)
        for (start, stop), true in zip(spans, self.POSITIONS, strict=True):
            assert start <= true and true + 2 <= stop and stop - start < 0.003 * RATE
        for p in self.POSITIONS:
            span = slice(p - 16, p + 18)
            assert snr_db(y[span], done.audio.samples[0, span]) > snr_db(y[span], clicked[span]) + 20

    def test_clean_audio_is_left_alone(self, speech_wav):
        assert declick(mono(harmonic(3.0, noise_db=-50))).clicks == ()
        data, rate = sf.read(speech_wav, dtype="float64")
        done = declick(Audio.from_array(data.astype(np.float32), rate))
        # espeak's pulse-excited consonants trip it a few times; what it touches barely changes
        assert len(done.clicks) <= 3
        assert snr_db(data, done.audio.samples[0]) > 35

    def test_quantisation_steps_of_a_16_bit_fade_out_are_not_clicks(self):
        """The tail of a 16-bit fade steps by single quanta; a click there is still found."""
        y = harmonic(3.0, noise_db=-70) * np.geomspace(1.0, 1e-5, int(3.0 * RATE))
        quantised = np.round(y * 32767) / 32767
        assert declick(mono(quantised)).clicks == ()
        clicked = quantised.copy()
        clicked[int(2.5 * RATE)] += 10 ** (-50 / 20)  # under -80 dBFS of music there
        (channel, start, stop), = declick(mono(clicked)).clicks
        assert start <= int(2.5 * RATE) < stop and stop - start < 0.004 * RATE

    def test_mouth_clicks_in_speech_pauses_and_vowels(self, speech_wav):
        """1 ms damped 3 kHz clicks, 15 dB over the local level: all found in pauses, most in
        steady voiced speech (a click right before a loud onset is taken for the attack)."""
        data, rate = sf.read(speech_wav, dtype="float64")
        width = int(0.02 * rate)
        power = np.convolve(data**2, np.ones(width) / width, mode="same")
        rng = np.random.default_rng(0)
        candidates = rng.choice(np.arange(rate, data.size - rate), 4000, replace=False)
        near = int(0.05 * rate)
        pauses = [p for p in candidates if np.all(power[p - near : p + near] < 1e-4)]
        vowels = [p for p in candidates if power[p] > 1e-3
                  and power[p - near : p + near].max() < 4 * power[p - near : p + near].min()]
        t = np.arange(int(0.001 * rate)) / rate
        burst = np.exp(-t * 4000) * np.sin(2 * np.pi * 3000 * t + 1.0)
        for group, minimum in ((pauses, 1.0), (vowels, 0.8)):
            positions: list[int] = []
            for p in group:
                if len(positions) < 6 and all(abs(p - q) > 0.1 * rate for q in positions):
                    positions.append(int(p))
            clicked = data.copy()
            for p in positions:
                clicked[p : p + t.size] += max(np.sqrt(power[p]), 0.003) * 10 ** (15 / 20) * burst
            done = declick(Audio.from_array(clicked.astype(np.float32), rate))
            hits = [any(s - 22 <= p <= e + 22 for _, s, e in done.clicks) for p in positions]
            assert len(positions) == 6 and np.mean(hits) >= minimum

    def test_stereo_equals_each_channel_alone_and_sensitivity_is_checked(self):
        left = with_clicks(harmonic(2.0), self.POSITIONS[:3], 0.3)
        right = with_clicks(harmonic(2.0, f0=247.0, seed=2), self.POSITIONS[1:4], 0.2)
        stereo = declick(Audio.from_array(np.stack([left, right]).astype(np.float32), RATE))
        for c, y in enumerate((left, right)):
            np.testing.assert_allclose(stereo.audio.samples[c], declick(mono(y)).audio.samples[0],
                                       atol=1e-7)
        with pytest.raises(ToolArgumentError, match="sensitivity=1.5 must be from 0 to 1"):
            declick(mono(left), sensitivity=1.5)


# ----------------------------------------------------------------------------- breaths


@pytest.fixture(scope="module")
def breathy(tmp_path_factory):
    """Three espeak phrases with 0.7 s pauses, a 350 ms breath (band-passed noise, 22 dB under
    the speech) in each pause, over -65 dBFS room noise. Returns (samples, rate, breath spans)."""
    folder = tmp_path_factory.mktemp("breaths")
    phrases = ("Good morning and welcome to the show.",
               "Today we talk about recording at home.", "Thank you for listening.")
    parts = []
    for i, text in enumerate(phrases):
        data, rate = sf.read(espeak(text, folder / f"p{i}.wav"), dtype="float64")
        parts.append(data)
    rng = np.random.default_rng(0)
    level = np.sqrt(np.mean(np.concatenate(parts) ** 2))
    sos = butter(4, [300, 3500], btype="band", fs=rate, output="sos")
    pieces, spans, position = [], [], 0
    for i, part in enumerate(parts):
        pieces.append(part)
        position += part.size
        if i < len(parts) - 1:
            pause = np.zeros(int(0.7 * rate))
            length, offset = int(0.35 * rate), int(0.2 * rate)
            breath = sosfilt(sos, rng.standard_normal(length + 1000))[1000:] * np.hanning(length) ** 0.5
            pause[offset : offset + length] = breath * level * 10 ** (-22 / 20) / np.sqrt(np.mean(breath**2))
            pieces.append(pause)
            spans.append((position + offset, position + offset + length))
            position += pause.size
    y = np.concatenate(pieces) + rng.standard_normal(position) * 10 ** (-65 / 20)
    return y, rate, spans


class TestBreaths:
    @pytest.mark.parametrize("reduction_db", [6.0, 15.0])
    def test_breaths_are_lowered_by_the_asked_db_and_speech_is_untouched(self, breathy, reduction_db):
        y, rate, spans = breathy
        audio = Audio.from_array(y.astype(np.float32), rate)
        before = audio.samples.copy()
        done = reduce_breaths(audio, reduction_db=reduction_db)
        assert_untouched_and_finite(before, audio, done.audio)
        assert len(done.breaths) == len(spans)
        out = done.audio.samples[0].astype(np.float64)
        edge = int(0.05 * rate)
        for (_, start, stop), (true_start, true_stop) in zip(done.breaths, spans, strict=True):
            assert abs(start - true_start) < 0.04 * rate and abs(stop - true_stop) < 0.04 * rate
            core = slice(true_start + edge, true_stop - edge)
            change = 10 * np.log10(np.mean(y[core] ** 2) / np.mean(out[core] ** 2))
            assert change == pytest.approx(reduction_db, abs=1.0)
        untouched = np.ones(y.size, dtype=bool)
        for _, start, stop in done.breaths:
            untouched[start:stop] = False
        np.testing.assert_array_equal(out[untouched].astype(np.float32), audio.samples[0][untouched])

    def test_remove_leaves_room_tone_and_stereo_is_each_channel_alone(self, breathy):
        y, rate, spans = breathy
        done = reduce_breaths(Audio.from_array(np.stack([y, 0.5 * y]).astype(np.float32), rate),
                              remove=True)
        start, stop = spans[0]
        core = done.audio.samples[0, start + 800 : stop - 800].astype(np.float64)
        assert 20 * np.log10(np.sqrt(np.mean(core**2))) < -55  # near the -65 dBFS room noise
        alone = reduce_breaths(Audio.from_array((0.5 * y).astype(np.float32), rate), remove=True)
        np.testing.assert_allclose(done.audio.samples[1], alone.audio.samples[0], atol=1e-7)
        with pytest.raises(ToolArgumentError, match="reduction_db=0.5"):
            reduce_breaths(Audio.from_array(y.astype(np.float32), rate), reduction_db=0.5)
