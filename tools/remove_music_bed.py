"""remove_music_bed: find where music plays under speech and separate only there.

Detection is :func:`tools.algorithms.music_detect.music_regions` (sustained tonal partials, read
window by window); separation is the ``separate`` tool's two-stem vocals separator (demucs when
its weights are here, else Spleeter 2-stem, as ``separate`` ``backend='auto'`` chooses); the
vocals replace the mixture inside the regions only (:mod:`tools.algorithms.music_bed`), with
short crossfades at their edges. Music-free stretches stay bit-identical, and a track with no
music is left as it is (no new version).
"""

from __future__ import annotations

from pydantic import Field

from tools.algorithms.music_bed import keep_vocals_blocks
from tools.algorithms.music_detect import MusicSettings, music_regions
from tools.core.session import Session
from tools.core.tool import Tool, ToolArgs, ToolResult, commit_blocks, track_field


class Args(ToolArgs):
    backend: str = Field(default="auto", description="Separator: 'auto' (demucs when its weights are here, else Spleeter), 'demucs', 'spleeter' or 'classical' (REPET-SIM, no weights).")
    threshold_db: float = Field(default=MusicSettings.threshold_db, ge=-60, le=0, description="Detection threshold in dB of the speech level for the sustained tonal power, from -60 to 0 (higher: fewer, surer regions).")
    min_region_s: float = Field(default=MusicSettings.min_region_s, ge=0.5, le=60, description="Shortest music region to separate, in seconds, from 0.5 to 60.")
    fade_ms: float = Field(default=100.0, ge=0, le=2000, description="Crossfade at each region edge in ms, from 0 to 2000.")
    track: str | None = track_field()


def _run(session: Session, args: Args) -> ToolResult:
    from tools.separate import _rms, choose_separator, stem_blocks

    name = session.resolve_track(args.track)
    view = session.track(name)
    settings = MusicSettings(threshold_db=args.threshold_db, min_region_s=args.min_region_s)
    regions = music_regions(view, view.sample_rate, settings)
    data = {"regions_s": [list(r) for r in regions],
            "music_s": round(sum(b - a for a, b in regions), 2)}
    if not regions:
        return ToolResult(text=f"found no music under {name}: left as it is", changed=(),
                          data=data)
    choice = choose_separator(backend=args.backend, model="htdemucs", two_stems="vocals",
                              sample_rate=view.sample_rate,
                              model_repo=session.settings.get("demucs_repo"),
                              device=session.settings.get("device", "auto"), cache=session.models)
    data["method"] = choice.separator.name

    def vocals(window):
        for start, block in stem_blocks(window, view.sample_rate, choice.separator,
                                        two_stems="vocals", scale=_rms(window)):
            yield start, block[0]

    blocks = keep_vocals_blocks(view, view.sample_rate, regions, vocals,
                                fade_s=args.fade_ms / 1000)
    spans = ", ".join(f"{a:.1f}-{b:.1f} s" for a, b in regions[:6])
    more = f" and {len(regions) - 6} more" if len(regions) > 6 else ""
    summary = (f"removed the music under {name} in {len(regions)} region(s) ({spans}{more}; "
               f"{data['music_s']:.1f} s of {view.duration_s:.1f} s) with "
               f"{choice.separator.name}; the rest untouched")
    return commit_blocks(session, name, blocks, sample_rate=view.sample_rate,
                         tool="remove_music_bed", args=args, summary=summary, data=data)


TOOL = Tool(
    name="remove_music_bed",
    description=(
        "Find where music plays under speech (a music bed, a song in the background) and remove "
        "it there only, keeping the voice: separation runs on the music regions alone, the rest "
        "of the track stays exactly as it was. Use for 'remove the background music', 'take the "
        "music out from under the voice'."
    ),
    args_model=Args,
    run=_run,
)
