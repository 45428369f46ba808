"""The write journal as the executor uses it: a store that stumbles never loses what Jira got.

The executor journals each write twice: "unknown" before sending, "applied" after a 2xx.

Only the first must be durable before the next step: a write whose intent is not in the
journal could be sent twice. The "applied" rows are batched: :class:`GuardedJournal` keeps
them and commits them with the next intent (one transaction), when :data:`BATCH_ROWS` wait,
and at the end of the cycle (:meth:`GuardedJournal.flush`). A crash before that leaves the
issue's last row "unknown", which is exactly the state of a write whose answer was lost: the
next cycle holds the issue back while such a write could still land, then reads its state
before writing to it again (:mod:`worker.write.execute`). So a first cycle commits once per write
instead of twice.

The store can stumble between the two (SQLite locked by another process for longer than its
busy timeout, PostgreSQL failing over). :class:`GuardedJournal` retries each commit for a
bounded time; when the store still refuses:

* before sending, :class:`JournalUnavailableError` is raised and the executor sends nothing
  (a write we could not journal could be sent twice);
* after sending, the "applied" rows stay in memory and are written again with the next
  journal write and at the end of the cycle, so the audit trail still says what Jira
  received. If they never get through, the issue's row stays "unknown" and the next cycle
  reads the issue's state before writing to it again.

Either way :attr:`GuardedJournal.failure` says what went wrong, and the cycle reports it as
the ``store`` error kind.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Protocol

import structlog

from worker.model.outcome import Outcome, RecordedWrite, WriteJournal

log = structlog.get_logger(__name__)

#: how long one journal write is retried before the store counts as unavailable
RETRY_FOR_S = 15.0
RETRY_PAUSE_S = 0.5
#: "applied" rows kept before they are committed on their own (they also go with the next
#: intent, and at the end of the cycle)
BATCH_ROWS = 50


class JournalStore(WriteJournal, Protocol):
    """A write journal that can commit several rows in one transaction (the store)."""

    def record_writes(self, writes: Sequence[RecordedWrite]) -> None:
        """Record ``writes`` in one transaction: all of them, or none."""


class JournalUnavailableError(Exception):
    """The journal could not record a write before it was sent: do not send it."""


class GuardedJournal:
    """A :class:`WriteJournal` that retries, batches "applied" rows, and remembers failures.

    Thread-safe: the writers in flight share one guard.
    """

    def __init__(self, journal: JournalStore, *, retry_for_s: float | None = None,
                 pause_s: float | None = None, batch_rows: int | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self._journal = journal
        self._retry_for_s = RETRY_FOR_S if retry_for_s is None else retry_for_s
        self._pause_s = RETRY_PAUSE_S if pause_s is None else pause_s
        self._batch_rows = BATCH_ROWS if batch_rows is None else batch_rows
        self._sleep = sleep
        self._lock = threading.Lock()
        #: "applied" rows not committed yet (batched, or refused by the store so far)
        self._pending: list[RecordedWrite] = []
        #: the last store error, when one outlived its retries (None: the store kept up)
        self.failure: str | None = None
        #: per issue, the latest write journaled through this guard (this cycle's writes)
        self.written: dict[str, RecordedWrite] = {}

    def recent_writes(self, *, since: datetime) -> Mapping[str, RecordedWrite]:
        """The journal's latest write per issue (see :class:`WriteJournal`), retried like a
        write; a store that stays down raises (the executor then writes nothing)."""
        deadline = time.monotonic() + self._retry_for_s
        while True:
            try:
                return self._journal.recent_writes(since=since)
            except Exception as exc:
                if time.monotonic() + self._pause_s > deadline:
                    raise
                log.warning("store.retry", error=_first_line(exc))
                self._sleep(self._pause_s)

    def record_write(self, write: RecordedWrite) -> None:
        """Record one write: an intent ("unknown") now, with the "applied" rows waiting, or
        :class:`JournalUnavailableError`; an "applied" row in the next batch."""
        with self._lock:
            self.written[write.issue] = write
            if write.status == "applied":
                self._pending.append(write)
                if len(self._pending) >= self._batch_rows:
                    self._commit_pending()
                return
            rows = [*self._pending, write]
            try:
                # Once the store has outlived one retry window this cycle, later writes try
                # once: a store that is down must not cost the window again for every ticket.
                self._retrying(rows, window_s=0.0 if self.failure is not None else None)
            except Exception as exc:
                self.failure = f"the write journal is unavailable: {_first_line(exc)}"
                log.error("store.failed", error=_first_line(exc), issue=write.issue,
                          journal=write.status)
                raise JournalUnavailableError(self.failure) from exc
            self._pending = []

    def flush(self, *, retry: bool = True) -> int:
        """Commit the "applied" rows still waiting; returns how many are still pending."""
        with self._lock:
            if not self._pending:
                return 0
            # The end of the cycle retries for the whole window even after a failure.
            self._commit_pending(window_s=self._retry_for_s if retry else 0.0)
            if self._pending and retry:
                log.error("store.failed", error=self.failure,
                          unrecorded=[w.issue for w in self._pending])
            return len(self._pending)

    def _commit_pending(self, *, window_s: float | None = None) -> None:
        """Commit the waiting "applied" rows; on failure they keep waiting."""
        if window_s is None and self.failure is not None:
            window_s = 0.0  # as for intents: a store that is down costs the window once
        try:
            self._retrying(self._pending, window_s=window_s)
        except Exception as exc:
            self.failure = f"the write journal is unavailable: {_first_line(exc)}"
            log.error("store.failed", error=_first_line(exc), journal="applied",
                      issues=len(self._pending))
            return
        self._pending = []

    def _retrying(self, rows: Sequence[RecordedWrite], *, window_s: float | None = None) -> None:
        deadline = time.monotonic() + (self._retry_for_s if window_s is None else window_s)
        while True:
            try:
                self._journal.record_writes(rows)
                return
            except Exception as exc:
                if time.monotonic() + self._pause_s > deadline:
                    raise
                log.warning("store.retry", error=_first_line(exc), issue=rows[-1].issue)
                self._sleep(self._pause_s)


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


def abandoned_outcomes(guard: GuardedJournal) -> list[Outcome]:
    """What a cycle stopped mid-write did, from its journal: writes answered are "applied",
    a write sent without an answer yet is "unknown" (never "done" nor "not done")."""
    return [
        Outcome(
            w.issue,
            "applied" if w.status == "applied" else "unknown",
            (),
            detail=(
                "applied before the service stopped"
                if w.status == "applied"
                else "sent; the service stopped before Jira answered: it may have landed "
                "(the next cycle reads the issue's state before writing again)"
            ),
        )
        for w in guard.written.values()
    ]
