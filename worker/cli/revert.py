"""``revert KEY [KEY ...]`` / ``revert --run RUN_ID``: undo what the bot changed on tickets.

Reads each ticket fresh (its state, assignee and labels), plans the undo with
:func:`worker.write.revert.plan_revert`, and runs it through the one writer, so a revert is exactly
once like every other write. The revert is recorded in the state store as a run of its own
(``revert-...``) with what it changed, so ``history`` shows it. Exit codes are those of
``run --once``: 0 ok, 1 invalid input (unknown run, unreadable ticket), 2 cannot reach or
authenticate to Atlassian, 3 some writes failed, 5 another process holds the leader lease (a
revert writes like a cycle: it takes the lease first and writes behind its fence).
"""

from __future__ import annotations

import contextlib
import sys
import time
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime

import structlog

from worker.atlassian.clients import Atlassian
from worker.atlassian.comments import (
    StampedComment,
    delete_comment,
    list_comments,
    read_comment,
    rewrite_comment,
)
from worker.atlassian.transport import (
    AtlassianHTTPError,
    OutcomeUnknownError,
    TransportFailedError,
    WriteAbandonedError,
)
from worker.cycle.runner import CycleRunner
from worker.exits import (
    EXIT_ANOTHER_ACTOR,
    EXIT_FAILED_ACTIONS,
    EXIT_INVALID,
    EXIT_LEASE_HELD,
    EXIT_OK,
)
from worker.model.issue import IssueSnapshot
from worker.model.outcome import Outcome
from worker.model.plan import Decision, Plan
from worker.policy import search_spec
from worker.read.site import JOURNAL_WINDOW, read_site, spec_for_issues
from worker.state.comment_ids import recorded_comment_ids
from worker.state.lease import Fence, Lease, LeaseHeldError
from worker.state.records import CycleRecord
from worker.state.renewer import Renewer
from worker.state.store import Store
from worker.state.tables import REVERT_RUN_PREFIX
from worker.write.execute import execute
from worker.write.identity import load_actors
from worker.write.journal import GuardedJournal
from worker.write.revert import (
    CommentTakeBack,
    RevertPlan,
    comments_to_take_back,
    plan_revert,
    stamped_by_bot,
    withdrawal,
)

log = structlog.get_logger(__name__)


class RevertInputError(Exception):
    """The keys or the run to revert cannot be used (exit 1)."""


def _take_back(
    atlassian: Atlassian,
    outcomes: Sequence[Outcome],
    plans: Sequence[RevertPlan],
    takes: Mapping[str, Sequence[CommentTakeBack]],
    *,
    reason: str,
    dry_run: bool,
) -> list[Outcome]:
    """Withdraw (or delete) the comments of each ticket whose revert write landed (or that
    needed none), one request per comment; the ids go into the ticket's outcome
    (``comments_withdrawn`` / ``comments_deleted``). A refusal (403: not the author and not an
    admin) fails that ticket with Jira's words. Nothing is sent in a dry run."""
    by_issue = {o.issue: o for o in outcomes}
    result = {o.issue: o for o in outcomes}
    for plan in plans:
        take = takes.get(plan.issue) or []
        before = by_issue.get(plan.issue)
        if dry_run or not take or (before is not None
                                   and before.status not in ("applied", "fallback")):
            continue
        done: list[str] = []
        failure: str | None = None
        stopped: str | None = None
        http_status: int | None = None
        for t in take:
            try:
                if t.verb == "delete":
                    delete_comment(atlassian.jira, t.issue, t.comment_id)
                else:
                    rewrite_comment(atlassian.jira, t.issue, t.comment_id, withdrawal(reason))
            except WriteAbandonedError as exc:  # the fence stopped it: nothing was sent
                stopped = f"comment {t.comment_id}: {exc.reason}"
                break
            except AtlassianHTTPError as exc:
                failure, http_status = f"comment {t.comment_id}: {exc}", exc.status
                break
            except (TransportFailedError, OutcomeUnknownError) as exc:
                failure = f"comment {t.comment_id}: {exc}"
                break
            done.append(t.comment_id)
            log.info("revert.comment_taken_back", issue=t.issue, comment=t.comment_id,
                     verb=t.verb)
        key = "comments_deleted" if take[0].verb == "delete" else "comments_withdrawn"
        changes = {**dict((before.changes or {}) if before is not None else {}), key: done}
        kinds = tuple(f"{t.verb}-comment" for t in take[:len(done)])
        if stopped is not None:
            result[plan.issue] = Outcome(plan.issue, "stopped", kinds, detail=stopped,
                                         changes=changes)
        elif failure is not None:
            result[plan.issue] = Outcome(plan.issue, "failed", kinds, detail=failure,
                                         http_status=http_status, changes=changes)
        elif before is not None:
            result[plan.issue] = replace(before, actions=(*before.actions, *kinds),
                                         changes=changes)
        else:
            result[plan.issue] = Outcome(plan.issue, "applied", kinds, changes=changes)
    return list(result.values())


def revert_keys(store: Store, *, keys: list[str], run_id: str | None) -> list[str]:
    """The tickets to revert: the given keys, or those a run changed (from the store)."""
    if run_id is None:
        return list(dict.fromkeys(k.upper() for k in keys))
    changed = store.changed_issues(run_id)
    if changed is None:
        raise RevertInputError(f"no run {run_id!r} in the state store (see `history`)")
    if not changed:
        raise RevertInputError(f"run {run_id} changed no ticket: nothing to revert")
    return changed


def revert_issues(
    runner: CycleRunner,
    store: Store,
    *,
    keys: list[str],
    run_id: str | None,
    reason: str,
    dry_run: bool,
    lease: Lease | None = None,
    delete_comments: bool = False,
) -> int:
    """Revert the tickets; print one line per ticket; return the exit code.

    With a ``lease``, it is taken before anything is read (:class:`LeaseHeldError` when
    another process holds it) and kept renewed until the writes are done.
    """
    with contextlib.ExitStack() as kept:
        fence = None
        if lease is not None:
            if not lease.acquire():
                raise LeaseHeldError(lease.last_seen)
            kept.enter_context(Renewer(lease))
            fence = Fence(lease, request_timeout_s=runner.settings.timeout_s)
            kept.enter_context(runner.fenced(fence))
        wanted = revert_keys(store, keys=keys, run_id=run_id)
        run = None if run_id is None else store.cycle(run_id)
        return _revert(runner, store, wanted=wanted, reason=reason, dry_run=dry_run,
                       fence=fence, run_at=None if run is None else run.site_now,
                       delete_comments=delete_comments, run_id=run_id)


def _bot_comments(
    atlassian: Atlassian, store: Store, snapshot: IssueSnapshot, *, run_id: str | None,
    run_at: datetime | None, property_key: str,
) -> tuple[list[StampedComment], list[str]]:
    """The comments to look at for taking back, and notes on recorded ones already gone.

    By the ids recorded for the bot's writes, one read each; for writes recorded without ids
    (or a store that has not seen them all), every comment of the ticket, the bot's told by
    their stamp. The ids were named from a search answer by count and time
    (:mod:`worker.write.posted`): one that reads as another's comment (not the bot's, not
    stamped, another cycle's) sends the revert to the comment list too."""
    steps = [s.at for ps in snapshot.state.policies.values() for s in ps.steps]
    recorded = recorded_comment_ids(store, snapshot.key, run_id=run_id,
                                    since=min(steps) if steps else None)
    if recorded is None:
        log.info("revert.comments_listed", issue=snapshot.key, why="no recorded ids")
        return list_comments(atlassian.jira, snapshot.key, property_key=property_key), []
    found: list[StampedComment] = []
    gone: list[str] = []
    for comment_id in recorded:
        comment = read_comment(atlassian.jira, snapshot.key, comment_id,
                               property_key=property_key)
        if comment is None:
            gone.append(f"comment {comment_id} already deleted")
        else:
            found.append(comment)
    strange = [c.id for c in found if not stamped_by_bot(c, bot_id=atlassian.bot.id, at=run_at)]
    if strange:
        log.warning("revert.comments_listed", issue=snapshot.key, ids=strange,
                    why="a recorded id names a comment the write did not post")
        return list_comments(atlassian.jira, snapshot.key, property_key=property_key), []
    log.info("revert.comments_by_id", issue=snapshot.key, ids=list(recorded))
    return found, gone


def _revert(
    runner: CycleRunner, store: Store, *, wanted: list[str], reason: str, dry_run: bool,
    fence: Fence | None, run_at: datetime | None = None, delete_comments: bool = False,
    run_id: str | None = None,
) -> int:
    started = datetime.now(UTC)
    started_mono = time.monotonic()
    policies = runner.source.current()
    atlassian = runner.atlassian()
    base_requests = atlassian.requests_made
    spec = spec_for_issues(search_spec(policies), wanted)
    reading = read_site(atlassian, spec, journal=store)
    found = {s.key.upper(): s for s in reading.snapshots}
    malformed = {m.key.upper(): m.reason for m in reading.malformed}
    plans: list[RevertPlan] = []
    code = EXIT_OK
    bot_id = atlassian.bot.id
    takes: dict[str, list[CommentTakeBack]] = {}
    for key in wanted:
        snapshot = found.get(key.upper())
        if snapshot is None:
            why = malformed.get(key.upper(), "not found, or the bot account cannot browse it")
            sys.stderr.write(f"handoff-guard: error: {key}: {why}\n")
            code = EXIT_INVALID
            continue
        listed, gone = _bot_comments(atlassian, store, snapshot, run_id=run_id, run_at=run_at,
                                     property_key=policies.property_key)
        take, already = comments_to_take_back(snapshot.key, listed, bot_id=bot_id,
                                              at=run_at, delete=delete_comments)
        already = [*gone, *already]
        takes[snapshot.key] = take
        plan = plan_revert(snapshot, now=reading.now, reason=reason,
                           people=reading.directory.people, taken_back=take)
        plans.append(replace(plan, notes=(*plan.notes, *already)))
    the_plan = Plan(
        now=reading.now, decisions=(), writes=tuple(p.write for p in plans if p.write)
    )
    revert_id = f"{REVERT_RUN_PREFIX}{started:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    with structlog.contextvars.bound_contextvars(run_id=revert_id):
        log.info("revert.started", issues=wanted, dry_run=dry_run, reason=reason)
        store.start_cycle(CycleRecord(revert_id, started, dry_run, "running"))
        journal = GuardedJournal(store)
        # a revert writes like a cycle: stamped with this installation, and stopped by
        # another one's recent writes (confirm it first if the revert is meant to undo them)
        actors = load_actors(runner.settings, store, bot_id=atlassian.bot.id,
                             now=reading.now, fence=fence, window=JOURNAL_WINDOW)
        if not dry_run and actors.active(reading.now):
            log.error("another_actor", detail=actors.reason)
        # Search may lag behind a write made moments ago: read each ticket's state right
        # before undoing, so a revert that already landed is never sent twice.
        outcomes = execute(the_plan, atlassian, journal, dry_run=dry_run,
                           property_key=policies.property_key,
                           verify_all="a revert reads the state it undoes", fence=fence,
                           actors=actors)
        journal.flush()
        outcomes = _take_back(atlassian, outcomes, plans, takes, reason=reason,
                              dry_run=dry_run or actors.reason is not None
                              or (fence is not None and fence.lost.is_set()))
        # One decision per reverted policy, so `history` (which reads decisions) shows it.
        store.record_decisions(revert_id, reading.now, [
            Decision(
                issue=p.issue, policy=pid, mode="enforce", verdict="act",
                actions=p.write.actions, reason=f"revert at the request of {reason}: "
                + "; ".join(p.notes),
            )
            for p in plans if p.write is not None for pid in p.write.policies
        ])
        store.record_outcomes(revert_id, reading.now, outcomes)
        failed = [o for o in outcomes if o.status == "failed"]
        applied = sum(len(o.actions) for o in outcomes if o.status in ("applied", "fallback"))
        counts: dict[str, dict[str, int]] = {"revert": dict(Counter(o.status for o in outcomes))}
        store.finish_cycle(
            CycleRecord(
                run_id=revert_id,
                started_at=started,
                dry_run=dry_run,
                status="ok",
                finished_at=datetime.now(UTC),
                site_now=reading.now,
                issues_read=len(reading.snapshots),
                actions_applied=applied,
                actions_failed=sum(len(o.actions) for o in failed),
                requests=atlassian.requests_made - base_requests,
                duration_s=time.monotonic() - started_mono,
                counts=counts,
                # A revert decides nothing about whether the other tickets match.
                read_full=False,
                read_keys=frozenset(),
            )
        )
        log.info("revert.finished", outcomes=counts["revert"], failed=len(failed))
    by_issue = {o.issue: o for o in outcomes}
    verb = "would revert" if dry_run else "reverted"
    for p in plans:
        outcome = by_issue.get(p.issue)
        if p.write is None and takes.get(p.issue) and (outcome is None
                                                       or outcome.status != "failed"):
            line = f"{p.issue}: {verb}: {'; '.join(p.notes)}"
        elif p.write is None and (outcome is None or outcome.status != "failed"):
            line = f"{p.issue}: {'; '.join(p.notes)}"
        elif outcome is not None and outcome.status == "stopped":
            line = f"{p.issue}: not reverted ({outcome.detail})"
        elif outcome is not None and outcome.status == "failed":
            line = f"{p.issue}: revert failed ({outcome.detail}); {'; '.join(p.notes)}"
        else:
            line = f"{p.issue}: {verb}: " + "; ".join((*p.notes, "comment posted"
                                                       if not dry_run else "comment planned"))
        sys.stdout.write(line + "\n")
    sys.stdout.write(f"run {revert_id}\n")
    if actors.reason is not None and not dry_run:
        sys.stderr.write(f"handoff-guard: error: {actors.reason}\n")
        return EXIT_ANOTHER_ACTOR
    if fence is not None and fence.lost.is_set():
        sys.stderr.write(f"handoff-guard: error: {fence.describe()}; the tickets marked "
                         "stopped were not reverted\n")
        return EXIT_LEASE_HELD
    if failed:
        return EXIT_FAILED_ACTIONS
    return code
