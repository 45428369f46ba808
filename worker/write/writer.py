"""The writer of one ticket: applies one :class:`IssueWrite` with its fallbacks.

Reads the stored state first where the plan's is not known for sure, journals the write as
"unknown" before sending it, re-reads before any resend of a lost answer, and resends without
the fields Jira refused. It never raises for one issue's failure (see :mod:`worker.write.execute`
for the guarantees these habits give).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import requests
import structlog

from worker.atlassian.clients import Atlassian
from worker.atlassian.edit_body import edit_body
from worker.atlassian.transport import (
    AtlassianHTTPError,
    OutcomeUnknownError,
    TransportFailedError,
    UnexpectedBodyError,
    WriteAbandonedError,
)
from worker.model.outcome import Outcome, RecordedWrite, WriteJournal, comment_stamp, write_changes
from worker.model.people import Person
from worker.model.plan import IssueWrite, ReassignAction
from worker.model.state import BotState
from worker.write.journal import JournalUnavailableError
from worker.write.outcomes import kinds_of, log_actions, stopped
from worker.write.posted import with_comments_posted
from worker.write.state_reads import NOT_READ, Prefetched
from worker.write.steps import (
    refused_state,
    state_consistent,
    step_landed,
    with_assignee,
    without_labels,
)

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

#: How long after a write that got no answer it may still land: the client's timeout plus
#: this margin (queues, retries inside Jira). Younger "unknown" journal rows hold the issue back.
IN_FLIGHT_MARGIN = timedelta(seconds=60)


def or_halted(stopping: Callable[[], bool], writer: IssueWriter) -> Callable[[], bool]:
    """``stopping``, or every writer halted (a lost lease, another actor): no new write starts
    either way."""
    if writer.fence is None and writer.actors is None:
        return stopping
    return lambda: stopping() or writer.halted() is not None


class IssueWriter:
    """Applies one :class:`IssueWrite` with its fallbacks; never raises for one issue's failure."""

    def __init__(
        self,
        atlassian: Atlassian,
        journal: WriteJournal,
        now: datetime,
        *,
        property_key: str,
        notify_users: bool,
        verify: Mapping[str, str] | None = None,
        verify_all: str | None = None,
        in_flight: timedelta = timedelta(seconds=30) + IN_FLIGHT_MARGIN,
        fence: Fence | None = None,
        actors: Actors | None = None,
        recent: Mapping[str, RecordedWrite] | None = None,
    ) -> None:
        """The settings are :func:`~worker.write.execute.execute`'s; ``recent`` is the
        journal's last day of writes (None: read here; the cycle's read has a copy)."""
        self.jira = atlassian.jira
        self.flavor = atlassian.flavor
        self.journal = journal
        #: the plan's time: recorded with every journal row and step
        self.now = now
        self.property_key = property_key
        self.notify_users = notify_users
        #: issue key -> why its state is read first (the cycle's read may add to it meanwhile)
        self.verify: Mapping[str, str] = verify if verify is not None else {}
        self.verify_all = verify_all
        self.in_flight = in_flight
        # the read's copy, when the cycle has one: 5,000 writes a day are 5 MB each copy
        self.recent: Mapping[str, RecordedWrite] = (
            recent if recent is not None
            else journal.recent_writes(since=now - timedelta(hours=24)))
        self._journal_lock = threading.Lock()
        self.fence = fence
        self.actors = actors

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
        return stopped(write, self.halted())

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
                    write.issue, "skipped", kinds_of(write), retryable=True,
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
                    write.issue, "skipped", kinds_of(write), retryable=True,
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
        kinds = kinds_of(write)
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
            return write, stopped(write, self.halted())
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
        """Apply one write (``prefetched``: its stored state, read in a batch); a write that
        landed says how many comments it posted (a later read names them:
        :mod:`worker.write.posted`)."""
        try:
            return with_comments_posted(write, self._apply(write, prefetched))
        except JournalUnavailableError as exc:
            log.error("action.failed", error=str(exc), retryable=True)
            return Outcome(write.issue, "failed", kinds_of(write), retryable=True,
                           detail=f"{exc}; nothing sent (a write not journaled could be "
                           "sent twice)")
        except WriteAbandonedError as exc:
            log.warning("write.abandoned", reason=exc.reason)
            halted = self.halted()
            return Outcome(write.issue, "stopped", kinds_of(write), retryable=True,
                           detail=f"{exc.reason}: not sent"
                           + ("" if halted is None else f" ({halted})"))

    def _apply(self, write: IssueWrite, prefetched: Prefetched = NOT_READ) -> Outcome:
        kinds = kinds_of(write)
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
        log_actions("action.applied", write)
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
                log_actions("action.applied", write, confirmed_by="re-read")
                return Outcome(write.issue, "applied", kinds_of(write),
                               detail="answer lost; re-read confirmed the write landed",
                               changes=write_changes(write))
            if exc.in_flight:
                return Outcome(write.issue, "failed", kinds_of(write), retryable=True,
                               detail="timed out and not visible yet; it may still land: "
                               "next cycle decides")
            if self.fence is not None and not self.fence.check():
                return Outcome(write.issue, "failed", kinds_of(write), retryable=True,
                               detail=f"answer lost and {self.fence.describe()}: not resent; "
                               "reconciled next cycle")
            self._send(write, body)
        except AtlassianHTTPError as again:
            return self._refused(write, again)
        except _LOST as again:
            return Outcome(write.issue, "failed", kinds_of(write), retryable=True,
                           detail=f"outcome unknown ({again}); reconciled next cycle")
        self._record(write, "applied")
        log_actions("action.applied", write, resent=True)
        return Outcome(write.issue, "applied", kinds_of(write),
                       detail="answer lost; re-read showed nothing, resent once",
                       changes=write_changes(write))

    # ------------------------------------------------------------------ refusals

    def _refused(self, write: IssueWrite, exc: AtlassianHTTPError) -> Outcome:
        kinds = kinds_of(write)
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
                log_actions("action.applied", write, confirmed_by="re-read")
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
        return Outcome(write.issue, "failed", kinds_of(write), detail=str(exc), retryable=True)

    def _without_refused_fields(self, write: IssueWrite, exc: AtlassianHTTPError) -> Outcome:
        """Resend without the fields Jira refused; assign through ``/assignee`` if needed.

        The assignment goes first, so the state we store in the same edit as the comment
        says who really got the ticket (a wrong ``reassigned_to`` would later look like a
        human override).
        """
        kinds = kinds_of(write)
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
            write = with_assignee(write, reassign, assigned, now=self.now)
        if "labels" in refused:
            write = without_labels(write, now=self.now)
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
        log_actions("action.applied", write, fallback="; ".join(notes))
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
        kinds = kinds_of(write)
        reason = "; ".join(exc.field_errors.values()) or str(exc)
        log.error("step.refused", issue=write.issue, assignee=action.to.id, target=action.target,
                  reason=reason,
                  policies=list(write.policies))
        marked = replace(write, actions=(),
                         state=refused_state(write, action, reason=reason, now=self.now))
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
        try:
            self.jira.assign(write.issue, action.to)
        except _REFUSED_OR_LOST as exc:
            if action.fallback is None:
                return None, f"assign endpoint refused {action.to.id} ({exc}); assignee left as is"
            try:
                self.jira.assign(write.issue, action.fallback)
            except _REFUSED_OR_LOST as again:
                return None, (
                    f"assign endpoint refused {action.to.id} and fallback "
                    f"{action.fallback.id} ({again}); assignee left as is"
                )
            return action.fallback, (
                f"assign endpoint refused {action.to.id}; assigned fallback {action.fallback.id}"
            )
        return action.to, f"assigned {action.to.id} through the assign endpoint"
