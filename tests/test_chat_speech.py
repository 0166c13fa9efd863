"""`echo-agent chat` on speech: "remove the second um" and "shorten the pauses", piped as a script."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from tests.test_disfluency import speak_words
from tools.core.audio import Audio, load, save

WORDS = [("so", 170, 0.35), ("um", 90, 0.35), ("we", 170, 0.05), ("tested", 170, 0.4),
         ("um", 90, 0.4), ("six", 170, 0.05), ("setups", 170, 2.5), ("in", 170, 0.05),
         ("my", 170, 0.05), ("studio", 170, 0.5)]


@pytest.mark.parametrize("packaged", ["1", "0"])  # Whisper base from the `models` extra, or none
def test_chat_removes_the_second_um_and_shortens_the_pauses(tmp_path, packaged):
    speech, rate, spans = speak_words(WORDS)
    speech += 0.001 * np.random.default_rng(0).standard_normal(speech.size)
    source = save(Audio.from_array(speech, rate), tmp_path / "talk.wav")
    script = "remove the second um\n/export one.wav\n/undo\nshorten the pauses\n/export two.wav\n"
    result = subprocess.run([sys.executable, "-m", "agent.cli", "chat", str(source), "--session",
                             str(tmp_path / "s")], input=script, capture_output=True, text=True,
                            cwd=tmp_path, timeout=300,
                            env={**os.environ, "ECHO_AGENT_PACKAGED": packaged, "HF_HUB_OFFLINE": "1"})
    assert result.returncode == 0, result.stderr
    before = load(source).duration_s
    second_um = spans[4][2] - spans[4][1]
    removed = before - load(tmp_path / "one.wav").duration_s
    assert 0.5 * second_um < removed < second_um + 0.8, result.stdout
    assert before - load(tmp_path / "two.wav").duration_s > 1.5  # the 2.5 s pause got shorter
