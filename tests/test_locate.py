"""locate and the detectors: words by text and occurrence, fillers, repeats, pauses, silence,
speech regions, breaths, clicks and clipping at known positions in generated audio."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.signal import butter, sosfilt

from tests.conftest import SPEECH_TEXT, espeak, sine
from tools.algorithms import detect
from tools.algorithms.transcript import Segment, Transcript, Word
from tools.algorithms.vad import mono_resampled, speech_activity
from tools.core.audio import Audio, load
from tools.core.session import Session
from tools.locate import choose, find_fillers, find_repeats, locate_in_transcript
from tools.models.sphinx import SphinxTranscriber, align
from tools.registry import call_tool
from tools.transcribe import CACHE_FOLDER, audio_key

RATE = 22_050
PAUSES = ((0.8, "Today we talk about recording at home."), (1.5, "Thank you for listening."))


@pytest.fixture(scope="module")
def paused(tmp_path_factory):
    """Three espeak phrases joined by 0.8 s and 1.5 s of silence, plus the true pause spans."""
    folder = tmp_path_factory.mktemp("paused")
    parts = ["Good morning and welcome to the show.", *(text for _, text in PAUSES)]
    pieces, pauses, at = [np.zeros(RATE // 2, dtype=np.float32)], [], RATE // 2
    for index, text in enumerate(parts):
        samples = load(espeak(text, folder / f"{index}.wav")).samples[0]
        loud = np.flatnonzero(np.abs(samples) > 1e-3)
        samples = samples[loud[0]:loud[-1] + 1]
        pieces.append(samples)
        at += samples.size
        if index < len(PAUSES):
            gap = int(PAUSES[index][0] * RATE)
            pieces.append(np.zeros(gap, dtype=np.float32))
            pauses.append((at / RATE, (at + gap) / RATE))
            at += gap
    pieces.append(np.zeros(RATE // 2, dtype=np.float32))
    return Audio.from_array(np.concatenate(pieces), RATE), pauses


def _noisy(audio: Audio, level_db: float) -> Audio:
    rng = np.random.default_rng(3)
    return audio.replace(audio.samples + rng.standard_normal(audio.samples.shape) * 10 ** (level_db / 20))


# ----------------------------------------------------------------------------- words


@pytest.fixture(scope="module")
def speech(speech_wav):
    """The conftest speech and its forced alignment (the known text, so the words are right)."""
    audio = load(speech_wav)
    return audio, align(audio, SPEECH_TEXT)


def test_word_by_text_and_occurrence(speech):
    _, transcript = speech
    words = transcript.words
    both = locate_in_transcript(transcript, what="word", text="the")
    assert [s.text for s in both] == ["the", "the"]
    second = choose(both, occurrence=2, near_s=None)[0]
    index = next(i for i, w in enumerate(words) if w.text == "small")  # "... rooms and the small"
    assert (second.start_s, second.end_s) == (words[index - 1].start_s, words[index - 1].end_s)
    assert choose(both, occurrence=-1, near_s=None) == [second]
    assert choose(both, occurrence=None, near_s=second.start_s + 0.5)[0] == second  # "near 0:07"
    with pytest.raises(ValueError, match="only 2 found"):
        choose(both, occurrence=3, near_s=None)


def test_phrase_and_loose_matching(speech):
    _, transcript = speech
    phrase = locate_in_transcript(transcript, what="phrase", text="The small HABITS")
    assert len(phrase) == 1 and phrase[0].text == "the small habits"
    loose = locate_in_transcript(transcript, what="word", text="microphone")  # said: microphones,
    assert [s.text for s in loose] == ["microphones,"] and loose[0].confidence < 1.0
    assert locate_in_transcript(transcript, what="word", text="budget") == []


def _words(*items: tuple[str, float]) -> Transcript:
    words = tuple(Word(text, start, start + 0.2, 0.9) for text, start in items)
    return Transcript((Segment(" ".join(w.text for w in words), words[0].start_s, words[-1].end_s,
                               words),))


def test_fillers_and_repeats():
    transcript = _words(("So", 0.0), ("um,", 0.3), ("the", 0.6), ("the", 0.9), ("budget", 1.2),
                        ("Uhh", 1.6), ("I", 2.0), ("think", 2.2), ("I", 2.5), ("think", 2.7),
                        ("it", 3.0), ("works.", 3.2))
    fillers = find_fillers(transcript.words)
    assert [(s.text, s.start_s) for s in fillers] == [("um,", 0.3), ("Uhh", 1.6)]
    repeats = find_repeats(transcript.words)
    assert [(s.text, s.start_s, s.end_s) for s in repeats] == [
        ("the the", 0.6, 0.9), ("I think I think", 2.0, 2.5)]


def test_locate_tool_reads_the_cached_transcript(speech, tmp_path, monkeypatch):
    audio, transcript = speech
    monkeypatch.setenv("ECHO_AGENT_WHISPER_DIR", str(tmp_path / "none"))
    with Session.create(tmp_path / "session") as session:
        session.add_track("talk", audio)
        key = audio_key(audio, identity=SphinxTranscriber().identity, language=None)
        cache = session.root / CACHE_FOLDER
        cache.mkdir()
        (cache / f"{key}.json").write_text(json.dumps(transcript.to_dict()))
        result = call_tool(session, "locate", {"what": "word", "text": "the", "occurrence": 2})
    assert result.data["count"] == 1 and result.data["total"] == 2
    assert result.data["spans"][0]["text"] == "the" and result.data["transcript"] == ["the"]
    assert "occurrence 2 of 2" in result.text


# ----------------------------------------------------------------------------- signal


@pytest.mark.parametrize("noise_db", [None, -60.0])
def test_pauses_found_where_inserted(paused, noise_db):
    audio, truth = paused
    if noise_db is not None:
        audio = _noisy(audio, noise_db)
    found = detect.pauses(audio, min_pause_s=0.7)
    assert len(found) == 2, found
    for span, (start, end) in zip(found, truth, strict=True):
        assert abs(span.start_s - start) <= 0.05 and abs(span.end_s - end) <= 0.05, (span, start, end)
    assert detect.pauses(audio, min_pause_s=1.2)[0].start_s == found[1].start_s


def test_silence_speech_and_non_speech(paused):
    audio, truth = paused
    silent = detect.silences(audio, min_silence_s=0.7)
    for start, end in truth:
        assert any(abs(s.start_s - start) <= 0.05 and abs(s.end_s - end) <= 0.05 for s in silent)
    regions = detect.speech(audio, min_silence_s=0.5)
    assert len(regions) == 3
    assert regions[0].start_s == pytest.approx(0.5, abs=0.1)
    quiet = detect.non_speech(audio, min_silence_s=0.5)
    for start, end in truth:
        assert any(s.start_s <= start + 0.1 and s.end_s >= end - 0.1 for s in quiet)
    energy = speech_activity(audio, method="energy").regions(min_silence_s=0.5)
    assert len(energy) == 3 and abs(energy[1][0] - truth[0][1]) < 0.1


def test_vad_resampling_block_by_block_is_seamless(paused):
    audio, _ = paused
    whole = mono_resampled(audio, 16_000)
    split_s = 62 * 441 / RATE  # on the 20 ms grid shared by 22.05 and 16 kHz
    halves = np.concatenate([mono_resampled(audio, 16_000, end_s=split_s),
                             mono_resampled(audio, 16_000, start_s=split_s)])
    assert whole.size == halves.size == -(-audio.num_samples * 320 // 441)
    assert np.max(np.abs(whole - halves)) < 1e-5


def test_breath_in_a_pause(paused):
    audio, truth = paused
    rng = np.random.default_rng(1)
    length = int(0.4 * RATE)
    band = butter(4, [400, 4000], "bandpass", fs=RATE, output="sos")
    breath = sosfilt(band, rng.standard_normal(length)) * np.hanning(length)
    breath *= 10 ** (-40 / 20) / np.sqrt(np.mean(breath**2))
    samples = audio.samples.copy()
    at = int((truth[1][0] + 0.5) * RATE)
    samples[0, at:at + length] += breath.astype(np.float32)
    found = detect.breaths(audio.replace(samples))
    assert len(found) == 1
    assert abs(found[0].start_s - at / RATE) < 0.1 and abs(found[0].end_s - (at + length) / RATE) < 0.1
    assert detect.breaths(audio) == []


def test_clicks_at_known_positions(paused):
    audio, truth = paused
    samples = audio.samples.copy()
    times = [truth[0][0] + 0.3, 1.0, truth[1][0] + 1.0]  # in a pause, in speech, in a pause
    for time_s, size in zip(times, [0.2, 0.8, 0.05], strict=True):
        at = int(time_s * RATE)
        samples[0, at:at + 2] += [size, -size / 2]
    # espeak's own output has a waveform step or two (synthesis joins) that read as clicks too
    own = detect.clicks(audio)
    assert len(own) <= 2
    found = detect.clicks(audio.replace(samples))
    added = [s for s in found if not any(abs(s.start_s - o.start_s) < 0.01 for o in own)]
    assert len(added) == 3, found
    for span, time_s in zip(added, sorted(times), strict=True):
        assert span.start_s - 0.005 <= time_s <= span.end_s + 0.005
    assert len(detect.clicks(_noisy(audio, -50.0))) <= len(own)


def test_clipping_runs():
    tone = sine(220.0, duration_s=2.0, sample_rate=RATE, amplitude=0.9)
    samples = tone.samples.copy()
    lo, hi = int(0.5 * RATE), int(0.75 * RATE)
    samples[:, lo:hi] = np.clip(samples[:, lo:hi] * 2, -0.95, 0.95)
    samples[:, hi:] *= 0.5
    found = detect.clipping(tone.replace(samples))
    assert len(found) == 1
    assert 0.5 - 0.01 <= found[0].start_s and found[0].end_s <= 0.75 + 0.01
    assert found[0].duration_s > 0.2
    assert detect.clipping(tone) == []


def test_locate_tool_signal_kinds(paused, tmp_path):
    audio, truth = paused
    with Session.create(tmp_path / "session") as session:
        session.add_track("talk", audio)
        result = call_tool(session, "locate", {"what": "pauses", "min_pause_s": 1.0})
        longest = call_tool(session, "locate", {"what": "pauses", "near_s": 1.0, "occurrence": 1})
        with pytest.raises(ValueError, match="min_pause_s"):
            call_tool(session, "locate", {"what": "pauses", "min_pause_s": 0})
        with pytest.raises(ValueError, match="needs text"):
            call_tool(session, "locate", {"what": "word"})
    assert result.data["count"] == 1 and "1 pauses" in result.text
    span = result.data["spans"][0]
    assert span["kind"] == "pause" and abs(span["start_s"] - truth[1][0]) <= 0.05
    assert set(span) == {"start_s", "end_s", "kind", "text", "confidence"}
    assert longest.data["spans"][0]["start_s"] == pytest.approx(truth[0][0], abs=0.05)
