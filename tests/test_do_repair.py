"""Issue 6's requests through `echo-agent do` (offline planner): dropouts, clicks, clipping."""

from __future__ import annotations

import numpy as np
import pytest

from agent.planner import plan_request
from evals.metrics import snr_db
from tools.core.audio import Audio, load, save

RATE = 44_100


def _music(seconds: float = 6.0) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    tone = sum(a * np.sin(2 * np.pi * f * t + p) for a, f, p in ((0.3, 220, 0), (0.2, 330, 1), (0.1, 495, 2)))
    return (tone * (0.8 + 0.2 * np.sin(2 * np.pi * 0.5 * t))).astype(np.float32)


def test_fix_the_dropout(cli, tmp_path):
    clean = _music()
    damaged = clean.copy()
    span = slice(int(4.0 * RATE), int(4.004 * RATE))  # 4 ms of digital zeros at 0:04
    damaged[span] = 0.0
    source = save(Audio.from_array(damaged, RATE), tmp_path / "in.wav")
    result = cli("do", "fix the dropout at 0:04", "-i", source, "-o", tmp_path / "out.wav")
    assert result.exit_code == 0, result.stderr
    fixed = load(tmp_path / "out.wav").samples[0]
    assert snr_db(clean[span], fixed[span]) > snr_db(clean[span], damaged[span]) + 10


def test_a_dropout_heard_where_there_is_none_changes_nothing_and_says_where_they_are(cli, tmp_path):
    damaged = _music()
    damaged[int(4.0 * RATE) : int(4.004 * RATE)] = 0.0
    source = save(Audio.from_array(damaged, RATE), tmp_path / "in.wav")
    result = cli("do", "fix the dropout at 0:02", "-i", source, "-o", tmp_path / "out.wav")
    assert result.exit_code == 1
    assert "within 0.5 s of 2.00 s; found 1 elsewhere (at 4.00 s;" in result.stderr
    assert "Nothing was changed" in result.stderr
    assert not (tmp_path / "out.wav").exists()


@pytest.mark.parametrize("request_, expected", [
    ("fix the dropout at 0:04", [("repair_dropouts", {"near_s": 4.0})]),
    ("repair the dropouts", [("repair_dropouts", {})]),
    ("remove the clicks", [("declick", {})]),
    ("declick it gently", [("declick", {"sensitivity": 0.25})]),
    ("remove the mouth clicks with high sensitivity", [("declick", {"sensitivity": 0.8})]),
    ("remove the pops with lower sensitivity", [("declick", {"sensitivity": 0.25})]),
    ("repair the clipping", [("declip", {})]),
    ("reduce the breaths by 10 dB", [("reduce_breaths", {"reduction_db": 10.0})]),
    ("remove the breaths", [("reduce_breaths", {"remove": True})]),
    ("fill the gap from 1.2 to 1.25", [("inpaint_gap", {"start_s": 1.2, "end_s": 1.25})]),
])
def test_repair_requests_plan_to_their_tools(request_, expected):
    assert [(c.tool, c.args) for c in plan_request(request_, duration_s=12.0)] == expected


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
    assert snr_db(clean[near], fixed[near]) > snr_db(clean[near], clicked[near]) + 10


@pytest.mark.parametrize("clip_level", [0.4])
def test_repair_the_clipping(cli, tmp_path, clip_level):
    clean = _music()
    clipped = np.clip(clean, -clip_level, clip_level)
    source = save(Audio.from_array(clipped, RATE), tmp_path / "in.wav")
    result = cli("do", "repair the clipping", "-i", source, "-o", tmp_path / "out.wav")
    assert result.exit_code == 0, result.stderr
    fixed = load(tmp_path / "out.wav").samples[0]
    hit = np.abs(clipped) >= clip_level - 1e-6
    assert snr_db(clean[hit], fixed[hit]) > snr_db(clean[hit], clipped[hit]) + 3
