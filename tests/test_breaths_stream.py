"""reduce_breaths on a session track: read window by window, stored as an edit list that shares
every block outside the breaths, with the same samples as the in-memory function."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import butter, sosfilt

from tools.breaths import frame_features, reduce_breaths
from tools.core.audio import Audio
from tools.core.session import Session
from tools.registry import call_tool

RATE = 16_000


def _voice(seconds: float, rng: np.random.Generator) -> np.ndarray:
    """A voiced phrase: a 140 Hz harmonic tone with a syllable envelope."""
    t = np.arange(int(seconds * RATE)) / RATE
    tone = sum(np.sin(2 * np.pi * 140 * k * t) / k for k in range(1, 12))
    envelope = 0.6 + 0.4 * np.sin(2 * np.pi * 4 * t) ** 2
    return 0.1 * tone * envelope * np.hanning(t.size) ** 0.1


def _talk(phrases: int) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Phrases with 0.7 s pauses, a 350 ms breath 22 dB under the voice in each, -65 dBFS noise."""
    rng = np.random.default_rng(3)
    sos = butter(4, [300, 3500], btype="band", fs=RATE, output="sos")
    parts, spans, at = [], [], 0
    for i in range(phrases):
        voice = _voice(1.5 + 0.3 * (i % 3), rng)
        parts.append(voice)
        at += voice.size
        pause = np.zeros(int(0.7 * RATE))
        length, offset = int(0.35 * RATE), int(0.2 * RATE)
        breath = sosfilt(sos, rng.standard_normal(length + 1000))[1000:] * np.hanning(length) ** 0.5
        level = np.sqrt(np.mean(voice ** 2)) * 10 ** (-22 / 20)
        pause[offset:offset + length] = breath * level / np.sqrt(np.mean(breath ** 2))
        parts.append(pause)
        spans.append((at + offset, at + offset + length))
        at += pause.size
    y = np.concatenate(parts) + rng.standard_normal(at) * 10 ** (-65 / 20)
    return y.astype(np.float32), spans


@pytest.fixture(scope="module")
def talk():
    return _talk(40)  # about 90 s: many blocks of the session's store


def test_features_from_a_reader_equal_those_of_the_array(talk):
    y, _ = talk
    stereo = Audio.from_array(np.stack([y, 0.5 * y]), RATE)
    whole, read = frame_features(y, RATE), frame_features(stereo, RATE, channel=0)
    for name in ("level_db", "voicing", "flatness", "centroid_hz"):
        np.testing.assert_allclose(getattr(read, name), getattr(whole, name), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("remove", [False, True])
def test_the_session_tool_streams_the_same_samples_and_shares_the_rest(tmp_path, talk, remove):
    y, spans = talk
    audio = Audio.from_array(np.stack([y, 0.7 * y]), RATE)
    expected = reduce_breaths(audio, reduction_db=12, remove=remove)
    assert len(expected.breaths) == 2 * len(spans)  # every breath, in both channels
    with Session.create(tmp_path / "s") as session:
        session.add_track("talk", audio)
        before = session.disk_bytes()
        result = call_tool(session, "reduce_breaths", {"reduction_db": 12, "remove": remove})
        assert f"{len(spans)} breath(s)" in result.text
        out = session.track("talk").read(0, audio.num_samples)
        np.testing.assert_array_equal(out, expected.audio.samples)
        untouched = np.ones(y.size, dtype=bool)
        for start, stop in spans:
            untouched[start - int(0.06 * RATE):stop + int(0.06 * RATE)] = False
        np.testing.assert_array_equal(out[:, untouched], audio.samples[:, untouched])
        # only the blocks around the breaths are new: far less than a copy of the track
        assert session.disk_bytes() - before < 0.5 * audio.samples.nbytes
