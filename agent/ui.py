"""Terminal output: results on stdout, progress and chatter on stderr (rich), errors as one line."""

from __future__ import annotations

import sys
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

stderr = Console(stderr=True, highlight=False, soft_wrap=True)


def error_line(message: str) -> None:
    """One line on stderr, never wrapped or decorated (scripts parse it)."""
    text = " ".join(str(message).split())
    sys.stderr.write(f"echo-agent: error: {text}\n")
    sys.stderr.flush()


def note(message: str) -> None:
    stderr.print(message, markup=False)


@contextmanager
def progress_bar(enabled: bool = True):
    """Yield a ``(task, done, total)`` callback that drives a rich progress bar on stderr."""
    if not enabled or not stderr.is_terminal:
        yield lambda task, done, total: None
        return
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=stderr,
        transient=True,
    )
    tasks: dict[str, int] = {}

    def update(task: str, done: float, total: float) -> None:
        if task not in tasks:
            tasks[task] = progress.add_task(task, total=total)
        progress.update(tasks[task], completed=done, total=total)

    with progress:
        yield update
