"""Read the next page while the current one is parsed: one background thread per stream.

A search page costs a round trip (tens of milliseconds on Cloud) and then about as much CPU to
turn into snapshots and plan. Done one after the other, a cycle pays both; with the next
request already in flight while the current page is parsed, it pays roughly the larger.

At most ``depth`` pages are fetched ahead of the one the consumer holds (in flight or waiting
for it), so memory stays flat: the fetcher takes a page's room before it asks for the page, and
the consumer gives the room back when it takes the page. (A queue of ``depth`` let the fetcher
hold one more, decoded and waiting for room: at 100,000 tickets a search page with changelogs
is about 3 MB.)
An exception in the fetching thread reaches the consumer at the point it would have occurred;
a consumer that stops early (``close()``, a stop request, an exception) stops the thread at
its next page boundary.
"""

from __future__ import annotations

import contextvars
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")

#: how often the fetching thread looks at the stop flag while the queue is full
_POLL_S = 0.05
#: how long a consumer that stops early waits for a request still in flight to end
JOIN_TIMEOUT_S = 5.0


@dataclass(frozen=True, slots=True)
class _Failed:
    error: BaseException


@dataclass(frozen=True, slots=True)
class _Item(Generic[T]):
    value: T


_DONE = object()


def prefetched(pages: Iterator[T], *, depth: int = 1) -> Iterator[T]:
    """Yield what ``pages`` yields, with up to ``depth`` pages fetched ahead in a thread.

    The thread runs in a copy of the caller's context (structlog's bound ``run_id`` stays on
    its log events).
    """
    box: queue.SimpleQueue[object] = queue.SimpleQueue()
    room = threading.Semaphore(max(1, depth))
    stop = threading.Event()

    def take_room() -> bool:
        while not stop.is_set():
            if room.acquire(timeout=_POLL_S):
                return True
        return False

    def fetch() -> None:
        try:
            while take_room():
                page = next(pages, _DONE)
                if page is _DONE:
                    box.put(_DONE)
                    return
                box.put(_Item(page))
        except BaseException as exc:  # handed to the consumer, raised there
            box.put(_Failed(exc))
        finally:
            if stop.is_set():
                close = getattr(pages, "close", None)
                if close is not None:
                    close()

    context = contextvars.copy_context()
    thread = threading.Thread(target=context.run, args=(fetch,), name="prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item = box.get()
            room.release()  # the fetcher may ask for the next page while this one is used
            if item is _DONE:
                return
            if isinstance(item, _Failed):
                raise item.error
            assert isinstance(item, _Item)
            yield item.value
    finally:
        stop.set()
        # A request in flight ends by itself (timeout); shutdown must not wait for all of it.
        thread.join(timeout=JOIN_TIMEOUT_S)
