"""match_room: a dry track takes a reverberant reference's room; a roomy one is dried first."""

from __future__ import annotations

import pytest
from conftest import bursts
from scipy.signal import fftconvolve

from tools.algorithms.room import estimate_rt60, synthetic_ir
from tools.core.audio import Audio
from tools.core.errors import ToolArgumentError
from tools.match_room import match_room
from tools.registry import call_tool

RATE = 16_000


def _room(dry, decay_s, seed=6):
    return dry + fftconvolve(dry, synthetic_ir(RATE, decay_s=decay_s, seed=seed)[0])[:dry.size]


def test_dry_track_gets_the_reference_room():
    dry = bursts(8.0, sample_rate=RATE, seed=7).samples[0]
    reference = _room(bursts(8.0, sample_rate=RATE, seed=8).samples[0], 0.9)
    out, plan = match_room(Audio.from_array(dry, RATE), Audio.from_array(reference, RATE))
    assert plan.added_decay_s is not None and not plan.dereverbed
    assert out.num_samples == dry.size
    ref_decay, own = estimate_rt60(reference[None], RATE), estimate_rt60(dry[None], RATE)
    got = estimate_rt60(out.samples, RATE)
    assert abs(got - ref_decay) < abs(own - ref_decay) / 2


def test_roomy_track_is_dereverbed_for_a_dry_reference():
    roomy = _room(bursts(8.0, sample_rate=RATE, seed=9).samples[0], 1.2)
    dry_ref = bursts(8.0, sample_rate=RATE, seed=10).samples[0]
    _, plan = match_room(Audio.from_array(roomy, RATE), Audio.from_array(dry_ref, RATE))
    assert plan.dereverbed and plan.added_decay_s is None


def test_through_the_registry(tmp_path):
    from tools.core.session import Session

    with Session.create(tmp_path / "s") as session:
        session.add_track("host", Audio.from_array(_room(bursts(6.0, sample_rate=RATE).samples[0],
                                                         0.8), RATE))
        session.add_track("guest", Audio.from_array(bursts(6.0, sample_rate=RATE, seed=1).samples[0],
                                                    RATE))
        result = call_tool(session, "match_room", {"track": "guest", "reference": "host"})
        assert "room of guest matched to host" in result.text and result.changed == ("guest",)
        with pytest.raises(ToolArgumentError, match="both 'guest'"):
            call_tool(session, "match_room", {"track": "guest", "reference": "guest"})
