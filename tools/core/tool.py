"""What every tool module shares: the Tool record, the result type, argument-model helpers.

A tool module defines ``Args`` (a pydantic model, every field described with its unit and range),
a pure function over :class:`~tools.core.audio.Audio`, and ``TOOL = Tool(...)`` whose ``run`` adapter
takes the session and the validated arguments.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from tools.core.edits import Piece, build
from tools.core.session import Session
from tools.core.versions import VersionBuilder


class ToolArgs(BaseModel):
    """Base for tool argument models: unknown arguments are refused, values are validated."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class SpanArgs(ToolArgs):
    """Base for tools that take a ``start_s..end_s`` span (``end_s`` None = end of the track):
    refuses a span whose end is not after its start."""

    @model_validator(mode="after")
    def _ordered(self) -> Any:
        end_s, start_s = getattr(self, "end_s", None), getattr(self, "start_s", 0.0)
        if end_s is not None and end_s <= start_s:
            raise ValueError(f"end_s={end_s} must be greater than start_s={start_s}")
        return self


def track_field() -> Any:
    return Field(
        default=None,
        description="Name of the track to act on; null for the current track.",
    )


@dataclass(frozen=True)
class ToolResult:
    """What a tool tells the agent and the person: one short text plus structured data."""

    text: str
    data: dict[str, Any] = field(default_factory=dict)
    changed: tuple[str, ...] = ()


@dataclass(frozen=True)
class Tool:
    """A tool as the registry knows it. ``description`` tells the LLM *when* to use it."""

    name: str
    description: str
    args_model: type[ToolArgs]
    run: Callable[[Session, Any], ToolResult]
    edits: bool = True  # False for read-only tools (info, transcribe, locate)


def described(session: Session, name: str, step: Any, *, summary: str, duration_s: float,
              data: dict[str, Any] | None) -> ToolResult:
    """The result of a committed (or, with ``step`` None, unchanged) edit of track ``name``."""
    if step is None:  # the edit left the track as it was: no new version
        return ToolResult(text=f"{summary}; nothing changed, so no new version was made",
                          data={"track": name, "duration_s": duration_s, "unchanged": True,
                                **(data or {})})
    text = f"{summary} (track {name}: now {duration_s:.2f} s)"
    return ToolResult(text=text, data={"track": name, "duration_s": duration_s, **(data or {})},
                      changed=(name,))


def commit_edit(session: Session, track: str | None, audio: Any, *, tool: str, args: ToolArgs,
                summary: str, data: dict[str, Any] | None = None) -> ToolResult:
    """Commit ``audio`` (an Audio) as the new version of ``track`` and describe it: the usual
    adapter tail for tools that work on a whole clip in memory."""
    name = session.resolve_track(track)
    view = session.track(name)
    if (audio.sample_rate == view.sample_rate and audio.samples.shape == view.shape
            and _unchanged(view, audio.samples)):
        return described(session, name, None, summary=summary, duration_s=audio.duration_s,
                         data=data)
    step = session.commit({name: audio}, tool=tool, args=args.model_dump(mode="json"),
                          summary=summary, select=name)
    return described(session, name, step, summary=summary, duration_s=audio.duration_s, data=data)


def _unchanged(view: Any, samples: np.ndarray, start: int = 0) -> bool:
    """Whether ``samples`` equal ``view``'s frames from ``start`` on, exactly (read a window at a
    time, stopping at the first difference): a tool that found nothing to do commits nothing,
    whatever form its output took."""
    step = 1 << 17
    for at in range(0, samples.shape[1], step):
        part = samples[:, at:at + step]
        if not np.array_equal(part, view.read(start + at, start + at + part.shape[1])):
            return False
    return True


def commit_pieces(session: Session, track: str | None, pieces: list[Piece], *, tool: str,
                  args: ToolArgs, summary: str, data: dict[str, Any] | None = None) -> ToolResult:
    """Commit an edit list (:mod:`tools.core.edits`) over ``track``'s latest version: kept spans
    share the stored blocks, only new samples are written."""
    name = session.resolve_track(track)
    view = session.track(name)
    builder = session.builder(sample_rate=view.sample_rate, channels=view.channels)
    try:
        build(builder, view, pieces)
    except BaseException:
        session.discard_pending()
        raise
    step = session.commit({name: builder}, tool=tool, args=args.model_dump(mode="json"),
                          summary=summary, select=name)
    return described(session, name, step, summary=summary,
                      duration_s=builder.num_samples / view.sample_rate, data=data)


def commit_blocks(session: Session, track: str | None, blocks: Iterable[np.ndarray], *,
                  sample_rate: int, tool: str, args: ToolArgs, summary: str | Callable[[], str],
                  channels: int | None = None, data: dict[str, Any] | Callable[[], dict] | None = None
                  ) -> ToolResult:
    """Commit the float32 ``(channels, m)`` ``blocks`` (in order) as the new version of ``track``,
    written as they come: the whole track is never in memory. ``summary`` and ``data`` may be
    callables, called after the blocks are consumed (for counts a stream learns as it goes)."""
    name = session.resolve_track(track)
    view = session.track(name)
    same = sample_rate == view.sample_rate  # until a block differs from the track's samples
    builder: VersionBuilder | None = None
    try:
        for block in blocks:
            if builder is None:
                builder = session.builder(sample_rate=sample_rate,
                                          channels=channels or block.shape[0])
            same = same and block.shape[0] == view.channels and _unchanged(
                view, block, builder.num_samples)
            builder.append(block)
    except BaseException:
        session.discard_pending()
        raise
    if builder is None:
        raise ValueError("a tool produced no audio")
    text = summary() if callable(summary) else summary
    extra = data() if callable(data) else data
    if same and builder.num_samples == view.num_samples:
        session.discard_pending()
        return described(session, name, None, summary=text,
                         duration_s=builder.num_samples / sample_rate, data=extra)
    step = session.commit({name: builder}, tool=tool, args=args.model_dump(mode="json"),
                          summary=text, select=name)
    return described(session, name, step, summary=text,
                      duration_s=builder.num_samples / sample_rate, data=extra)
