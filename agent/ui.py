"""Terminal output: results on stdout, progress and chatter on stderr (rich), errors as one line.

rich is imported on first use, not at import: ``--help`` and usage errors never need it.
"""

from __future__ import annotations

import argparse
import functools
import sys
from contextlib import contextmanager


def help_formatter(prog: str, *, max_help_position: int = 32) -> argparse.HelpFormatter:
    """The CLI's help layout: descriptions and examples kept as written, options in one column."""
    return argparse.RawDescriptionHelpFormatter(prog, max_help_position=max_help_position)


@functools.lru_cache(maxsize=1)
def _stderr():
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


def error_line(message: str) -> None:
    """One line on stderr, never wrapped or decorated (scripts parse it)."""
    text = " ".join(str(message).split())
    sys.stderr.write(f"echo-agent: error: {text}\n")
    sys.stderr.flush()


def note(message: str) -> None:
    _stderr().print(message, markup=False)


def stderr_is_terminal() -> bool:
    return bool(_stderr().is_terminal)


@contextmanager
def progress_bar(enabled: bool = True):
    """Yield a ``(task, done, total)`` callback that drives a rich progress bar on stderr."""
    if not enabled or not stderr_is_terminal():
        yield lambda task, done, total: None
        return
    from rich.progress import (
        BarColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=_stderr(),
        transient=True,
    )
    tasks: dict[str, int] = {}

    def update(task: str, done: float, total: float) -> None:
        if task not in tasks:
            tasks[task] = progress.add_task(task, total=total)
        progress.update(tasks[task], completed=done, total=total)

    with progress:
        yield update
