"""The LLM agent: a tool-calling loop over the ``openai`` client, for any OpenAI-compatible endpoint.

OpenAI itself, or a local server (Ollama ``http://localhost:11434/v1``, vLLM, llama.cpp's
``llama-server``). :class:`LLMAgent` keeps one chat: every request goes to the model with the
system prompt (``prompts/system.txt``), the session state and the tools; the model's tool calls run
one at a time, in order, through :func:`agent.base.run_call`, and their results go back as ``tool``
messages until the model answers in plain text or ``max_turns`` model calls have been made
(:class:`MaxTurnsExceeded`, turned into a reply that says so).

Server quirks it survives: malformed JSON arguments and unknown tool names come back to the model
as one-line errors (as do validation errors and tool failures) so that it corrects itself;
``strict`` schemas are sent only to OpenAI, and a server that refuses them (HTTP 400 naming strict
or schema) is asked again without them, once, and remembered; ``tool_choice`` is never relied on (a
plain text answer ends the turn); the call that follows a failed one in the same assistant message
is skipped, not run on a wrong premise. A network error, a timeout or an HTTP error that outlives
the client's retries raises :class:`~tools.core.errors.SetupError` (one line, naming the endpoint); the
chat then drops the unanswered request (or, when some tools already ran, closes it with a note), so
it stays valid.

Prompt injection: see :mod:`agent.guard` (untrusted transcript wrapping, destructive-call guard).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Any

import openai

from agent.base import EventCallback, Reply, ToolCallRecord, run_call
from agent.guard import UNTRUSTED_NOTE, InjectionGuard, untrusted_parts
from agent.llm_config import DEFAULT_MODEL, NO_KEY, OPENAI_URL, LLMConfig  # noqa: F401 (re-exported)
from tools.core.errors import EchoError, SetupError, ToolArgumentError
from tools.core.session import Session
from tools.core.tool import Tool
from tools.registry import TOOLS, openai_tools, parse_arguments

log = logging.getLogger(__name__)

class MaxTurnsExceeded(EchoError):
    """The model was still calling tools after ``max_turns`` model calls (as openai-agents)."""

    def __init__(self, max_turns: int, calls: int) -> None:
        super().__init__(
            f"Stopped: the model was still calling tools after {max_turns} turns ({calls} tool "
            "calls ran; their edits stay in the session, 'undo' reverts them). Try a simpler request."
        )


@cache
def system_prompt() -> str:
    return files("prompts").joinpath("system.txt").read_text(encoding="utf-8").strip()


def session_context(session: Session) -> str:
    """The session state the model sees each turn: tracks, the current one, durations, history."""
    if not session.tracks:
        return "The session has no tracks yet."
    lines = []
    for name in session.tracks:
        audio = session.track(name)  # a window reader: no samples are read
        mark = " (current)" if name == session.current_track else ""
        lines.append(f"- track {name}{mark}: {audio.duration_s:.3f} s, {audio.sample_rate} Hz, "
                     f"{audio.channels} channel(s)")
    lines.append(f"History: {len(session.history())} step(s); {len(session.redo_steps())} can be redone.")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- messages


def _jsonable(value: Any) -> Any:
    return value.tolist() if hasattr(value, "tolist") else str(value)


def tool_message(record: ToolCallRecord | None, raw: Any = None) -> str:
    """The ``tool`` message content for one call: JSON, audio-derived text wrapped as untrusted."""
    if record is None:
        payload: dict[str, Any] = {"ok": False, "error": "not run: an earlier call in this turn "
                                   "failed; fix that one first, then call again"}
    elif not record.ok:
        payload = {"ok": False, "error": record.text}
        if isinstance(raw, str) and not _valid_object(raw):
            payload["arguments_sent"] = raw[:500]
    else:
        untrusted = untrusted_parts(record.data)
        trusted = {k: v for k, v in record.data.items() if k not in untrusted}
        payload = {"ok": True, "result": record.text, "data": trusted}
        if untrusted:
            payload["result"] = f"{record.name} finished; what it heard is under untrusted_transcript"
            payload["untrusted_transcript"] = {"note": UNTRUSTED_NOTE, "tool_text": record.text,
                                               **untrusted}
    return json.dumps(payload, ensure_ascii=False, default=_jsonable)


def _valid_object(raw: Any) -> bool:
    try:
        parse_arguments(raw)
    except ToolArgumentError:
        return False
    return True


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _error_text(exc: openai.OpenAIError) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
        if isinstance(inner, str):
            return inner
    return getattr(exc, "message", None) or str(exc)


def setup_error(exc: openai.OpenAIError, config: LLMConfig) -> SetupError:
    """One line naming the endpoint, what went wrong and what to try."""
    where = f"the LLM endpoint {config.endpoint}"
    if isinstance(exc, openai.APITimeoutError):
        return SetupError(f"{where} did not answer within {config.timeout_s:g} s; is the server "
                          "running and the model loaded? (raise the timeout for slow local models)")
    if isinstance(exc, openai.APIConnectionError):
        return SetupError(f"cannot reach {where} ({_one_line(exc.__cause__ or exc, 120)}); start "
                          "the server, or set --base-url / OPENAI_BASE_URL")
    message = _one_line(_error_text(exc))
    status = getattr(exc, "status_code", None)
    if status in (401, 403):
        hint = "check OPENAI_API_KEY"
    elif status == 404:
        hint = f"check the model name (--model {config.model}) and the base URL"
    elif "tool" in message.lower():
        hint = f"choose a model that supports tool calling (now: {config.model})"
    else:
        hint = "try again later, or another model / endpoint"
    code = f"HTTP {status}" if status else type(exc).__name__
    return SetupError(f"{where} answered {code}: {message}; {hint}")


def _refuses_strict(exc: openai.APIStatusError) -> bool:
    text = _error_text(exc).lower()
    return exc.status_code in (400, 422) and ("strict" in text or "schema" in text)


# ----------------------------------------------------------------------------- the agent


@dataclass
class _Call:
    id: str
    name: str
    raw: Any  # the arguments as the server sent them (a string, normally)


class LLMAgent:
    """Implements :class:`agent.base.Agent` with an OpenAI-compatible chat model and the tools.

    ``on_event("call", record)`` follows every tool call as it finishes; ``on_event("text", str)``
    carries text the model says *alongside* tool calls (the final answer is ``Reply.text``).
    ``messages`` is the chat so far, without the system prompt (sent fresh each turn).
    """

    def __init__(self, config: LLMConfig, tools: tuple[Tool, ...] = TOOLS, client: Any = None) -> None:
        self.config = config
        self.tools = tools
        self.client = client if client is not None else config.client()
        self.name = f"llm ({config.model})"
        self.messages: list[dict[str, Any]] = []
        self.guard = InjectionGuard()
        self._strict = config.use_strict

    def reset(self) -> None:
        """Start a new chat (forgets the conversation and any untrusted text seen)."""
        self.messages.clear()
        self.guard = InjectionGuard()

    def respond(self, session: Session, request: str, *,
                on_event: EventCallback | None = None) -> Reply:
        emit: Callable[[str, Any], None] = on_event or (lambda kind, value: None)
        mark = len(self.messages)
        self.messages.append({"role": "user", "content": request})
        records: list[ToolCallRecord] = []
        try:
            text = self._loop(session, request, records, emit)
        except MaxTurnsExceeded as exc:
            text = str(exc)
            self.messages.append({"role": "assistant", "content": text})
        except BaseException as exc:  # SetupError, Ctrl-C: keep the chat valid, then re-raise
            self._abandon(mark, records)
            if isinstance(exc, SetupError) and records:
                raise SetupError(f"{exc} ({len(records)} tool call(s) of this request ran; their "
                                 "edits stay in the session)") from None
            raise
        return Reply(text=text, calls=_outcome(records))

    def _abandon(self, mark: int, records: list[ToolCallRecord]) -> None:
        if not records:
            del self.messages[mark:]
            return
        last = next(m for m in reversed(self.messages) if m["role"] == "assistant")
        answered = {m.get("tool_call_id") for m in self.messages if m["role"] == "tool"}
        unanswered = [c["id"] for c in last.get("tool_calls", []) if c["id"] not in answered]
        for call_id in unanswered:
            self.messages.append({"role": "tool", "tool_call_id": call_id,
                                  "content": json.dumps({"ok": False, "error": "not run: interrupted"})})
        self.messages.append({"role": "assistant", "content": "(interrupted before answering; the "
                              "session state shows what is in effect now)"})

    def _loop(self, session: Session, request: str, records: list[ToolCallRecord],
              emit: Callable[[str, Any], None]) -> str:
        for turn in range(self.config.max_turns):
            message = self._complete(session)
            text = (message.content or "").strip()
            calls = self._calls(message)
            if not calls:
                self.messages.append({"role": "assistant", "content": text})
                return text or "(the model gave an empty answer)"
            if text:
                emit("text", text)
            self.messages.append({"role": "assistant", "content": text or None, "tool_calls": [
                {"id": c.id, "type": "function",
                 "function": {"name": c.name, "arguments": _echo_arguments(c.raw)}} for c in calls]})
            failed = False
            for call in calls:
                record = None if failed else self._run_one(session, request, call)
                if record is not None:
                    records.append(record)
                    emit("call", record)
                    failed = not record.ok
                self.messages.append({"role": "tool", "tool_call_id": call.id,
                                      "content": tool_message(record, call.raw)})
            log.debug("turn %d: %d tool call(s)", turn + 1, len(calls))
        raise MaxTurnsExceeded(self.config.max_turns, len(records))

    def _calls(self, message: Any) -> list[_Call]:
        """The function calls of an assistant message, each with an id unique in the chat (some
        servers send none, or the same one twice)."""
        seen = {c["id"] for m in self.messages for c in m.get("tool_calls") or []}
        calls = []
        for i, item in enumerate(message.tool_calls or []):
            function = getattr(item, "function", None)
            if function is None:  # a non-function tool call: nothing of ours
                continue
            call_id = item.id if item.id and item.id not in seen else f"call_{len(seen)}_{i}"
            seen.add(call_id)
            calls.append(_Call(call_id, function.name or "", function.arguments))
        return calls

    def _run_one(self, session: Session, request: str, call: _Call) -> ToolCallRecord:
        refusal = self.guard.check(session, request, call.name, call.raw)
        if refusal is not None:
            log.warning("injection guard: %s", refusal)
            arguments = parse_arguments(call.raw) if _valid_object(call.raw) else {}
            return ToolCallRecord(name=call.name, arguments=arguments, ok=False, text=refusal)
        record = run_call(session, call.name, call.raw, self.tools)
        self.guard.note(record)
        return record

    def _complete(self, session: Session) -> Any:
        """One model call: the assistant message, or SetupError."""
        system = (f"{system_prompt()}\n\nSession state (kept up to date by echo-agent):\n"
                  f"{session_context(session)}")
        messages = [{"role": "system", "content": system}, *self.messages]
        while True:
            try:
                response = self.client.chat.completions.create(
                    model=self.config.model, messages=messages,
                    tools=openai_tools(self.tools, strict=self._strict))
            except openai.APIStatusError as exc:
                if self._strict and _refuses_strict(exc):
                    log.info("%s refuses strict schemas; sending them without", self.config.endpoint)
                    self._strict = False
                    continue
                raise setup_error(exc, self.config) from None
            except openai.OpenAIError as exc:
                raise setup_error(exc, self.config) from None
            if not getattr(response, "choices", None):
                raise SetupError(f"the LLM endpoint {self.config.endpoint} answered without a choice; "
                                 "is it an OpenAI-compatible chat-completions server?")
            return response.choices[0].message


def _echo_arguments(raw: Any) -> str:
    """Arguments as they go back in the chat: valid JSON, since some servers re-parse them."""
    if isinstance(raw, dict):
        return json.dumps(raw)
    return raw if isinstance(raw, str) and _valid_object(raw) else "{}"


def _outcome(records: list[ToolCallRecord]) -> tuple[ToolCallRecord, ...]:
    """The calls of a reply, less the failed attempts that a later successful call of the same
    tool recovered from, so that ``Reply.failed`` means the request ended in a failure (on_event
    saw every attempt)."""
    return tuple(r for i, r in enumerate(records)
                 if r.ok or not any(later.ok and later.name == r.name for later in records[i + 1:]))
