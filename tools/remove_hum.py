"""remove_hum: take out mains hum and buzz (50 or 60 Hz and its harmonics) with narrow notches.

The hum is found automatically (:func:`tools.algorithms.hum.detect_hum`: 50 or 60 Hz, refined to
a thousandth of a hertz, and how many harmonics stand out), or its fundamental is given. Each
harmonic gets a narrow zero-phase notch (:func:`tools.algorithms.hum.notch_chunk`), so the speech
or music between the harmonics keeps its waveform. Long files go through
:func:`tools.core.overlap_add.overlap_add_blocks` in 30 s chunks with 5 s of context (the notches'
ringing dies out there), each chunk re-measuring the hum's exact frequency. Same length, rate and
channels; the input is not changed. Broadband noise is denoise's job.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from pydantic import Field

from tools.algorithms.hum import DETECT_DB, Hum, detect_hum, notch_chunk
from tools.algorithms.streaming import (
    Source,
    collect,
    source_of,
    stream_edit,
)
from tools.core.audio import Audio
from tools.core.errors import NothingFound
from tools.core.overlap_add import overlap_add_blocks
from tools.core.session import Session
from tools.core.tool import Tool, ToolArgs, ToolResult, track_field

SEGMENT_S, OVERLAP_S, CONTEXT_S = 30.0, 1.0, 5.0


class Args(ToolArgs):
    fundamental_hz: float | None = Field(default=None, ge=40, le=70, description="The hum's base frequency in Hz, from 40 to 70 (50 in Europe, Asia, Africa, Australia; 60 in the Americas), refined within 0.5 Hz; null to find it (50 or 60) automatically.")
    harmonics: int | None = Field(default=None, ge=1, le=40, description="How many harmonics to notch, counting the fundamental, from 1 to 40; null to notch all that stand out (at least 8).")
    width_hz: float = Field(default=0.4, ge=0.1, le=10, description="Width of the notch at the fundamental in Hz, from 0.1 to 10 (0.4 default: narrow, keeps the speech; 1 or more if hum remains because it wavers), growing up the harmonics.")
    track: str | None = track_field()


def find_hum(source: Source, sample_rate: int, *, fundamental_hz: float | None = None,
             harmonics: int | None = None) -> Hum:
    """The hum to remove; refuses (ToolError) when none is found and no fundamental was given."""
    hum = detect_hum(source, sample_rate, fundamental_hz=fundamental_hz, harmonics=harmonics)
    if fundamental_hz is None and hum.score_db < DETECT_DB:
        raise NothingFound(f"found no mains hum: the best candidate ({hum.fundamental_hz:.1f} Hz) "
                        f"stands only {hum.score_db:.1f} dB over its neighbourhood (a hum stands "
                        f"{DETECT_DB:g} dB or more); give fundamental_hz (50 or 60) to notch "
                        "anyway, or use denoise for broadband noise")
    if not hum.harmonics:
        hum = Hum(hum.fundamental_hz, (1,), (0.0,), hum.score_db)
    return hum


def remove_hum_blocks(source: Source, sample_rate: int, hum: Hum, *, width_hz: float = 0.4
                      ) -> Iterator[np.ndarray]:
    """Blocks of ``source`` (``(channels, n)``) with every harmonic of ``hum`` notched out."""
    for _, block in overlap_add_blocks(
            source, lambda chunk: notch_chunk(chunk, sample_rate, hum, width_hz=width_hz),
            segment=int(SEGMENT_S * sample_rate), overlap=int(OVERLAP_S * sample_rate),
            context=int(CONTEXT_S * sample_rate)):
        yield block


def remove_hum(audio: Audio, *, fundamental_hz: float | None = None, harmonics: int | None = None,
               width_hz: float = 0.4) -> tuple[Audio, Hum]:
    """``audio`` without its hum, and the hum that was removed."""
    hum = find_hum(audio.samples, audio.sample_rate, fundamental_hz=fundamental_hz,
                   harmonics=harmonics)
    blocks = remove_hum_blocks(audio.samples, audio.sample_rate, hum, width_hz=width_hz)
    return audio.replace(collect(blocks, audio.channels)), hum


def _run(session: Session, args: Args) -> ToolResult:
    source, rate = source_of(session, args.track)
    hum = find_hum(source, rate, fundamental_hz=args.fundamental_hz, harmonics=args.harmonics)
    how = "given" if args.fundamental_hz is not None else "found"
    summary = (f"removed {hum.fundamental_hz:.2f} Hz hum ({how}) and its harmonics up to "
               f"{hum.frequencies_hz[-1]:.0f} Hz ({len(hum.harmonics)} notches)")
    return stream_edit(session, args.track, remove_hum_blocks(source, rate, hum,
                                                              width_hz=args.width_hz),
                       sample_rate=rate, tool="remove_hum", args=args, summary=summary,
                       data={"fundamental_hz": hum.fundamental_hz,
                             "harmonics": len(hum.harmonics),
                             "prominence_db": list(hum.prominence_db)})


TOOL = Tool(
    name="remove_hum",
    description=(
        "Remove mains hum or buzz: the steady 50 or 60 Hz tone and its harmonics from power "
        "lines, ground loops and cables: 'remove the hum', 'remove the 50 Hz hum' "
        "(fundamental_hz 50), 'get rid of the buzz', 'de-hum'. Found automatically. For hiss, "
        "fans or other broadband noise use denoise; for low rumble use equalize (remove_rumble)."
    ),
    args_model=Args,
    run=_run,
)
