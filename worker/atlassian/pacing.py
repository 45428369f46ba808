"""Writes at the pace Jira allows: one shared gate for every writer of a connection.

Jira Cloud limits edits per tenant (about 50 PUT per second and endpoint, less in practice
for edits that notify) and per issue. Writers in flight share one :class:`WritePacer`:

* consecutive writes start at least ``1 / rate_per_s`` apart (default below 25 edits/s);
* a 429 (or a 503 with ``Retry-After``) holds **every** writer until ``Retry-After`` has
  passed, since the limit that answered is the tenant's; only ``RateLimit-Reason:
  jira-per-issue-on-write`` holds just that request (its own retry waits), not the others.

The clock and the sleep are injectable: tests never sleep.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog

log = structlog.get_logger(__name__)

#: Swapped by tests (``monkeypatch.setattr(pacing, "sleep", ...)``) so nothing sleeps.
sleep: Callable[[float], None] = time.sleep

#: below Jira Cloud's per-tenant edit rate
DEFAULT_WRITE_RATE_PER_S = 25.0
#: Jira names a per-issue write limit this way; it does not concern the other issues
PER_ISSUE_REASON = "jira-per-issue-on-write"


@dataclass(frozen=True, slots=True)
class PacerStats:
    """What the write pacer did: writers waiting for their turn now, seconds waited in all."""

    waiting: int = 0
    paced_s: float = 0.0


@dataclass
class WritePacer:
    """Spaces write starts and holds all writers after a tenant-wide refusal."""

    rate_per_s: float = DEFAULT_WRITE_RATE_PER_S
    clock: Callable[[], float] = time.monotonic
    #: looked up at call time by default, so a test's swap of the module's ``sleep`` applies
    sleep: Callable[[float], None] = field(default=lambda seconds: sleep(seconds))
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _next_at: float = field(default=0.0, init=False, repr=False)
    _held_until: float = field(default=0.0, init=False, repr=False)
    _waiting: int = field(default=0, init=False, repr=False)
    _paced_s: float = field(default=0.0, init=False, repr=False)

    def acquire(self) -> float:
        """Wait for this write's turn; returns the seconds waited."""
        interval = 1.0 / self.rate_per_s if self.rate_per_s > 0 else 0.0
        with self._lock:
            now = self.clock()
            start = max(now, self._next_at, self._held_until)
            self._next_at = start + interval
            wait = start - now
            if wait > 0:
                self._waiting += 1
        if wait > 0:
            try:
                self.sleep(wait)
            finally:
                with self._lock:
                    self._waiting -= 1
                    self._paced_s += wait
        return wait

    def stats(self) -> PacerStats:
        """Writers waiting now, and the seconds all writers waited so far (for /metrics)."""
        with self._lock:
            return PacerStats(waiting=self._waiting, paced_s=self._paced_s)

    def refused(self, *, retry_after_s: float | None, reason: str | None) -> None:
        """A write was refused with 429/503: hold every writer for ``retry_after_s``."""
        if retry_after_s is None or retry_after_s <= 0 or reason == PER_ISSUE_REASON:
            return
        with self._lock:
            until = self.clock() + retry_after_s
            if until > self._held_until:
                self._held_until = until
        log.warning("write.rate_limited", retry_after_s=retry_after_s, reason=reason,
                    scope="all writers")  # fmt: skip
