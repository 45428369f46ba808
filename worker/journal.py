"""The write journal as the executor uses it: a store that stumbles never loses what Jira got.

The executor journals each write twice: "unknown" before sending, "applied" after a 2xx. The
store can stumble between the two (SQLite locked by another process for longer than its busy
timeout, PostgreSQL failing over). :class:`GuardedJournal` retries each journal write for a
bounded time; when the store still refuses:

* before sending, :class:`JournalUnavailableError` is raised and the executor sends nothing
  (a write we could not journal could be sent twice);
* after sending, the "applied" row is kept in memory and written again with the next journal
  write and at the end of the cycle (:meth:`GuardedJournal.flush`), so the audit trail still
  says what Jira received. If it never gets through, the issue's row stays "unknown" and the
  next cycle reads the issue's state before writing to it again.

Either way :attr:`GuardedJournal.failure` says what went wrong, and the cycle reports it as
the ``store`` error kind.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import datetime

import structlog

from worker.model import Outcome, RecordedWrite, WriteJournal

log = structlog.get_logger(__name__)

#: how long one journal write is retried before the store counts as unavailable
RETRY_FOR_S = 15.0
RETRY_PAUSE_S = 0.5


class JournalUnavailableError(Exception):
    """The journal could not record a write before it was sent: do not send it."""


class GuardedJournal:
    """A :class:`WriteJournal` that retries, buffers "applied" rows, and remembers failures."""

    def __init__(self, journal: WriteJournal, *, retry_for_s: float | None = None,
                 pause_s: float | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self._journal = journal
        self._retry_for_s = RETRY_FOR_S if retry_for_s is None else retry_for_s
        self._pause_s = RETRY_PAUSE_S if pause_s is None else pause_s
        self._sleep = sleep
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
        """Record one write, retrying; pending "applied" rows go first."""
        self.written[write.issue] = write
        if self._pending:
            self.flush(retry=False)
        try:
            # Once the store has outlived one retry window this cycle, later writes try
            # once: a store that is down must not cost the window again for every ticket.
            self._retrying(write, window_s=0.0 if self.failure is not None else None)
        except Exception as exc:
            self.failure = f"the write journal is unavailable: {_first_line(exc)}"
            log.error("store.failed", error=_first_line(exc), issue=write.issue,
                      journal=write.status)
            if write.status != "applied":
                raise JournalUnavailableError(self.failure) from exc
            self._pending.append(write)

    def flush(self, *, retry: bool = True) -> int:
        """Write the buffered "applied" rows; returns how many are still pending."""
        still: list[RecordedWrite] = []
        for write in self._pending:
            try:
                if retry:
                    self._retrying(write)
                else:
                    self._journal.record_write(write)
            except Exception as exc:
                self.failure = f"the write journal is unavailable: {_first_line(exc)}"
                still.append(write)
        self._pending = still
        if still and retry:
            log.error("store.failed", error=self.failure, unrecorded=[w.issue for w in still])
        return len(still)

    def _retrying(self, write: RecordedWrite, *, window_s: float | None = None) -> None:
        deadline = time.monotonic() + (self._retry_for_s if window_s is None else window_s)
        while True:
            try:
                self._journal.record_write(write)
                return
            except Exception as exc:
                if time.monotonic() + self._pause_s > deadline:
                    raise
                log.warning("store.retry", error=_first_line(exc), issue=write.issue)
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
