"""What a batch worker may use: a fixed number of threads, and a memory limit watched while a job
runs.

Threads: ``OMP_NUM_THREADS`` and the BLAS variables are set before numpy loads (a spawned worker
imports nothing heavy first), and torch is told too. Every worker (local or Ray) runs with the
same count, so the same input gives the same bytes wherever it runs.

Memory: a daemon thread samples the process's resident memory every ``SAMPLE_S``. Past the limit
it interrupts the job (a signal to the main thread, whose handler raises :class:`MemoryLimit`), so
the job fails with a one-line reason and the worker lives on for the next file. The kernel's
own limits (``RLIMIT_AS``) are no use here: torch and onnxruntime reserve far more address
space than they touch. A single allocation larger than the limit still reaches the kernel first;
the limit bounds a job that grows, which is what long files do.

Standard library only at import.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import resource
import signal
import sys
import threading
import time

SAMPLE_S = 0.1
_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


class MemoryLimit(BaseException):
    """Raised in a job that went past the worker's memory limit. A BaseException, so that no
    ``except Exception`` on the way turns it into an ordinary tool failure."""


def limit_threads(threads: int) -> None:
    threads = max(int(threads), 1)
    for name in _THREAD_VARS:
        os.environ[name] = str(threads)
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
    if "numpy" in sys.modules:
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:
            return
        threadpool_limits(threads)


def rss_mb() -> float:
    try:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * _PAGE / 2**20
    except (OSError, ValueError, IndexError):  # not Linux: the lifetime peak is what there is
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def cpu_seconds() -> float:
    """CPU time used by this process and the programs it ran (ffmpeg), user + system."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def trim_memory() -> None:
    """Give freed heap memory back to the system (glibc keeps it otherwise), so that a job that
    failed big does not leave the worker over its limit for the next one."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


class Watchdog:
    def __init__(self) -> None:
        self.limit_mb: float | None = None
        self._peak = 0.0
        self._armed = False
        self._fired = 0.0
        self._can_signal = threading.current_thread() is threading.main_thread()
        if self._can_signal:
            signal.signal(signal.SIGUSR1, self._on_signal)
        thread = threading.Thread(target=self._loop, name="echo-agent-memory", daemon=True)
        thread.start()

    def _on_signal(self, signum, frame) -> None:
        if self._armed:
            self._armed = False
            raise MemoryLimit(f"the job used {self._fired:.0f} MB, past the worker's limit of "
                              f"{self.limit_mb:.0f} MB (--memory-per-job); give it more memory "
                              "or run fewer jobs at once (-j)")

    def _loop(self) -> None:
        main = threading.main_thread().ident
        while True:
            now = rss_mb()
            self._peak = max(self._peak, now)
            if self._armed and self.limit_mb and now > self.limit_mb and self._can_signal:
                self._fired = now
                signal.pthread_kill(main, signal.SIGUSR1)
                time.sleep(1.0)
            time.sleep(SAMPLE_S)

    def reset_peak(self) -> None:
        self._peak = rss_mb()

    def peak_mb(self) -> float:
        return max(self._peak, rss_mb())

    @contextlib.contextmanager
    def guard(self):
        self._armed = True
        try:
            yield
        except MemoryLimit:
            self._armed = False
            trim_memory()
            raise
        finally:
            self._armed = False


_WATCHDOG: Watchdog | None = None


def watch_memory(limit_mb: float | None) -> Watchdog:
    """This process's watchdog (started on first use), set to ``limit_mb`` (None: only measure)."""
    global _WATCHDOG
    if _WATCHDOG is None:
        _WATCHDOG = Watchdog()
    _WATCHDOG.limit_mb = float(limit_mb) if limit_mb else None
    return _WATCHDOG
