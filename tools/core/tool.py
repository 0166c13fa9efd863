"""What every tool module shares: the Tool record, the result type, argument-model helpers.

A tool module defines ``Args`` (a pydantic model, every field described with its unit and range),
a pure function over :class:`~tools.core.audio.Audio`, and ``TOOL = Tool(...)`` whose ``run`` adapter
takes the session and the validated arguments.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tools.core.session import Session


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


def commit_edit(session: Session, track: str | None, audio: Any, *, tool: str, args: ToolArgs,
                summary: str, data: dict[str, Any] | None = None) -> ToolResult:
    """Commit ``audio`` as the new version of ``track`` and describe it: the usual adapter tail."""
    name = session.resolve_track(track)
    session.commit({name: audio}, tool=tool, args=args.model_dump(mode="json"), summary=summary,
                   select=name)
    text = f"{summary} (track {name}: now {audio.duration_s:.2f} s)"
    return ToolResult(text=text, data={"track": name, "duration_s": audio.duration_s, **(data or {})},
                      changed=(name,))
