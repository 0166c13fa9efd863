"""Music-under-speech detection and separation only there (remove_music_bed): espeak-ng speech
with a generated music bed (a sequence of harmonic chords) under the middle third."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
import soundfile as sf

from tools.algorithms.music_bed import keep_vocals_blocks, region_weight
from tools.algorithms.music_detect import music_regions, regions_from_scores
from tools.core.audio import Audio
from tools.core.session import Session
from tools.registry import validate_call
from tools.remove_music_bed import TOOL

TEXT = "Good morning and welcome back to the show. Today we talk about gardens, about the weather in the spring."
RATE = 22050


@pytest.fixture(scope="module")
def speech(tmp_path_factory) -> np.ndarray:
    """About 24 s: the text in four voices and pitches, 0.4 s apart (one steady espeak voice
    holds its pitch longer than people do)."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("needs espeak-ng")
    folder = tmp_path_factory.mktemp("speech")
    parts = []
    for i in range(4):
        path = folder / f"s{i}.wav"
        subprocess.run(["espeak-ng", "-p", str(20 + 20 * i), "-s", "190", "-v", f"en+m{i + 1}",
                        "-w", str(path), TEXT], check=True)
        x, rate = sf.read(path, dtype="float32")
        assert rate == RATE
        parts += [x, np.zeros(int(0.4 * RATE), np.float32)]
    x = np.concatenate(parts)
    return (x * 0.1 / np.sqrt(np.mean(x**2))).astype(np.float32)


def chords(n: int, rate: int, seed: int = 1) -> np.ndarray:
    """Music: a new three-note chord (5 harmonics each) every 0.6 s, notes of A3..A5."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / rate
    out = np.zeros(n)
    step = int(0.6 * rate)
    for lo in range(0, n, step):
        for note in rng.choice(np.arange(0, 25), 3, replace=False):
            f0 = 220.0 * 2 ** (note / 12)
            for h in range(1, 6):
                out[lo:lo + step] += np.sin(2 * np.pi * f0 * h * t[lo:lo + step]) / h
    return (out / np.sqrt(np.mean(out**2))).astype(np.float32)


def with_bed(speech: np.ndarray, *, music_db: float = -12.0):
    n = len(speech)
    a, b = n // 3, 2 * n // 3
    bed = np.zeros(n, np.float32)
    bed[a:b] = chords(b - a, RATE) * np.sqrt(np.mean(speech**2)) * 10 ** (music_db / 20)
    noise = np.random.default_rng(0).normal(0, 0.1 * 10 ** (-30 / 20), n).astype(np.float32)
    return speech + bed + noise, (a / RATE, b / RATE)


def _overlap(found, truth):
    a, b = truth
    inside = sum(max(0.0, min(hi, b) - max(lo, a)) for lo, hi in found)
    total = sum(hi - lo for lo, hi in found)
    return inside / (b - a), inside / max(total, 1e-9)


def test_detects_the_music_bed_and_nothing_else(speech):
    x, truth = with_bed(speech)
    found = music_regions(x[None], RATE)
    recall, precision = _overlap(found, truth)
    assert recall > 0.9 and precision > 0.8, (found, truth)


def test_no_music_no_regions(speech):
    noise = np.random.default_rng(0).normal(0, 0.003, len(speech)).astype(np.float32)
    assert music_regions((speech + noise)[None], RATE) == []


def test_steady_hum_is_not_music(speech):
    t = np.arange(len(speech)) / RATE
    hum = sum(np.sin(2 * np.pi * 60 * h * t) / h for h in range(1, 8)).astype(np.float32)
    assert music_regions((speech + 0.01 * hum)[None], RATE) == []


def test_regions_from_scores_merges_and_drops():
    centres = np.arange(0, 40) * 0.5 + 0.5
    scores = np.full(40, -90.0)
    scores[4:14] = -20.0   # 2.25-7.25 s
    scores[16:24] = -20.0  # 1 s gap: merged
    scores[34:36] = -20.0  # 1 s alone: dropped
    regions = regions_from_scores(centres, scores, duration_s=20.0)
    assert len(regions) == 1
    assert regions[0][0] == pytest.approx(2.25, abs=1.0)
    assert regions[0][1] == pytest.approx(12.25, abs=1.0)


def test_vocals_only_inside_regions_with_crossfades():
    rng = np.random.default_rng(3)
    x = rng.normal(0, 0.1, (2, 600_000)).astype(np.float32)

    def half(window):  # a stand-in separator: the vocals are half the mixture
        for lo in range(0, window.shape[1], 100_000):
            yield lo, 0.5 * window[..., lo:lo + 100_000]

    regions = [(2.0, 5.0), (8.0, 9.0)]
    y = np.concatenate(list(keep_vocals_blocks(x, 48000, regions, half, fade_s=0.05)), axis=1)
    assert y.shape == x.shape
    inside = np.zeros(x.shape[1], bool)
    for lo, hi in regions:
        inside[int(lo * 48000):int(hi * 48000)] = True
    assert np.array_equal(y[:, ~inside], x[:, ~inside])  # bit-identical outside
    full = slice(int(2.05 * 48000), int(4.95 * 48000))
    np.testing.assert_allclose(y[:, full], 0.5 * x[:, full], rtol=1e-6)
    w = region_weight(96000, 96000 + 2400, 96000, 240000, 2400)
    assert w[0] < 0.01 and w[-1] > 0.99 and np.all(np.diff(w) > 0)


def test_tool_separates_the_music_stretch_only(speech, tmp_path):
    x, (a_s, b_s) = with_bed(speech)
    with Session.create(tmp_path / "s") as session:
        session.add_track("show", Audio(x[None], RATE))
        _, args = validate_call("remove_music_bed", {"backend": "classical"}, tools=(TOOL,))
        result = TOOL.run(session, args)
        y = session.audio("show").samples[0]
    regions = result.data["regions_s"]
    assert result.changed == ("show",) and regions
    keep = np.ones(len(x), bool)
    for lo, hi in regions:
        keep[int(lo * RATE):int(hi * RATE)] = False
    assert np.array_equal(y[keep], x[keep])
    a, b = int((a_s + 1) * RATE), int((b_s - 1) * RATE)
    assert not np.array_equal(y[a:b], x[a:b])
    assert len(y) == len(x)


def test_tool_leaves_a_track_without_music(speech, tmp_path):
    with Session.create(tmp_path / "s") as session:
        session.add_track("show", Audio(speech[None], RATE))
        head = session.head("show")
        _, args = validate_call("remove_music_bed", {}, tools=(TOOL,))
        result = TOOL.run(session, args)
        assert result.changed == () and result.data["regions_s"] == []
        assert session.head("show") == head
