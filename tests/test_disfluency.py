"""remove_disfluencies, render_cuts and the clean/render pipelines on espeak-ng speech with fillers
at known places: what goes, what stays, seams, pauses and room tone, the report, labels, review."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import lfilter

from agent.clean import audacity_labels, clean_file, cut_from_record, render_report
from evals.suites.disfluency import seam_clicks
from tools.algorithms.disfluency import acoustic_detections, lexical_detections
from tools.algorithms.render_cuts import Cut, plan_render, render_cuts
from tools.algorithms.speech_frames import frame_features
from tools.algorithms.transcript import Segment, Transcript, Word
from tools.core.audio import Audio, load, save
from tools.core.errors import AudioInputError, ToolArgumentError
from tools.core.session import Session
from tools.registry import call_tool
from tools.remove_disfluencies import plan_cuts, remove_disfluencies, select_cuts

NOISE_DBFS = -60.0
# (text, espeak speed in words per minute or None for silence, seconds of silence after it)
PLAN = [
    ("so", 170, 0.05), ("we", 170, 0.35), ("uh", 85, 0.35), ("tested", 170, 0.05),
    ("six", 170, 0.05), ("setups", 170, 0.4), ("um", 90, 0.4), ("in", 170, 0.05),
    ("my", 170, 0.05), ("studio", 170, 2.5), ("the", 170, 0.05), ("results", 170, 0.05),
    ("surprised", 170, 0.05), ("everyone", 170, 0.5),
]
FILLERS = {"uh", "um"}
REPORT_CUT_FIELDS = {"start_s", "end_s", "kind", "text", "confidence", "source", "enabled",
                     "fill_s", "saved_s"}


def say(text: str, speed: int) -> tuple[np.ndarray, int]:
    exe = shutil.which("espeak-ng")
    if exe is None:
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    wav = subprocess.run([exe, "-v", "en-us", "-s", str(speed), "--stdout", text],
                         capture_output=True, check=True).stdout
    x, rate = sf.read(io.BytesIO(wav), dtype="float32")
    loud = np.flatnonzero(np.abs(x) > 0.02 * np.abs(x).max())
    return x[loud[0]:loud[-1] + 1], rate


def speak_words(plan) -> tuple[np.ndarray, int, list[tuple[str, float, float]]]:
    """Speech assembled word by word from ``plan`` ((text, wpm, silence after in s), ...), peak 0.5,
    after 8000 samples of silence; returns samples, rate and each word's (text, start_s, end_s)."""
    pieces, spans, at = [np.zeros(8000, np.float32)], [], 8000
    rate = 22050
    for text, speed, after in plan:
        x, rate = say(text, speed)
        spans.append((text, at / rate, (at + x.size) / rate))
        pieces += [x, np.zeros(int(after * rate), np.float32)]
        at += x.size + int(after * rate)
    speech = np.concatenate(pieces)
    return speech * (0.5 / np.abs(speech).max()), rate, spans


@pytest.fixture(scope="module")
def recording() -> tuple[Audio, list[tuple[str, float, float]]]:
    """~12 s of speech, word by word, fillers standing alone, a 2.5 s pause, a -60 dBFS floor."""
    speech, rate, spans = speak_words(PLAN)
    rng = np.random.default_rng(0)
    noise = lfilter([1.0], [1.0, -0.9], rng.standard_normal(speech.size))
    noise *= 10 ** (NOISE_DBFS / 20) / noise.std()
    return Audio.from_array(speech + noise, rate), spans


@pytest.fixture(scope="module")
def cleaned(recording):
    audio, _ = recording
    return remove_disfluencies(audio, None, level="normal")


def removed_share(plan, start_s: float, end_s: float) -> float:
    gone = sum(max(0.0, min(end_s, b) - max(start_s, a)) for a, b in plan.removed_s())
    return gone / (end_s - start_s)


def rms_dbfs(x: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(np.square(x, dtype=np.float64)) + 1e-30))


# ----------------------------------------------------------------------------- what goes, what stays


def test_fillers_go_and_words_stay_in_order(recording, cleaned):
    audio, spans = recording
    plan = plan_render(audio, cleaned.cuts)
    for text, start, end in spans:
        share = removed_share(plan, start, end)
        if text in FILLERS:
            assert share > 0.8, f"filler {text!r} at {start:.2f} s: only {share:.0%} removed"
        else:
            assert share < 0.02, f"word {text!r} at {start:.2f} s lost {share:.0%}"
    mapped = [plan.map_time((s + e) / 2) for t, s, e in spans if t not in FILLERS]
    assert all(m is not None for m in mapped)
    assert mapped == sorted(mapped)
    kinds = {c.kind for c in cleaned.cuts if c.enabled}
    assert {"filler", "pause"} <= kinds
    assert all(c.source in ("lexical", "acoustic", "both") for c in cleaned.cuts)


def test_saved_time_is_the_sum_of_the_cuts(recording, cleaned):
    audio, _ = recording
    enabled = [c for c in cleaned.cuts if c.enabled]
    plan = plan_render(audio, cleaned.cuts)
    assert cleaned.audio.num_samples == plan.output_samples
    saved = audio.duration_s - cleaned.audio.duration_s
    planned = sum(c.saved_s for c in enabled)
    # edges move by at most the snap search (25 ms inward, 8 ms outward) each
    assert abs(saved - planned) <= 0.05 * len(enabled)
    assert saved > 2.0  # the fillers and most of the 2.5 s pause


def test_no_click_at_any_seam(recording, cleaned):
    audio, _ = recording
    plan = plan_render(audio, cleaned.cuts)
    clicks, _ = seam_clicks(audio, cleaned.audio, plan)
    assert clicks <= 1.0
    assert np.all(np.isfinite(cleaned.audio.samples))


def test_long_pause_is_shortened_to_a_natural_gap_of_room_tone(recording, cleaned):
    audio, spans = recording
    pauses = [c for c in cleaned.cuts if c.kind == "pause" and c.enabled]
    assert len(pauses) == 1 and pauses[0].fill_s > 0
    plan = plan_render(audio, cleaned.cuts)
    studio = next(e for t, s, e in spans if t == "studio")
    the = next(s for t, s, e in spans if t == "the" and s > studio)
    gap = plan.map_time(the) - plan.map_time(studio)
    assert gap == pytest.approx(0.6, abs=0.06)  # "normal" keeps 0.6 s
    # the room tone filled in: near the recording's own floor, not digital silence
    seam = next(s for s in plan.seams if s.fill)
    start = plan.map_time(seam.start / audio.sample_rate - 1e-3) + 0.03
    filled = cleaned.audio.samples[:, int(start * audio.sample_rate):
                                   int((start + seam.fill / audio.sample_rate - 0.06)
                                       * audio.sample_rate)]
    level = rms_dbfs(filled)
    assert level > -90.0
    assert level == pytest.approx(NOISE_DBFS, abs=6.0)


def test_fillers_between_pauses_leave_a_natural_gap(recording, cleaned):
    audio, spans = recording
    plan = plan_render(audio, cleaned.cuts)
    words = [(t, s, e) for t, s, e in spans if t not in FILLERS]
    for (a, _, a_end), (b, b_start, _) in zip(words, words[1:], strict=False):
        if (a, b) in (("we", "tested"), ("setups", "in")):
            gap = plan.map_time(b_start) - plan.map_time(a_end)
            assert 0.2 <= gap <= 0.65, f"gap {a}->{b} is {gap:.2f} s"


def test_held_chords_of_music_are_not_fillers():
    """Held chords with rests between them pass the signal measures as lone "uh"s (checked below);
    the speech detector keeps them, and the rests, out of the cut list."""
    from tools.algorithms.acoustic_fillers import detect_acoustic_fillers

    rate, notes = 16_000, []
    for k, f0 in enumerate([220, 294, 262, 330, 247, 392, 220, 294]):
        t = np.arange(int(0.6 * rate)) / rate
        chord = sum(np.sin(2 * np.pi * f0 * ratio * h * t) / h**2
                    for ratio in (1, 1.26, 1.5) for h in range(1, 6))
        notes += [0.1 * chord * np.hanning(t.size) ** 0.2,
                  np.zeros(int((0.3 if k % 3 else 1.6) * rate))]
    music = Audio.from_array(np.concatenate(notes), rate)
    assert len(detect_acoustic_fillers(music)) >= 4
    assert remove_disfluencies(music, None, level="aggressive").cuts == []


# ----------------------------------------------------------------------------- rendering


def test_close_cuts_merge_into_one_seam():
    rng = np.random.default_rng(1)
    audio = Audio.from_array(rng.standard_normal((1, 48_000)) * 0.01, 16_000)
    plan = plan_render(audio, [Cut(1.0, 1.2), Cut(1.21, 1.5)])
    assert len(plan.seams) == 1
    assert plan.output_samples == pytest.approx(48_000 - 0.5 * 16_000, abs=0.07 * 16_000)
    apart = plan_render(audio, [Cut(0.5, 0.7), Cut(2.0, 2.2)])
    assert len(apart.seams) == 2


def test_planning_merges_fillers_separated_by_silence():
    from tools.algorithms.disfluency import Detection

    quiet = [(0.9, 1.2), (1.5, 1.8)]
    found = [Detection("filler", 1.2, 1.5, 0.9, "acoustic", "uh"),
             Detection("filler", 1.8, 2.0, 0.9, "acoustic", "um")]
    cuts = plan_cuts(found, quiet, duration_s=5.0, keep_pause_s=0.6, min_confidence=0.6)
    assert len(cuts) == 1
    cut = cuts[0]
    # 0.9-2.0 minus 80 ms of the first silence's own edge; up to 0.6 s of gap made up by room tone
    assert cut.start_s == pytest.approx(0.98) and cut.end_s == pytest.approx(2.0)
    assert cut.fill_s == pytest.approx(0.52)
    assert cut.text == "uh um"


def test_stereo_equals_each_channel_alone(recording, cleaned):
    audio, _ = recording
    stereo = Audio.from_array(np.repeat(audio.samples, 2, axis=0), audio.sample_rate)
    out = render_cuts(stereo, cleaned.cuts)
    mono = render_cuts(audio, cleaned.cuts)
    np.testing.assert_array_equal(out.samples[0], mono.samples[0])
    np.testing.assert_array_equal(out.samples[1], mono.samples[0])


def test_render_refuses_bad_cuts():
    audio = Audio.from_array(np.zeros((1, 16_000), np.float32), 16_000)
    with pytest.raises(ToolArgumentError, match="not a span inside the audio"):
        plan_render(audio, [Cut(2.0, 3.0)])
    with pytest.raises(ToolArgumentError, match="whole recording"):
        plan_render(audio, [Cut(0.0, 1.0)])


# ----------------------------------------------------------------------------- lexical


def transcript(words: list[tuple[str, float, float]], backend: str = "faster-whisper:small") -> Transcript:
    made = tuple(Word(t, s, e, 0.95) for t, s, e in words)
    return Transcript((Segment(" ".join(w.text for w in made), made[0].start_s, made[-1].end_s, made),),
                      backend=backend)


def test_lexical_fillers_repeats_false_starts_and_phrases():
    words = transcript([("I", 0.0, 0.2), ("I", 0.3, 0.5), ("think,", 0.6, 0.9), ("um,", 1.0, 1.4),
                        ("you", 1.5, 1.6), ("know,", 1.6, 1.8), ("mon-", 1.9, 2.1),
                        ("Montreal", 2.2, 2.8), ("is", 2.9, 3.0), ("like,", 3.1, 3.3),
                        ("huge.", 3.5, 3.9), ("I", 4.5, 4.6), ("like", 4.6, 4.8), ("it.", 4.8, 5.0)])
    normal = {(d.kind, d.text) for d in lexical_detections(words)}
    assert ("repetition", "I") in normal and ("filler", "um,") in normal
    assert ("false_start", "mon-") in normal
    assert not any(kind == "phrase" for kind, _ in normal)
    aggressive = {(d.kind, d.text, d.start_s) for d in lexical_detections(words, aggressive=True)}
    assert ("phrase", "you know,", 1.5) in aggressive
    assert not any(text == "like" for _, text, _ in aggressive)  # "I like it" is a verb
    assert not any(start == 3.1 for _, _, start in aggressive)  # "is like" compares


def test_sphinx_words_count_for_less():
    words = [("the", 0.0, 0.2), ("the", 0.3, 0.5), ("end", 0.6, 0.9)]
    whisper = lexical_detections(transcript(words))[0].confidence
    sphinx = lexical_detections(transcript(words, backend="pocketsphinx"))[0].confidence
    assert sphinx < 0.6 <= whisper


def test_fillers_in_gaps_of_a_whisper_timeline_count_for_more(recording):
    audio, spans = recording
    features = frame_features(audio)
    alone = {round(d.start_s, 1): d.confidence for d in acoustic_detections(audio, features, None)}
    words = [(t, s, e) for t, s, e in spans if t not in FILLERS]  # Whisper left the fillers out
    gaps = acoustic_detections(audio, features, transcript(words))
    assert gaps and all(d.confidence >= alone[round(d.start_s, 1)] for d in gaps)
    uh_start, uh_end = next((s, e) for t, s, e in spans if t == "uh")
    covered = [("so", 0.3, uh_end + 0.05), *[(t, s, e) for t, s, e in words if s > uh_end]]
    heard = acoustic_detections(audio, features, transcript(covered))  # Whisper heard a word there
    assert not any(d.start_s < uh_end and d.end_s > uh_start for d in heard)


def test_select_one_occurrence_of_a_word():
    cuts = [Cut(1, 2, text="uh"), Cut(3, 4, text="um"), Cut(5, 6, text="um"),
            Cut(7, 8, kind="pause", text="1.2 s pause"), Cut(9, 9.5, text="um", enabled=False)]
    # hesitation labels (um/uh/ah/er) are unreliable offline, so "the second um" is the second
    # hesitation, whatever its label
    second = select_cuts(cuts, word="um", occurrence=2)
    assert [c.enabled for c in second] == [False, True, False, False, False]
    assert [c.enabled for c in select_cuts(cuts, word="UM", occurrence=-1)][2]
    with pytest.raises(ToolArgumentError, match="only 3 matches"):
        select_cuts(cuts, word="um", occurrence=4)
    words = [Cut(1, 2, kind="phrase", text="like"), Cut(3, 4, text="um")]
    with pytest.raises(ToolArgumentError, match="only 1 match for word='like'"):
        select_cuts(words, word="like", occurrence=2)


def test_a_stretched_filler_is_the_filler_asked_for():  # Whisper writes a long um 'Ummm,'
    cuts = [Cut(2.9, 4.7, text="Ummm,"), Cut(5, 6, text="Uhhhh..."), Cut(7, 8, text="umbrella")]
    assert [c.enabled for c in select_cuts(cuts, word="um")] == [True, True, False]


# ----------------------------------------------------------------------------- the pipelines


@pytest.fixture(scope="module")
def clean_run(recording, tmp_path_factory):
    audio, _ = recording
    folder = tmp_path_factory.mktemp("clean")
    source = save(audio, folder / "talk.wav")
    before = hashlib.sha256(source.read_bytes()).hexdigest()
    report = clean_file(source, folder / "talk.clean.wav", report_path=folder / "cuts.json",
                        labels_path=folder / "labels.txt", transcript="none")
    return folder, source, before, report


def test_report_has_the_specified_fields(clean_run):
    folder, source, before, report = clean_run
    written = json.loads((folder / "cuts.json").read_text())
    assert written["input"]["path"] == str(source.resolve())
    assert written["input"]["sha256"] == before
    assert written["cuts"] and all(set(c) == REPORT_CUT_FIELDS | ({"pause_s"} if c["fill_s"] else set())
                                   for c in written["cuts"])
    enabled = [c for c in written["cuts"] if c["enabled"]]
    assert written["saved_s"] == pytest.approx(sum(c["saved_s"] for c in enabled), abs=1e-6)
    # each cut gives the span it removes: the spans add up to the time saved (issue: a shortened
    # pause used to be listed whole), and a pause's span lies inside the pause it came from
    assert sum(c["end_s"] - c["start_s"] for c in enabled) == pytest.approx(written["saved_s"], abs=0.01)
    for cut in written["cuts"]:
        if cut["fill_s"]:
            assert cut["pause_s"][0] < cut["start_s"] < cut["end_s"] < cut["pause_s"][1]
            assert cut["pause_s"][1] - cut["pause_s"][0] - cut["fill_s"] == pytest.approx(
                cut["saved_s"], abs=1e-3)
    removed = written["input"]["duration_s"] - written["output"]["duration_s"]
    assert removed == pytest.approx(written["saved_s"], abs=0.03 * len(enabled) + 0.01)
    assert written["transcript"]["backend"] is None
    assert "acoustic detection only" in report["notes"][0]
    out = load(folder / "talk.clean.wav")
    assert out.duration_s == pytest.approx(written["output"]["duration_s"])


def test_labels_are_an_audacity_label_track(clean_run):
    folder, _, _, report = clean_run
    lines = (folder / "labels.txt").read_text().splitlines()
    assert len(lines) == len(report["cuts"])
    for line, cut in zip(lines, report["cuts"], strict=True):
        start, end, label = line.split("\t")
        assert float(start) == pytest.approx(cut["start_s"]) and float(end) > float(start)
        assert label.startswith(cut["kind"])
    assert audacity_labels([]) == ""


def test_render_with_a_cut_switched_off_reproduces_the_partial_edit(clean_run, recording):
    folder, source, before, report = clean_run
    reviewed = json.loads((folder / "cuts.json").read_text())
    first = next(i for i, c in enumerate(reviewed["cuts"]) if c["enabled"])
    reviewed["cuts"][first]["enabled"] = False
    (folder / "reviewed.json").write_text(json.dumps(reviewed))
    result = render_report(folder / "reviewed.json", folder / "partial.wav")
    cuts = [cut_from_record(r, i) for i, r in enumerate(reviewed["cuts"])]
    expected = render_cuts(load(source), cuts)
    partial = load(folder / "partial.wav")
    np.testing.assert_array_equal(partial.samples, expected.samples)
    full = load(folder / "talk.clean.wav")
    assert partial.duration_s - full.duration_s == pytest.approx(
        reviewed["cuts"][first]["saved_s"], abs=0.06)
    assert result["cuts_off"] >= 1
    assert hashlib.sha256(source.read_bytes()).hexdigest() == before  # input untouched


def test_render_refuses_a_different_input(clean_run):
    folder, source, _, _ = clean_run
    other = folder / "other.wav"
    audio = load(source)
    save(audio.replace(audio.samples * 0.5), other)
    with pytest.raises(AudioInputError, match="not the file the report was made from"):
        render_report(folder / "cuts.json", folder / "x.wav", input_path=other)
    with pytest.raises(AudioInputError, match="exists already"):
        render_report(folder / "cuts.json", folder / "talk.clean.wav")


def test_clean_with_denoise_and_loudness(recording, tmp_path):
    audio, _ = recording
    source = save(audio.replace(audio.samples[:, : int(5 * audio.sample_rate)]), tmp_path / "a.wav")
    report = clean_file(source, tmp_path / "b.wav", transcript="none", denoise=True,
                        loudness_lufs=-16.0)
    assert any("denoised with" in note for note in report["notes"])
    from tools.core.dsp import integrated_loudness

    out = load(tmp_path / "b.wav")
    assert integrated_loudness(out.samples, out.sample_rate) == pytest.approx(-16.0, abs=0.5)


def test_clean_refuses_to_overwrite_its_input(clean_run):
    folder, source, _, _ = clean_run
    with pytest.raises(AudioInputError, match="input"):
        clean_file(source, source, overwrite=True, transcript="none")


@pytest.mark.parametrize("packaged", ["1", "0"])
def test_tool_says_which_transcript_it_used(recording, tmp_path, monkeypatch, packaged):
    monkeypatch.setenv("ECHO_AGENT_PACKAGED", packaged)  # 0 hides the `models` extra's Whisper
    audio, _ = recording
    short = audio.replace(audio.samples[:, : int(6.5 * audio.sample_rate)])
    with Session.create(tmp_path / "s") as session:
        session.add_track("talk", short)
        result = call_tool(session, "remove_disfluencies", {"level": "light"})
        if packaged == "1":
            assert result.text.endswith("transcript by faster-whisper:base")
        else:
            assert "offline fallback" in result.text or "acoustic detection only" in result.text
        assert session.audio().duration_s < short.duration_s
        assert result.data["cuts"] and set(result.data["cuts"][0]) - {"pause_s"} == REPORT_CUT_FIELDS
        with pytest.raises(ToolArgumentError):
            call_tool(session, "remove_disfluencies", {"level": "extreme"})
