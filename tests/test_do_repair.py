"""Issue 6's requests through `echo-agent do` (offline planner): dropouts, clicks, clipping."""

from __future__ import annotations

import numpy as np
import pytest

from tools.audio import Audio, load, save

RATE = 44_100


def _music(seconds: float = 6.0) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    tone = sum(a * np.sin(2 * np.pi * f * t + p) for a, f, p in ((0.3, 220, 0), (0.2, 330, 1), (0.1, 495, 2)))
    return (tone * (0.8 + 0.2 * np.sin(2 * np.pi * 0.5 * t))).astype(np.float32)


def _snr_db(reference: np.ndarray, estimate: np.ndarray) -> float:
    return float(10 * np.log10(np.sum(reference**2) / max(np.sum((reference - estimate) ** 2), 1e-20)))


def test_fix_the_dropout(cli, tmp_path):
    clean = _music()
    damaged = clean.copy()
    span = slice(int(4.0 * RATE), int(4.004 * RATE))  # 4 ms of digital zeros at 0:04
    damaged[span] = 0.0
    source = save(Audio.from_array(damaged, RATE), tmp_path / "in.wav")
    result = cli("do", "fix the dropout at 0:04", "-i", source, "-o", tmp_path / "out.wav")
    assert result.exit_code == 0, result.stderr
    fixed = load(tmp_path / "out.wav").samples[0]
    assert _snr_db(clean[span], fixed[span]) > _snr_db(clean[span], damaged[span]) + 10


def test_remove_the_clicks(cli, tmp_path):
    clean = _music()
    clicked = clean.copy()
    positions = (np.arange(1, 11) * 0.5 * RATE).astype(int)
    for k, at in enumerate(positions):
        clicked[at:at + 3] += (0.6 if k % 2 else -0.6) * np.array([1.0, -0.7, 0.4])
    source = save(Audio.from_array(clicked, RATE), tmp_path / "in.wav")
    result = cli("do", "remove the clicks", "-i", source, "-o", tmp_path / "out.wav")
    assert result.exit_code == 0, result.stderr
    fixed = load(tmp_path / "out.wav").samples[0]
    near = np.concatenate([np.arange(at - 40, at + 40) for at in positions])
    assert _snr_db(clean[near], fixed[near]) > _snr_db(clean[near], clicked[near]) + 10


@pytest.mark.parametrize("clip_level", [0.4])
def test_repair_the_clipping(cli, tmp_path, clip_level):
    clean = _music()
    clipped = np.clip(clean, -clip_level, clip_level)
    source = save(Audio.from_array(clipped, RATE), tmp_path / "in.wav")
    result = cli("do", "repair the clipping", "-i", source, "-o", tmp_path / "out.wav")
    assert result.exit_code == 0, result.stderr
    fixed = load(tmp_path / "out.wav").samples[0]
    hit = np.abs(clipped) >= clip_level - 1e-6
    assert _snr_db(clean[hit], fixed[hit]) > _snr_db(clean[hit], clipped[hit]) + 3
