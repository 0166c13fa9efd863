"""declip reads and writes block by block: the same restoration whatever the block size, the clip
levels found across block edges, and the session tool never reads the whole track."""

from __future__ import annotations

import numpy as np
import pytest

import tools.declip as declip_module
from agent.base import run_call
from tools.core.audio import Audio
from tools.core.session import Session

RATE = 16_000


def _clipped(seconds: float = 6.0, level: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    t = np.arange(int(seconds * RATE)) / RATE
    swell = 0.55 + 0.45 * np.sin(2 * np.pi * 0.7 * t)
    left = swell * (0.7 * np.sin(2 * np.pi * 180 * t) + 0.3 * np.sin(2 * np.pi * 410 * t + 1))
    right = 0.8 * swell[::-1] * np.sin(2 * np.pi * 260 * t)
    clean = np.stack([left, right]).astype(np.float32)
    return clean, np.clip(clean, -level, level)


def _snr_db(reference: np.ndarray, estimate: np.ndarray) -> float:
    return float(10 * np.log10(np.sum(reference**2) / np.sum((reference - estimate) ** 2)))


def test_blocks_give_one_pass(monkeypatch):
    clean, clipped = _clipped()
    whole = declip_module.declip(Audio(clipped, RATE), makeup_gain_db=0)  # 10 s blocks: one
    monkeypatch.setattr(declip_module, "BLOCK_S", 0.37)  # 17 blocks, edges inside clipped runs
    blocked = declip_module.declip(Audio(clipped, RATE), makeup_gain_db=0)
    assert whole.levels == blocked.levels == ((0.5, -0.5), (0.5, -0.5))
    assert whole.clipped_samples == blocked.clipped_samples
    assert whole.clipped_samples[0] == int(np.sum(np.abs(clipped[0]) >= 0.5 * (1 - 1e-4)))
    assert np.max(np.abs(whole.audio.samples - blocked.audio.samples)) < 1e-3
    assert _snr_db(clean, blocked.audio.samples) > _snr_db(clean, clipped) + 5  # heavy clipping: 12.7 -> 19.1 dB


def test_levels_across_block_edges():
    _, clipped = _clipped()
    one = declip_module.clip_levels(clipped)
    small = declip_module.clip_levels(clipped, block=97)  # runs split across every edge
    assert one == small == ((0.5, -0.5), (0.5, -0.5))
    assert declip_module.clip_levels(clipped * 0.9 + 0.01, block=97)[0][0] == pytest.approx(
        0.46, abs=1e-6)


def test_tool_streams_and_refuses(tmp_path, monkeypatch):
    clean, clipped = _clipped(level=0.99)
    monkeypatch.setattr(declip_module, "BLOCK_S", 0.5)
    with Session.create(tmp_path / "s") as session:
        session.add_track("t", Audio(clipped, RATE))

        def whole_read(*args, **kwargs):
            raise AssertionError("a whole-track read")

        monkeypatch.setattr(Session, "audio", whole_read)
        result = run_call(session, "declip", {})
        assert result.ok and "restored" in result.text and "lowered the track" in result.text
        out = session.track().read(0, clipped.shape[1])
        assert np.max(np.abs(out)) == pytest.approx(10 ** (-0.1 / 20), abs=1e-4)  # the ceiling
        assert _snr_db(clean, out / np.float32(10 ** (result.data["gain_db"] / 20))) > _snr_db(
            clean, clipped)
        steps = len(session.history())
        again = run_call(session, "declip", {})  # restored peaks are no longer piled up
        assert not again.ok and again.text.startswith("found no clipping")
        assert len(session.history()) == steps
