"""Writes started as the planner hands them in, while later search pages are still read.

A pool of :class:`~worker.write.writer.IssueWriter` threads, bounded so the reader waits for a
paced writer instead of queueing every planned write ahead of the tenant's edit rate.
"""

from __future__ import annotations

import contextvars
import functools
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import structlog

from worker.atlassian.clients import Atlassian
from worker.model.outcome import Outcome, RecordedWrite, WriteJournal
from worker.model.plan import IssueWrite
from worker.model.state import DEFAULT_PROPERTY_KEY
from worker.write.outcomes import stopped
from worker.write.state_reads import NOT_READ, Prefetched, StateReads
from worker.write.writer import IN_FLIGHT_MARGIN, IssueWriter, or_halted

if TYPE_CHECKING:
    from worker.state.installation import Actors
    from worker.state.lease import Fence

log = structlog.get_logger(__name__)

#: Writes queued per writer in flight before the reader waits (:class:`WriteDispatch`)
QUEUED_PER_WRITER = 8


class WriteDispatch:
    """Writes started as they are handed in, up to ``concurrency`` in flight, each issue whole
    by one writer; outcomes in the order of the plan.

    The cycle hands in each ticket's write as soon as the planner says it is final (see
    :func:`worker.policy.plan.writes_wait_for_read`), so Jira is written while later search
    pages are still read, and :meth:`finish` then takes the plan's writes: those already
    started are not started again. ``stopping`` (and the leader lease's ``fence`` and the
    ``actors`` check, when given) is checked before each issue starts; the issues in flight
    finish. ``recent`` is the journal's latest write per issue as the cycle's read has it
    (read from ``journal`` when not given).
    """

    def __init__(
        self,
        atlassian: Atlassian,
        journal: WriteJournal,
        *,
        now: datetime,
        stopping: Callable[[], bool],
        property_key: str = DEFAULT_PROPERTY_KEY,
        notify_users: bool = True,
        verify: Mapping[str, str] | None = None,
        verify_all: str | None = None,
        in_flight: timedelta = timedelta(seconds=30) + IN_FLIGHT_MARGIN,
        concurrency: int = 1,
        fence: Fence | None = None,
        actors: Actors | None = None,
        recent: Mapping[str, RecordedWrite] | None = None,
    ) -> None:
        # ``verify`` is the live mapping: the read adds to it while the writers work (each
        # key before its ticket is planned, so before its write is handed in).
        writer = IssueWriter(atlassian, journal, now, property_key=property_key,
                             notify_users=notify_users, verify=verify, verify_all=verify_all,
                             in_flight=in_flight, fence=fence, actors=actors, recent=recent)
        atlassian.jira.field_info()  # warm the catalogue once, not in every writer
        self._writer = writer
        self._stopping = or_halted(stopping, writer)
        self._ended = False
        self._stop_logged = False
        self._pool = ThreadPoolExecutor(max_workers=max(1, concurrency),
                                        thread_name_prefix="writer")
        # Writes handed in but not finished, at most this many: the writers are paced (the
        # tenant's edit rate), the reader is not; past the bound the reader waits for a
        # writer instead of queueing every planned write ahead of the pace.
        self._room = threading.BoundedSemaphore(max(1, concurrency) * QUEUED_PER_WRITER)
        self._started: dict[str, IssueWrite] = {}
        # A finished write keeps its outcome, not its future (a future and its condition are
        # a kilobyte and a half: 7 MB for a first cycle's 5,000 writes, kept to the end).
        self._running: dict[str, Future[Outcome]] = {}
        self._outcomes: dict[str, Outcome] = {}
        #: writes whose state is read fifty at a time first (Cloud: reconcileIssues)
        self._waiting: dict[str, IssueWrite] = {}
        #: writes handed to the pool and not finished
        self._busy = 0
        self._busy_lock = threading.Lock()
        self._reads = (StateReads(atlassian.jira, property_key, self._start,
                                  idle=lambda: self._busy == 0)
                       if atlassian.flavor == "cloud" else None)

    def submit(self, write: IssueWrite) -> None:
        """Start ``write`` when a writer is free (at once when one is); one whose state must
        be read first waits for its batch's read (:mod:`worker.write.state_reads`)."""
        if write.issue in self._started or write.issue in self._waiting:
            # One write per issue and cycle, whatever happens: the first one stands.
            log.error("execute.duplicate_write", issue=write.issue)
            return
        if self._reads is not None and self._writer.needs_state(write):
            self._waiting[write.issue] = write
            self._reads.add(write)
            return
        self._start(write, NOT_READ)

    def _start(self, write: IssueWrite, prefetched: Prefetched) -> None:
        self._room.acquire()  # back-pressure: blocks the reader while the queue is full
        with self._busy_lock:
            self._busy += 1
        # Each writer runs in a copy of this context: the cycle's run_id stays bound.
        future = self._pool.submit(contextvars.copy_context().run, self._one, write,
                                   prefetched)
        with self._busy_lock:  # before the callback, which may run at once
            self._running[write.issue] = future
        future.add_done_callback(functools.partial(self._done, write.issue))
        # Started before it stops waiting: a batch's timer thread may start it while the
        # reader hands in the next write, which must find it in one or the other.
        self._started[write.issue] = write
        self._waiting.pop(write.issue, None)

    def _done(self, issue: str, future: Future[Outcome]) -> None:
        with self._busy_lock:
            self._busy -= 1
            if not future.cancelled() and future.exception() is None:  # else raised again
                self._outcomes[issue] = future.result()
                del self._running[issue]
        self._room.release()

    def _one(self, write: IssueWrite, prefetched: Prefetched = NOT_READ) -> Outcome:
        if self._ended or self._stopping():
            if not self._stop_logged:
                self._stop_logged = True
                with self._busy_lock:
                    running = list(self._running.values())
                log.info("execute.stopped", remaining=sum(1 for f in running if not f.done()))
            return stopped(write, self._writer.halted())
        with structlog.contextvars.bound_contextvars(issue=write.issue):
            return self._writer.apply(write, prefetched)

    def finish(self, writes: Sequence[IssueWrite]) -> list[Outcome]:
        """Write the rest of ``writes`` and wait for every one; outcomes in their order
        (then any write handed in that the plan does not hold, which should never be)."""
        for write in writes:
            known = self._started.get(write.issue) or self._waiting.get(write.issue)
            if known is None:
                self.submit(write)
            elif known != write:
                log.error("execute.early_write_differs", issue=write.issue)
        if self._reads is not None:
            self._reads.flush()
        return self._collect([w.issue for w in writes])

    def abort(self) -> list[Outcome]:
        """The cycle ends before its plan (a stop, a failed read): no new issue starts; the
        ones in flight finish. The outcomes of everything handed in."""
        self._ended = True
        if self._reads is not None:
            for write in self._reads.drop():  # nothing sent for them: "stopped"
                self._start(write, NOT_READ)
        return self._collect([])

    def _collect(self, order: list[str]) -> list[Outcome]:
        keys = order + [k for k in self._started if k not in set(order)]
        try:
            return [self._outcome(k) for k in keys]
        finally:
            self._pool.shutdown(wait=True)

    def _outcome(self, issue: str) -> Outcome:
        with self._busy_lock:
            future = self._running.get(issue)
            if future is None:
                return self._outcomes[issue]
        return future.result()
