"""Eval metrics on generated signals with known answers, and the evals runner end to end.

Nothing here needs the corpus; the one test that reads it skips when it is absent.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from evals import metrics
from evals.corpus import ENV_VAR, CorpusMissing, corpus_root
from evals.runner import run_suite
from evals.suites import SUITES

REPO = Path(__file__).resolve().parents[1]
RATE = 16_000


def tone(freq_hz: float = 440.0, *, duration_s: float = 2.0, amplitude: float = 0.5,
         sample_rate: int = RATE) -> np.ndarray:
    t = np.arange(int(duration_s * sample_rate)) / sample_rate
    return amplitude * np.sin(2 * np.pi * freq_hz * t)


def noise_at_snr(reference: np.ndarray, snr_db: float, *, seed: int = 0) -> np.ndarray:
    """White noise scaled so that sum(ref^2) / sum(noise^2) is exactly ``snr_db``."""
    noise = np.random.default_rng(seed).standard_normal(reference.shape)
    return noise * np.sqrt(np.sum(reference**2) / np.sum(noise**2) / 10 ** (snr_db / 10))


# ----------------------------------------------------------------------------- SI-SDR, SNR


def test_si_sdr_of_identical_signals_is_infinite():
    ref = tone()
    assert metrics.si_sdr_db(ref, ref) == math.inf
    assert metrics.si_sdr_db(ref, ref.copy()) > 100


@pytest.mark.parametrize("snr_db", [0.0, 10.0, 20.0])
def test_si_sdr_of_reference_plus_noise_is_the_snr(snr_db):
    ref = tone() + 0.3 * tone(1234.0)
    assert metrics.si_sdr_db(ref, ref + noise_at_snr(ref, snr_db)) == pytest.approx(snr_db, abs=0.2)


def test_si_sdr_is_scale_and_offset_invariant():
    ref = tone()
    est = ref + noise_at_snr(ref, 12.0)
    base = metrics.si_sdr_db(ref, est)
    for scaled in (0.01 * est, -4.0 * est, est + 0.2):
        assert metrics.si_sdr_db(ref, scaled) == pytest.approx(base, abs=1e-9)


def test_si_sdr_of_stereo_is_the_mean_of_its_channels():
    left, right = tone(), tone(660.0)
    ref = np.vstack([left, right])
    est = np.vstack([left + noise_at_snr(left, 5.0, seed=1), right + noise_at_snr(right, 15.0, seed=2)])
    per_channel = [metrics.si_sdr_db(ref[c], est[c]) for c in range(2)]
    assert metrics.si_sdr_db(ref, est) == pytest.approx(np.mean(per_channel), abs=1e-12)
    assert metrics.si_sdr_db(ref[np.newaxis, 0], est[np.newaxis, 0]) == per_channel[0]


def test_si_sdr_silence_gives_explicit_infinities_never_nan():
    ref, silent = tone(), np.zeros(2 * RATE)
    assert metrics.si_sdr_db(ref, silent) == -math.inf
    assert metrics.si_sdr_db(silent, ref) == -math.inf
    assert metrics.si_sdr_db(silent, silent) == math.inf
    stereo = metrics.si_sdr_db(np.vstack([ref, ref]), np.vstack([ref, silent]))
    assert stereo == -math.inf


def test_metrics_refuse_mismatched_shapes_naming_them():
    with pytest.raises(ValueError, match=r"\(1, 100\).*\(1, 99\)"):
        metrics.si_sdr_db(np.ones(100), np.ones(99))
    with pytest.raises(ValueError, match="NaN"):
        metrics.snr_db(np.ones(10), np.full(10, np.nan))


def test_snr_counts_gain_errors_as_noise():
    ref = tone()
    assert metrics.snr_db(ref, ref + noise_at_snr(ref, 20.0)) == pytest.approx(20.0, abs=1e-9)
    assert metrics.snr_db(ref, ref) == math.inf
    assert metrics.snr_db(ref, 0.5 * ref) == pytest.approx(20 * np.log10(2), abs=1e-9)
    assert metrics.snr_db(np.zeros(10), np.ones(10)) == -math.inf


# ----------------------------------------------------------------------------- BSS-eval


def test_sdr_of_pure_crosstalk_is_the_crosstalk_level():
    """Estimates = source + 0.1 x the other source: only interference, SIR = SDR = about 20 dB.

    BSS-eval lets the target through a 512-tap filter, which absorbs about 512/n of the (white)
    interference's energy: the expected value is 20 - 10 log10(1 - 512/n) dB.
    """
    rng = np.random.default_rng(7)
    n = 16_000
    expected_db = 20 - 10 * np.log10(1 - 512 / n)
    sources = rng.standard_normal((2, n))
    estimates = sources + 0.1 * sources[::-1] * np.sqrt(
        np.sum(sources**2, axis=1, keepdims=True) / np.sum(sources[::-1] ** 2, axis=1, keepdims=True))
    scores = metrics.sdr_db(sources, estimates)
    assert scores.permutation == (0, 1)
    np.testing.assert_allclose(scores.sir_db, [expected_db] * 2, atol=0.1)
    np.testing.assert_allclose(scores.sdr_db, [expected_db] * 2, atol=0.1)
    assert min(scores.sar_db) > 60
    swapped = metrics.sdr_db(sources, estimates[::-1])
    assert swapped.permutation == (1, 0)
    np.testing.assert_allclose(swapped.sdr_db, scores.sdr_db, atol=1e-9)


def test_sdr_refuses_silent_sources_by_index():
    sources = np.random.default_rng(0).standard_normal((2, 4000))
    with pytest.raises(ValueError, match=r"estimated source\(s\) \[1\]"):
        metrics.sdr_db(sources, np.vstack([sources[0], np.zeros(4000)]))


# ----------------------------------------------------------------------------- loudness, time, LSD


@pytest.mark.parametrize(("amplitude_db", "expected_lufs"), [(0.0, -3.01), (-20.0, -23.01)])
def test_lufs_of_a_997_hz_sine_follows_bs1770(amplitude_db, expected_lufs):
    rate = 48_000
    sine = tone(997.0, duration_s=5.0, amplitude=10 ** (amplitude_db / 20), sample_rate=rate)
    assert metrics.lufs(sine, rate) == pytest.approx(expected_lufs, abs=0.05)
    assert metrics.lufs(np.vstack([sine, sine]), rate) == pytest.approx(expected_lufs + 3.01, abs=0.05)


def test_lufs_of_silence_and_short_signals_is_minus_infinity():
    assert metrics.lufs(np.zeros(RATE), RATE) == -math.inf
    assert metrics.lufs(tone(duration_s=0.3), RATE) == -math.inf


def test_duration_in_seconds():
    assert metrics.duration_s(np.zeros((2, 24_000)), 48_000) == 0.5
    assert metrics.duration_s(np.zeros(16_000), RATE) == 1.0
    with pytest.raises(ValueError, match="sample_rate=0"):
        metrics.duration_s(np.zeros(10), 0)


def test_log_spectral_distance():
    rng = np.random.default_rng(3)
    x = 0.1 * rng.standard_normal((2, RATE))
    assert metrics.log_spectral_distance_db(x, x, RATE) == 0.0
    # a 6.02 dB gain shifts every bin by 6.02 dB (nearly all far above the -100 dB floor)
    assert metrics.log_spectral_distance_db(x, 2 * x, RATE) == pytest.approx(20 * np.log10(2), abs=1e-3)
    silent = np.zeros((2, RATE))
    assert metrics.log_spectral_distance_db(silent, silent, RATE) == 0.0
    assert np.isfinite(metrics.log_spectral_distance_db(x, silent, RATE))
    assert np.isfinite(metrics.log_spectral_distance_db(x[:, :10], x[:, :10] * 0.5, RATE))


def test_seam_click_score_tells_a_butt_splice_from_a_crossfade():
    from evals.suites.spine import seam_click_score
    from tools.core.audio import Audio
    from tools.cut import cut

    rate = 44_100
    x = tone(441.5, duration_s=3.0, sample_rate=rate)
    x = x + 1e-3 * np.random.default_rng(0).standard_normal(x.size)
    audio = Audio.from_array(x, rate)
    # removing 1.1 ms (about half a period) leaves a phase jump at the seam
    butt = cut(audio, start_s=1.0, end_s=1.0011, crossfade_ms=0, search_ms=0)
    faded = cut(audio, start_s=1.0, end_s=1.0011, crossfade_ms=10, search_ms=0)
    butt_score, seam_s = seam_click_score(audio.samples, butt.samples, rate)
    faded_score, _ = seam_click_score(audio.samples, faded.samples, rate)
    assert seam_s == pytest.approx(1.0, abs=1e-3)
    assert butt_score > 4
    assert faded_score < 1.5


# ----------------------------------------------------------------------------- corpus, runner


def test_missing_corpus_names_the_place_and_the_variable(monkeypatch, tmp_path):
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "nowhere"))
    with pytest.raises(CorpusMissing, match=f"nowhere.*{ENV_VAR}"):
        corpus_root()


@pytest.mark.parametrize("name", ["metrics", "spine"])
def test_suites_are_skipped_without_the_corpus(monkeypatch, tmp_path, name):
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "nowhere"))
    result = run_suite(name, SUITES[name])
    assert result.status == "skipped"
    assert any("corpus not found at" in note and "nowhere" in note for note in result.notes)


def test_python_m_evals_writes_json_and_markdown(tmp_path):
    out = tmp_path / "reports"
    proc = subprocess.run([sys.executable, "-m", "evals", "metrics", "--out", str(out)],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads((out / "metrics.json").read_text())
    assert report["name"] == "metrics"
    assert report["status"] in ("ok", "skipped")
    assert report["rows"] and report["elapsed_s"] > 0
    assert all(row["pass"] for row in report["rows"])
    if report["status"] == "ok":  # the corpus is there: sdr_db met mir_eval's regression vectors
        assert sum(row["case"].startswith("bss_eval set") for row in report["rows"]) >= 1
    markdown = (out / "metrics.md").read_text()
    assert "| case |" in markdown
    assert "metrics" in (out / "summary.md").read_text()
    assert "| case |" in proc.stdout


def test_cli_lists_suites_and_refuses_unknown_ones(capsys):
    from evals.__main__ import main

    assert main(["--list"]) == 0
    listed = capsys.readouterr().out
    assert all(name in listed for name in SUITES)
    assert main(["nosuch"]) == 2
    assert 'suite "nosuch" does not exist; expected one of: metrics' in capsys.readouterr().err
