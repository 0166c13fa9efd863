"""Shared fixtures: generated audio (sines, chirps, espeak-ng speech), isolated user folders,
an in-process CLI runner."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from tools.core.audio import Audio, save
from tools.core.session import Session


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory, monkeypatch):
    """Keep sessions, caches and config of every test away from the user's real folders."""
    home = tmp_path_factory.mktemp("echo-home")
    monkeypatch.setenv("ECHO_AGENT_HOME", str(home))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "ECHO_AGENT_MODEL"):
        monkeypatch.delenv(name, raising=False)
    return home


def sine(freq_hz: float = 440.0, *, duration_s: float = 1.0, sample_rate: int = 48_000,
         channels: int = 1, amplitude: float = 0.5, fade_ms: float = 10.0) -> Audio:
    """A sine with short fades, as pedalboard's generate_sine_at."""
    t = np.arange(int(duration_s * sample_rate)) / sample_rate
    y = amplitude * np.sin(2 * np.pi * freq_hz * t)
    fade = int(fade_ms * 1e-3 * sample_rate)
    if fade:
        ramp = np.linspace(0.0, 1.0, fade)
        y[:fade] *= ramp
        y[-fade:] *= ramp[::-1]
    return Audio.from_array(np.tile(y, (channels, 1)), sample_rate)


def noise(*, duration_s: float = 1.0, sample_rate: int = 48_000, channels: int = 1,
          level_db: float = -20.0, seed: int = 0) -> Audio:
    rng = np.random.default_rng(seed)
    y = rng.standard_normal((channels, int(duration_s * sample_rate))) * 10 ** (level_db / 20)
    return Audio.from_array(y, sample_rate)


def espeak(text: str, path: Path, *, voice: str = "en-us", speed_wpm: int = 160) -> Path:
    """Speak ``text`` to a WAV file with espeak-ng (22.05 kHz mono)."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    subprocess.run([exe, "-v", voice, "-s", str(speed_wpm), "-w", str(path), text], check=True,
                   capture_output=True)
    return path


SPEECH_TEXT = (
    "Good morning and welcome to the show. Today we talk about recording at home, "
    "about microphones, rooms and the small habits that make a voice sound clear. "
    "Thank you for listening, and see you next week."
)


@pytest.fixture(scope="session")
def speech_wav(tmp_path_factory) -> Path:
    """About 12 s of synthetic speech (espeak-ng), 22.05 kHz mono WAV."""
    return espeak(SPEECH_TEXT, tmp_path_factory.mktemp("speech") / "speech.wav")


@pytest.fixture
def write(tmp_path):
    """write(audio, name) -> path of a WAV (or other format by extension) in tmp_path."""

    def _write(audio: Audio, name: str = "in.wav") -> Path:
        return save(audio, tmp_path / name)

    return _write


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str


def _cli_runner(capture):
    """``echo-agent ARGS`` run in-process, its output read from the pytest ``capture`` fixture."""
    from agent.cli import main

    def _run(*args: str | os.PathLike) -> CliResult:
        capture.readouterr()
        try:
            code = main([str(a) for a in args])
        except SystemExit as exc:  # argparse usage errors and --help/--version
            code = exc.code if isinstance(exc.code, int) else 0
        out, err = capture.readouterr()
        return CliResult(code, out, err)

    return _run


@pytest.fixture
def cli(capsys):
    """Run ``echo-agent ARGS`` in-process; returns exit code, stdout and stderr."""
    return _cli_runner(capsys)


@pytest.fixture
def cli_fd(capfd):
    """As ``cli``, but capturing file descriptors 1 and 2, so that a C library or a child process
    writing to the terminal counts against the one-line error rule too."""
    return _cli_runner(capfd)


def assert_one_error_line(result: CliResult, *, code: int = 2, mentions: str | None = None) -> str:
    """``result`` failed with ``code`` and exactly one ``echo-agent: error: ...`` line on stderr
    (mentioning ``mentions``), no traceback and nothing on stdout; returns that line."""
    assert result.exit_code == code, result
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and result.stderr.endswith("\n"), result.stderr
    line = lines[0]
    assert line.startswith("echo-agent: error: ") and len(line) > len("echo-agent: error: ") + 5
    if mentions is not None:
        assert mentions in line
    assert result.stdout == ""
    return line


@pytest.fixture
def plan(tmp_path) -> Path:
    """A one-step plan file (-3 dB) for ``echo-agent run``."""
    path = tmp_path / "plan.json"
    path.write_text(json.dumps([{"tool": "gain", "args": {"gain_db": -3}}]))
    return path


def bursts(duration_s: float = 2.0, *, sample_rate: int = 48_000, channels: int = 1,
           seed: int = 0) -> Audio:
    """Speech-like test material: noise under a 3 Hz 'syllable' envelope (quiet dips between
    bursts), peaks at most 0.5."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(duration_s * sample_rate)) / sample_rate
    y = rng.standard_normal((channels, t.size)) * np.sin(np.pi * 3 * t) ** 2 * 0.1
    return Audio.from_array(np.clip(y, -0.5, 0.5), sample_rate)


def percussive(*, duration_s: float = 3.0, sample_rate: int = 48_000) -> Audio:
    """Stereo square-ish 110 Hz hits (a clipped sine under fast decays, four a second): peaky
    material that only reaches a high loudness through the limiter."""
    t = np.arange(int(duration_s * sample_rate)) / sample_rate
    hits = np.clip(3 * np.sin(2 * np.pi * 110 * t), -1, 1) * 0.9 * np.exp(-(t % 0.25) * 30)
    return Audio.from_array(np.stack([hits, 0.7 * hits]), sample_rate)


@pytest.fixture
def session(tmp_path):
    with Session.create(tmp_path / "session") as opened:
        opened.add_track("take", sine(440.0, duration_s=2.0, amplitude=0.25))
        yield opened


# ----------------------------------------------------------------------------- repair signals

REPAIR_RATE = 16_000


def harmonic(duration_s: float = 2.0, *, f0: float = 196.0, rate: int = REPAIR_RATE, seed: int = 0,
             noise_db: float = -60.0) -> np.ndarray:
    """A sustained harmonic tone (6 partials, slow vibrato-free) plus a little white noise."""
    t = np.arange(int(duration_s * rate)) / rate
    y = sum(0.3 / k * np.sin(2 * np.pi * f0 * k * t + k) for k in range(1, 7))
    return y + np.random.default_rng(seed).standard_normal(t.size) * 10 ** (noise_db / 20)


def mono(y: np.ndarray, rate: int = REPAIR_RATE) -> Audio:
    return Audio.from_array(np.asarray(y, np.float32), rate)


def assert_untouched_and_finite(before: np.ndarray, audio: Audio, out: Audio) -> None:
    np.testing.assert_array_equal(audio.samples, before)
    assert out.samples.shape == audio.samples.shape
    assert np.all(np.isfinite(out.samples))
