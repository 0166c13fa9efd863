"""undo / redo: move along the session's edit history (every version stays on disk)."""

from __future__ import annotations

from tools.core.errors import ToolError
from tools.core.session import Session
from tools.core.tool import Tool, ToolArgs, ToolResult


class Args(ToolArgs):
    pass


def undoable(session: Session) -> bool:
    """Whether the last step is an edit (opening a file is not undone by 'undo')."""
    history = session.history()
    return bool(history) and history[-1].tool != "open"


def _undo(session: Session, args: Args) -> ToolResult:
    step = session.undo() if undoable(session) else None
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
