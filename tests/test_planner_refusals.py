"""The offline planner's refusals: one sentence that says why (the list of what it can do is the
caller's to point to), and "not available yet" only for what the toolbox really lacks."""

from __future__ import annotations

import pytest

from agent.planner import CAPABILITIES, NotUnderstood, plan_request


@pytest.mark.parametrize("request_, reason", [
    ("write a poem about this song", "I did not understand 'write a poem"),
    ("cut from 0:09 to 0:05", "end (5 s) is not after the start (9 s)"),
    ("make it 200 dB louder", "gain_db=200.0: Input should be less than or equal to 60"),
    ("cut 0:01 to 0:02 and translate this into french", "did not understand 'translate"),
    ("make it louder", "how much"),
    ("fade it out", "how long"),
    ("add 2 seconds of silence", "where"),
    ("normalize it", "what loudness"),
    ("normalize to -1 dB", "peak normalisation is not available"),
    ("make it -3 dB", "change or a level"),
    ("make the first 5 seconds louder", "one part is not available yet"),
    ("remove the word 'budget'", "editing by words ('budget') is not available offline"),
    ("make the vocals quieter", "first say 'extract the vocals', then edit that track"),
    ("make them sound alike", "say which tracks, e.g. 'make guest sound like host'"),
    ("remove the um near 1:23", "say which one by its number"),
    ("reverse the audio", "not available yet"),
    ("convert it to mp3", "output file's name (.flac, .mp3, ...) and --bit-depth"),
    ("export as 16-bit", "--bit-depth or --bitrate"),
    ("cut from 1:00 to 1:30", "after the end of the track"),
    ("fade out over 20 seconds", "longer than the track"),
    ("cut the first 12 seconds", "whole track"),
    ("cut 2 seconds", "which part"),
    ("trim to 0:02-0:05, then cut from 0:07 to 0:08", "already removed"),
    ("turn it up to 11", "a level to reach"),
    ("reduce the volume to -3 dB", "a level to reach"),
    ("remove 2 seconds from 0:05", "did not understand '2 seconds'"),
    ("fade out over 3 s starting at 0:08", "did not understand '3 s'"),
    ("make it sound better", "did not understand"),
    ("cut the first half", "which part"),
    ("cut 10%", "which part"),
    ("insert silence from 0:02 to 0:04", "silencing a span is not available yet"),
    ("cut 1:00 to 1:30 on track b", "current track only"),
    ("don't cut anything", "not to do something"),
    ("", "empty"),
])
def test_refusals_say_why_in_one_sentence(request_, reason):
    with pytest.raises(NotUnderstood) as info:
        plan_request(request_, duration_s=12.0)
    assert reason in info.value.reason
    assert info.value.reason.startswith(("I did not understand", "Cannot do", "The request is empty"))
    # one sentence; where to find the whole list is the caller's to add (/help, echo-agent tools)
    assert str(info.value) == info.value.reason and info.value.reason.endswith((".", "?", "!"))
    assert "\n" not in info.value.reason and CAPABILITIES not in str(info.value)
    assert info.value.exit_code == 1


@pytest.mark.parametrize(("request_", "tool", "example"), [
    ("change the tempo", "change_tempo", "10 percent"),
    ("make it less muffled", "equalize", "100 Hz"),
    ("add a 2 second delay at the start", "add_echo", "echo"),
])
def test_a_toolbox_effect_in_unparsed_words_is_not_called_missing(request_, tool, example):
    # the toolbox exists: such a request is told how to say it, never "not available yet"
    with pytest.raises(NotUnderstood) as info:
        plan_request(request_, duration_s=12.0)
    assert "not available" not in info.value.reason
    assert f"for {tool} say e.g." in info.value.reason and example in info.value.reason


@pytest.mark.parametrize("request_", ["reverse the audio", "pan it left", "loop it 3 times"])
def test_what_is_really_missing_is_still_called_missing(request_):
    with pytest.raises(NotUnderstood) as info:
        plan_request(request_, duration_s=12.0)
    assert info.value.reason.endswith("that effect is not available yet.")
