"""Reading the bot's state before writes, fifty tickets a request (Jira Cloud).

Where a search answer cannot be trusted for a ticket about to be written (a new or lost
store: a lagging search may not show what an earlier run wrote; an answer without our
property), the writer must read the property first. One ``GET`` per ticket costs as much as
the writes themselves on a first cycle. On Jira Cloud a search names up to 50 issue ids in
``reconcileIssues`` and then answers for them with read-after-write consistency: the same
guarantee as the ``GET``, for fifty tickets in one request.

:class:`StateReads` gathers the writes that need such a read and, fifty at a time, reads
their properties in one reconciled search and hands each write on with what was read. The
first write goes at once, alone (the writers start while later pages are read); after it, a
batch that is not full goes when the plan is complete, or when it has waited
:data:`LINGER_S` while the writers have nothing to do (while they are busy, it fills up).
A ticket the answer does not show (or shows without a ``properties`` object), or a batch
whose request fails, is handed on with :data:`NOT_READ`: the writer then reads it on its
own, as before. Data Center keeps the ``GET`` (its search has no ``reconcileIssues``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

import structlog

from worker.atlassian.jira import MAX_RECONCILE
from worker.atlassian.transport import (
    AtlassianHTTPError,
    TransportFailedError,
    UnexpectedBodyError,
)
from worker.model.plan import IssueWrite

if TYPE_CHECKING:
    from worker.atlassian.jira import JiraGateway

log = structlog.get_logger(__name__)


class _NotRead:
    """The state of this ticket was not read in a batch (the writer reads it itself)."""

    def __repr__(self) -> str:
        return "NOT_READ"


NOT_READ: Final = _NotRead()

#: what a batch hands on: the property's value (None: absent), or NOT_READ
Prefetched = object
#: how long a batch that is not full waits while the writers are idle
LINGER_S = 0.25


class StateReads:
    """Writes waiting for their state, read ``size`` at a time (thread-safe)."""

    def __init__(self, jira: JiraGateway, property_key: str,
                 start: Callable[[IssueWrite, Prefetched], None], *,
                 size: int = MAX_RECONCILE, linger_s: float = LINGER_S,
                 idle: Callable[[], bool] = lambda: True) -> None:
        self._jira = jira
        self._property_key = property_key
        self._start = start
        self._size = max(1, min(size, MAX_RECONCILE))
        self._linger_s = linger_s
        self._idle = idle
        self._pending: list[IssueWrite] = []
        #: counts the batches taken, so a late timer knows its batch is gone
        self._batch = 0
        self._first = True
        self._lock = threading.Lock()
        #: one batch handed on at a time (the reader's, a timer's, the final flush)
        self._handing = threading.Lock()
        #: reconciled searches sent, and the writes they served
        self.requests = 0
        self.read = 0

    def add(self, write: IssueWrite) -> None:
        """Queue ``write``; a full batch is read and handed on at once."""
        with self._lock:
            self._pending.append(write)
            first, self._first = self._first, False
            if len(self._pending) == 1 and not first:
                self._arm(self._batch)
            if len(self._pending) < self._size and not first:
                return
        self._take_and_hand_on()

    def flush(self) -> None:
        """Read and hand on what waits (the plan is complete); returns once every batch,
        a timer's included, was handed on."""
        self._take_and_hand_on()

    def drop(self) -> list[IssueWrite]:
        """The writes still waiting, forgotten (the cycle ends before its plan); returns
        once a batch being handed on is done."""
        with self._handing, self._lock:
            batch, self._pending = self._pending, []
            self._batch += 1
        return batch

    def _arm(self, batch: int) -> None:
        timer = threading.Timer(self._linger_s, self._lingered, args=(batch,))
        timer.daemon = True
        timer.start()

    def _lingered(self, batch: int) -> None:
        with self._lock:
            if batch != self._batch or not self._pending:
                return  # that batch was taken already
            if not self._idle():
                self._arm(batch)  # the writers are busy: let it fill
                return
        self._take_and_hand_on()

    def _take_and_hand_on(self) -> None:
        with self._handing:
            with self._lock:
                batch, self._pending = self._pending, []
                self._batch += 1
            if batch:
                self._hand_on(batch)

    def _hand_on(self, batch: list[IssueWrite]) -> None:
        found: dict[str, object | None] = {}
        try:
            found = self._jira.reconciled_properties(
                [(w.issue, w.issue_id) for w in batch], self._property_key)
            self.requests += 1
        except (AtlassianHTTPError, TransportFailedError, UnexpectedBodyError, ValueError) as exc:
            # Not guessed: each of these writes reads its own state instead.
            log.warning("write.states_unread", issues=len(batch), error=str(exc))
        self.read += len(found)
        for write in batch:
            self._start(write, found.get(write.issue, NOT_READ))
