"""``echo-agent mcp --root DIR [--http PORT]``: the tool registry over the Model Context Protocol.

Built on the official SDK's low-level :class:`mcp.server.lowlevel.Server` (``on_list_tools`` /
``on_call_tool``), on :func:`mcp.server.stdio.stdio_server` or its streamable HTTP app on
127.0.0.1. Each client (one stdio client; each MCP session id over HTTP) has its own scratch
session, removed when the server stops.

Beside the registry's tools: ``open_file(path)`` opens an audio file as the current track, and
``export_file(path, track?)`` writes one (atomically, via :func:`agent.workspace.export`). Paths
must lie inside a ``--root`` folder (after resolving links); nothing else is read or written.
A failing call comes back as an MCP tool error (``is_error``) with the same one-line text the LLM
loop gets. The transcript-injection guard (:class:`agent.guard.InjectionGuard`) applies: the host
sends no request text of the person's, so once a result carried text from a recording, a
destructive call is refused with the guard's line.

Import-light on purpose: argparse only at the top; mcp, numpy and the tools load in the command.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

FILE_TOOLS = {
    "open_file": ("Open an audio file (inside the server's roots) as the session's current track. "
                  "Use before any edit.",
                  {"path": {"type": "string", "description": "Path of the audio file to open."}},
                  ["path"]),
    "export_file": ("Write a track to an audio file inside the server's roots; the format "
                    "follows the suffix (.wav, .flac, .mp3, ...).",
                    {"path": {"type": "string", "description": "Path of the file to write."},
                     "track": {"type": ["string", "null"],
                               "description": "Track to write; null for the current track."}},
                    ["path"]),
}


def add_commands(sub) -> dict:
    p = sub.add_parser("mcp", help="serve the editing tools to MCP hosts (stdio)",
                       description="Serve echo-agent's tools over the Model Context Protocol on "
                                   "stdio. Audio is named by path inside the --root folders.")
    p.add_argument("--root", action="append", required=True, metavar="DIR",
                   help="a folder the client may read and write (repeatable)")
    p.add_argument("--http", type=int, metavar="PORT",
                   help="serve streamable HTTP on 127.0.0.1:PORT/mcp instead of stdio")
    return {"mcp": cmd_mcp}


def inside_roots(path: str, roots: list[Path]) -> Path:
    """``path`` resolved, if it lies inside one of ``roots``; else a one-line ToolError."""
    from tools.core.errors import ToolError

    resolved = Path(path).expanduser().resolve()
    if not any(resolved == root or root in resolved.parents for root in roots):
        raise ToolError(f"path {path!r} is outside the allowed folders; allowed: "
                        f"{', '.join(str(r) for r in roots)}")
    return resolved


class McpEditor:
    """One client's editing state: a scratch session, the guard, the roots."""

    def __init__(self, session, roots: list[Path]) -> None:
        from agent.guard import InjectionGuard

        self.session, self.roots, self.guard = session, roots, InjectionGuard()

    def tools(self) -> list[dict[str, Any]]:
        from tools.registry import openai_tools

        out = [{"name": name, "description": text,
                "inputSchema": {"type": "object", "properties": props, "required": required,
                                "additionalProperties": False}}
               for name, (text, props, required) in FILE_TOOLS.items()]
        for spec in openai_tools():
            fn = spec["function"]
            out.append({"name": fn["name"], "description": fn["description"],
                        "inputSchema": fn["parameters"]})
        return out

    def call(self, name: str, arguments: dict[str, Any]) -> str:
        """Run one call; raises EchoError with the one-line text on failure."""
        from agent.workspace import export, open_input
        from tools.core.errors import ToolError
        from tools.registry import call_tool

        if name == "open_file":
            path = inside_roots(str(arguments.get("path", "")), self.roots)
            track = open_input(self.session, path)
            self.session.select(track)
            view = self.session.track(track)
            return f"opened {path.name} as track {track!r} ({view.duration_s:.2f} s)"
        if name == "export_file":
            path = inside_roots(str(arguments.get("path", "")), self.roots)
            export(self.session, path, track=arguments.get("track"))
            return f"wrote {path}"
        refusal = self.guard.check(self.session, "", name, arguments)
        if refusal:
            raise ToolError(refusal)
        result = call_tool(self.session, name, arguments)
        from agent.base import ToolCallRecord

        self.guard.note(ToolCallRecord(name=name, arguments=arguments, ok=True,
                                       text=result.text, data=result.data))
        return result.text


def cmd_mcp(args: argparse.Namespace) -> int:
    import anyio

    roots = [Path(r).expanduser().resolve() for r in args.root]
    for root in roots:
        if not root.is_dir():
            from agent import ui

            ui.error_line(f"--root {root}: no such folder")
            return 2
    if args.http is not None:
        import uvicorn

        server, close = _server(roots)
        try:
            uvicorn.run(server.streamable_http_app(host="127.0.0.1"), host="127.0.0.1",
                        port=args.http, log_level="warning")
        finally:
            close()
        return 0
    anyio.run(_serve_stdio, roots)
    return 0


async def _serve_stdio(roots: list[Path]) -> None:
    from mcp.server.stdio import stdio_server

    server, close = _server(roots)
    try:
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())
    finally:
        close()


def _server(roots: list[Path]):
    """The MCP server and a function that closes every client's session. Each client (its
    ``mcp-session-id`` header over HTTP; the one stdio client) gets its own scratch session, made on its first
    call."""
    import mcp_types as types
    from mcp.server.lowlevel import Server

    from agent.workspace import ScratchSession
    from tools.core.errors import EchoError

    editors: dict[Any, tuple[ScratchSession, McpEditor]] = {}

    def editor_for(ctx) -> McpEditor:
        request = getattr(ctx, "request", None)  # HTTP: the Starlette request; stdio: None
        key = request.headers.get("mcp-session-id") if request is not None else None
        if key not in editors:  # the label keeps two clients' folders apart within one second
            scratch = ScratchSession(None, label=f"mcp{len(editors)}")
            editors[key] = (scratch, McpEditor(scratch.__enter__(), roots))
        return editors[key][1]

    def close() -> None:
        for scratch, _ in editors.values():
            scratch.__exit__(None, None, None)
        editors.clear()

    lister = McpEditor(None, roots)  # the tool list needs no session

    async def list_tools(ctx, params) -> types.ListToolsResult:
        return types.ListToolsResult(tools=[types.Tool(**t) for t in lister.tools()])

    async def call_tool(ctx, params) -> types.CallToolResult:
        try:
            text = editor_for(ctx).call(params.name, dict(params.arguments or {}))
            error = False
        except EchoError as exc:
            text, error = " ".join(str(exc).split()), True
        except Exception as exc:  # noqa: BLE001 - a tool's bug is the client's error text
            text, error = f"unexpected {type(exc).__name__}: {exc}", True
        return types.CallToolResult(content=[types.TextContent(type="text", text=text)],
                                    is_error=error)

    server = Server("echo-agent", on_list_tools=list_tools, on_call_tool=call_tool)
    return server, close
