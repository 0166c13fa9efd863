"""Every example request of shared/requests/dev.jsonl, run as a person would: `echo-agent do`
with no LLM configured, checked on the outcome (levels, durations, loudness, silences, cuts),
not on the tool calls."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from evals.outcomes import check_outcome
from tests.conftest import noise, sine
from tools.core.audio import Audio, load, save

DEV = Path(__file__).parents[1].parent / "shared" / "requests" / "dev.jsonl"
# a few phrasings of our own beyond dev.jsonl, through the same command line
OWN = [
    {"request": "Make it 4 dB quieter, then fade in over half a second",
     "expect": {"fade_in_s": 0.5, "duration_change_s": 0}},
    {"request": "cut 0:03 to 0:04.5", "expect": {"removed": [3, 4.5]}},
    {"request": "trim to 2s - 10s then normalise to -18 LUFS", "expect": {"duration_s": 8, "lufs": -18}},
    {"request": "pad 1 second of silence at the end", "expect": {"duration_change_s": 1, "silent": [12, 13]}},
    {"request": "please remove the first 1.5 seconds", "expect": {"removed": [0, 1.5]}},
    {"request": "sing it in a higher key", "expect": {"refuse": True}},
]


def _cases():
    dev = [json.loads(line) for line in DEV.read_text().splitlines() if line.strip()] if DEV.is_file() else []
    for case in dev:
        yield pytest.param(case, id=f"dev: {case['request']}")
    for case in OWN:
        yield pytest.param(case, id=case["request"])


def _recording(seconds: float, rate: int) -> Audio:
    """Sound throughout: two tones (one gliding in level) over hiss, stereo."""
    tones = sine(196.0, duration_s=seconds, sample_rate=rate, channels=2, amplitude=0.2)
    upper = sine(523.0, duration_s=seconds, sample_rate=rate, channels=2, amplitude=0.1)
    hiss = noise(duration_s=seconds, sample_rate=rate, channels=2, level_db=-32.0, seed=3)
    return Audio.from_array(tones.samples + upper.samples + hiss.samples, rate)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("requests")
    return {"short": save(_recording(12.0, 44_100), folder / "in.wav"),
            "long": save(_recording(190.0, 16_000), folder / "long.wav")}


@pytest.mark.parametrize("case", list(_cases()))
def test_request_outcome(case, cli, tmp_path, inputs):
    source = inputs["long" if "input" in case else "short"]
    before_bytes = source.read_bytes()
    out = tmp_path / "out.wav"
    result = cli("do", case["request"], "-i", source, "-o", out)
    assert source.read_bytes() == before_bytes
    if case["expect"].get("refuse"):
        assert result.exit_code == 1, result.stderr
        assert not out.exists()
        error = result.stderr.strip().splitlines()[-1]
        assert error.startswith("echo-agent: error: line 1") or error.startswith("echo-agent: error:")
        return
    assert result.exit_code == 0, result.stderr
    after = load(out)
    assert np.all(np.isfinite(after.samples))
    before = load(source)
    if case["request"].startswith("Make it 4 dB quieter"):  # compare with the input 4 dB down
        from tools.gain import gain

        before = gain(before, gain_db=-4)
    check_outcome(before, after, case["expect"])


def test_dev_requests_are_there():
    if not DEV.is_file():
        pytest.skip(f"{DEV} not found (the shared folder is beside the checkout in CI)")
    assert sum(1 for line in DEV.read_text().splitlines() if line.strip()) >= 20
