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

from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING

import structlog

from worker.atlassian.clients import Atlassian
from worker.model.outcome import Outcome, WriteJournal
from worker.model.plan import Plan
from worker.model.state import DEFAULT_PROPERTY_KEY
from worker.model.vocabulary import step_number
from worker.write.dispatch import WriteDispatch
from worker.write.outcomes import kinds_of, log_actions, stopped
from worker.write.writer import IN_FLIGHT_MARGIN, IssueWriter, or_halted

if TYPE_CHECKING:
    from worker.state.installation import Actors
    from worker.state.lease import Fence

log = structlog.get_logger(__name__)


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
    writer = IssueWriter(atlassian, journal, plan.now, property_key=property_key,
                         notify_users=notify_users, verify=verify, verify_all=verify_all,
                         in_flight=in_flight, fence=None if dry_run else fence,
                         actors=None if dry_run else actors,
                         recent={} if dry_run else None)
    stopping = or_halted(stopping, writer)
    for index, write in enumerate(plan.writes):
        if stopping():
            rest = plan.writes[index:]
            log.info("execute.stopped", remaining=len(rest))
            outcomes.extend(stopped(w, writer.halted()) for w in rest)
            break
        with structlog.contextvars.bound_contextvars(issue=write.issue):
            if dry_run:
                log_actions("action.planned", write)
                outcomes.append(Outcome(write.issue, "dry-run", kinds_of(write)))
            else:
                outcomes.append(writer.apply(write))
    return outcomes


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


