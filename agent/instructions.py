"""Instructions files: one natural-language request per line, planned and run in order.

Blank lines and lines starting with ``#`` are skipped. The first line that fails stops the run
with its line number; the caller writes the output only when every line succeeded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.base import Agent, EventCallback, Reply
from tools.core.errors import AudioInputError, EchoError
from tools.core.session import Session

TOOLS_POINTER = "'echo-agent tools' lists what I can do."


class InstructionError(EchoError):
    """A line could not be done; the message starts with its line number."""

    exit_code = 1

    def __init__(self, line: int, instruction: str, reason: str) -> None:
        super().__init__(f"line {line} ({instruction!r}): {reason}")
        self.line, self.instruction, self.reason = line, instruction, reason


@dataclass(frozen=True)
class Instruction:
    line: int
    text: str


def read_instructions(path: str | Path) -> list[Instruction]:
    path = Path(path)
    if not path.is_file():
        raise AudioInputError(f"{path}: no such instructions file")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise AudioInputError(f"{path}: not a text file (expected one instruction per line)") from None
    items = [Instruction(number, line.strip()) for number, line in enumerate(lines, start=1)
             if line.strip() and not line.strip().startswith("#")]
    if not items:
        raise AudioInputError(f"{path}: no instructions in the file (only blank or # lines)")
    return items


def reply_log(instruction: Instruction, reply: Reply) -> dict[str, Any]:
    """A JSON-ready record of one line's outcome."""
    return {
        "line": instruction.line,
        "instruction": instruction.text,
        "ok": not reply.failed,
        "reply": reply.text,
        "calls": [{"tool": c.name, "arguments": c.arguments, "ok": c.ok, "result": c.text}
                  for c in reply.calls],
    }


def run_instructions(agent: Agent, session: Session, instructions: list[Instruction], *,
                     on_event: EventCallback | None = None,
                     on_line=None) -> list[dict[str, Any]]:
    """Run every instruction through ``agent``; raise InstructionError at the first failure."""
    log = []
    for instruction in instructions:
        if on_line is not None:
            on_line(instruction)
        with session.group():  # one instruction is one undo in a kept session
            reply = agent.respond(session, instruction.text, on_event=on_event)
        log.append(reply_log(instruction, reply))
        if reply.failed:
            reason = reply.text.strip()
            if not reply.understood:
                reason += f" {TOOLS_POINTER}"
            error = InstructionError(instruction.line, instruction.text, reason)
            error.log = log
            raise error
    return log
