"""gain: change the level by a number of decibels.

In a session the gain is stored with the version's segments and applied when samples are read:
exact, and free whatever the length of the track (the blocks are shared with the version before).
"""

from __future__ import annotations

from pydantic import Field

from tools.core.audio import Audio
from tools.core.dsp import amplitude_to_db, db_to_amplitude
from tools.core.edits import Keep, Piece, assemble
from tools.core.messages import PEAK_WARNING
from tools.core.session import Session
from tools.core.tool import Tool, ToolArgs, ToolResult, commit_pieces, track_field

MAX_GAIN_DB = 60.0


class Args(ToolArgs):
    gain_db: float = Field(ge=-MAX_GAIN_DB, le=MAX_GAIN_DB, description="Gain in dB, from -60 to +60 (positive is louder; +6 dB is twice the amplitude).")
    track: str | None = track_field()


def gain_pieces(signal, *, gain_db: float) -> list[Piece]:
    """The edit list of a gain of ``gain_db`` over ``signal`` (Audio or TrackView)."""
    return [Keep(0, signal.num_samples, db_to_amplitude(gain_db))]


def gain(audio: Audio, *, gain_db: float) -> Audio:
    """Scale ``audio`` by ``gain_db`` decibels (no limiting: peaks above 0 dBFS stay in float)."""
    return assemble(audio, gain_pieces(audio, gain_db=gain_db))


def _run(session: Session, args: Args) -> ToolResult:
    view = session.track(args.track)
    summary = f"applied {args.gain_db:+.1f} dB"
    # the block summaries say whether peaks now pass full scale without reading the track; for
    # an input read in place there are none, and the export reports any clipping instead
    bound = view.peak(above=db_to_amplitude(-args.gain_db)) if args.gain_db > 0 else None
    peak = amplitude_to_db(bound) + args.gain_db if bound else None
    if peak is not None and peak > 0.0:
        summary += PEAK_WARNING.format(peak_db=peak)
    return commit_pieces(session, args.track, gain_pieces(view, gain_db=args.gain_db), tool="gain",
                         args=args, summary=summary, data={"peak_db": peak})


TOOL = Tool(
    name="gain",
    description="Make the track louder or quieter by a fixed number of decibels ('3 dB louder', 'turn it down 6 dB').",
    args_model=Args,
    run=_run,
)
