"""A real HTTP server that speaks the chat-completions protocol, with scripted answers.

``POST /v1/chat/completions`` (non-streaming) answers from a queue of scripted items, one a request:

- ``"text"``: an assistant message with that content;
- ``[call("cut", '{"start_s": 1}'), ...]``: an assistant message with those tool calls (arguments
  are sent as given, so malformed JSON can be scripted);
- ``Status(500, "message")``: an HTTP error with an OpenAI-style error body;
- a callable ``f(body) -> item``: decides from the request body (e.g. sleeps, inspects messages).

When the queue is empty, ``server.fallback`` answers (default: HTTP 500 "script exhausted"), so a
model that never stops is ``server.fallback = [call("info", "{}")]``. Every request body is kept in
``server.requests`` (parsed JSON) for the test to assert what the client sent, and its headers in
``server.headers``. ``GET /v1/models`` lists one model.

The ``chat_server`` fixture yields a started server whose ``base_url`` is
``http://127.0.0.1:PORT/v1``; a test module gets it with
``from chat_server import chat_server_fixture  # noqa: F401``.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: str  # raw, as the model would send it


@dataclass(frozen=True)
class Status:
    code: int
    message: str = "scripted error"


def call(name: str, arguments: str | dict[str, Any] = "{}") -> ToolCall:
    """A scripted tool call; a dict is encoded as JSON, a string is sent as it is."""
    return ToolCall(name, arguments if isinstance(arguments, str) else json.dumps(arguments))


Item = str | list[ToolCall] | Status | Callable[[dict[str, Any]], Any]


class ChatServer:
    def __init__(self) -> None:
        self.queue: deque[Item] = deque()
        self.fallback: Item = Status(500, "script exhausted: no scripted response left")
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self._lock = threading.Lock()
        self._count = 0
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02},
                                        daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def script(self, *items: Item) -> ChatServer:
        with self._lock:
            self.queue.extend(items)
        return self

    def start(self) -> ChatServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    # ------------------------------------------------------------------ answering

    def answer(self, body: dict[str, Any], headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.requests.append(body)
            self.headers.append(headers)
            item = self.queue.popleft() if self.queue else self.fallback
            self._count += 1
            number = self._count
        while callable(item):
            item = item(body)
        if isinstance(item, Status):
            kind = "invalid_request_error" if item.code < 500 else "server_error"
            return item.code, {"error": {"message": item.message, "type": kind,
                                         "param": None, "code": None}}
        message: dict[str, Any] = {"role": "assistant", "content": None}
        if isinstance(item, str):
            message["content"] = item
            finish = "stop"
        else:
            message["tool_calls"] = [
                {"id": f"call_{number}_{i}", "type": "function",
                 "function": {"name": c.name, "arguments": c.arguments}}
                for i, c in enumerate(item)
            ]
            finish = "tool_calls"
        return 200, {
            "id": f"chatcmpl-{number}", "object": "chat.completion", "created": 1_700_000_000,
            "model": body.get("model", "scripted"),
            "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }


def _handler(server: ChatServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _send(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            if self.path.rstrip("/") == "/v1/models":
                self._send(200, {"object": "list", "data": [
                    {"id": "scripted", "object": "model", "created": 0, "owned_by": "tests"}]})
            else:
                self._send(404, {"error": {"message": f"no route {self.path}"}})

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            if self.path.rstrip("/") != "/v1/chat/completions":
                self._send(404, {"error": {"message": f"no route {self.path}"}})
                return
            try:
                body = json.loads(raw)
            except json.JSONDecodeError:
                self._send(400, {"error": {"message": "request body is not JSON"}})
                return
            if body.get("stream"):
                self._send(400, {"error": {"message": "streaming is not scripted"}})
                return
            self._send(*server.answer(body, dict(self.headers)))

        def log_message(self, format: str, *args: Any) -> None:  # quiet test output
            pass

    return Handler


@pytest.fixture(name="chat_server")
def chat_server_fixture() -> Iterator[ChatServer]:
    server = ChatServer().start()
    try:
        yield server
    finally:
        server.stop()
