"""`echo-agent denoise` and `echo-agent transcribe` from the command line."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import soundfile as sf

from evals.metrics import si_sdr_db
from tools.core.audio import Audio, load, resample, save


@pytest.fixture(params=["packaged", "dsp"])
def weights(request, monkeypatch) -> str:
    """Both paths of a model-backed command: the registry-packaged weights (the `models` extra,
    installed in CI) and the DSP defaults when they are hidden (ECHO_AGENT_PACKAGED=0)."""
    if request.param == "dsp":
        monkeypatch.setenv("ECHO_AGENT_PACKAGED", "0")
    return request.param


@pytest.fixture
def noisy_speech(speech_wav, tmp_path):
    clean = resample(load(speech_wav), sample_rate_hz=16_000)
    rng = np.random.default_rng(7)
    noise = rng.standard_normal(clean.samples.shape).astype(np.float32)
    noise *= np.sqrt(np.mean(clean.samples**2) / np.mean(noise**2)) * 10 ** (-5 / 20)  # 5 dB SNR
    return clean, save(Audio.from_array(clean.samples + noise, 16_000), tmp_path / "noisy.wav")


def test_denoise_command_improves_si_sdr_and_keeps_alignment(cli, tmp_path, noisy_speech, weights):
    clean, noisy_path = noisy_speech
    before = noisy_path.read_bytes()
    out = tmp_path / "clean.wav"
    result = cli("denoise", noisy_path, "-o", out)
    assert result.exit_code == 0, result.stderr
    if weights == "packaged":
        assert "denoised with DeepFilterNet 3" in result.stderr
    else:
        assert "offline default" in result.stderr  # says plainly that the fallback ran
    denoised = load(out)
    assert denoised.num_samples == clean.num_samples and denoised.sample_rate == 16_000
    noisy = load(noisy_path)
    gain = si_sdr_db(clean.samples, denoised.samples) - si_sdr_db(clean.samples, noisy.samples)
    assert gain > 3.0
    assert noisy_path.read_bytes() == before


def test_denoise_with_missing_deepfilternet_weights_is_a_setup_error(cli, tmp_path, noisy_speech):
    _, noisy_path = noisy_speech
    result = cli("denoise", noisy_path, "-o", tmp_path / "o.wav", "--backend", "deepfilternet",
                 "--model-dir", tmp_path / "nothing-here")
    assert result.exit_code == 2
    assert "nothing-here" in result.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "o.wav").exists()


def _check_transcript_file(text: str, fmt: str, duration: float, *, min_words: int) -> list[str]:
    """The words of a transcript file, after checking its format; times within the audio."""
    if fmt == "json":
        words = [w for s in json.loads(text)["segments"] for w in s["words"]]
        starts = [w["start_s"] for w in words]
        assert starts == sorted(starts) and 0 <= starts[0] and words[-1]["end_s"] <= duration + 0.05
        assert all(w["start_s"] <= w["end_s"] for w in words)
        found = [w["text"] for w in words]
    elif fmt == "srt":
        assert text.startswith("1\n00:00:") and " --> " in text
        found = [line for block in text.strip().split("\n\n") for line in block.splitlines()[2:]]
    elif fmt == "vtt":
        assert text.startswith("WEBVTT")
        found = [line for line in text.splitlines()[1:] if line and "-->" not in line]
    else:
        found = text.splitlines()
    found = [re.sub(r"[^a-z']", "", w.lower()) for line in found for w in line.split()]
    assert len(found) >= min_words
    return found


@pytest.mark.parametrize("fmt", ["txt", "json", "srt", "vtt"])
def test_transcribe_command_whisper_base(cli, tmp_path, speech_wav, fmt):
    """The default ear is the packaged Whisper base: the espeak words come back."""
    from tests.conftest import SPEECH_TEXT
    from tools.models import whisper

    if whisper.find_model("base")[0] is None:
        pytest.skip("Whisper base is not installed (pip install 'echo-agent[models]')")
    out = tmp_path / f"t.{fmt}"
    result = cli("transcribe", speech_wav, "--format", fmt, "-o", out)
    assert result.exit_code == 0, result.stderr
    assert "faster-whisper:base" in result.stderr and "pocketsphinx" not in result.stderr
    found = _check_transcript_file(out.read_text(), fmt, load(speech_wav).duration_s, min_words=20)
    said = [re.sub(r"[^a-z']", "", w.lower()) for w in SPEECH_TEXT.split()]
    heard = sum(1 for w in said if w in set(found))
    assert heard >= 0.85 * len(said), (heard, len(said), found)


@pytest.mark.parametrize("fmt", ["txt", "json"])
def test_transcribe_command_falls_back_to_pocketsphinx(cli, tmp_path, speech_wav, fmt, monkeypatch):
    """With no Whisper anywhere (no packaged weights, nothing cached), pocketsphinx runs and the
    command says so."""
    from tools.models import whisper

    monkeypatch.setenv("ECHO_AGENT_PACKAGED", "0")
    monkeypatch.setattr(whisper, "_in_hf_cache", lambda model: None)
    out = tmp_path / f"t.{fmt}"
    result = cli("transcribe", speech_wav, "--format", fmt, "-o", out)
    assert result.exit_code == 0, result.stderr
    assert "pocketsphinx" in result.stderr and "Whisper was not used" in result.stderr
    found = _check_transcript_file(out.read_text(), fmt, load(speech_wav).duration_s, min_words=10)
    assert len(set(found) & {"good", "morning", "welcome", "show", "today", "talk", "about"}) >= 2


def test_separate_command_two_stems_offline_and_missing_weights(cli, tmp_path, speech_wav, monkeypatch,
                                                                weights):
    monkeypatch.setenv("ECHO_AGENT_DEMUCS_REPO", str(tmp_path / "no-models"))
    out = tmp_path / "stems"
    result = cli("separate", speech_wav, "--two-stems", "vocals", "-o", out)
    assert result.exit_code == 0, result.stderr
    if weights == "packaged":  # no demucs weights: Spleeter 2-stem, and it says why
        assert "separated with Spleeter 2-stem" in result.stderr
        assert "demucs weights for 'htdemucs' are not on this machine" in result.stderr
    else:
        assert "fallback" in result.stderr
    paths = result.stdout.split()
    assert [p.rsplit(".", 2)[-2] for p in paths] == ["vocals", "no_vocals"]
    source = load(speech_wav)
    stems = [load(p) for p in paths]
    assert all(s.num_samples == source.num_samples and s.sample_rate == source.sample_rate for s in stems)
    full = cli("separate", speech_wav, "-o", out, "--backend", "demucs")
    assert full.exit_code == 2
    assert "no-models" in full.stderr.strip().splitlines()[-1]


def test_denoise_and_separate_keep_the_input_sample_format(cli, tmp_path, noisy_speech):
    _, noisy_path = noisy_speech
    pcm16 = tmp_path / "noisy16.wav"
    sf.write(pcm16, load(noisy_path).samples.T, 16_000, subtype="PCM_16")
    out = tmp_path / "clean16.wav"
    assert cli("denoise", pcm16, "-o", out).exit_code == 0
    assert sf.info(out).subtype == "PCM_16" and sf.info(out).frames == sf.info(pcm16).frames
    stems = cli("separate", pcm16, "--two-stems", "vocals", "--backend", "classical",
                "-o", tmp_path / "stems")
    assert stems.exit_code == 0, stems.stderr
    assert [sf.info(p).subtype for p in stems.stdout.split()] == ["PCM_16", "PCM_16"]
    floats = cli("separate", noisy_path, "--two-stems", "vocals", "--backend", "classical",
                 "-o", tmp_path / "stems_float")
    assert [sf.info(p).subtype for p in floats.stdout.split()] == ["FLOAT", "FLOAT"]


def test_clean_and_render_commands(cli, tmp_path, speech_wav):
    speech = load(speech_wav)
    rate = speech.sample_rate
    rng = np.random.default_rng(3)
    pause = 0.001 * rng.standard_normal((1, int(2.5 * rate)))  # dead air with a little room noise
    half = speech.num_samples // 2
    source = save(Audio.from_array(np.concatenate(
        [speech.samples[:, :half], pause, speech.samples[:, half:]], axis=1), rate), tmp_path / "talk.wav")
    out, report, labels = tmp_path / "clean.wav", tmp_path / "cuts.json", tmp_path / "cuts.txt"
    result = cli("clean", source, "-o", out, "--report", report, "--labels", labels, "--transcript", "none")
    assert result.exit_code == 0, result.stderr
    cuts = json.loads(report.read_text())["cuts"]
    assert cuts and {"start_s", "end_s", "kind", "text", "confidence", "source", "enabled"} <= set(cuts[0])
    assert load(out).duration_s < load(source).duration_s - 1.0  # the 2.5 s pause was shortened
    assert len(labels.read_text().strip().splitlines()) == len(cuts)
    data = json.loads(report.read_text())
    for cut in data["cuts"]:
        cut["enabled"] = False
    report.write_text(json.dumps(data))
    again = cli("render", report, "-o", tmp_path / "none.wav")
    assert again.exit_code == 0, again.stderr
    assert load(tmp_path / "none.wav").num_samples == load(source).num_samples
