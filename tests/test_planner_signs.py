"""Signs and decimal commas in requests: a sign against the words is refused (it was dropped:
"make it -3 dB louder" made it 3 dB louder and clipped), a signed amount with no direction word
keeps its sign, a positive loudness target is refused, and "1,5 s" is 1.5 s."""

from __future__ import annotations

import re

import numpy as np
import pytest

from agent.planner import NotUnderstood, plan_request
from tools.core.audio import Audio
from tools.normalize_loudness import describe, normalize_loudness


def _calls(request: str) -> list[tuple[str, dict]]:
    return [(c.tool, c.args) for c in plan_request(request, duration_s=60.0)]


@pytest.mark.parametrize("request_text, written, word", [
    ("make it -3 dB louder", "-3 db", "louder"),
    ("turn it up -3 dB", "-3 db", "up"),
    ("make it +3 dB quieter", "+3 db", "quieter"),
    ("speed it up -10%", "-10%", "speed it up"),
    ("pitch it up -2 semitones", "-2", "up"),
])
def test_a_sign_against_the_words_is_refused(request_text, written, word):
    with pytest.raises(NotUnderstood, match=re.escape(f"'{written}' and '{word}' point opposite")):
        plan_request(request_text, duration_s=60.0)


@pytest.mark.parametrize("request_text, calls", [
    ("make it -3 dB quieter", [("gain", {"gain_db": -3.0})]),
    ("change the gain by -3 dB", [("gain", {"gain_db": -3.0})]),
    ("slow it down -10%", [("change_tempo", {"tempo_ratio": 0.9})]),
    ("shift the pitch by -2 semitones", [("shift_pitch", {"semitones": -2.0})]),
    ("shift the pitch by +3 semitones", [("shift_pitch", {"semitones": 3.0})]),
    ("normalize to 14 LUFS", [("normalize_loudness", {"target_lufs": -14.0})]),
    ("cut from 1,5 s to 2,5 s", [("cut", {"start_s": 1.5, "end_s": 2.5})]),
    ("cut from 1,500 ms to 2 s", [("cut", {"start_s": 1.5, "end_s": 2.0})]),
    ("fade out the last 2,5 seconds", [("fade", {"direction": "out", "duration_s": 2.5})]),
])
def test_signs_that_agree_and_decimal_commas(request_text, calls):
    assert _calls(request_text) == calls


def test_a_positive_loudness_target_is_refused():
    with pytest.raises(NotUnderstood, match="'\\+5 lufs' is louder than full scale"):
        plan_request("normalize to +5 LUFS", duration_s=60.0)


def test_normalize_reports_the_change_heard_not_the_gain_before_the_limiter():
    rate = 16_000
    t = np.arange(4 * rate) / rate
    quiet = 0.02 * np.sin(2 * np.pi * 440 * t) * (1 + 40 * (np.arange(t.size) % 8000 < 40))
    audio = Audio.from_array(np.clip(quiet, -1, 1).astype(np.float32), rate)
    _, report = normalize_loudness(audio, target_lufs=-10.0)
    assert report["limited"]  # the spikes make the limiter work, so its pre-gain is larger
    text = describe(report, target_lufs=-10.0, true_peak_db=-1.0)
    said = float(re.search(r"LUFS \(([+-][\d.]+) dB", text).group(1))
    assert abs(said - (report["output_lufs"] - report["input_lufs"])) < 0.06
    assert abs(said - report["gain_db"]) > 1.0
