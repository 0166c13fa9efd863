"""`echo-agent run PLAN`: the spine's end-to-end job, on speech, asserted by its numbers."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from scipy.signal import butter, sosfilt

from tools.core.audio import Audio, load, save
from tools.core.dsp import integrated_loudness, rms_db
from tools.core.session import Session

PLAN = [
    {"tool": "cut", "args": {"start_s": 1.0, "end_s": 2.0}},
    {"tool": "gain", "args": {"gain_db": 3}},
    {"tool": "fade", "args": {"direction": "out", "duration_s": 2}},
    {"tool": "normalize_loudness", "args": {"target_lufs": -16}},
]


def click_score(samples: np.ndarray, rate: int, at_s: float, reference: np.ndarray) -> float:
    """Largest high-passed (>4 kHz) second difference within 20 ms of ``at_s``, relative to the
    99.9th percentile of the same measure over ``reference`` (the unedited recording)."""

    def hf(x):
        sos = butter(4, 4000, "highpass", fs=rate, output="sos")
        return np.abs(np.diff(sosfilt(sos, x.mean(axis=0)), n=2))

    window = int(0.02 * rate)
    seam = int(at_s * rate)
    return float(hf(samples)[seam - window:seam + window].max() / np.percentile(hf(reference), 99.9))


@pytest.fixture
def speech_with_tone(speech_wav, tmp_path):
    """Speech over a steady 237.7 Hz hum (never silent, so a bad splice at 1 s / 2 s would click)."""
    speech = load(speech_wav)
    t = np.arange(speech.num_samples) / speech.sample_rate
    mixed = speech.samples + 0.1 * np.sin(2 * np.pi * 237.7 * t)
    return save(Audio.from_array(mixed, speech.sample_rate), tmp_path / "speech.wav")


def test_the_basic_plan_on_speech(cli, tmp_path, speech_with_tone):
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps(PLAN))
    digest = hashlib.sha256(speech_with_tone.read_bytes()).hexdigest()
    out = tmp_path / "out.wav"

    result = cli("run", plan, "-i", speech_with_tone, "-o", out, "--session", tmp_path / "s")

    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == str(out)
    assert hashlib.sha256(speech_with_tone.read_bytes()).hexdigest() == digest
    source, edited = load(speech_with_tone), load(out)
    rate = source.sample_rate
    assert edited.num_samples == source.num_samples - rate  # exactly 1 s shorter
    assert integrated_loudness(edited.samples, rate) == pytest.approx(-16.0, abs=0.5)
    # fades to silence: the last 5 ms are below -60 dBFS; the fade's gain (faded / unfaded version)
    # is exactly 1 before the last 2 s and falls monotonically to 0 over them
    assert rms_db(edited.samples[:, -int(0.005 * rate):]) < -60
    with Session.open(tmp_path / "s") as session:
        steps = session.history()
        unfaded = session.version_audio(steps[2].changes[0].version).samples[0]
        faded = session.version_audio(steps[3].changes[0].version).samples[0]
    fade_start = faded.size - 2 * rate
    assert np.array_equal(faded[:fade_start], unfaded[:fade_start])
    audible = np.abs(unfaded[fade_start:]) > 1e-3
    ratio = (faded[fade_start:] / np.where(audible, unfaded[fade_start:], 1.0))[audible]
    assert np.all(np.diff(ratio) <= 1e-6) and ratio[0] > 0.99 and ratio[-1] < 0.01
    # no click at the cut: no transient beyond the recording's own
    assert click_score(edited.samples, rate, 1.0, source.samples) <= 1.0


def test_click_score_detects_a_hard_splice(speech_with_tone):
    """The click measure above can fail: a butt splice of the same span scores far worse."""
    from tools.cut import cut

    source = load(speech_with_tone)
    rate = source.sample_rate
    spliced = np.concatenate([source.samples[:, :rate], source.samples[:, 2 * rate:]], axis=1)
    ours = cut(source, start_s=1.0, end_s=2.0).samples
    assert click_score(spliced, rate, 1.0, source.samples) > 3 * click_score(ours, rate, 1.0, source.samples)


def test_yaml_plan_and_dry_run(cli, tmp_path, speech_wav):
    plan = tmp_path / "plan.yaml"
    plan.write_text("steps:\n  - tool: gain\n    args: {gain_db: -6}\n  - tool: fade\n"
                    "    args: {direction: in, duration_s: 0.5}\n")
    out = tmp_path / "out.flac"
    result = cli("run", plan, "-i", speech_wav, "-o", out, "--dry-run")
    assert result.exit_code == 0
    assert result.stdout.splitlines() == ['1. gain {"gain_db": -6}',
                                          '2. fade {"direction": "in", "duration_s": 0.5}']
    assert not out.exists()
    assert cli("run", plan, "-i", speech_wav, "-o", out).exit_code == 0
    half = load(speech_wav).sample_rate // 2
    assert rms_db(load(out).samples[:, half:]) == pytest.approx(
        rms_db(load(speech_wav).samples[:, half:]) - 6, abs=0.01)


def test_a_failing_step_names_its_number_and_writes_nothing(cli, tmp_path, speech_wav):
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps([{"tool": "gain", "args": {"gain_db": 3}},
                                {"tool": "cut", "args": {"start_s": 100, "end_s": 101}}]))
    out = tmp_path / "out.wav"
    result = cli("run", plan, "-i", speech_wav, "-o", out)
    assert result.exit_code == 1
    assert result.stderr.strip().startswith("echo-agent: error: step 2 (cut): start_s=100 is at or beyond")
    assert len(result.stderr.strip().splitlines()) == 1
    assert not out.exists()
    assert list(tmp_path.glob(".out.wav*")) == []


@pytest.mark.parametrize(
    ("content", "code", "message"),
    [
        ('[{"tool": "gain", "args": {"gain_db": 300}}]', 1, "step 1 (gain): gain: gain_db=300"),
        ('[{"tool": "explode"}]', 1, 'step 1 (explode): tool "explode" does not exist'),
        ('[{"tool": "gain", "args": {"gain_db": 3}, "when": 1}]', 1, "step 1 (gain): unknown keys"),
        ('{"not": "a plan"}', 2, "a plan is a non-empty list"),
        ("[{", 2, "not a valid plan"),
    ],
)
def test_invalid_plans(cli, tmp_path, speech_wav, content, code, message):
    plan = tmp_path / "plan.json"
    plan.write_text(content)
    result = cli("run", plan, "-i", speech_wav, "-o", tmp_path / "out.wav")
    assert result.exit_code == code
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_session_folder_keeps_every_version(cli, tmp_path, speech_wav):
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps(PLAN))
    root = tmp_path / "session"
    assert cli("run", plan, "-i", speech_wav, "-o", tmp_path / "o.wav", "--session", root).exit_code == 0
    with Session.open(root) as session:
        assert [s.tool for s in session.history()] == ["open"] + [p["tool"] for p in PLAN]
        session.undo()
        assert session.audio().num_samples == load(speech_wav).num_samples - load(speech_wav).sample_rate
