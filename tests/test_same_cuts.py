"""One ask, one detection, the same cuts: "remove all the ums and uhs" through ``do``, through the
chat, and ``echo-agent clean --kinds filler`` at the same level cut the same spans of the same file
(the issue: ``do`` ran two filler passes and took 3.7 s off a clip that ``clean`` took 1.9 s off)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from test_disfluency import recording  # noqa: F401  (the fixture: espeak speech with fillers)

from agent.planner import plan_request
from tools.core.audio import load, save


@pytest.mark.parametrize("request_", ["remove all the ums and uhs", "remove the ums and the uhs",
                                      "cut the uhs, ums and hmms", "remove the filler words"])
def test_the_fillers_asked_for_together_are_one_detection(request_):
    calls = plan_request(request_, duration_s=60.0)
    assert [(c.tool, c.args) for c in calls] == [("remove_disfluencies", {"kinds": ["filler"]})]


def test_do_chat_and_clean_cut_the_same_spans(tmp_path, recording):  # noqa: F811
    audio, _ = recording
    source = save(audio, tmp_path / "talk.wav")
    env = {**os.environ, "ECHO_AGENT_HOME": str(tmp_path / "home")}

    def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
        done = subprocess.run([sys.executable, "-m", "agent.cli", *args], input=stdin, env=env,
                              capture_output=True, text=True, cwd=tmp_path, timeout=600)
        assert done.returncode == 0, done.stderr
        return done

    run("do", "remove all the ums and uhs", "-i", str(source), "-o", "do.wav", "--json")
    run("chat", str(source), stdin="remove all the ums and uhs\n/export chat.wav\n")
    run("clean", str(source), "-o", "clean.wav", "--kinds", "filler", "--report", "cuts.json")
    report = json.loads((tmp_path / "cuts.json").read_text())
    outputs = {name: load(tmp_path / f"{name}.wav") for name in ("do", "chat", "clean")}
    assert report["saved_s"] > 0.3  # the fillers were found
    lengths = {name: out.num_samples for name, out in outputs.items()}
    assert len(set(lengths.values())) == 1, lengths
    assert np.array_equal(outputs["do"].samples, outputs["chat"].samples)
    assert np.array_equal(outputs["do"].samples, outputs["clean"].samples)
    removed_s = audio.duration_s - outputs["clean"].duration_s
    spans = [c for c in report["cuts"] if c["enabled"]]
    assert {c["kind"] for c in spans} == {"filler"}
    assert sum(c["end_s"] - c["start_s"] for c in spans) == pytest.approx(report["saved_s"], abs=0.01)
    assert removed_s == pytest.approx(report["saved_s"], abs=0.01 + 0.03 * len(spans))
