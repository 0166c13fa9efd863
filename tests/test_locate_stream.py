"""locate's signal kinds in a session read the track window by window (never a whole-track copy)
and find the same spans as on the whole array in memory: pauses, silence, clipping, clicks."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from scipy import signal

import tools.algorithms.detect as detect
from agent.base import run_call
from tests.conftest import espeak
from tools.core.audio import Audio
from tools.core.session import Session
from tools.locate import locate_in_signal

RATE = 16_000


@pytest.fixture(scope="module")
def track(tmp_path_factory) -> np.ndarray:
    """Stereo, about 12 s: four espeak sentences with 1.5 s gaps of faint noise, flat tops in the
    left channel in the third sentence, and three one-sample clicks in the gaps."""
    folder = tmp_path_factory.mktemp("speech")
    parts = []
    for number, text in enumerate(("Good morning and welcome.", "Today we talk about microphones.",
                                   "We tested six of them.", "Thank you for listening.")):
        y, rate = sf.read(espeak(text, folder / f"s{number}.wav"))
        parts += [np.zeros(int(1.5 * rate)), signal.resample_poly(y, RATE, rate)]
    x = np.concatenate(parts + [np.zeros(RATE)])
    x = np.stack([x, 0.9 * x]) * 0.5 + 0.002 * np.random.default_rng(3).standard_normal((2, x.size))
    third = slice(int(sum(p.size for p in parts[:5])) + 2000, int(sum(p.size for p in parts[:5])) + 5000)
    x[0, third] = np.clip(x[0, third] * 4, -0.6, 0.6)
    gaps = np.cumsum([p.size for p in parts])[[1, 3, 5]] / RATE + 0.7  # in the 2nd, 3rd, 4th gap
    for at_s in gaps:
        x[:, int(at_s * RATE)] += 0.3
    return x.astype(np.float32), [round(float(g), 2) for g in gaps]


@pytest.mark.parametrize("what", ["pauses", "silence", "clipping", "clicks"])
def test_locate_reads_windows_and_finds_the_same_spans(tmp_path, monkeypatch, track, what):
    monkeypatch.setattr(detect, "_BLOCK_SAMPLES", 1 << 16)  # 4 s blocks: seams inside the track
    x, clicks_s = track
    expected = locate_in_signal(Audio(x, RATE), what=what)
    with Session.create(tmp_path / "s") as session:
        session.add_track("t", Audio(x, RATE))

        def whole_read(*args, **kwargs):
            raise AssertionError("a whole-track read")

        monkeypatch.setattr(Session, "audio", whole_read)
        record = run_call(session, "locate", {"what": what})
    assert record.ok, record.text
    found = [(s["start_s"], s["end_s"]) for s in record.data["spans"]]
    assert len(found) == len(expected)
    assert np.allclose(found, [(s.start_s, s.end_s) for s in expected], atol=1e-3)  # to_dict rounds to 1 ms
    if what == "clipping":
        assert len(found) >= 1
    if what == "clicks":
        assert [round((a + b) / 2, 2) for a, b in found] == clicks_s
    if what in ("pauses", "silence"):
        assert len(found) >= 3
