"""The block store: versions share blocks, edits cost what they change, undo is exact, nothing is
lost to kill -9, one-command runs read their input in place, old sessions still open."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import noise, sine

from agent.workspace import ScratchSession, export, open_input
from tools.core.audio import Audio
from tools.core.blocks import BLOCK_FRAMES
from tools.core.errors import AudioInputError
from tools.core.session import JOURNAL, Session
from tools.cut import cut
from tools.fade import fade
from tools.gain import gain
from tools.registry import call_tool

RATE = 48_000


def stereo_noise(minutes: float, seed: int = 0) -> Audio:
    return noise(duration_s=minutes * 60, sample_rate=RATE, channels=2, level_db=-24, seed=seed)


@pytest.fixture
def long_session(tmp_path):
    """A saved session holding 2 minutes of 48 kHz stereo (about 46 MB of float32)."""
    audio = stereo_noise(2.0)
    session = Session.create(tmp_path / "s")
    session.add_track("take", audio)
    yield session, audio
    session.close()


def test_a_cut_writes_only_its_seam_and_shares_every_other_block(long_session):
    session, audio = long_session
    before = session.disk_bytes()
    assert before >= audio.samples.nbytes  # the import is one float32 copy, block by block
    call_tool(session, "cut", {"start_s": 30.0, "end_s": 31.0})
    call_tool(session, "fade", {"direction": "out", "duration_s": 2.0})
    call_tool(session, "gain", {"gain_db": 3.0})
    call_tool(session, "insert_silence", {"at_s": 10.0, "duration_s": 5.0})
    call_tool(session, "trim", {"start_s": 1.0})
    grown = session.disk_bytes() - before
    # the crossfade (10 ms), the fade ramp (2 s) and four 3 ms edge fades; silence is a length
    ramp_bytes = 2.0 * RATE * 2 * 4
    assert ramp_bytes < grown < ramp_bytes + 0.1 * RATE * 2 * 4
    expected = fade(cut(audio, start_s=30.0, end_s=31.0), direction="out", duration_s=2.0)
    expected = gain(expected, gain_db=3.0)
    out = session.audio()
    assert out.num_samples == expected.num_samples + 5 * RATE - RATE
    # samples after the trim, inserted silence and edge fades equal the in-memory edit
    np.testing.assert_allclose(out.samples[:, 20 * RATE:21 * RATE],
                               expected.samples[:, 16 * RATE:17 * RATE], atol=1e-6)


def test_undo_and_redo_give_back_the_exact_samples(long_session):
    session, audio = long_session
    call_tool(session, "cut", {"start_s": 5.0, "end_s": 6.5})
    after_cut = session.audio().samples.copy()
    call_tool(session, "gain", {"gain_db": -6.0})
    session.undo()
    assert np.array_equal(session.audio().samples, after_cut)
    session.undo()
    assert np.array_equal(session.audio().samples, audio.samples)
    session.redo()
    assert np.array_equal(session.audio().samples, after_cut)


def test_one_request_is_one_undo(long_session):
    session, audio = long_session
    with session.group():
        call_tool(session, "cut", {"start_s": 1.0, "end_s": 2.0})
        call_tool(session, "gain", {"gain_db": 3.0})
    assert len(session.history()) == 3
    first = session.undo()
    assert first.tool == "cut" and len(session.history()) == 1
    assert np.array_equal(session.audio().samples, audio.samples)
    session.redo()
    assert [s.tool for s in session.history()] == ["open", "cut", "gain"]


def test_an_edit_that_changes_nothing_commits_nothing(long_session):
    session, _ = long_session
    journal = (session.root / JOURNAL).read_bytes()
    result = call_tool(session, "gain", {"gain_db": 0.0})
    assert result.changed == () and "nothing changed" in result.text
    assert len(session.history()) == 1 and (session.root / JOURNAL).read_bytes() == journal


def test_a_tool_output_equal_to_its_input_commits_nothing_whatever_its_form(tmp_path):
    """16-bit imports are stored as int16 blocks; a tool handing back the same samples as float32
    (a whole Audio, or streamed blocks) has changed nothing, and one changed sample is a change."""
    from tools.core.tool import ToolArgs, commit_blocks, commit_edit

    path = tmp_path / "talk.wav"
    sf.write(path, (stereo_noise(0.2).samples.T * 0.5), RATE, subtype="PCM_16")
    with ScratchSession(tmp_path / "s", label="t") as session:
        open_input(session, path)
        same = session.audio()
        steps = len(session.history())
        kept = commit_edit(session, None, Audio(same.samples.copy(), RATE), tool="t",
                           args=ToolArgs(), summary="did nothing")
        assert kept.changed == () and "nothing changed" in kept.text
        view = session.track()
        kept = commit_blocks(session, None, (b for _, b in view.blocks(50_000)), sample_rate=RATE,
                             tool="t", args=ToolArgs(), summary="did nothing")
        assert kept.changed == () and len(session.history()) == steps
        changed = same.samples.copy()
        changed[1, -1] += 1 / 32768
        result = commit_blocks(session, None, iter([changed[:, :70_000], changed[:, 70_000:]]),
                               sample_rate=RATE, tool="t", args=ToolArgs(), summary="one sample")
        assert result.changed == ("talk",) and len(session.history()) == steps + 1
        assert np.array_equal(session.audio().samples, changed)


def test_reopening_replays_every_version_and_reads_a_window(tmp_path, long_session):
    session, audio = long_session
    call_tool(session, "cut", {"start_s": 60.0, "end_s": 61.0})
    heads = session.head()
    session.close()
    with Session.open(tmp_path / "s") as again:
        assert again.head() == heads
        view = again.track()
        window = view.read(61 * RATE, 61 * RATE + 1000)  # after the seam: input shifted by 1 s
        np.testing.assert_array_equal(window, audio.samples[:, 62 * RATE:62 * RATE + 1000])
        assert view[:, 10:20].shape == (2, 10)


def test_silence_costs_nothing_and_equal_blocks_are_stored_once(tmp_path):
    with Session.create(tmp_path / "s") as session:
        session.add_track("t", sine(duration_s=2.0))
        before = session.disk_bytes()
        call_tool(session, "insert_silence", {"at_s": 1.0, "duration_s": 3600.0})
        assert session.disk_bytes() - before < 0.01 * RATE * 4  # the two 3 ms edge fades
        assert session.track().duration_s == pytest.approx(3602.0)
        assert not session.track().read(10 * RATE, 11 * RATE).any()
        before = session.disk_bytes()
        twice = np.tile(np.full((1, BLOCK_FRAMES), 0.25, np.float32), 2)
        session.commit({"u": Audio(twice, RATE)}, tool="open", summary="two equal blocks")
        assert session.disk_bytes() - before == BLOCK_FRAMES * 4


def test_orphan_packs_of_an_interrupted_commit_are_removed(tmp_path, long_session):
    session, _ = long_session
    builder = session.builder(sample_rate=RATE, channels=2)
    builder.append(np.ones((2, BLOCK_FRAMES), np.float32) * 0.1)
    builder.build("x")
    packs = list((session.root / "blocks").iterdir())
    session.store.close()
    session._lock_fd and os.close(session._lock_fd)  # as if the process died here
    session._lock_fd = None
    with Session.open(tmp_path / "s") as again:
        assert len(list((again.root / "blocks").iterdir())) == len(packs) - 1
        assert len(again.history()) == 1


_KILLED_EDITOR = """
import sys
from tools.core.session import Session
from tools.registry import call_tool
session = Session.open(sys.argv[1])
for k in range(200):
    call_tool(session, ["cut", "fade", "insert_silence", "gain"][k % 4],
              [{"start_s": 10.0, "end_s": 10.5}, {"direction": "out", "duration_s": 3.0},
               {"at_s": 20.0, "duration_s": 0.25}, {"gain_db": -0.1}][k % 4])
"""


@pytest.mark.parametrize("kill_after_commits", [3, 9])
def test_sigkill_during_block_sharing_commits_on_a_long_track(tmp_path, long_session,
                                                             kill_after_commits):
    session, audio = long_session
    session.close()
    root = tmp_path / "s"
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_EDITOR, str(root)],
                            cwd=Path(__file__).resolve().parents[1],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    journal = root / JOURNAL
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if journal.read_bytes().count(b"\n") >= 1 + kill_after_commits:
            break
        time.sleep(0.002)
    assert proc.poll() is None, proc.stderr.read().decode()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    with Session.open(root) as again:
        history = again.history()
        assert len(history) >= 1 + kill_after_commits
        length = audio.num_samples
        for step in history[1:]:
            view = again.version_view(step.changes[0].version)
            length += {"cut": -RATE // 2, "insert_silence": RATE // 4}.get(step.tool, 0)
            assert view.num_samples == length
            assert np.isfinite(view.read(0, view.num_samples)).all()
        used = {b.pack for b in again.store.blocks.values()}
        assert {p.name for p in (root / "blocks").iterdir()} == used  # no debris left
        call_tool(again, "cut", {"start_s": 1.0, "end_s": 2.0})
        assert again.track().num_samples == length - RATE


def test_a_one_command_run_reads_its_input_in_place(tmp_path):
    source = tmp_path / "in.wav"
    sf.write(source, stereo_noise(0.2).samples.T, RATE, subtype="PCM_24")
    with ScratchSession(None, label="t") as session:
        open_input(session, source)
        assert session.disk_bytes() == 0  # nothing copied
        call_tool(session, "cut", {"start_s": 1.0, "end_s": 2.0})
        report = export(session, tmp_path / "out.wav")
        assert report.subtype == "PCM_24" and sf.info(tmp_path / "out.wav").frames == 11 * RATE
        os.utime(source, ns=(1, 1))  # the input changes behind our back
        session.store.close()
        with pytest.raises(AudioInputError, match="changed while in use"):
            session.track().read(0, 10)


def test_a_session_made_before_the_block_store_opens_as_it_was(tmp_path):
    root = tmp_path / "old"
    (root / "audio").mkdir(parents=True)
    first, second = sine(duration_s=1.0), sine(duration_s=0.5, freq_hz=220)
    for version, audio in (("0001-a-11111111", first), ("0002-a-22222222", second)):
        sf.write(root / "audio" / f"{version}.wav", audio.samples.T, audio.sample_rate,
                 subtype="FLOAT")
    records = [
        {"op": "commit", "changes": [{"track": "a", "version": "0001-a-11111111", "prev": None}],
         "tool": "open", "args": {}, "summary": "opened", "select": "a"},
        {"op": "commit", "changes": [{"track": "a", "version": "0002-a-22222222",
                                      "prev": "0001-a-11111111"}],
         "tool": "cut", "args": {}, "summary": "cut", "select": "a"},
    ]
    (root / JOURNAL).write_text("".join(json.dumps(r) + "\n" for r in records))
    with Session.open(root) as session:
        assert np.array_equal(session.audio().samples, second.samples)
        session.undo()
        assert np.array_equal(session.audio().samples, first.samples)
        call_tool(session, "gain", {"gain_db": 6.0})
        assert session.audio().num_samples == first.num_samples
