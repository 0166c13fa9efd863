"""The offline planner on lists of things to remove ("the clicks and pops", "the ums and the long
pauses"), on voice isolation, and on requests to take an effect back out."""

from __future__ import annotations

import numpy as np
import pytest

from agent.planner import NotUnderstood, plan_request
from tools.core.audio import Audio, load, save


def _calls(request: str) -> list[tuple[str, dict]]:
    return [(c.tool, c.args) for c in plan_request(request, duration_s=60.0)]


@pytest.mark.parametrize("request_text, calls", [
    ("remove the clicks and pops", [("declick", {})]),
    ("remove the clicks, pops and crackle", [("declick", {})]),
    ("remove the clicks gently and the pops", [("declick", {"sensitivity": 0.25})]),
    ("remove the clicks and pops gently", [("declick", {"sensitivity": 0.25})]),
    ("remove fillers and pauses", [("remove_disfluencies", {"kinds": ["filler", "pause"]})]),
    ("remove the ums, uhs and long pauses",
     [("remove_disfluencies", {"kinds": ["filler", "pause"]})]),
    ("remove the filler words and the pauses",
     [("remove_disfluencies", {"kinds": ["filler", "pause"]})]),
    ("remove the breaths and the clicks", [("reduce_breaths", {"remove": True}), ("declick", {})]),
    ("fix the clicks and clipping", [("declick", {}), ("declip", {})]),
    ("get rid of the long pauses", [("remove_disfluencies", {"kinds": ["pause"]})]),
    # 'the ums' names the word um, which a pause is not: two passes, as asked
    ("get rid of the ums and the long pauses",
     [("remove_disfluencies", {"word": "um", "kinds": ["filler"]}),
      ("remove_disfluencies", {"kinds": ["pause"]})]),
    # the lists do not change what already worked
    ("remove the noise and the hum", [("denoise", {}), ("remove_hum", {})]),
    ("remove the hum and normalize to -16 LUFS",
     [("remove_hum", {}), ("normalize_loudness", {"target_lufs": -16.0})]),
    ("cut 0:01 to 0:02 and 0:05 to 0:06",
     [("cut", {"start_s": 1.0, "end_s": 2.0}), ("cut", {"start_s": 4.0, "end_s": 5.0})]),
])
def test_a_list_of_things_to_remove_takes_the_verb_before_it(request_text, calls):
    assert _calls(request_text) == calls


@pytest.mark.parametrize("request_text", [
    "isolate the voice", "isolate the dialogue", "extract the voice", "extract the speech",
    "keep only the voice",
])
def test_isolating_the_voice_separates_the_vocals(request_text):
    assert _calls(request_text) == [("separate", {"two_stems": "vocals"})]


@pytest.mark.parametrize("request_text", [
    "remove the noise gate", "take off the gate", "undo the compression", "remove the compression",
    "turn off the limiter", "remove the eq",
])
def test_taking_an_effect_back_out_is_refused_not_applied(request_text):
    with pytest.raises(NotUnderstood, match="cannot be taken out of it; 'undo' takes back"):
        plan_request(request_text, duration_s=60.0)


def test_gating_and_eq_removals_still_plan():
    assert _calls("gate the noise between phrases") == [("gate", {})]
    assert _calls("remove the rumble with an eq") == [("equalize", {"preset": "remove_rumble"})]


def test_do_remove_the_clicks_and_pops_runs_one_declick(cli, tmp_path):
    rate = 16_000
    rng = np.random.default_rng(3)
    t = np.arange(3 * rate) / rate
    tone = 0.2 * np.sin(2 * np.pi * 220 * t) + 0.002 * rng.standard_normal(t.size)
    clicked = tone.copy()
    at = rng.choice(np.arange(rate // 10, t.size - rate // 10), 12, replace=False)
    clicked[at] += 0.7
    source = save(Audio.from_array(clicked.astype(np.float32), rate), tmp_path / "clicks.wav")
    out = tmp_path / "out.wav"
    result = cli("do", "remove the clicks and pops", "-i", source, "-o", out)
    assert result.exit_code == 0, result.stderr
    assert result.stderr.count("[ok] declick") == 1
    fixed = load(out).samples[0]
    assert np.abs(fixed[at] - tone[at]).max() < 0.1  # every click taken out (each was 0.7)
