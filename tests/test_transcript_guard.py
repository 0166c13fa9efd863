"""Transcript safety: timeline edge cases, filler forms, the loop/echo detector, clip bounds."""

from __future__ import annotations

import math

import numpy as np

from tools.algorithms import transcript_loops as loops
from tools.algorithms.transcript import Segment, Word, filler_form, normalise_timeline
from tools.models.whisper_decode import clip_dicts


def _words(segments):
    return [w for s in segments for w in s.words]


def test_timeline_edge_cases_are_normalised_in_one_place():
    raw = [
        Segment("late", 5.0, 6.0, (Word("late", 5.2, 5.9), Word("past", 9.5, 12.0))),
        Segment("first", -0.3, 1.0, (Word(" at0", 0.0, 0.0), Word("neg", -0.2, 0.4, 1.7),
                                      Word("rev", 0.9, 0.5), Word("nan", math.nan, math.nan),
                                      Word("...", 0.95, 0.96), Word("over", 0.7, 1.2),
                                      Word("back", 0.6, 0.8, -0.1))),
        Segment("", 3.0, 3.0, ()),
    ]
    out = normalise_timeline(raw, 8.0)
    assert [s.text for s in out] == ["first", "late"]  # sorted; the empty segment dropped
    words = _words(out)
    assert [w.text for w in words] == ["at0", "neg", "rev", "nan", "...", "over", "back", "late",
                                       "past"]
    for word in words:
        assert 0.0 <= word.start_s <= word.end_s <= 8.0 and 0.0 <= word.probability <= 1.0
    assert [w.start_s for w in words] == sorted(w.start_s for w in words)
    for before, after in zip(words, words[1:], strict=False):
        assert before.end_s <= after.start_s + 1e-9  # no two words overlap
    assert words[1].start_s == 0.0 and words[1].probability == 1.0  # negative start clamped
    assert (words[2].start_s, words[2].end_s) == (0.5, 0.9)  # reversed: swapped
    assert words[3].start_s == words[3].end_s == 0.9  # non-finite: where the previous word ended
    assert words[-1].start_s == words[-1].end_s == 8.0  # past the end: zero-length at the end
    assert out[0].start_s == 0.0 and out[-1].end_s == 8.0


def test_filler_forms():
    for text, form in [("Hmm.", "hmm"), ("Mm", "mm"), ("Mhm,", "mhm"), ("Hmmmm...", "hmm"),
                       ("Umm,", "umm"), ("uhhhh", "uhh"), ("Uh", "uh"), ("MMM", "mmm")]:
        assert filler_form(text) == form, text
    for text in ("mm-hmm", "uh-huh", "hum", "um-kay", "the", "...", "human"):
        assert filler_form(text) is None, text
    assert Word("Hmm,", 1.0, 1.3).is_filler and not Word("home", 1.0, 1.3).is_filler


def test_loop_detector_on_made_up_words():
    looped = "so like, thinking, like, thinking, like, thinking, like, thinking about it".split()
    loop = loops.find_loop(loops.keys(looped))
    assert loop is not None and loop.phrase == ("like", "thinking") and loop.repeats == 4
    kept, dropped = loops.collapse(looped)
    assert dropped == 6 and [looped[i] for i in kept] == ["so", "like,", "thinking,", "about", "it"]
    assert loops.problem(("uh, " * 9).split()).startswith("repetition loop 'uh' x9")
    for speech in ("montreal uh uh uh uh uh uh forced aligner", "no no no no no",
                   "And so my fellow Americans, ask not what your country can do for you",
                   "that that is the question"):
        assert loops.problem(speech.split()) is None, speech
    assert loops.problem(("Thank you for watching. " * 3).split())
    # one lexical word six times is a loop (Whisper base on a held-out corpus clip); fillers need 8
    assert loops.problem("Montreal Force 2 -1 -1 -1 -1 -1 -1".split()) == "repetition loop '1' x6"
    assert loops.problem("the the the the the end".split()) is None
    many = ("the cat and the dog and the cat " * 4).split()  # a near-loop: few distinct words
    assert loops.find_loop(loops.keys(many)) is not None


def test_prompt_echo():
    prompt = "Umm, uh, hmm."
    assert loops.problem(["Umm,", "uh,", "hmm."], prompt).startswith("prompt echo")
    assert loops.problem(["so", "umm", "I", "said", "uh", "hmm"], prompt) is None
    long_prompt = "Umm, let me think like, hmm... Okay, here's what I'm, like, thinking."
    echoed = "let me think like, hmm okay here's what I'm saying about the budget".split()
    assert loops.problem(echoed, long_prompt).startswith("prompt echo")
    assert loops.problem("Okay here is the budget".split(), long_prompt) is None


def test_clips_never_exceed_the_samples_read():
    """faster-whisper asserts 'non-negative timestamp expected' when the clips add up to more
    than the audio: a region rounded up to the millisecond past the end used to do it."""
    rate = 16_000
    samples = np.zeros(int(5.4567 * rate))
    clips = clip_dicts([(0.2, 2.0), (1.9, 3.0), (4.0, 5.457), (6.0, 7.0)], 0.2, samples.size)
    total = sum(int(c["end"] * rate) - int(c["start"] * rate) for c in clips)
    assert total <= samples.size
    assert all(0 <= c["start"] < c["end"] <= samples.size / rate for c in clips)
    assert all(a["end"] <= b["start"] for a, b in zip(clips, clips[1:], strict=False))
    assert len(clips) == 3  # the clip past the window is dropped
