"""`echo-agent models` (every model, where, size, licence, hash), `echo-agent info --quality`
(DNSMOS) and the PLCMOS scorer, with the real packaged weights where the models extra is in."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tools.core.audio import Audio, load, resample, save
from tools.models import packaged, sources

NAMES = ("Whisper base", "DeepFilterNet 3 (libDF)", "Spleeter 2 stems", "DNSMOS P.835",
         "PLCMOS v2", "RNNoise", "Silero VAD v6", "pocketsphinx en-us")


def _installed(*models) -> bool:
    return all(not sources.missing_packages(m) or sources.cached_ok(m) for m in models)


needs_extra = pytest.mark.skipif(not _installed(*packaged.ALL),
                                 reason="the models extra is not installed: "
                                        "pip install -e '.[models]'")


@pytest.fixture
def own_cache(tmp_path, monkeypatch):
    monkeypatch.delenv(sources.CACHE_ENV, raising=False)
    monkeypatch.delenv(sources.PACKAGED_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg" / "echo-agent" / "models"


@needs_extra
def test_models_lists_the_packaged_weights_found_and_verified(cli, own_cache):
    result = cli("models", "--json", "--offline")
    assert result.exit_code == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    for name in NAMES:
        assert name in rows, name
    expected = {"Whisper base": (packaged.WHISPER_BASE, "905e5bf8336b"),
                "DeepFilterNet 3 (libDF)": (packaged.DEEPFILTERNET3, "c94d91f70911"),
                "DNSMOS P.835": (packaged.DNSMOS, "269fbebdb513")}
    assert sum(p.size for f in packaged.WHISPER_BASE.files for p in f.parts) == 150_218_479
    for name, (model, sha) in expected.items():
        row = rows[name]
        assert row["status"] == "found" and row["verified"] is True, row
        assert row["sha256"].startswith(sha) and str(own_cache / model.key) in row["where"]
        weights = sum(part.size for spec in model.files for part in spec.parts)
        manifest = own_cache / model.key / "manifest.json"
        assert row["size_bytes"] == weights + manifest.stat().st_size
    assert rows["Spleeter 2 stems"]["verified"] is True
    assert rows["demucs htdemucs"]["status"] == "missing"  # --offline: no download would start
    assert "ECHO_AGENT_OFFLINE" in rows["demucs htdemucs"]["where"]
    assert rows["RNNoise"]["status"] == "built-in"
    assert rows["Whisper base"]["licence"].startswith("MIT")


@needs_extra
def test_models_table_and_a_damaged_cache_is_rebuilt(cli, own_cache):
    first = cli("models")
    assert first.exit_code == 0, first.stderr
    lines = first.stdout.splitlines()
    assert lines[0].split() == ["MODEL", "TASK", "STATUS", "SIZE", "LICENCE", "SHA-256"]
    whisper = next(line for line in lines if line.startswith("Whisper base"))
    assert "found" in whisper and "150.2 MB" in whisper and "905e5bf8336b verified" in whisper
    config = own_cache / packaged.WHISPER_BASE.key / "config.json"
    damaged = bytearray(config.read_bytes())
    damaged[10] ^= 0x01
    config.write_bytes(bytes(damaged))  # same size, newer time: caught by the re-hash
    again = cli("models")
    assert again.exit_code == 0 and "905e5bf8336b verified" in again.stdout
    assert config.read_bytes() != bytes(damaged)


def test_models_without_the_extra_says_where_to_get_them(cli, own_cache, monkeypatch):
    monkeypatch.setenv(sources.PACKAGED_ENV, "0")
    monkeypatch.setenv("ECHO_AGENT_DFN_DIR", "")
    result = cli("models", "--json", "--offline")
    assert result.exit_code == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    for name in ("Spleeter 2 stems", "DNSMOS P.835", "PLCMOS v2"):
        assert rows[name]["status"] == "missing"
        assert "pip install 'echo-agent[models]'" in rows[name]["where"]
    assert not own_cache.exists()  # nothing was assembled


@pytest.fixture(scope="module")
def speech_16k(speech_wav):
    return resample(load(speech_wav), sample_rate_hz=16_000)


@needs_extra
def test_info_quality_scores_clean_above_noisy(cli, tmp_path, speech_16k):
    clean = speech_16k.samples * 0.5
    noise = np.random.default_rng(3).standard_normal(clean.shape).astype(np.float32)
    noisy = clean + noise * np.sqrt(np.mean(clean**2) / np.mean(noise**2))  # 0 dB SNR
    scores = {}
    for name, samples in (("clean", clean), ("noisy", noisy)):
        path = save(Audio.from_array(samples, 16_000), tmp_path / f"{name}.wav")
        result = cli("info", path, "--quality", "--json")
        assert result.exit_code == 0, result.stderr
        scores[name] = json.loads(result.stdout)
    for key in ("dnsmos_sig", "dnsmos_bak", "dnsmos_ovrl"):
        assert 1.0 <= scores["noisy"][key] <= 5.0 and 1.0 <= scores["clean"][key] <= 5.0
    assert scores["clean"]["dnsmos_bak"] > scores["noisy"]["dnsmos_bak"] + 1.0
    assert scores["clean"]["dnsmos_ovrl"] > scores["noisy"]["dnsmos_ovrl"] + 0.5
    text = cli("info", tmp_path / "noisy.wav", "--quality")
    assert text.stdout.strip().endswith(f"DNSMOS SIG {scores['noisy']['dnsmos_sig']:.2f}, BAK "
                                        f"{scores['noisy']['dnsmos_bak']:.2f}, OVRL "
                                        f"{scores['noisy']['dnsmos_ovrl']:.2f} (1-5)")


@needs_extra
def test_dnsmos_takes_any_rate_and_channels(speech_16k):
    from tools.models.dnsmos import dnsmos

    at_16k = dnsmos(speech_16k.samples, 16_000)
    stereo_48k = resample(speech_16k, sample_rate_hz=48_000).samples.repeat(2, axis=0)
    at_48k = dnsmos(stereo_48k, 48_000)
    assert abs(at_48k.ovrl - at_16k.ovrl) < 0.05 and abs(at_48k.sig - at_16k.sig) < 0.05


@needs_extra
def test_plcmos_prefers_filled_gaps_to_dropouts(speech_16k):
    from tools.models.dnsmos import plcmos

    clean = speech_16k.samples[0] * 0.5
    dropped = clean.copy()
    for start in range(8_000, clean.size - 4_000, 8_000):
        dropped[start:start + 1_600] = 0.0  # 100 ms lost every 0.5 s
    intact, broken = plcmos(clean, 16_000), plcmos(dropped, 16_000)
    assert plcmos(clean, 16_000) == intact  # seeded rater embeddings: repeatable
    assert 1.0 <= broken < intact <= 5.0
    assert intact - broken > 0.5, (intact, broken)


def test_quality_refuses_too_short_audio():
    from tools.core.errors import ToolArgumentError
    from tools.models.dnsmos import dnsmos

    with pytest.raises(ToolArgumentError, match=r"the audio is 0\.50 s long; quality scores "
                                                r"need at least 1 s"):
        dnsmos(np.zeros(8_000, np.float32), 16_000)


@needs_extra
def test_a_packaged_file_with_another_hash_is_refused_in_one_line(cli, own_cache, monkeypatch,
                                                                   tmp_path, speech_16k):
    import dataclasses

    from conftest import assert_one_error_line

    from tools.models import dnsmos

    first = packaged.DNSMOS.files[0]
    wrong = dataclasses.replace(first, parts=(dataclasses.replace(first.parts[0],
                                                                  sha256="ab" * 32),))
    monkeypatch.setattr(packaged, "DNSMOS", dataclasses.replace(
        packaged.DNSMOS, files=(wrong, *packaged.DNSMOS.files[1:])))
    dnsmos.scorer.cache_clear()
    path = save(speech_16k, tmp_path / "talk.wav")
    try:
        result = cli("info", path, "--quality")
    finally:
        dnsmos.scorer.cache_clear()
    line = assert_one_error_line(result, code=2, mentions="sig_bak_ovr.onnx: its SHA-256 is ")
    assert "the recorded value is abababababababab..." in line
    assert "pip install --force-reinstall --no-deps speechmos==0.0.1.1" in line
    assert not (own_cache / packaged.DNSMOS.key).exists()
