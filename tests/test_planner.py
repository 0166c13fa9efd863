"""The offline planner: phrase parsing, planned calls, and the outcome of running them on real audio."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import noise, sine

from agent.phrases import (
    Span,
    find_span,
    normalize,
    parse_amount,
    parse_time_s,
    split_clauses,
    tokenize,
)
from agent.planner import CAPABILITIES, EXAMPLES, NotUnderstood, PlannedCall, plan_request
from agent.targets import Target, parse_target
from evals.outcomes import check_outcome
from tools.core.audio import Audio
from tools.core.session import Session
from tools.registry import TOOLS, call_tool, validate_call

DEV = Path(__file__).parents[1].parent / "shared" / "requests" / "dev.jsonl"

# ----------------------------------------------------------------------------- phrases


@pytest.mark.parametrize("text, seconds", [
    ("1:23", 83), ("0:05", 5), ("01:02:03", 3723), ("1:23.5", 83.5), ("1m20s", 80), ("1m", 60),
    ("2 min", 120), ("90 s", 90), ("1.5s", 1.5), ("1500 ms", 1.5), ("1 minute and 20 seconds", 80),
    ("1h2m3s", 3723), ("half a second", 0.5), ("two seconds", 2), ("one and a half seconds", 1.5),
    ("a minute", 60), ("a quarter second", 0.25), ("45", 45),
])
def test_parse_time(text, seconds):
    assert parse_time_s(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["loud", "3 dB", "0:05 to 0:06"])
def test_parse_time_refuses_what_is_not_one_time(text):
    with pytest.raises(ValueError, match="not a time"):
        parse_time_s(text)


@pytest.mark.parametrize("text, kind, value", [
    ("3 dB", "db", 3), ("+4.5dB", "db", 4.5), ("10 decibels", "db", 10), ("-16 LUFS", "lufs", -16),
    ("minus twenty three LUFS", "lufs", -23), ("-1 dBTP", "tp", -1), ("48 kHz", "hz", 48000),
    ("44.1k", "hz", 44100), ("22050 Hz", "hz", 22050), ("50%", "pct", 50), ("20 percent", "pct", 20),
    ("two hundred dB", "db", 200),
])
def test_parse_amount(text, kind, value):
    assert parse_amount(text) == (kind, pytest.approx(value))


def test_tokenize_keeps_spans_and_separators_apart():
    phrase = tokenize(normalize("Delete 1.5s-3s, then cut between five and 7 seconds and fade out"))
    clauses = split_clauses(phrase)
    assert [c.text for c in clauses] == ["delete <t2>-<t1>", "cut between <n3> & <t0>", "fade out"]
    assert [c.source for c in clauses] == ["delete 1.5s-3s", "cut between 5 & 7 seconds", "fade out"]
    spans = [find_span(c) for c in split_clauses(phrase)[:2]]
    assert spans == [Span("absolute", 1.5, 3.0), Span("absolute", 5.0, 7.0)]


@pytest.mark.parametrize("text, span", [
    ("from 0:30 to 0:45", Span("absolute", 30, 45)), ("0:03 - 0:08", Span("absolute", 3, 8)),
    ("between 2 and 4 minutes", Span("absolute", 120, 240)), ("the first 10 seconds", Span("first", length_s=10)),
    ("the last 5 s", Span("last", length_s=5)), ("2 seconds off the end", Span("last", length_s=2)),
    ("everything after 1:30", Span("absolute", 90, None)), ("from 0:05 to the end", Span("absolute", 5, None)),
    ("everything before 0:02", Span("absolute", 0, 2)),
    ("everything after the first 5 s", Span("first_after", length_s=5)),
])
def test_find_span(text, span):
    phrase = tokenize(normalize(text))
    assert find_span(split_clauses(phrase)[0]) == span


@pytest.mark.parametrize("text, target", [
    ("remove the second 'um'", Target(text="um", occurrence=2)),
    ("cut the third “like”", Target(text="like", occurrence=3)),
    ("delete every uh", Target(text="uh", every=True)),
    ("remove all the ums", Target(text="um", every=True)),
    ("the last um near 1:23", Target(text="um", occurrence=-1, near_s=83)),
    ("the 2nd 'so' at 0:05", Target(text="so", occurrence=2, near_s=5)),
    ("the word hello", Target(text="hello")),
    ("remove the vocals", Target(stem="vocals")),
    ("turn the drums down", Target(stem="drums")),
    ("make a karaoke version", Target(stem="accompaniment")),
    ("cut from 0:02 to 0:04", None),
])
def test_parse_target(text, target):
    assert parse_target(text) == target


# ----------------------------------------------------------------------------- planned calls


def calls(request: str, duration_s: float | None = 12.0) -> list[tuple[str, dict]]:
    return [(c.tool, c.args) for c in plan_request(request, duration_s=duration_s)]


@pytest.mark.parametrize("request_, expected", [
    ("cut the first 2 s then remove the last 3 seconds",
     [("cut", {"start_s": 0.0, "end_s": 2.0}), ("cut", {"start_s": 7.0, "end_s": None})]),
    ("remove the last 3 seconds", [("cut", {"start_s": 9.0, "end_s": None})]),
    ("fade out the last 3 seconds", [("fade", {"direction": "out", "duration_s": 3.0})]),
    ("cut 0:01 to 0:02 and 0:05 to 0:06",  # times are of the track before the request
     [("cut", {"start_s": 1.0, "end_s": 2.0}), ("cut", {"start_s": 4.0, "end_s": 5.0})]),
    ("insert a second of silence at 0:05 then cut from 0:08 to 0:09",
     [("insert_silence", {"at_s": 5.0, "duration_s": 1.0}), ("cut", {"start_s": 9.0, "end_s": 10.0})]),
    ("trim it to 0:02 - 0:10, then cut 0:04 to 0:05",
     [("trim", {"start_s": 2.0, "end_s": 10.0}), ("cut", {"start_s": 2.0, "end_s": 3.0})]),
    ("add 1 s of silence at both ends",
     [("insert_silence", {"at_s": 0.0, "duration_s": 1.0}),
      ("insert_silence", {"at_s": 13.0, "duration_s": 1.0})]),
    ("make it 3 dB louder then undo, then remove the last 2 s",
     [("gain", {"gain_db": 3.0}), ("undo", {}), ("cut", {"start_s": 10.0, "end_s": None})]),
    ("make it half as loud", [("gain", {"gain_db": -6.0})]),
    ("make it twice as loud", [("gain", {"gain_db": 6.0})]),
    ("make it a little louder", [("gain", {"gain_db": 3.0})]),
    ("a bit quieter please", [("gain", {"gain_db": -3.0})]),
    ("normalize for streaming with a true peak of -2 dB",
     [("normalize_loudness", {"target_lufs": -14.0, "true_peak_db": -2.0})]),
    ("make it ready for broadcast", [("normalize_loudness", {"target_lufs": -23.0})]),
    ("normalise for apple podcasts", [("normalize_loudness", {"target_lufs": -16.0})]),
    ("normalize to 16 LUFS", [("normalize_loudness", {"target_lufs": -16.0})]),
    ("how loud is it", [("info", {})]),
    ("make it 48kHz stereo", [("convert", {"channels": 2, "sample_rate_hz": 48000})]),
    ("undo the last 3 changes", [("undo", {})] * 3),
    ("undo that", [("undo", {})]),
    ("take that back", [("undo", {})]),
    ("redo", [("redo", {})]),
    ("fade in 2s and out 3s", [("fade", {"direction": "in", "duration_s": 2.0}),
                               ("fade", {"direction": "out", "duration_s": 3.0})]),
    ("fade out from 0:09", [("fade", {"direction": "out", "duration_s": 3.0})]),
    ("cut everything except the first 5 seconds", [("trim", {"start_s": 0.0, "end_s": 5.0})]),
    ("keep everything but the last 3 seconds", [("cut", {"start_s": 9.0, "end_s": None})]),
    ("remove the first and last 2 seconds",
     [("cut", {"start_s": 0.0, "end_s": 2.0}), ("cut", {"start_s": 8.0, "end_s": None})]),
    ("cut between 0:02 and 0:04 and between 0:06 and 0:08",
     [("cut", {"start_s": 2.0, "end_s": 4.0}), ("cut", {"start_s": 4.0, "end_s": 6.0})]),
    ("cut from the beginning to 0:05", [("cut", {"start_s": 0.0, "end_s": 5.0})]),
    ("remove seconds 3 to 5", [("cut", {"start_s": 3.0, "end_s": 5.0})]),
    ("convert stereo to mono", [("convert", {"channels": 1})]),
    ("convert from 44.1 kHz to 48 kHz", [("convert", {"sample_rate_hz": 48000})]),
    ("normalize to -16 LUFS, -1 dBTP",
     [("normalize_loudness", {"target_lufs": -16.0, "true_peak_db": -1.0})]),
    ("set the loudness to -18", [("normalize_loudness", {"target_lufs": -18.0})]),
    ("volume +3", [("gain", {"gain_db": 3.0})]),
    ("make it 1.5 times louder", [("gain", {"gain_db": 3.52})]),
    ("make it twice as quiet", [("gain", {"gain_db": -6.02})]),
    ("fade the last 3 seconds", [("fade", {"direction": "out", "duration_s": 3.0})]),
    ("cut from 0:02 for 3 seconds", [("cut", {"start_s": 2.0, "end_s": 5.0})]),
    ("remove 3 seconds starting at 0:05", [("cut", {"start_s": 5.0, "end_s": 8.0})]),
    ("shorten the end by 2 s", [("cut", {"start_s": 10.0, "end_s": None})]),
    ("how loud and how long is it", [("info", {})]),
    ("undo last edit", [("undo", {})]),
])
def test_plans(request_, expected):
    assert calls(request_) == expected


def test_relative_times_need_the_duration_but_absolute_ones_do_not():
    assert calls("cut from 0:02 to 0:04", None) == [("cut", {"start_s": 2.0, "end_s": 4.0})]
    assert calls("fade out the last 3 seconds", None) == [("fade", {"direction": "out", "duration_s": 3.0})]
    with pytest.raises(NotUnderstood, match="duration"):
        plan_request("remove the last 3 seconds")


def test_every_registry_tool_has_examples_that_plan_to_it():
    assert {tool.name for tool in TOOLS} <= set(EXAMPLES), "a registry tool the planner does not cover"
    for tool, examples in EXAMPLES.items():
        for example in examples:
            planned = plan_request(example, duration_s=600.0)
            assert tool in [c.tool for c in planned], example
            assert example in CAPABILITIES


# ----------------------------------------------------------------------------- outcomes on real audio

EXTRA = [
    {"request": "turn it up 3 dB", "expect": {"gain_db": 3}},
    {"request": "could you make it quieter by 6 decibels?", "expect": {"gain_db": -6}},
    {"request": "lower the volume by half", "expect": {"gain_db": -6}},
    {"request": "make it twice as loud", "expect": {"gain_db": 6}},
    {"request": "reduce the volume by 50%", "expect": {"gain_db": -6}},
    {"request": "make it a little louder", "expect": {"gain_db": 3}},
    {"request": "apply -2.5 dB of gain", "expect": {"gain_db": -2.5}},
    {"request": "normalise to minus fourteen LUFS", "expect": {"lufs": -14}},
    {"request": "make it loud enough for spotify", "expect": {"lufs": -14}},
    {"request": "normalize to broadcast loudness with a true peak of -2 dB", "expect": {"lufs": -23}},
    {"request": "lower it 4.5 dB and normalize to -20 LUFS", "expect": {"lufs": -20}},
    {"request": "remove 0:03-0:05", "expect": {"removed": [3, 5]}},
    {"request": "delete from 2.5 seconds to 4 seconds", "expect": {"removed": [2.5, 4]}},
    {"request": "take out 0:06 through 0:08.5", "expect": {"removed": [6, 8.5]}},
    {"request": "snip the bit between 1.2 and 1.9 s", "expect": {"removed": [1.2, 1.9]}},
    {"request": "cut everything after 0:10", "expect": {"removed": [10, None]}},
    {"request": "get rid of everything before 0:02", "expect": {"removed": [0, 2]}},
    {"request": "chop off the last 1.5 seconds", "expect": {"duration_change_s": -1.5}},
    {"request": "trim 2 seconds off the start", "expect": {"removed": [0, 2]}},
    {"request": "remove 1500 ms from the end", "expect": {"removed": [10.5, None]}},
    {"request": "cut from 0:04 to the end", "expect": {"kept": [0, 4]}},
    {"request": "cut 0:01 to 0:02 and 0:05 to 0:06", "expect": {"removed": [[1, 2], [5, 6]]}},
    {"request": "delete 0:02-0:04, then 0:03-0:05", "expect": {"removed": [2, 5]}},
    {"request": "cut the first 2 s then remove the last 3 seconds", "expect": {"kept": [2, 9]}},
    {"request": "keep just the last 4 seconds", "expect": {"kept": [8, 12]}},
    {"request": "keep from 0:02 to 0:07", "expect": {"kept": [2, 7]}},
    {"request": "crop it to between 1 and 6 seconds", "expect": {"kept": [1, 6]}},
    {"request": "shorten it to 10 seconds", "expect": {"kept": [0, 10], "duration_s": 10}},
    {"request": "remove everything except 0:04 - 0:09", "expect": {"kept": [4, 9]}},
    {"request": "fade in over half a second", "expect": {"fade_in_s": 0.5}},
    {"request": "fade it out over 2.5 seconds", "expect": {"fade_out_s": 2.5}},
    {"request": "fade in and out over 2 seconds", "expect": {"fade_in_s": 2, "fade_out_s": 2}},
    {"request": "give it a 3-second fade-out", "expect": {"fade_out_s": 3}},
    {"request": "fade out from 0:09 linearly", "expect": {"fade_out_s": 3}},
    {"request": "trim it to 8 seconds, fade in 1 s and fade out 2 s",
     "expect": {"duration_s": 8, "fade_in_s": 1, "fade_out_s": 2}},
    {"request": "put a 1.5 second pause at 0:04", "expect": {"duration_change_s": 1.5, "silent": [4, 5.5]}},
    {"request": "add half a second of silence at the end",
     "expect": {"duration_change_s": 0.5, "silent": [12, 12.5]}},
    {"request": "pad the beginning with two seconds of silence",
     "expect": {"duration_change_s": 2, "silent": [0, 2]}},
    {"request": "insert 1 second of silence at 0:05 then cut from 0:08 to 0:09",
     "expect": {"duration_change_s": 0, "silent": [5, 6]}},
    {"request": "make it mono", "expect": {"channels": 1, "duration_change_s": 0}},
    {"request": "resample to 16k and make it mono", "expect": {"channels": 1, "sample_rate_hz": 16000}},
    {"request": "convert to 44.1 kHz", "expect": {"sample_rate_hz": 44100, "duration_change_s": 0}},
    {"request": "how long is it?", "expect": {"unchanged": True}},
    {"request": "what's the loudness", "expect": {"unchanged": True}},
    {"request": "make it 3 dB louder then undo", "expect": {"unchanged": True}},
    {"request": "boost it by 3 dB, undo that and redo", "expect": {"gain_db": 3}},
    {"request": "remove 1m20s to 1m30s", "input": "3 minutes", "expect": {"removed": [80, 90]}},
    {"request": "cut from 00:00:30 to 00:00:45", "input": "3 minutes", "expect": {"removed": [30, 45]}},
    {"request": "keep only the first minute", "input": "3 minutes", "expect": {"kept": [0, 60]}},
    {"request": "remove the first and last 2 seconds", "expect": {"kept": [2, 10]}},
    {"request": "cut between 0:02 and 0:04 and between 0:06 and 0:08",
     "expect": {"removed": [[2, 4], [6, 8]]}},
    {"request": "remove the word 'budget'", "expect": {"refuse": True}},
    {"request": "cut from 0:02 to 0:04 and then write a poem", "expect": {"refuse": True}},
    {"request": "make it louder", "expect": {"refuse": True}},
    {"request": "make the drums louder", "expect": {"refuse": True}},
    {"request": "fade out over 20 seconds", "expect": {"refuse": True}},
    {"request": "cut at 0:05", "expect": {"refuse": True}},
]


def _audio(long: bool) -> Audio:
    """12 s of stereo sines plus noise at 48 kHz, or 200 s mono at 16 kHz for a long input."""
    if long:
        rate, seconds, channels = 16_000, 200.0, 1
    else:
        rate, seconds, channels = 48_000, 12.0, 2
    tones = sine(220.0, duration_s=seconds, sample_rate=rate, channels=channels, amplitude=0.25)
    upper = sine(331.0, duration_s=seconds, sample_rate=rate, channels=channels, amplitude=0.15)
    hiss = noise(duration_s=seconds, sample_rate=rate, channels=channels, level_db=-30.0, seed=1)
    return Audio.from_array(tones.samples + upper.samples + hiss.samples, rate)


def _cases():
    dev = [json.loads(line) for line in DEV.read_text().splitlines() if line.strip()] \
        if DEV.is_file() else []
    if not dev:
        yield pytest.param({}, id="dev.jsonl", marks=pytest.mark.skip(reason=f"{DEV} not found"))
    for case in dev:
        yield pytest.param(case, id=f"dev: {case['request']}")
    for case in EXTRA:
        yield pytest.param(case, id=case["request"])


def test_extra_phrasings_are_not_in_dev():
    dev = {json.loads(line)["request"] for line in DEV.read_text().splitlines() if line.strip()} \
        if DEV.is_file() else set()
    assert len(EXTRA) >= 30 and not dev & {case["request"] for case in EXTRA}


@pytest.mark.parametrize("case", list(_cases()))
def test_outcome(case, tmp_path):
    session = Session.create(tmp_path / "s")
    before = _audio(long="input" in case)
    session.add_track("a", before)
    steps = len(session.history())
    expect = case["expect"]
    if expect.get("refuse"):
        with pytest.raises(NotUnderstood):
            plan_request(case["request"], duration_s=before.duration_s)
        assert len(session.history()) == steps
        return
    planned = plan_request(case["request"], duration_s=before.duration_s)
    assert planned and all(isinstance(call, PlannedCall) for call in planned)
    for call in planned:
        validate_call(call.tool, call.args)
        call_tool(session, call.tool, call.args)
    after = session.audio()
    assert np.all(np.isfinite(after.samples))
    check_outcome(before, after, expect)


@pytest.mark.parametrize("request_, expected", [
    ("remove the ums", [("remove_disfluencies", {"word": "um", "kinds": ["filler"]})]),
    ("remove the second um", [("remove_disfluencies", {"word": "um", "occurrence": 2, "kinds": ["filler"]})]),
    ("get rid of the last 'uh'", [("remove_disfluencies", {"word": "uh", "occurrence": -1, "kinds": ["filler"]})]),
    ("shorten the pauses", [("remove_disfluencies", {"kinds": ["pause"]})]),
    ("tighten the pauses", [("remove_disfluencies", {"level": "aggressive", "kinds": ["pause"]})]),
    ("remove pauses longer than 2 seconds", [("remove_disfluencies", {"max_pause_s": 2.0, "kinds": ["pause"]})]),
    ("remove the stutters", [("remove_disfluencies", {"kinds": ["repetition"]})]),
    ("clean up the interview", [("remove_disfluencies", {"level": "normal"})]),
    ("denoise this", [("denoise", {})]),
    ("clean up the hiss a little", [("denoise", {"attenuation_limit_db": 8.0})]),
    ("remove the background noise a lot", [("denoise", {"attenuation_limit_db": 50.0})]),
    ("reduce the hum by 12 dB", [("denoise", {"attenuation_limit_db": 12.0})]),
    ("extract the vocals", [("separate", {"two_stems": "vocals"})]),
    ("give me the drums alone", [("separate", {"two_stems": "drums"})]),
    ("isolate the piano", [("separate", {"two_stems": "piano", "model": "htdemucs_6s"})]),
    ("split it into stems", [("separate", {})]),
    ("make a karaoke version", [("separate", {"two_stems": "vocals"}), ("remix", {"preset": "karaoke"})]),
    ("remove the vocals", [("separate", {"two_stems": "vocals"}), ("remix", {"preset": "karaoke"})]),
    ("vocals only please", [("separate", {"two_stems": "vocals"}), ("remix", {"preset": "acapella"})]),
    ("take the vocals out", [("separate", {"two_stems": "vocals"}), ("remix", {"preset": "karaoke"})]),
    ("take the singing out of it", [("separate", {"two_stems": "vocals"}), ("remix", {"preset": "karaoke"})]),
    ("remove the backing track", [("separate", {"two_stems": "vocals"}), ("remix", {"preset": "acapella"})]),
    ("take the drums out", [("separate", {"two_stems": "drums"}),
                            ("remix", {"tracks": [{"track": "no_drums"}], "output": "without_drums"})]),
    ("get rid of the beat", [("separate", {"two_stems": "drums"}),
                             ("remix", {"tracks": [{"track": "no_drums"}], "output": "without_drums"})]),
    ("mute the bass", [("separate", {"two_stems": "bass"}),
                       ("remix", {"tracks": [{"track": "no_bass"}], "output": "without_bass"})]),
    ("remove the piano", [("separate", {"two_stems": "piano", "model": "htdemucs_6s"}),
                          ("remix", {"tracks": [{"track": "no_piano"}], "output": "without_piano"})]),
    ("cut the bass", [("equalize", {"preset": "less_bass"})]),  # an EQ, not a stem
    ("turn the music down 10 dB under the speech",
     [("separate", {"two_stems": "vocals"}),
      ("duck", {"speech_track": "vocals", "track": "no_vocals", "depth_db": 10.0}),
      ("remix", {"tracks": [{"track": "vocals"}, {"track": "no_vocals"}], "output": "ducked"})]),
    ("transcribe this", [("transcribe", {})]),
    ("find the word 'budget'", [("locate", {"what": "word", "text": "budget"})]),
    ("find the second 'the' near 1:23", [("locate", {"what": "word", "text": "the", "occurrence": 2, "near_s": 83.0})]),
    ("where are the long pauses?", [("locate", {"what": "pauses"})]),
    ("is it clipping?", [("locate", {"what": "clipping"})]),
    ("make guest sound like host", [("match_eq", {"track": "guest", "reference": "host"}),
                                    ("match_loudness", {"tracks": ["guest"], "reference": "host"})]),
    ("denoise this and normalize to -16 LUFS", [("denoise", {}), ("normalize_loudness", {"target_lufs": -16.0})]),
])
def test_plans_for_speech_noise_and_music_tools(request_, expected):
    assert calls(request_) == expected


def test_after_removing_disfluencies_the_duration_is_unknown():
    with pytest.raises(NotUnderstood, match="duration"):
        plan_request("remove the ums then cut the last 2 seconds", duration_s=12.0)
