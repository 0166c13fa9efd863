"""remove_disfluencies: take out "um"s, "uh"s, stutters and dead air so that no edit can be heard.

The pure function :func:`remove_disfluencies` detects (:func:`tools.algorithms.disfluency.detect_disfluencies`),
plans the cuts (:func:`plan_cuts`) and renders them (:func:`tools.algorithms.render_cuts.render_cuts`). The
tool adapter finds a transcript first (the session's best transcription backend; pocketsphinx
offline) and says which one it used, plainly when it was the offline fallback.
"""

from __future__ import annotations

import logging
import re
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, replace
from typing import Literal

from pydantic import Field, model_validator

from tools.algorithms.disfluency import (
    EDGE_KEEP_S,
    LISTED_CONFIDENCE,
    Detection,
    check_level,
    detect_disfluencies,
)
from tools.algorithms.render_cuts import (
    Cut,
    cut_record,
    plan_render,
    render_cuts,
    render_pieces,
)
from tools.algorithms.speech_frames import FrameFeatures, frame_features, silences
from tools.algorithms.transcript import FILLERS_EN, Transcript, filler_form
from tools.core.audio import Audio
from tools.core.errors import ToolArgumentError
from tools.core.session import Session
from tools.core.tool import Tool, ToolArgs, ToolResult, commit_pieces, described, track_field

log = logging.getLogger(__name__)
_TOUCH_S = 0.05  # a silence this close to a removal's edge is part of it
_SLIVER_S = 0.06  # sound shorter than this between two removals goes with them
DATA_CUT_LIMIT = 300  # cuts listed in the tool's result data (all are applied)


class Args(ToolArgs):
    level: Literal["light", "normal", "aggressive"] = Field(default="normal", description="How much to remove: 'light' (only sure fillers and repeats, pauses over 1.5 s), 'normal' (fillers, repeats, false starts, pauses over 1 s), 'aggressive' (also 'you know', 'I mean', 'like', 'sort of' as fillers, pauses over 0.7 s).")
    kinds: list[Literal["filler", "repetition", "false_start", "pause", "phrase"]] | None = Field(default=None, description="Only these kinds of disfluency (filler = um/uh, repetition = 'I I', false_start = cut-off words, pause = long silences, phrase = you know / I mean / like); null for all that the level includes.")
    max_pause_s: float | None = Field(default=None, ge=0.2, le=10, description="Pauses longer than this many seconds are shortened (0.2 to 10); null for the level's default.")
    keep_pause_s: float | None = Field(default=None, ge=0.1, le=5, description="Length in seconds a shortened pause keeps (0.1 to 5), filled with the recording's own room tone; null for the level's default.")
    word: str | None = Field(default=None, max_length=40, description="Only disfluencies with this word, e.g. 'um' or 'uh' (fillers found in the sound alone are labelled 'um' or 'uh'); null for any.")
    occurrence: int | None = Field(default=None, ge=-1, le=10_000, description="Only this one of the matches, in time order: 1 = first, 2 = second, -1 = last; null for all.")
    track: str | None = track_field()

    @model_validator(mode="after")
    def _pauses(self) -> Args:
        if (self.max_pause_s is not None and self.keep_pause_s is not None
                and self.keep_pause_s > self.max_pause_s):
            raise ValueError(f"keep_pause_s={self.keep_pause_s} must not exceed max_pause_s={self.max_pause_s}")
        return self


def select_cuts(cuts: list[Cut], *, word: str | None = None,
                occurrence: int | None = None) -> list[Cut]:
    """``cuts`` with only the enabled ones containing ``word`` (as a word of their text) left on,
    and of those only the ``occurrence``-th (1-based, -1 = last). Raises when nothing matches."""
    if word is None and occurrence is None:
        return cuts
    wanted = word.strip().lower() if word else None
    # "the second um" means the second hesitation: um/uh/ah/er labels are unreliable (offline
    # engines and acoustic detection often name the same sound differently), so they match alike
    alike = FILLERS_EN if wanted in FILLERS_EN else {wanted}
    matches = [i for i, c in enumerate(cuts) if c.enabled and (
        wanted is None or alike & {filler_form(w) or w for w in re.findall(r"[\w']+", c.text.lower())})]
    if occurrence is not None:
        if occurrence == 0 or abs(occurrence) > len(matches) or not matches:
            found = f"{len(matches)} match" + ("" if len(matches) == 1 else "es")
            raise ToolArgumentError(f"occurrence={occurrence}: there are only {found}"
                                    + (f" for word={word!r}" if word else ""))
        matches = [matches[occurrence - 1 if occurrence > 0 else -1]]
    keep = set(matches)
    return [replace(c, enabled=i in keep) if c.enabled else c for i, c in enumerate(cuts)]


@dataclass(frozen=True)
class CleanResult:
    audio: Audio
    cuts: list[Cut]
    detections: list[Detection]


# ----------------------------------------------------------------------------- planning


@dataclass
class _Unit:
    start_s: float
    end_s: float
    members: list[Detection]


class _Quiet:
    """The silences (sorted, disjoint ``(start_s, end_s)``), searched by bisection: an hour of
    speech has thousands of them."""

    def __init__(self, spans: list[tuple[float, float]]) -> None:
        self.spans = spans
        self.starts = [a for a, _ in spans]
        self.ends = [b for _, b in spans]

    def near(self, start_s: float, end_s: float) -> list[tuple[float, float]]:
        """The silences that overlap or touch ``start_s - _TOUCH_S .. end_s + _TOUCH_S``."""
        lo = bisect_left(self.ends, start_s - _TOUCH_S)
        hi = bisect_right(self.starts, end_s + _TOUCH_S)
        return self.spans[lo:hi]

    def within(self, start_s: float, end_s: float) -> float:
        """Seconds of silence inside ``start_s..end_s``."""
        return sum(max(0.0, min(b, end_s) - max(a, start_s)) for a, b in self.near(start_s, end_s))

    def run_at(self, time_s: float, *, forward: bool) -> float:
        """Length of the silence that starts (``forward``) or ends at ``time_s``; 0 if none."""
        for a, b in self.near(time_s, time_s):
            if abs((a if forward else b) - time_s) < 1e-6:
                return b - a
        return 0.0


def _grow(d: Detection, quiet: _Quiet, duration_s: float) -> tuple[float, float]:
    """The detection's span widened over the silences touching it (not the file's own edges)."""
    start, end = d.start_s, d.end_s
    for a, b in quiet.near(start, end):
        inner = a > 0.02 and b < duration_s - 0.02
        if inner and a < start and b >= start - _TOUCH_S:
            start = min(start, a)
        if inner and b > end and a <= end + _TOUCH_S:
            end = max(end, b)
    return start, end


def _units(found: list[Detection], quiet: _Quiet, duration_s: float) -> list[_Unit]:
    units: list[_Unit] = []
    for d in sorted(found, key=lambda d: d.start_s):
        start, end = _grow(d, quiet, duration_s)
        if units:
            gap = (units[-1].end_s, start)
            silent = quiet.within(*gap) >= gap[1] - gap[0] - 0.02
            if start <= units[-1].end_s + _SLIVER_S or silent:
                units[-1].end_s = max(units[-1].end_s, end)
                units[-1].members.append(d)
                continue
        units.append(_Unit(start, end, [d]))
    return units


def _to_cut(unit: _Unit, quiet: _Quiet, keep_pause_s: float, *,
            enabled: bool, pause_only: bool) -> Cut:
    """The unit minus a natural gap: up to ``EDGE_KEEP_S`` of each edge's own silence stays and room
    tone makes up the rest of ``min(silence that was there, keep_pause_s)``."""
    silence = quiet.within(unit.start_s, unit.end_s)
    desired = keep_pause_s if pause_only else min(silence, keep_pause_s)
    before = min(quiet.run_at(unit.start_s, forward=True), EDGE_KEEP_S, desired / 2)
    after = min(quiet.run_at(unit.end_s, forward=False), EDGE_KEEP_S, desired - before)
    fill = max(desired - before - after, 0.0)
    members = unit.members
    kinds = [m.kind for m in members]
    kind = next((k for k in kinds if k != "pause"), "pause")
    sources = {m.source for m in members if m.kind != "pause"} or {"acoustic"}
    source = sources.pop() if len(sources) == 1 else "both"
    text = " ".join(dict.fromkeys(m.text for m in members if m.text))
    return Cut(start_s=round(unit.start_s + before, 3), end_s=round(unit.end_s - after, 3),
               fill_s=round(fill, 3), kind=kind, text=text,
               confidence=round(min(m.confidence for m in members), 3), source=source,
               enabled=enabled)


def plan_cuts(detections: list[Detection], silences: list[tuple[float, float]], *,
              duration_s: float, keep_pause_s: float, min_confidence: float) -> list[Cut]:
    """Cuts for ``detections``: those at ``min_confidence`` or above enabled, weaker ones listed
    disabled (a reviewer may switch them on), each taking the silence around it and leaving a
    natural gap; long pauses shortened to ``keep_pause_s``. Sorted by time, never overlapping.
    ``silences``: the recording's silences, sorted (:func:`tools.algorithms.speech_frames.silences`)."""
    quiet = _Quiet(silences)
    strong = [d for d in detections if d.kind != "pause" and d.confidence >= min_confidence]
    weak = [d for d in detections if d.kind != "pause" and d.confidence < min_confidence]
    pauses = [d for d in detections if d.kind == "pause"]
    cuts = [_to_cut(u, quiet, keep_pause_s, enabled=True, pause_only=False)
            for u in _units(strong, quiet, duration_s)]

    def clear(start: float, end: float) -> bool:
        return all(end <= c.start_s or start >= c.end_s for c in cuts)

    for p in pauses:
        cut = _to_cut(_Unit(p.start_s, p.end_s, [p]), quiet, keep_pause_s, enabled=True,
                      pause_only=True)
        if cut.saved_s > 0.05 and clear(p.start_s, p.end_s):
            cuts.append(cut)
    for u in _units(weak, quiet, duration_s):
        cut = _to_cut(u, quiet, keep_pause_s, enabled=False, pause_only=False)
        if clear(u.start_s, u.end_s):
            cuts.append(cut)
    return sorted(cuts, key=lambda c: c.start_s)


# ----------------------------------------------------------------------------- the tool


def remove_disfluencies(audio: Audio, transcript: Transcript | None = None, *,
                        level: str = "normal", kinds: list[str] | None = None,
                        max_pause_s: float | None = None, keep_pause_s: float | None = None,
                        word: str | None = None, occurrence: int | None = None,
                        features: FrameFeatures | None = None, progress=None) -> CleanResult:
    """Detect, plan and render: ``audio`` without its disfluencies, the cut list (disabled entries
    are weaker candidates, listed for review) and the detections behind it. ``word`` and
    ``occurrence`` narrow the cuts to one kind of word and one match (:func:`select_cuts`)."""
    cuts, found = find_cuts(audio, transcript, level=level, kinds=kinds, max_pause_s=max_pause_s,
                            keep_pause_s=keep_pause_s, features=features, progress=progress)
    cuts = select_cuts(cuts, word=word, occurrence=occurrence)
    return CleanResult(render_cuts(audio, cuts), cuts, found)


def find_cuts(audio: Audio, transcript: Transcript | None, *, level: str = "normal",
              kinds: list[str] | None = None, max_pause_s: float | None = None,
              keep_pause_s: float | None = None, features: FrameFeatures | None = None,
              progress=None) -> tuple[list[Cut], list[Detection]]:
    """One detection and its cut list: what the tool (``do``, the chat) and ``echo-agent clean``
    both run, so that the same request at the same level gives the same cuts."""
    rules = check_level(level)
    features = features if features is not None else frame_features(audio)
    found = detect_disfluencies(audio, transcript, level=level, kinds=kinds,
                                max_pause_s=max_pause_s, min_confidence=LISTED_CONFIDENCE,
                                features=features, progress=progress)
    cuts = plan_cuts(found, silences(features), duration_s=audio.duration_s,
                     keep_pause_s=rules.keep_pause_s if keep_pause_s is None else keep_pause_s,
                     min_confidence=rules.min_confidence)
    return cuts, found


def session_transcript(session: Session, track: str | None) -> tuple[Transcript | None, str]:
    """The best transcript the session can make of ``track``, and a line saying which engine made it
    (plainly when it was the offline fallback); (None, reason) when no engine is installed."""
    try:
        from tools.transcribe import get_transcript
    except ImportError:
        return None, "no transcription backend is installed: acoustic detection only"
    try:
        transcript = get_transcript(session, track)
    except Exception as exc:  # an engine that fails must not stop the clean-up: say so, go on
        log.warning("transcription failed: %s", exc)
        return None, f"transcription failed ({exc}): acoustic detection only"
    return transcript, describe_backend(transcript)


def describe_backend(transcript: Transcript | None) -> str:
    if transcript is None:
        return "no transcript: acoustic detection only"
    name = transcript.backend or "unknown engine"
    if "sphinx" in name.lower():
        return (f"transcript by {name}, the offline fallback (no Whisper model installed): its words "
                "are rough, so fillers were found mostly from the sound itself")
    return f"transcript by {name}"


def summarize(cuts: list[Cut], detections: list[Detection]) -> str:
    enabled = [c for c in cuts if c.enabled]
    counts: dict[str, int] = {}
    for cut in enabled:
        counts[cut.kind] = counts.get(cut.kind, 0) + 1
    parts = ", ".join(f"{n} {k.replace('_', ' ')}{'s' if n != 1 else ''}" for k, n in counts.items())
    saved = sum(c.saved_s for c in enabled)
    weak = len(cuts) - len(enabled)
    text = f"removed {parts or 'nothing'} ({saved:.1f} s saved)"
    if weak:
        text += f"; {weak} weaker candidate{'s' if weak != 1 else ''} left in"
    return text


def _run(session: Session, args: Args) -> ToolResult:
    view = session.track(args.track)  # read window by window, like ``echo-agent clean``
    transcript, backend_line = session_transcript(session, args.track)
    cuts, found = find_cuts(view, transcript, level=args.level, kinds=args.kinds,
                            max_pause_s=args.max_pause_s, keep_pause_s=args.keep_pause_s)
    cuts = select_cuts(cuts, word=args.word, occurrence=args.occurrence)
    summary = summarize(cuts, found)
    data = {"cuts": [cut_record(c) for c in cuts[:DATA_CUT_LIMIT]], "cuts_total": len(cuts),
            "transcript": backend_line}
    name = session.resolve_track(args.track)
    plan = plan_render(view, cuts)
    if plan.seams:  # kept stretches by reference, new samples only at the seams
        out = commit_pieces(session, name, render_pieces(view, plan), tool="remove_disfluencies",
                            args=args, summary=summary, data=data)
    else:
        out = described(session, name, None, summary=summary, duration_s=view.duration_s,
                        data=data)
    return ToolResult(text=f"{out.text}; {backend_line}", data=out.data, changed=out.changed)


TOOL = Tool(
    name="remove_disfluencies",
    description=(
        "Clean up speech the way Descript or Auphonic do: remove filler words (um, uh), repeated "
        "words, cut-off words and shorten long pauses, with inaudible seams. Use for 'remove the "
        "ums' (kinds [filler]), 'remove filler words', 'shorten the pauses' (kinds [pause]), "
        "'tighten the pauses' (kinds [pause], level aggressive), 'clean up the interview'; for "
        "one of them, 'remove the second um', set word 'um' and occurrence 2."
    ),
    args_model=Args,
    run=_run,
)
