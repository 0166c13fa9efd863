"""Dropouts and declip, asserted by numbers on generated audio: dropouts found at their
positions and filled, clipped peaks restored beyond the clip level, chance repeats not taken for
clipping, full-scale clipping brought back under full scale. Stereo equals each channel alone."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import REPAIR_RATE as RATE
from conftest import assert_untouched_and_finite, harmonic, mono

from evals.metrics import snr_db
from tools.core.audio import Audio, load, save
from tools.core.errors import ToolError
from tools.declip import declip
from tools.dropouts import repair_dropouts

# ----------------------------------------------------------------------------- dropouts


class TestDropouts:
    def test_zero_and_frozen_runs_are_found_and_filled(self):
        y = harmonic(2.0, noise_db=-50)
        damaged = y.copy()
        damaged[8000:8080] = 0.0  # 5 ms of zeros
        damaged[20000:20048] = damaged[20000]  # 3 ms frozen
        audio = mono(damaged)
        before = audio.samples.copy()
        done = repair_dropouts(audio)
        assert_untouched_and_finite(before, audio, done.audio)
        assert [(d.start, d.stop, d.method) for d in done.dropouts] == [
            (8000, 8080, "ar"), (20000, 20048, "ar")]
        assert snr_db(y[8000:8080], done.audio.samples[0, 8000:8080]) > 25
        assert snr_db(y[20000:20048], done.audio.samples[0, 20000:20048]) > 25

    def test_silence_between_sounds_and_clipping_are_not_dropouts(self):
        y = np.concatenate([np.zeros(RATE // 2), harmonic(1.0, noise_db=-50), np.zeros(RATE // 2)])
        clipped = np.clip(y, -0.4, 0.4)
        assert repair_dropouts(mono(clipped)).dropouts == ()

    def test_stereo_equals_each_channel_alone(self):
        left, right = harmonic(1.5), harmonic(1.5, f0=247.0, seed=1)
        left[5000:5100] = 0.0
        right[9000:9030] = right[9000]
        stereo = repair_dropouts(Audio.from_array(np.stack([left, right]).astype(np.float32), RATE))
        assert [(d.channel, d.start) for d in stereo.dropouts] == [(0, 5000), (1, 9000)]
        for c, y in enumerate((left, right)):
            np.testing.assert_allclose(stereo.audio.samples[c],
                                       repair_dropouts(mono(y)).audio.samples[0], atol=1e-7)


# ----------------------------------------------------------------------------- declip


class TestDeclip:
    def test_peaks_are_restored_beyond_the_clip_level(self):
        y = harmonic(1.0, noise_db=-70)
        level = 0.5 * np.max(np.abs(y))
        clipped = np.clip(y, -level, level)
        audio = mono(clipped)
        before = audio.samples.copy()
        done = declip(audio)
        assert_untouched_and_finite(before, audio, done.audio)
        out = done.audio.samples[0].astype(np.float64)
        mask = np.abs(clipped) >= level * (1 - 1e-6)
        assert done.clipped_samples[0] == mask.sum() > 100
        assert np.all(np.sign(out[mask]) == np.sign(clipped[mask]))
        assert np.all(np.abs(out[mask]) >= level * (1 - 1e-5))
        assert np.mean(np.abs(out[mask])) > 1.2 * level
        assert snr_db(y[mask], out[mask]) > snr_db(y[mask], clipped[mask]) + 6
        assert snr_db(y, out) > snr_db(y, clipped) + 6

    def test_given_level_and_nothing_to_do(self):
        y = harmonic(1.0)
        level_db = 20 * np.log10(0.7 * np.max(np.abs(y)))
        clipped = np.clip(y, -(10 ** (level_db / 20)), 10 ** (level_db / 20))
        done = declip(mono(clipped), clip_level_db=level_db)
        assert snr_db(y, done.audio.samples[0]) > snr_db(y, clipped) + 10
        with pytest.raises(ToolError, match="found no clipping"):
            declip(mono(y))

    def test_chance_repeats_are_not_clipping_but_a_dominant_plateau_is(self):
        """Long 16-bit recordings hold many values for two samples a few times each by chance;
        clipping that a later edit pushed a few samples past holds one value far more often."""
        rng = np.random.default_rng(7)
        y = np.round(harmonic(4.0) * 32767) / 32767
        extreme = float(np.max(y))
        chance = np.round(rng.uniform(0.55, 0.95, 12) * extreme * 32767) / 32767
        spots = iter(rng.permutation(np.arange(100, y.size - 100, 50)))
        for value in chance:
            for _ in range(4):
                spot = next(spots)
                y[spot : spot + 2] = value
        with pytest.raises(ToolError, match="found no clipping"):
            declip(mono(y))
        plateau = float(chance[3])
        for _ in range(12):
            spot = next(spots)
            y[spot : spot + 3] = plateau
        done = declip(mono(y))
        assert done.levels[0][0] == pytest.approx(plateau, rel=1e-6)
        assert not np.isfinite(done.levels[0][1])
        assert done.clipped_samples[0] >= 12 * 3

    def test_full_scale_clipping_is_restored_under_full_scale(self):
        """Clipped at 0 dBFS, the restored peaks would pass full scale, where a 24-bit FLAC
        clips them again: by default the track is lowered just enough; gain 0 keeps the level."""
        y = harmonic(1.0, noise_db=-70)
        y *= 2.0 / np.max(np.abs(y))  # 6 dB too hot
        clipped = np.clip(y, -1.0, 1.0)
        done = declip(mono(clipped))
        out = done.audio.samples[0].astype(np.float64)
        assert np.max(np.abs(out)) == pytest.approx(10 ** (-0.1 / 20), rel=1e-5)
        assert done.gain_db == pytest.approx(-0.1 - done.restored_peak_dbfs)
        assert -9.0 < done.gain_db < -3.0
        scaled = y * 10 ** (done.gain_db / 20)
        assert snr_db(scaled, out) > snr_db(scaled, clipped * 10 ** (done.gain_db / 20)) + 6
        kept = declip(mono(clipped), makeup_gain_db=0.0)
        assert kept.gain_db == 0.0 and np.max(np.abs(kept.audio.samples)) > 1.5
        np.testing.assert_allclose(kept.audio.samples[0] * 10 ** (done.gain_db / 20), out, atol=1e-6)
        assert declip(mono(clipped), makeup_gain_db=-12.0).gain_db == -12.0

    def test_repair_the_clipping_to_flac_keeps_the_restored_peaks(self, cli, tmp_path):
        y = harmonic(1.0, noise_db=-70)
        y *= 2.0 / np.max(np.abs(y))
        source = save(mono(np.clip(y, -1.0, 1.0)), tmp_path / "hot.wav")
        result = cli("do", "repair the clipping", "-i", source, "-o", tmp_path / "fixed.flac")
        assert result.exit_code == 0, result.stderr
        assert "lowered the track by" in result.stderr
        fixed = load(tmp_path / "fixed.flac").samples[0]
        assert np.sum(np.abs(fixed) >= 0.999) == 0  # nothing clipped again on writing 24-bit

    def test_stereo_equals_each_channel_alone(self):
        left, right = harmonic(0.5), harmonic(0.5, f0=247.0, seed=1)
        left, right = np.clip(left, -0.3, 0.3), np.clip(right, -0.25, 0.35)
        stereo = declip(Audio.from_array(np.stack([left, right]).astype(np.float32), RATE))
        for c, y in enumerate((left, right)):
            np.testing.assert_allclose(stereo.audio.samples[c], declip(mono(y)).audio.samples[0],
                                       atol=1e-7)
