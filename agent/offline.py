"""The offline agent: the deterministic planner plus the registry, no LLM and no network.

A request is atomic: the planner turns it into tool calls (or refuses it as a whole), the calls run
in order, and if one fails the calls already made for this request are undone, so a request either
happens completely or leaves the session as it was. With ``nothing_found_ok`` (batches), a repair
that finds nothing to repair is noted and the request goes on: a clean file is no failure.
"""

from __future__ import annotations

from dataclasses import replace

from agent.base import EventCallback, Reply, ToolCallRecord, run_call
from agent.planner import NotUnderstood, plan_request
from tools.core.errors import NothingFound
from tools.core.session import Session
from tools.core.tool import Tool
from tools.registry import TOOLS


class OfflineAgent:
    """Implements :class:`agent.base.Agent` with :func:`agent.planner.plan_request`."""

    name = "offline planner"
    reply_repeats_calls = True  # the answer is the calls' own texts (shown once, by the caller)

    def __init__(self, tools: tuple[Tool, ...] = TOOLS, *, nothing_found_ok: bool = False) -> None:
        self.tools = tools
        self.nothing_found_ok = nothing_found_ok

    def plan(self, session: Session, request: str):
        """The calls ``request`` would make on ``session`` now (raises NotUnderstood)."""
        duration = session.track().duration_s if session.tracks else None  # no samples read
        return plan_request(request, duration_s=duration)

    def respond(self, session: Session, request: str, *,
                on_event: EventCallback | None = None) -> Reply:
        try:
            calls = self.plan(session, request)
        except NotUnderstood as exc:
            return Reply(text=exc.reason, understood=False)
        mark = len(session.history())
        records: list[ToolCallRecord] = []
        for call in calls:
            record = run_call(session, call.tool, call.args, self.tools)
            if record.nothing_found and self.nothing_found_ok:
                record = replace(record, ok=True, text=NothingFound.passed_over(record.text))
            records.append(record)
            if on_event is not None:
                on_event("call", record)
            if not record.ok:
                while len(session.history()) > mark:
                    session.undo()
                text = f"Could not do that: {record.text}. Nothing was changed."
                return Reply(text=text, calls=tuple(records))
        text = "; ".join(record.text for record in records) or "Nothing to do."
        return Reply(text=text, calls=tuple(records))
