"""What every agent shares: the reply it gives, the record of each tool call, and running a call.

Two agents implement :class:`Agent`: :class:`agent.llm.LLMAgent` (an OpenAI-compatible tool-calling
loop) and :class:`agent.offline.OfflineAgent` (the deterministic planner, the default when no LLM is
configured). The REPL, instructions files and ``echo-agent do`` talk to either through ``respond``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from tools.core.errors import EchoError, NothingFound, ToolArgumentError
from tools.core.session import Session
from tools.core.tool import Tool
from tools.registry import TOOLS, parse_arguments, validate_call


@dataclass(frozen=True)
class ToolCallRecord:
    """One tool call as it ran: its arguments, whether it worked, and the text it returned.
    ``nothing_found``: it failed because a repair found nothing to repair."""

    name: str
    arguments: dict[str, Any]
    ok: bool
    text: str
    data: dict[str, Any] = field(default_factory=dict)
    nothing_found: bool = False


@dataclass(frozen=True)
class Reply:
    """The agent's answer to one request. ``understood`` is False when nothing was attempted
    because the request was not understood or cannot be done (the text says why)."""

    text: str
    calls: tuple[ToolCallRecord, ...] = ()
    understood: bool = True

    @property
    def failed(self) -> bool:
        return not self.understood or any(not call.ok for call in self.calls)


# on_event("call", record) after each tool call; on_event("text", str) for assistant text.
EventCallback = Callable[[str, Any], None]


class Agent(Protocol):
    name: str

    def respond(self, session: Session, request: str, *,
                on_event: EventCallback | None = None) -> Reply: ...


def run_call(session: Session, name: str, arguments: str | dict[str, Any] | None,
             tools: tuple[Tool, ...] = TOOLS) -> ToolCallRecord:
    """Validate and run one call; every EchoError becomes a failed record with its one-line text."""
    try:
        values = parse_arguments(arguments)
    except ToolArgumentError as exc:
        return ToolCallRecord(name=name, arguments={}, ok=False, text=f"{name}: {exc}")
    try:
        tool, args = validate_call(name, values, tools)
        result = tool.run(session, args)
    except EchoError as exc:
        return ToolCallRecord(name=name, arguments=values, ok=False, text=str(exc),
                              nothing_found=isinstance(exc, NothingFound))
    return ToolCallRecord(name=name, arguments=values, ok=True, text=result.text, data=result.data)
