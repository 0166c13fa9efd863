"""Shared fixtures: generated audio (sines, chirps, espeak-ng speech), isolated user folders,
an in-process CLI runner."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from tools.audio import Audio, save


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


@pytest.fixture
def cli(capsys):
    """Run ``echo-agent ARGS`` in-process; returns exit code, stdout and stderr."""
    from agent.cli import main

    def _run(*args: str) -> CliResult:
        capsys.readouterr()
        try:
            code = main([str(a) for a in args])
        except SystemExit as exc:  # argparse usage errors and --help/--version
            code = exc.code if isinstance(exc.code, int) else 0
        out, err = capsys.readouterr()
        return CliResult(code, out, err)

    return _run
