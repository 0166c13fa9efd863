"""Lexical fillers fitted to their sound: ASR's short "uh" times grow to the whole held vowel,
held spellings count, and a decoding loop's stacked fillers are dropped."""

from __future__ import annotations

import numpy as np

from tools.algorithms.disfluency import Detection, fit_fillers, is_filler, lexical_detections
from tools.algorithms.speech_frames import frame_features, sound_extent
from tools.algorithms.transcript import Segment, Transcript, Word
from tools.core.audio import Audio

RATE = 16_000


def _vowel(seconds: float, f0_hz: float = 110.0) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    x = sum(np.sin(2 * np.pi * k * f0_hz * t) / k for k in range(1, 25))
    ramp = np.minimum(1.0, np.minimum(t, t[::-1]) / 0.02)
    return (0.2 * x * ramp).astype(np.float32)


def _clip() -> Audio:
    """Noise floor, a held vowel at 1.0-1.6 s, a noise burst "word" at 1.9-2.3 s."""
    rng = np.random.default_rng(0)
    x = 1e-4 * rng.standard_normal(3 * RATE).astype(np.float32)
    x[RATE:RATE + int(0.6 * RATE)] += _vowel(0.6)
    x[int(1.9 * RATE):int(2.3 * RATE)] += 0.2 * rng.standard_normal(int(0.4 * RATE)).astype(np.float32)
    return Audio.from_array(x, RATE)


def test_a_short_filler_time_grows_to_the_whole_held_sound():
    features = frame_features(_clip())
    start, end, steady = sound_extent(features, 1.1, 1.25)
    assert abs(start - 1.0) < 0.04 and abs(end - 1.6) < 0.04
    assert steady > 0.7
    assert sound_extent(features, 0.3, 0.6) is None  # nothing but the floor there
    bounded = sound_extent(features, 1.1, 1.25, hi_s=1.4)
    assert bounded[1] <= 1.4 + 1e-9


def test_fit_fillers_doubts_a_filler_over_no_held_sound():
    features = frame_features(_clip())
    found = fit_fillers([Detection("filler", 1.1, 1.25, 0.95, "lexical", "uh"),
                         Detection("filler", 1.95, 2.1, 0.95, "lexical", "uh")], features, [])
    assert abs(found[0].start_s - 1.0) < 0.04 and abs(found[0].end_s - 1.6) < 0.04
    assert found[0].confidence == 0.95
    assert found[1].confidence < 0.6  # a noise burst is not a held "uh": listed, not cut


def test_held_spellings_are_fillers_and_loop_copies_are_dropped():
    assert all(is_filler(w) for w in ("ummm", "uhhh", "hmmm", "mmm", "hmm", "erm", "um"))
    assert not any(is_filler(w) for w in ("umbrella", "hum", "hmmmph", "mum", "her"))
    words = (Word("so", 0.2, 0.5), Word("ummm...", 0.7, 1.6), Word("uh,", 2.0, 2.0),
             Word("uh,", 2.0, 2.0), Word("uh,", 2.0, 2.3), Word("right", 2.4, 2.8))
    transcript = Transcript((Segment("so ummm uh uh uh right", 0.2, 2.8, words),),
                            backend="faster-whisper:base")
    found = lexical_detections(transcript)
    assert [(d.kind, d.start_s) for d in found] == [("filler", 0.7)]
