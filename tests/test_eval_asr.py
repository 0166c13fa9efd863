"""The ``asr`` eval's text side on made-up strings: normalisation, WER counts, the independent loop
check, and how the long recording's words are split between clips (no corpus, no model)."""

from __future__ import annotations

import importlib.util
import math
from itertools import pairwise

import numpy as np
import pytest

from evals.suites import asr_data, asr_text
from evals.suites.asr_text import (
    Errors,
    dominant_share,
    longest_run,
    loops_beyond_reference,
    normalise,
    prompt_echo,
    scores,
    simple_loop,
    without_fillers,
    word_errors,
)
from tools.core.audio import Audio

# jiwer and whisper_normalizer come with the evals extra (pip install -e ".[evals]")
needs_jiwer = pytest.mark.skipif(importlib.util.find_spec("jiwer") is None,
                                 reason="jiwer is in the evals extra")
needs_normaliser = pytest.mark.skipif(importlib.util.find_spec("whisper_normalizer") is None,
                                      reason="whisper_normalizer is in the evals extra")


@needs_normaliser
def test_normalise_case_punctuation_numbers_tags_and_acronyms():
    assert normalise("And so, my fellow Americans!") == ["and", "so", "my", "fellow", "americans"]
    assert normalise("twenty five cats") == normalise("25 cats") == ["25", "cats"]
    assert normalise("[laughter] montreal <cutoff-forced> forced <unk> aligner") == [
        "montreal", "forced", "aligner"]
    assert normalise("m f a is like putty") == normalise("MFA is like putty.") == [
        "mfa", "is", "like", "putty"]
    assert normalise("Uh, um, hmm.") == ["uh", "um", "hmm"]  # fillers kept for verbatim scoring
    assert normalise("i hardly know her") == ["i", "hardly", "know", "her"]  # lone "i" stays


def test_without_fillers_uses_the_project_list():
    text = without_fillers("Umm, uh, like, Hmmm... er, I mean, mm-hmm")
    assert text == "like, I mean, mm-hmm"  # the backchannel is a word
    assert normalise(text) == ["like", "i", "mean", "mm", "hmm"]


def test_normalise_fallback_strips_case_punctuation_and_tags(monkeypatch):
    monkeypatch.setattr(asr_text, "_NORMALISER", None)
    assert normalise("[laughter] M F A, isn't it? <unk> Uh... 'so'") == [
        "mfa", "isn't", "it", "uh", "so"]


@needs_normaliser
def test_normalise_leaves_no_punctuation_tokens():
    assert normalise("Uh... hmm... so, M F A?") == ["uh", "hmm", "so", "mfa"]


@needs_jiwer
def test_word_errors_counts():
    assert word_errors("a b c d".split(), "a x c d e".split()) == Errors(1, 0, 1, 4)
    assert word_errors("a b c d".split(), "a c d".split()) == Errors(0, 1, 0, 4)
    assert word_errors("a b".split(), []) == Errors(0, 2, 0, 2)
    assert word_errors([], "a b".split()) == Errors(0, 0, 2, 0)
    total = Errors(1, 0, 1, 4) + Errors(0, 1, 0, 4)
    assert total == Errors(1, 1, 1, 8) and total.wer == pytest.approx(3 / 8)
    assert Errors().wer == 0.0 and math.isnan(Errors(insertions=2).wer)


@needs_jiwer
def test_scores_verbatim_and_without_fillers():
    verbatim, plain = scores("montreal uh forced aligner", "Montreal, forced aligner.")
    assert verbatim == Errors(0, 1, 0, 4) and verbatim.wer == pytest.approx(0.25)
    assert plain == Errors(0, 0, 0, 3) and plain.wer == 0.0
    verbatim, plain = scores("ask not what your country can do", "Um, ask what your country can do")
    assert verbatim == Errors(0, 1, 1, 7) and plain == Errors(0, 1, 0, 7)


def test_longest_run_and_dominant_share():
    assert longest_run("like thinking like thinking like thinking x".split()) == (
        ("like", "thinking"), 3)
    assert longest_run("uh uh uh uh uh uh".split()) == (("uh",), 6)
    assert longest_run([]) == ((), 0)
    words = "so so no so so yes so so ok so".split()  # 7 of 10 are "so", never 3 in a row
    assert longest_run(words)[1] == 2
    assert dominant_share(words) == pytest.approx(0.7)
    assert dominant_share("a b".split()) == 0.0


def test_simple_loop_thresholds():
    assert simple_loop(("like thinking " * 4).split()) == "'like thinking' x4"
    assert simple_loop(("like thinking " * 3).split()) is None
    assert simple_loop("so so no so so yes so so ok so".split()) == "one word fills 70% of 10 words"
    assert simple_loop("so so no so so yes so ok a so".split()) is None  # 6 of 10: not above 60%
    assert simple_loop("a b c d e f g h i j k".split()) is None
    assert simple_loop(normalise("Umm, uh, hmm. the end"), "Umm, uh, hmm.") == "prompt echo"


def test_prompt_echo_needs_the_whole_prompt_in_a_row():
    prompt = "Umm, uh, hmm."
    assert prompt_echo(normalise("well umm uh hmm okay"), prompt)
    assert not prompt_echo(normalise("umm okay uh hmm"), prompt)
    assert not prompt_echo(normalise("umm uh hmm"), None)


def test_loops_beyond_reference():
    ref = normalise("montreal uh uh uh uh uh uh forced aligner")
    assert not loops_beyond_reference(ref, ref)  # six "uh" written as six is no loop
    assert loops_beyond_reference(normalise("montreal" + " uh" * 9 + " forced aligner"), ref)
    clean = normalise("this is the montreal forced aligner")
    looped = normalise("this is the" + " montreal forced aligner" * 4)
    assert loops_beyond_reference(looped, clean)
    assert not loops_beyond_reference(clean, clean)


def test_written_laughs_are_one_laugh_where_the_reference_marks_laughter():
    ref = normalise("[laughter] montreal [laughter] forced [laughter] aligner [laughter]")
    laughs = normalise("Ha, ha, ha. Montreal. Ha, ha, ha. Forced. Ha, ha, ha.")
    assert asr_text.fold_laughter(laughs) == ["(laugh)", "montreal", "(laugh)", "forced", "(laugh)"]
    assert loops_beyond_reference(laughs, ref)  # unmarked, nine "ha" in eleven words is flagged
    assert not loops_beyond_reference(laughs, ref, laughter=True)
    looped = normalise("Ha, ha. Montreal" + " forced aligner" * 4)  # a real loop stays one
    assert loops_beyond_reference(looped, ref, laughter=True)


def _item(name: str, reference: str | None) -> asr_data.Item:
    return asr_data.Item(name, "test", Audio.from_array(np.zeros(160, np.float32), 16_000),
                         reference)


def test_order_never_puts_the_same_reference_twice_in_a_row():
    items = [_item(f"same{i}", "montreal forced aligner") for i in range(3)]
    items += [_item("a", "one"), _item("b", "two"), _item("c", None)]
    for seed in range(20):
        order = asr_data._order(items, np.random.default_rng(seed), items[0])
        assert sorted(i.name for i in order) == sorted(i.name for i in items)
        assert not asr_data._clash(order, items[0])
        refs = [items[0].reference] + [i.reference for i in order]
        assert all(a != b for a, b in pairwise(refs) if a is not None)


def test_words_by_placement_splits_pauses_halfway():
    placements = [asr_data.Placement("a", 0.0, 1.0, "x"), asr_data.Placement("b", 2.0, 3.0, None),
                  asr_data.Placement("c", 5.0, 6.0, "y")]
    words = [("w1", 0.2, 0.4), ("w2", 1.3, 1.4), ("w3", 1.55, 1.65), ("w4", 3.9, 4.05),
             ("w5", 5.5, 7.0)]
    assert asr_data.words_by_placement(words, placements) == [["w1", "w2"], ["w3", "w4"], ["w5"]]
