"""How replies are split into the answer and its notes (agent/present.py)."""

from __future__ import annotations

from agent.present import one_line, split_notes

JOINED = ("separated song with classical HPSS into drums, no_drums (fallback: demucs weights for "
          "'htdemucs' not found (no network (host unreachable)), so a classical method ran (lower "
          "quality)); now on track drums; mixed no_drums into without_drums (track without_drums: "
          "6.80 s)")


def test_a_fallback_group_ends_at_its_own_closing_parenthesis():
    answer, notes = split_notes(JOINED)
    assert answer == ("separated song with classical HPSS into drums, no_drums; now on track drums; "
                      "mixed no_drums into without_drums (track without_drums: 6.80 s)")
    assert notes == ["fallback: demucs weights for 'htdemucs' not found (no network (host "
                     "unreachable)), so a classical method ran (lower quality)"]
    assert one_line(notes[0]) == "demucs weights for 'htdemucs' not found, so a classical method ran"


def test_a_last_fallback_clause_and_note_lines_are_notes():
    answer, notes = split_notes("denoised 4.0 s; the DSP fallback ran\nNote: no GPU")
    assert answer == "denoised 4.0 s"
    assert notes == ["no GPU", "the DSP fallback ran"]


def test_an_unclosed_group_is_left_in_the_answer():
    assert split_notes("gain +3 dB (fallback: cut short") == ("gain +3 dB (fallback: cut short", [])


def test_a_missing_weights_group_is_a_note_so_undo_names_the_step_alone():
    text = ("separated jfk with Spleeter 2-stem into vocals, no_vocals (demucs weights for "
            "'htdemucs' are not on this machine, so Spleeter 2-stem ran) (track vocals: 11.00 s)")
    answer, notes = split_notes(text)
    assert answer == "separated jfk with Spleeter 2-stem into vocals, no_vocals (track vocals: 11.00 s)"
    assert notes == ["demucs weights for 'htdemucs' are not on this machine, so Spleeter 2-stem ran"]
