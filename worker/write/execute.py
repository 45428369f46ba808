"""The one writer: applies a :class:`Plan` to Jira, one edit request per issue, exactly once.

Exactly once rests on three habits:

* the comment and our state (the issue property) travel in the same edit request, so they
  land together or not at all;
* the journal records each write as "unknown" before sending and "applied" after a 2xx, so the
  next cycle can overlay what it wrote on a stale search result
  (:func:`worker.state.recent.overlay_recent`) and
  name those issues in ``reconcileIssues``;
* a write whose answer was lost is never resent blindly: we re-read our property first and
  resend only when our step is not there;
* where the state a write builds on is not known for sure, the property is read first (only
  for the issues about to be written: on Jira Cloud fifty in one search that names them in
  ``reconcileIssues``, :mod:`worker.write.state_reads`; else one GET): the search answer carried
  no ``properties`` object, the store holds no earlier cycle (new or lost: a lagging search
  may not show what an earlier run wrote), or the journal's last write to the issue has no
  known outcome. A
  journal row ``unknown`` younger than the write timeout plus a margin holds the issue back
  altogether: that write may still be running on the server, so even a read proves nothing.
  A step already there is not written again; a state that differs from what the plan read is
  not overwritten (the next cycle plans from it); a state that cannot be read is not guessed.

With a leader lease (``fence``), each write starts only after the fence confirms the lease is
still this cycle's (holder and fencing number, read from the store); the first failed check
stops every writer: no new write starts, and the writes not done come back as "stopped" with
the reason (nothing was sent for them, so the journal holds nothing "unknown" for them).
The transport checks the lease's local deadline once more as each request leaves (after the
journal row, the pacer and any retry wait): a write it abandons comes back "stopped" with the
reason ``lease_deadline`` (its journal row stays "unknown": the next holder reads the ticket
before writing to it). A holder that took the lease over from one that did not release it
holds back the tickets the journal shows in flight until that holder's requests can no
longer land (its hold's end plus the request timeout), then reads their state first.
With ``actors`` (:mod:`worker.state.installation`), every property written is stamped with
this writer (installation, store, lease grant) and signed; a property read before a write that
another actor wrote recently stops the writes the same way (``another_actor``), and one no
installation of the bot can be shown to have written skips that issue only.

Failures are per issue: one bad issue never stops the others. A dry run walks the same plan
and logs the same events (``action.planned`` instead of ``action.applied``) with no write.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import requests
import structlog

from worker.atlassian.clients import Atlassian
from worker.atlassian.jira import edit_body
from worker.atlassian.transport import (
    AtlassianHTTPError,
    OutcomeUnknownError,
    TransportFailedError,
    UnexpectedBodyError,
    WriteAbandonedError,
)
from worker.model import (
    DEFAULT_PROPERTY_KEY,
    BotState,
    IssueWrite,
    Outcome,
    Person,
    Plan,
    ReassignAction,
    RecordedWrite,
    WriteJournal,
    comment_stamp,
    step_number,
    write_changes,
)
from worker.state.recent import marks_more
from worker.write.journal import JournalUnavailableError
from worker.write.state_reads import NOT_READ, Prefetched, StateReads

if TYPE_CHECKING:
    from worker.state.installation import Actors
    from worker.state.lease import Fence

log = structlog.get_logger(__name__)

#: No usable answer: the request failed in transport or answered something unreadable.
_NO_ANSWER: tuple[type[Exception], ...] = (
    TransportFailedError,
    UnexpectedBodyError,
    requests.RequestException,
)
#: Jira said no, or nothing usable came back.
_FAILED: tuple[type[Exception], ...] = (AtlassianHTTPError, *_NO_ANSWER)
#: Our property could not be read, or what came back is not our state.
_UNREADABLE: tuple[type[Exception], ...] = (*_FAILED, ValueError)
#: The answer to a write was lost, or nothing usable came back.
_LOST: tuple[type[Exception], ...] = (OutcomeUnknownError, *_NO_ANSWER)
#: Jira said no, or the answer was lost.
_REFUSED_OR_LOST: tuple[type[Exception], ...] = (AtlassianHTTPError, *_LOST)


def _kinds(write: IssueWrite) -> tuple[str, ...]:
    return tuple(action.kind for action in write.actions)


def step_landed(stored: object, write: IssueWrite) -> bool:
    """Whether the stored property already holds this write's steps, for every policy."""
    try:
        state = BotState.from_json(stored)
    except ValueError:
        return False
    return all(
        state.for_policy(pid).last_step >= write.state.for_policy(pid).last_step
        and not marks_more(write.state.for_policy(pid), state.for_policy(pid))
        for pid in write.policies
    )


#: Writes queued per writer in flight before the reader waits (:class:`WriteDispatch`)
QUEUED_PER_WRITER = 8

#: How long after a write that got no answer it may still land: the client's timeout plus
#: this margin (queues, retries inside Jira). Younger "unknown" journal rows hold the issue back.
IN_FLIGHT_MARGIN = timedelta(seconds=60)


def state_consistent(stored: BotState, write: IssueWrite) -> bool:
    """Whether the stored state is one this write builds on: for each of the write's policies
    the stored steps are the first steps of the new state, and no human override is stored."""
    for pid in write.policies:
        have, new = stored.for_policy(pid), write.state.for_policy(pid)
        if have.overridden_at is not None and new.overridden_at is None:
            return False
        if [s.step for s in new.steps[: len(have.steps)]] != [s.step for s in have.steps]:
            return False
    return True


def execute(
    plan: Plan,
    atlassian: Atlassian,
    journal: WriteJournal,
    *,
    dry_run: bool,
    stopping: Callable[[], bool] = lambda: False,
    property_key: str = DEFAULT_PROPERTY_KEY,
    notify_users: bool = True,
    verify: Mapping[str, str] | None = None,
    verify_all: str | None = None,
    in_flight: timedelta = timedelta(seconds=30) + IN_FLIGHT_MARGIN,
    concurrency: int = 1,
    fence: Fence | None = None,
    actors: Actors | None = None,
    started: WriteDispatch | None = None,
) -> list[Outcome]:
    """Apply every write of ``plan`` (or, with ``dry_run``, only log it) and say what happened.

    ``stopping`` is checked between issues; writes not reached come back as "stopped".
    ``verify`` names issues whose state must be read before writing (key -> why);
    ``verify_all`` gives a reason to read it for every write (a new or lost store).
    ``in_flight`` is how long an unanswered write may still land (timeout plus margin).
    ``concurrency`` issues are written at once (each issue whole, by one writer; the pace
    is the connection's :class:`~worker.atlassian.pacing.WritePacer`); ``stopping`` is then
    checked before each issue starts, and the issues already in flight finish.
    ``fence`` (the leader lease) is checked before each write is journaled and sent; once it
    fails, no write starts and the rest come back as "stopped". ``actors`` stamps each write
    with this installation and stops the writes when another one is seen (or already was).
    ``started`` is a :class:`WriteDispatch` that already writes the plan's tickets as they
    were planned (its own settings apply); the rest of the plan goes through it.
    """
    if started is not None:
        return started.finish(plan.writes)
    outcomes: list[Outcome] = []
    if not dry_run and concurrency > 1 and len(plan.writes) > 1:
        dispatch = WriteDispatch(
            atlassian, journal, now=plan.now, stopping=stopping, property_key=property_key,
            notify_users=notify_users, verify=verify, verify_all=verify_all,
            in_flight=in_flight, concurrency=concurrency, fence=fence, actors=actors,
        )  # fmt: skip
        return dispatch.finish(plan.writes)
    writer = _Writer(atlassian, journal, plan.now, property_key=property_key,
                     notify_users=notify_users)
    writer.fence = None if dry_run else fence
    writer.actors = None if dry_run else actors
    stopping = _or_halted(stopping, writer)
    writer.verify = verify or {}
    writer.verify_all = verify_all
    writer.in_flight = in_flight
    if not dry_run:
        writer.recent = journal.recent_writes(since=plan.now - timedelta(hours=24))
    for index, write in enumerate(plan.writes):
        if stopping():
            rest = plan.writes[index:]
            log.info("execute.stopped", remaining=len(rest))
            outcomes.extend(_stopped(w, writer.halted()) for w in rest)
            break
        with structlog.contextvars.bound_contextvars(issue=write.issue):
            if dry_run:
                _log_actions("action.planned", write)
                outcomes.append(Outcome(write.issue, "dry-run", _kinds(write)))
            else:
                outcomes.append(writer.apply(write))
    return outcomes


def _or_halted(stopping: Callable[[], bool], writer: _Writer) -> Callable[[], bool]:
    """``stopping``, or every writer halted (a lost lease, another actor): no new write starts
    either way."""
    if writer.fence is None and writer.actors is None:
        return stopping
    return lambda: stopping() or writer.halted() is not None


class WriteDispatch:
    """Writes started as they are handed in, up to ``concurrency`` in flight, each issue whole
    by one writer; outcomes in the order of the plan.

    The cycle hands in each ticket's write as soon as the planner says it is final (see
    :func:`worker.policy.plan.writes_wait_for_read`), so Jira is written while later search
    pages are still read, and :meth:`finish` then takes the plan's writes: those already
    started are not started again. ``stopping`` (and the leader lease's ``fence`` and the
    ``actors`` check, when given) is checked before each issue starts; the issues in flight
    finish.
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
    ) -> None:
        writer = _Writer(atlassian, journal, now, property_key=property_key,
                         notify_users=notify_users)
        writer.fence = fence
        writer.actors = actors
        # The live mapping: the read adds to it while the writers work (each key before its
        # ticket is planned, so before its write is handed in).
        writer.verify = verify if verify is not None else {}
        writer.verify_all = verify_all
        writer.in_flight = in_flight
        writer.recent = journal.recent_writes(since=now - timedelta(hours=24))
        atlassian.jira.field_info()  # warm the catalogue once, not in every writer
        self._writer = writer
        self._stopping = _or_halted(stopping, writer)
        self._ended = False
        self._stop_logged = False
        self._pool = ThreadPoolExecutor(max_workers=max(1, concurrency),
                                        thread_name_prefix="writer")
        # Writes handed in but not finished, at most this many: the writers are paced (the
        # tenant's edit rate), the reader is not; past the bound the reader waits for a
        # writer instead of queueing every planned write ahead of the pace.
        self._room = threading.BoundedSemaphore(max(1, concurrency) * QUEUED_PER_WRITER)
        self._started: dict[str, tuple[IssueWrite, Future[Outcome]]] = {}
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
        future.add_done_callback(self._done)
        # Started before it stops waiting: a batch's timer thread may start it while the
        # reader hands in the next write, which must find it in one or the other.
        self._started[write.issue] = (write, future)
        self._waiting.pop(write.issue, None)

    def _done(self, _future: Future[Outcome]) -> None:
        with self._busy_lock:
            self._busy -= 1
        self._room.release()

    def _one(self, write: IssueWrite, prefetched: Prefetched = NOT_READ) -> Outcome:
        if self._ended or self._stopping():
            if not self._stop_logged:
                self._stop_logged = True
                log.info("execute.stopped", remaining=sum(
                    1 for _w, f in self._started.values() if not f.done()))
            return _stopped(write, self._writer.halted())
        with structlog.contextvars.bound_contextvars(issue=write.issue):
            return self._writer.apply(write, prefetched)

    def finish(self, writes: Sequence[IssueWrite]) -> list[Outcome]:
        """Write the rest of ``writes`` and wait for every one; outcomes in their order
        (then any write handed in that the plan does not hold, which should never be)."""
        for write in writes:
            started = self._started.get(write.issue)
            known = started[0] if started is not None else self._waiting.get(write.issue)
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
            return [self._started[k][1].result() for k in keys]
        finally:
            self._pool.shutdown(wait=True)


def dry_run_matches(plan: Plan) -> tuple[Outcome, ...]:
    """What the plan's dry-run policies would do, logged (``policy.dry_run_match``, with the
    issue key and the policy) and returned as "dry-run" outcomes for the cycle's report.
    Nothing is written; their decisions are recorded like any other (``history`` shows them)."""
    found: list[Outcome] = []
    for d in plan.decisions:
        if d.mode != "dry-run" or d.verdict != "act" or not d.actions:
            continue
        kinds = tuple(a.kind for a in d.actions)
        log.info("policy.dry_run_match", issue=d.issue, policy=d.policy,
                 step=step_number(d.step),
                 actions=list(kinds))
        found.append(
            Outcome(d.issue, "dry-run", kinds,
                    detail=f"policy {d.policy} is in dry-run mode: nothing written")
        )
    return tuple(found)


def _stopped(write: IssueWrite, halted: str | None) -> Outcome:
    """A write not started: a stop request, or ``halted`` (a lost lease, another actor)."""
    if halted is not None:
        return Outcome(write.issue, "stopped", _kinds(write), retryable=True,
                       detail=f"{halted}: not written")
    return Outcome(write.issue, "stopped", _kinds(write), detail="stop requested before this issue")


def _log_actions(event: str, write: IssueWrite, **extra: Any) -> None:
    for action in write.actions:
        log.info(event, kind=action.kind, policies=list(write.policies), **extra)


class _Writer:
    """Applies one :class:`IssueWrite` with its fallbacks; never raises for one issue's failure."""

    def __init__(
        self,
        atlassian: Atlassian,
        journal: WriteJournal,
        now: datetime,
        *,
        property_key: str,
        notify_users: bool,
    ) -> None:
        self.jira = atlassian.jira
        self.flavor = atlassian.flavor
        self.journal = journal
        #: the plan's time: recorded with every journal row and step
        self.now = now
        self.property_key = property_key
        self.notify_users = notify_users
        self.verify: Mapping[str, str] = {}
        self.verify_all: str | None = None
        self.in_flight = timedelta(seconds=30) + IN_FLIGHT_MARGIN
        self.recent: Mapping[str, RecordedWrite] = {}
        self._journal_lock = threading.Lock()
        self.fence: Fence | None = None
        self.actors: Actors | None = None

    def halted(self) -> str | None:
        """Why every writer stops (the lease lost, another actor), or None."""
        if self.fence is not None and self.fence.lost.is_set():
            return self.fence.describe()
        if self.actors is not None and self.actors.halted.is_set():
            return self.actors.reason or "another actor"
        return None

    def _fenced(self, write: IssueWrite, *, look: bool = True) -> Outcome | None:
        """None when this write may go on; else its "stopped" outcome (lease lost, another
        actor). ``look``: read the lease row (else only the cycle's shared flags)."""
        if self.halted() is None and (not look or self.fence is None or self.fence.check()):
            return None
        log.warning("write.halted", fencing=None if self.fence is None else self.fence.fencing)
        return _stopped(write, self.halted())

    def _body(self, write: IssueWrite, **options: Any) -> dict[str, Any]:
        """The edit request; the property stamped with this writer and signed (every send,
        fallbacks included, goes through here)."""
        state = write.state if self.actors is None else self.actors.seal(write.state, self.now)
        return edit_body(
            write.actions,
            state,
            flavor=self.flavor,
            property_key=self.property_key,
            flagged_field_id=self.jira.field_info().flagged_id,
            comment_property=comment_stamp(write, self.now),
            **options,
        )

    def _record(self, write: IssueWrite, status: str, *, state: BotState | None = None) -> None:
        with self._journal_lock:  # writers in flight share the journal (and its buffer)
            self._record_unlocked(write, status, state=state)

    def _record_unlocked(
        self, write: IssueWrite, status: str, *, state: BotState | None = None
    ) -> None:
        self.journal.record_write(
            RecordedWrite(
                issue=write.issue,
                issue_id=write.issue_id,
                at=self.now,
                state=state or write.state,
                status="applied" if status == "applied" else "unknown",
            )
        )

    def _why_read_first(self, write: IssueWrite) -> tuple[str | None, Outcome | None]:
        """Why the stored state must be read before this write (None: the plan's is known),
        or the outcome when the issue is held back."""
        last = self.recent.get(write.issue)
        if last is not None and last.status == "unknown" and self.fence is not None:
            settle_s = self.fence.settle_left_s()
            if settle_s > 0:
                log.warning("write.held_back", previous_holder_settles_s=round(settle_s, 3))
                return None, Outcome(
                    write.issue, "skipped", _kinds(write), retryable=True,
                    detail="the previous leader journaled a write to this issue that may "
                    f"still land: held back for {settle_s:.1f} s more (its lease's end plus "
                    "the request timeout), then its state is read first",
                )
        if last is not None and last.status == "unknown":
            age = self.now - last.at
            if age < self.in_flight:
                until = last.at + self.in_flight
                log.warning("write.held_back", previous_at=last.at.isoformat(),
                            until=until.isoformat())
                return None, Outcome(
                    write.issue, "skipped", _kinds(write), retryable=True,
                    detail="an earlier write to this issue got no answer and may still land "
                    f"(sent {last.at:%Y-%m-%d %H:%M:%S}Z); held back until "
                    f"{until:%Y-%m-%d %H:%M:%S}Z",
                )
            return "the last write to this issue got no answer", None
        return self.verify.get(write.issue) or self.verify_all, None

    def needs_state(self, write: IssueWrite) -> bool:
        """Whether the stored state must be read before this write for a reason a batched
        read serves (not a write whose last answer was lost: that one is read on its own,
        right before it is decided)."""
        last = self.recent.get(write.issue)
        if last is not None and last.status == "unknown":
            return False
        return bool(self.verify.get(write.issue) or self.verify_all)

    def _read_first(self, write: IssueWrite, why: str, prefetched: Prefetched = NOT_READ
                    ) -> tuple[IssueWrite, Outcome | None]:
        """Read our property (one GET, unless a batch read it already) before writing; the
        write to send, or why not."""
        kinds = _kinds(write)
        try:
            raw = (self.jira.issue_property(write.issue, self.property_key)
                   if prefetched is NOT_READ else prefetched)
            stored = BotState.from_json(raw)
        except _UNREADABLE as exc:
            log.warning("write.state_unknown", why=why, error=str(exc))
            return write, Outcome(
                write.issue, "skipped", kinds, retryable=True,
                detail=f"the bot's state on the issue is unknown ({why}) and could not be "
                f"read ({exc}); nothing written",
            )
        actors = self.actors
        verdict = None if actors is None else actors.judge(write.issue, stored, self.now)
        if verdict is not None and verdict.kind == "another":  # recent: every writer stops
            log.error("another_actor", detail=self.halted())
            return write, _stopped(write, self.halted())
        if verdict is not None and verdict.kind == "unverified":
            # Someone else's edit (or a key this installation lacks): this ticket only.
            return write, Outcome(
                write.issue, "skipped", kinds,
                detail=f"the bot's state on the issue cannot be trusted: {verdict.detail}; "
                "nothing written",
            )
        if step_landed(stored.to_json(), write):
            self._record(write, "applied", state=stored)
            log.info("write.already_done", why=why)
            return write, Outcome(
                write.issue, "skipped", kinds,
                detail=f"already done: {why}; the issue's state shows this step",
            )
        if not state_consistent(stored, write):
            self._record(write, "applied", state=stored)
            log.warning("write.state_differs", why=why)
            return write, Outcome(
                write.issue, "skipped", kinds, retryable=True,
                detail=f"{why}; the issue's state differs from what search showed: nothing "
                "written, the next cycle plans from the state read",
            )
        # Other policies' entries as stored: this write changes only its own policies.
        merged = {**stored.policies,
                  **{p: write.state.for_policy(p) for p in write.policies}}
        return replace(write, state=BotState(policies=dict(sorted(merged.items())))), None

    def apply(self, write: IssueWrite, prefetched: Prefetched = NOT_READ) -> Outcome:
        """Apply one write (``prefetched``: its stored state, read in a batch)."""
        try:
            return self._apply(write, prefetched)
        except JournalUnavailableError as exc:
            log.error("action.failed", error=str(exc), retryable=True)
            return Outcome(write.issue, "failed", _kinds(write), retryable=True,
                           detail=f"{exc}; nothing sent (a write not journaled could be "
                           "sent twice)")
        except WriteAbandonedError as exc:
            log.warning("write.abandoned", reason=exc.reason)
            halted = self.halted()
            return Outcome(write.issue, "stopped", _kinds(write), retryable=True,
                           detail=f"{exc.reason}: not sent"
                           + ("" if halted is None else f" ({halted})"))

    def _apply(self, write: IssueWrite, prefetched: Prefetched = NOT_READ) -> Outcome:
        kinds = _kinds(write)
        if (fenced := self._fenced(write, look=False)) is not None:
            return fenced
        why, held = self._why_read_first(write)
        if held is not None:
            return held
        if why is not None:
            write, refused = self._read_first(write, why, prefetched)
            if refused is not None:
                return refused
        try:
            body = self._body(write)  # may read the field catalogue: before we journal
        except _FAILED as exc:
            return self._failed(write, exc)
        # The read above may have taken a while: the fence is checked again right before
        # the journal row and the send, so no write leaves after the lease is gone.
        if (fenced := self._fenced(write)) is not None:
            return fenced
        self._record(write, "unknown")
        try:
            self._send(write, body)
        except AtlassianHTTPError as exc:
            return self._refused(write, exc)
        except OutcomeUnknownError as exc:
            return self._unknown(write, body, exc)
        except _NO_ANSWER as exc:
            return self._failed(write, exc)
        self._record(write, "applied")
        _log_actions("action.applied", write)
        return Outcome(write.issue, "applied", kinds, changes=write_changes(write))

    def _send(self, write: IssueWrite, body: dict[str, Any]) -> None:
        self.jira.edit(write.issue, body, notify_users=self.notify_users)

    # ------------------------------------------------------------------ lost answers

    def _unknown(
        self, write: IssueWrite, body: dict[str, Any], exc: OutcomeUnknownError
    ) -> Outcome:
        """No answer: re-read our property (one GET) and resend only if our step is absent.

        After a read timeout the request may still be running on the server, so a re-read
        that shows nothing is not proof: we do not resend, and the next cycle (which names
        the issue in ``reconcileIssues``) decides from a fresh read.
        """
        log.warning("write.outcome_unknown", error=str(exc), in_flight=exc.in_flight)
        try:
            if step_landed(self.jira.issue_property(write.issue, self.property_key), write):
                self._record(write, "applied")
                _log_actions("action.applied", write, confirmed_by="re-read")
                return Outcome(
                    write.issue,
                    "applied",
                    _kinds(write),
                    detail="answer lost; re-read confirmed the write landed",
                    changes=write_changes(write),
                )
            if exc.in_flight:
                return Outcome(
                    write.issue,
                    "failed",
                    _kinds(write),
                    retryable=True,
                    detail="timed out and not visible yet; it may still land: next cycle decides",
                )
            if self.fence is not None and not self.fence.check():
                return Outcome(write.issue, "failed", _kinds(write), retryable=True,
                               detail=f"answer lost and {self.fence.describe()}: not resent; "
                               "reconciled next cycle")
            self._send(write, body)
        except AtlassianHTTPError as again:
            return self._refused(write, again)
        except _LOST as again:
            return Outcome(
                write.issue,
                "failed",
                _kinds(write),
                retryable=True,
                detail=f"outcome unknown ({again}); reconciled next cycle",
            )
        self._record(write, "applied")
        _log_actions("action.applied", write, resent=True)
        return Outcome(
            write.issue,
            "applied",
            _kinds(write),
            detail="answer lost; re-read showed nothing, resent once",
            changes=write_changes(write),
        )

    # ------------------------------------------------------------------ refusals

    def _refused(self, write: IssueWrite, exc: AtlassianHTTPError) -> Outcome:
        kinds = _kinds(write)
        if exc.status == 400 and exc.field_errors:
            return self._without_refused_fields(write, exc)
        if exc.status >= 500 and exc.status != 503:
            # A 500/502/504 on a write may hide an applied edit: look before calling it failed.
            try:
                landed = step_landed(
                    self.jira.issue_property(write.issue, self.property_key), write
                )
            except _FAILED:
                landed = False
            if landed:
                self._record(write, "applied")
                _log_actions("action.applied", write, confirmed_by="re-read")
                return Outcome(
                    write.issue,
                    "applied",
                    kinds,
                    detail=f"{exc.status} answer, but re-read shows the write landed",
                    changes=write_changes(write),
                )
        retryable = exc.status in (409, 429) or exc.status >= 500
        detail = "issue not found (deleted or hidden)" if exc.status == 404 else str(exc)
        log.warning("action.failed", status=exc.status, retryable=retryable, kinds=list(kinds))
        return Outcome(
            write.issue, "failed", kinds, detail=detail, http_status=exc.status, retryable=retryable
        )

    def _failed(self, write: IssueWrite, exc: Exception) -> Outcome:
        log.warning("action.failed", error=str(exc), retryable=True)
        return Outcome(write.issue, "failed", _kinds(write), detail=str(exc), retryable=True)

    def _without_refused_fields(self, write: IssueWrite, exc: AtlassianHTTPError) -> Outcome:
        """Resend without the fields Jira refused; assign through ``/assignee`` if needed.

        The assignment goes first, so the state we store in the same edit as the comment
        says who really got the ticket (a wrong ``reassigned_to`` would later look like a
        human override).
        """
        kinds = _kinds(write)
        refused = frozenset(exc.field_errors)
        reassign = next((a for a in write.actions if isinstance(a, ReassignAction)), None)
        known = {"assignee", "labels", self.jira.field_info().flagged_id}
        if not refused & known:
            log.warning("action.failed", status=400, fields=sorted(refused))
            return Outcome(write.issue, "failed", kinds, detail=str(exc), http_status=400)
        if self.fence is not None and not self.fence.check():
            return Outcome(write.issue, "failed", kinds, retryable=True, http_status=400,
                           detail=f"edit refused {', '.join(sorted(refused))} and "
                           f"{self.fence.describe()}: the fallback edit was not sent")
        notes = [f"edit refused {', '.join(sorted(refused))} ({exc}); sent without"]
        if reassign is not None and "assignee" in refused:
            assigned, note = self._assign_fallback(write, reassign)
            if assigned is None:
                # Nobody got the ticket: nothing of the step that claims the handoff (the
                # label, the note to the new owner) may go out. The step fails, loudly.
                return self._step_refused(write, reassign, exc)
            notes.append(note)
            write = _with_assignee(write, reassign, assigned, now=self.now)
        if "labels" in refused:
            write = _without_labels(write, now=self.now)
        body = self._body(write, drop_fields=refused)
        try:
            self._send(write, body)
        except AtlassianHTTPError as again:
            log.warning("action.failed", status=again.status, fallback="edit-without-fields")
            return Outcome(
                write.issue,
                "failed",
                kinds,
                detail=f"fallback edit refused: {again}",
                http_status=again.status,
                retryable=again.status >= 500,
            )
        except _LOST as again:
            return Outcome(
                write.issue,
                "failed",
                kinds,
                retryable=True,
                detail=f"fallback edit outcome unknown ({again}); reconciled next cycle",
            )
        self._record(write, "applied")
        _log_actions("action.applied", write, fallback="; ".join(notes))
        return Outcome(
            write.issue,
            "fallback",
            kinds,
            detail="; ".join(notes),
            http_status=400,
            changes=write_changes(write),
        )

    def _step_refused(
        self, write: IssueWrite, action: ReassignAction, exc: AtlassianHTTPError
    ) -> Outcome:
        """Jira refused the reassignment (and the fallback): the step fails as a whole.

        No comment, label or note goes out; only our state records the refusal (a property
        no person sees), so the next cycles wait a business day before trying again and
        say why. The outcome is ``failed`` with Jira's reason.
        """
        kinds = _kinds(write)
        reason = "; ".join(exc.field_errors.values()) or str(exc)
        log.error("step.refused", issue=write.issue, assignee=action.to.id, target=action.target,
                  reason=reason,
                  policies=list(write.policies))
        marked = replace(write, actions=(),
                         state=_refused_state(write, action, reason=reason, now=self.now))
        detail = (f"Jira refused the reassignment to {action.to.display_name} "
                  f"({action.to.id}): {reason}; nothing of the step was sent (no label, no "
                  "note), tried again in one business day")
        try:
            self._record(marked, "unknown")
            self._send(marked, self._body(marked))
        except _REFUSED_OR_LOST as again:
            log.warning("step.refusal_unrecorded", error=str(again))
            return Outcome(write.issue, "failed", kinds, detail=detail + f" (the refusal "
                           f"could not be recorded on the ticket: {again})",
                           http_status=exc.status, retryable=True)
        self._record(marked, "applied")
        return Outcome(write.issue, "failed", kinds, detail=detail, http_status=exc.status,
                       retryable=True)

    def _assign_fallback(
        self, write: IssueWrite, action: ReassignAction
    ) -> tuple[Person | None, str]:
        """Assign through the assign endpoint, then the fallback; who got it, and how."""
        errors: tuple[type[Exception], ...] = (AtlassianHTTPError, *_LOST)
        try:
            self.jira.assign(write.issue, action.to)
        except errors as exc:
            if action.fallback is None:
                return None, f"assign endpoint refused {action.to.id} ({exc}); assignee left as is"
            try:
                self.jira.assign(write.issue, action.fallback)
            except errors as again:
                return None, (
                    f"assign endpoint refused {action.to.id} and fallback "
                    f"{action.fallback.id} ({again}); assignee left as is"
                )
            return action.fallback, (
                f"assign endpoint refused {action.to.id}; assigned fallback {action.fallback.id}"
            )
        return action.to, f"assigned {action.to.id} through the assign endpoint"


def _with_assignee(
    write: IssueWrite, action: ReassignAction, assigned: Person | None, *, now: datetime
) -> IssueWrite:
    """The write with ``reassigned_to`` naming who really holds the ticket now, and the
    note addressed to that person (none when nobody got it)."""
    if assigned is not None and assigned.id == action.to.id:
        return write
    if assigned is None:  # nobody got it: no assignee, no note, nothing to undo later
        kept = tuple(a for a in write.actions if a is not action)
    else:
        fixed = replace(action, to=assigned, note=action.fallback_note, fallback_note=None)
        kept = tuple(fixed if a is action else a for a in write.actions)
    write = replace(write, actions=kept)
    if assigned is None:
        write = replace(write, state=_new_steps(write, now, previous_assignee=None))
    policies = {
        pid: (
            replace(ps, reassigned_to=assigned.id if assigned else None)
            if pid in write.policies and ps.reassigned_to == action.to.id
            else ps
        )
        for pid, ps in write.state.policies.items()
    }
    return replace(write, state=BotState(policies=policies))


def _refused_state(
    write: IssueWrite, action: ReassignAction, *, reason: str, now: datetime
) -> BotState:
    """The state as it stands when Jira refused this write's reassignment: the steps this
    write adds are taken back (nothing of them went out), and each policy whose step held
    the reassignment records the refusal (step, time, Jira's reason)."""
    policies = dict(write.state.policies)
    for pid in write.policies:
        ps = policies.get(pid)
        if ps is None or not ps.steps or ps.steps[-1].at != now:
            continue
        step = ps.steps[-1]
        kept = replace(
            ps,
            steps=ps.steps[:-1],
            reassigned_to=None if ps.reassigned_to == action.to.id else ps.reassigned_to,
        )
        if "reassign" in step.actions:
            kept = replace(kept, refused_step=step.step, refused_at=now, refused_reason=reason)
        policies[pid] = kept
    return BotState(policies=policies, by=write.state.by)


def _without_labels(write: IssueWrite, *, now: datetime) -> IssueWrite:
    """The write as it lands when Jira refused the labels: no label added, and the state
    records none (``revert`` must never remove a label the bot did not add)."""
    actions = tuple(a for a in write.actions if a.kind != "label")
    return replace(write, actions=actions, state=_new_steps(write, now, labels_added=()))


def _new_steps(write: IssueWrite, now: datetime, **changes: Any) -> BotState:
    """The write's state with ``changes`` applied to the steps this write adds (recorded at
    ``now``, the plan's time; an override adds none, and older steps stay as they were)."""
    policies = dict(write.state.policies)
    for pid in write.policies:
        ps = policies.get(pid)
        if ps is not None and ps.steps and ps.steps[-1].at == now:
            policies[pid] = replace(ps, steps=(*ps.steps[:-1], replace(ps.steps[-1], **changes)))
    return BotState(policies=policies)
