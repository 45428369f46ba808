"""Issue keys hinted by webhooks, coalesced into cycles that read exactly those tickets.

The first key of a batch opens a window of ``coalesce_s``; every key that arrives within it
joins the batch, and then one call of ``run(keys)`` handles them all. While that call runs
(a cycle: a few requests), new keys gather for the next batch, so a flood of events becomes
a few cycles, never one per event, and never two at once. At most ``max_keys`` wait: a key
beyond that is dropped (polling, the safety net, reads it on its schedule) and ``overflow()``
is called once for the batch (the service runs its scheduled cycle then).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable

import structlog

log = structlog.get_logger(__name__)

DEFAULT_COALESCE_S = 1.0
DEFAULT_MAX_KEYS = 1000


class HintQueue:
    """Keys waiting for a cycle, and the thread that runs one per batch."""

    def __init__(
        self,
        run: Callable[[tuple[str, ...]], object],
        *,
        coalesce_s: float = DEFAULT_COALESCE_S,
        max_keys: int = DEFAULT_MAX_KEYS,
        overflow: Callable[[], object] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._run = run
        self._overflow = overflow
        self.coalesce_s = coalesce_s
        self.max_keys = max_keys
        self._clock = clock
        self._cond = threading.Condition()
        #: key -> None, in arrival order (a dict keeps order and makes each key once)
        self._keys: dict[str, None] = {}
        self._opened: float | None = None
        self._overflowed = False
        self._stopping = False
        self._busy = False
        self._thread: threading.Thread | None = None
        #: keys dropped because the queue was full, since start
        self.dropped = 0
        #: batches run, since start
        self.batches = 0

    def add(self, keys: Iterable[str]) -> bool:
        """Queue ``keys`` (False when some were dropped: the queue is full)."""
        kept = True
        with self._cond:
            for key in keys:
                if key in self._keys:
                    continue
                if len(self._keys) >= self.max_keys:
                    self.dropped += 1
                    self._overflowed, kept = True, False
                    continue
                self._keys[key] = None
            if self._keys and self._opened is None:
                self._opened = self._clock()
            self._cond.notify_all()
        return kept

    def waiting(self) -> int:
        """Keys waiting for a cycle."""
        with self._cond:
            return len(self._keys)

    def idle(self) -> bool:
        """Nothing waiting and no batch running."""
        with self._cond:
            return not self._keys and not self._busy

    def start(self) -> HintQueue:
        """Start the thread that runs the batches; returns self."""
        self._thread = threading.Thread(target=self._loop, name="webhook-hints", daemon=True)
        self._thread.start()
        return self

    def alive(self) -> bool:
        """Whether the batch thread runs."""
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout_s: float = 5.0) -> None:
        """No new batch starts; waits up to ``timeout_s`` for the one running."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=timeout_s)

    def _take(self) -> tuple[tuple[str, ...], bool] | None:
        """The next batch once its window closed (None: stopping)."""
        with self._cond:
            while True:
                if self._stopping:
                    return None
                if self._opened is None:
                    self._cond.wait()
                    continue
                left = self._opened + self.coalesce_s - self._clock()
                if left > 0:
                    self._cond.wait(timeout=left)
                    continue
                batch = tuple(self._keys)
                overflowed = self._overflowed
                self._keys, self._opened, self._overflowed = {}, None, False
                self._busy = True
                return batch, overflowed

    def _loop(self) -> None:
        while True:
            taken = self._take()
            if taken is None:
                return
            batch, overflowed = taken
            try:
                self.batches += 1
                log.info("webhook.batch", issues=len(batch), overflowed=overflowed)
                self._run(batch)
                if overflowed and self._overflow is not None:
                    log.warning("webhook.overflow", max_keys=self.max_keys,
                                dropped_total=self.dropped)
                    self._overflow()
            except Exception as exc:  # a failed batch must not end the thread
                log.exception("webhook.batch_failed", error=str(exc))
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()
