"""Small helpers for streams of blocks.

:func:`prefetch` runs a block iterator one or two blocks ahead in a thread, so that reading (and
decoding, and applying segment gains) overlaps with the work done on each block: file I/O,
libsndfile and numpy release the GIL, so on two cores an export runs close to twice as fast.
Exceptions (and KeyboardInterrupt in the consumer) are passed on; the thread never outlives the
consumer's loop.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")
_DONE = object()


def prefetch(items: Iterable[T], *, depth: int = 2) -> Iterator[T]:
    """Yield ``items`` in order, producing up to ``depth`` of them ahead in a worker thread."""
    slots: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        slots.put((item, None), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            slots.put((_DONE, None))
        except BaseException as exc:  # handed to the consumer, raised there
            slots.put((_DONE, exc))

    worker = threading.Thread(target=produce, name="prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item, error = slots.get()
            if item is _DONE:
                if error is not None:
                    raise error
                return
            yield item
    finally:
        stop.set()
        while worker.is_alive():  # unblock a producer waiting on a full queue, then wait
            try:
                slots.get_nowait()
            except queue.Empty:
                pass
            worker.join(timeout=0.05)
