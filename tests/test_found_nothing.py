"""A repair that finds nothing to repair says so the same way for clicks, dropouts, clipping,
breaths and sibilance: one line "found no ...", exit 1, and no output file."""

from __future__ import annotations

import numpy as np
import pytest

from tools.core.audio import Audio, save


@pytest.fixture
def tone(tmp_path):
    t = np.arange(3 * 48_000) / 48_000
    return save(Audio.from_array((0.3 * np.sin(2 * np.pi * 440 * t))[None].astype(np.float32),
                                 48_000), tmp_path / "tone.wav")


@pytest.mark.parametrize("request_, what", [("remove the clicks", "clicks"),
                                            ("fix the dropouts", "dropouts"),
                                            ("fix the clipping", "clipping"),
                                            ("remove the breaths", "breaths"),
                                            ("de-ess it", "sibilance")])
def test_found_nothing_exits_1_in_one_line_and_writes_nothing(cli, tmp_path, tone, request_, what):
    out = tmp_path / "out.wav"
    result = cli("do", request_, "-i", tone, "-o", out)
    assert result.exit_code == 1 and result.stdout == ""
    errors = [line for line in result.stderr.splitlines() if line.startswith("echo-agent: error:")]
    assert len(errors) == 1 and f"found no {what}: " in errors[0]
    assert errors[0].endswith("Nothing was changed.") and "Traceback" not in result.stderr
    assert not out.exists()


@pytest.mark.parametrize("recipe", ["instructions", "plan"])
def test_a_batch_notes_found_nothing_and_goes_on(tmp_path, tone, recipe):
    """Over a season of files, 'remove the clicks' on a clean one is no failure: the batch says
    so, runs the next step and writes the file."""
    import json
    import subprocess
    import sys

    import pyloudnorm
    import soundfile as sf

    if recipe == "instructions":
        path = tmp_path / "edits.txt"
        path.write_text("remove the clicks and pops\nnormalise to -20 LUFS\n")
    else:
        path = tmp_path / "plan.json"
        path.write_text(json.dumps([{"tool": "declick"},
                                    {"tool": "normalize_loudness", "args": {"target_lufs": -20}}]))
    out = tmp_path / "out"
    result = subprocess.run([sys.executable, "-m", "agent.cli", "batch", str(tone), "-o", str(out),
                             f"--{recipe}", str(path), "--json", "-q"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    entry = json.loads((out / "echo-agent-batch.json").read_text())["files"]
    (record,) = entry.values()
    assert record["state"] == "done"
    assert any("found no clicks, nothing to repair" in step for step in record["report"]["steps"])
    data, rate = sf.read(out / "tone.wav")
    assert abs(pyloudnorm.Meter(rate).integrated_loudness(data) + 20.0) < 0.5
