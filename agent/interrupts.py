"""Ctrl-C that never lands inside an ``import``.

A KeyboardInterrupt raised while a module is being imported leaves the process broken: Python drops
the half-run module from ``sys.modules`` but keeps the submodules it had loaded, so the next
``import torch`` (the first separation of a chat, say) fails with "partially initialized module
'torch' has no attribute ...", and C extensions cannot be initialised twice anyway. Inside
:func:`interrupts_wait_for_imports`, a SIGINT that arrives during an import is held back and raised
as soon as no import is running (polled every ``RETRY_S``); one still held when the block ends is
raised there, so the request is cancelled as the person asked. Imports take a second or two at
most, so Ctrl-C still answers at once to a person.
"""

from __future__ import annotations

import os
import signal
import threading
from contextlib import contextmanager

RETRY_S = 0.05
_IMPORT_FRAMES = "<frozen importlib._bootstrap"


def _importing(frame) -> bool:
    while frame is not None:
        if frame.f_code.co_filename.startswith(_IMPORT_FRAMES):
            return True
        frame = frame.f_back
    return False


class _Deferral:
    def __init__(self) -> None:
        self.pending = False
        self.timer: threading.Timer | None = None

    def handler(self, signum, frame) -> None:
        if _importing(frame):
            self.pending = True
            self.timer = threading.Timer(RETRY_S, os.kill, (os.getpid(), signal.SIGINT))
            self.timer.daemon = True
            self.timer.start()
            return
        self.pending = False
        raise KeyboardInterrupt

    def stop(self) -> None:
        if self.timer is not None:
            self.timer.cancel()


@contextmanager
def interrupts_wait_for_imports():
    """Within the block, Ctrl-C during an import is raised when that import is done. Only in the
    main thread, and only where Python's own SIGINT handler is in place (otherwise a no-op)."""
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler):
        yield
        return
    deferral = _Deferral()
    signal.signal(signal.SIGINT, deferral.handler)
    try:
        yield
    finally:
        deferral.stop()
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if deferral.pending:
        raise KeyboardInterrupt
