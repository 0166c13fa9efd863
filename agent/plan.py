"""Explicit plans: a JSON or YAML list of ``{"tool": NAME, "args": {...}}`` steps run in order."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tools.core.errors import AudioInputError, EchoError, NothingFound, ToolArgumentError
from tools.core.session import Session
from tools.core.tool import ToolResult
from tools.registry import validate_call


class PlanError(EchoError):
    """A step of a plan is invalid or failed; the message starts with its step number."""

    exit_code = 1

    def __init__(self, step: int, tool: str, reason: str, *, nothing_found: bool = False) -> None:
        super().__init__(f"step {step} ({tool}): {reason}")
        self.step, self.tool, self.reason = step, tool, reason
        self.nothing_found = nothing_found  # the step was a repair that found nothing to repair


@dataclass(frozen=True)
class PlanStep:
    tool: str
    args: dict[str, Any] = field(default_factory=dict)


PLAN_SUFFIXES = (".json", ".yaml", ".yml")


def load_plan(path: str | Path) -> list[PlanStep]:
    """Read a plan file: a list of steps, or an object with a ``steps`` list."""
    path = Path(path)
    if not path.is_file():
        raise AudioInputError(f"{path}: no such plan file")
    text = path.read_text(encoding="utf-8", errors="replace")
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        first = str(exc).splitlines()[0]
        raise AudioInputError(f"{path}: not a valid plan ({first})") from None
    if isinstance(data, dict) and "steps" in data:
        data = data["steps"]
    if not isinstance(data, list) or not data:
        raise AudioInputError(f'{path}: a plan is a non-empty list of {{"tool": ..., "args": {{...}}}} steps')
    steps = []
    for number, item in enumerate(data, start=1):
        if not isinstance(item, dict) or "tool" not in item:
            raise PlanError(number, "?", 'each step needs "tool" (and optionally "args")')
        unknown = set(item) - {"tool", "args"}
        if unknown:
            raise PlanError(number, str(item["tool"]), f"unknown keys {sorted(unknown)}; a step has tool and args")
        args = item.get("args") or {}
        if not isinstance(args, dict):
            raise PlanError(number, str(item["tool"]), "args must be an object")
        steps.append(PlanStep(tool=str(item["tool"]), args=args))
    return steps


def validate_plan(steps: list[PlanStep]) -> None:
    """Check every step's tool and arguments before anything runs."""
    for number, step in enumerate(steps, start=1):
        try:
            validate_call(step.tool, step.args)
        except ToolArgumentError as exc:
            raise PlanError(number, step.tool, str(exc)) from None


def run_plan(session: Session, steps: list[PlanStep], *, on_step=None) -> list[ToolResult]:
    """Run ``steps`` in order on ``session``; a failing step raises :class:`PlanError`.

    ``on_step(number, total, step)`` is called before each step (for progress display).
    """
    validate_plan(steps)
    results = []
    for number, step in enumerate(steps, start=1):
        if on_step is not None:
            on_step(number, len(steps), step)
        tool, args = validate_call(step.tool, step.args)
        try:
            results.append(tool.run(session, args))
        except EchoError as exc:
            raise PlanError(number, step.tool, str(exc),
                            nothing_found=isinstance(exc, NothingFound)) from None
    return results
