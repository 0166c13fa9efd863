"""undo / redo: move along the session's edit history (every version stays on disk)."""

from __future__ import annotations

from tools.base import Tool, ToolArgs, ToolResult
from tools.errors import ToolError
from tools.session import Session


class Args(ToolArgs):
    pass


def _undo(session: Session, args: Args) -> ToolResult:
    step = session.undo()
    if step is None:
        raise ToolError("nothing to undo")
    return ToolResult(text=f"undid: {step.summary}", data={"undone": step.summary},
                      changed=tuple(c.track for c in step.changes))


def _redo(session: Session, args: Args) -> ToolResult:
    step = session.redo()
    if step is None:
        raise ToolError("nothing to redo")
    return ToolResult(text=f"redid: {step.summary}", data={"redone": step.summary},
                      changed=tuple(c.track for c in step.changes))


UNDO = Tool(name="undo", description="Revert the last edit (any track). Use for 'undo', 'take that back', 'go back'.",
            args_model=Args, run=_undo)
REDO = Tool(name="redo", description="Re-apply the last undone edit. Use for 'redo'.",
            args_model=Args, run=_redo)
