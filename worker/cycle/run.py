"""One cycle end to end: read, plan, execute, record.

Every log event of a cycle carries its ``run_id`` (bound with structlog's contextvars). Any
error is caught, classified (config, unreachable, auth, store, error), logged, recorded and
returned in the :class:`~worker.cycle.report.CycleReport`; a cycle never raises into the
scheduler.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import structlog

from worker.cycle.errors import classify, one_line
from worker.cycle.record import observe_cycle, publish_report, record_cycle
from worker.cycle.report import CycleReport, build_report, failed_report
from worker.cycle.resources import CycleResources
from worker.impact import log_reload_impact
from worker.model.outcome import Outcome, WriteJournal
from worker.model.plan import Plan
from worker.policy import plan, promise_words, search_spec
from worker.policy.plan import writes_wait_for_read
from worker.read.deal_facts import report_deal_problems
from worker.read.hinted import keep_rechecks
from worker.read.incremental import (
    ReadState,
    deal_prints,
    people_of,
)
from worker.read.site import (
    JOURNAL_WINDOW,
    CycleStoppedError,
    IncrementalRead,
    IssueStream,
    stream_site,
)
from worker.state.installation import Actors
from worker.state.lease import Fence
from worker.state.records import CycleRecord
from worker.state.store import Store
from worker.write.dispatch import WriteDispatch
from worker.write.execute import dry_run_matches, execute
from worker.write.identity import UNVERIFIED_WORDS, load_actors
from worker.write.journal import GuardedJournal
from worker.write.posted import PostedComments, record_posted
from worker.write.writer import IN_FLIGHT_MARGIN

if TYPE_CHECKING:
    from worker.atlassian.clients import Atlassian
    from worker.policy import Policies

log = structlog.get_logger(__name__)


def _new_run_id(now: datetime) -> str:
    return f"{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"


def run_cycle(
    runner: CycleResources, *, dry_run: bool, stopping: threading.Event, fence: Fence | None = None,
    hint: Sequence[str] | None = None,
) -> CycleReport:
    """Run one cycle with ``runner``'s connection and store; returns its report.

    With a ``fence`` (the leader lease, held at the start), every write checks it first; a
    lease lost mid-cycle stops the writes and the report says so (``lease_lost``). With
    ``hint``, only those tickets are read, and the watermark stays (:mod:`worker.read.hinted`).
    """
    started = datetime.now(UTC)
    started_mono = time.monotonic()
    run_id = _new_run_id(started)
    with structlog.contextvars.bound_contextvars(run_id=run_id):
        log.info("cycle.started", dry_run=dry_run)
        record = CycleRecord(run_id=run_id, started_at=started, dry_run=dry_run, status="running")
        try:
            runner.store.start_cycle(record)
        except Exception as exc:  # the audit trail is down: still report, never raise
            log.error("store.failed", error=one_line(exc))
        base_requests = base_retries = 0
        progress: dict[str, object] = {}
        try:
            # the policies and their file's digest as one read: the reload thread may load
            # a newer file meanwhile, which this cycle must neither use nor claim to have used
            policies, policy_sha = runner.source.loaded()
            if runner.connected is not None:  # a new connection's counters start at zero
                base_requests = runner.connected.requests_made
                base_retries = runner.connected.retries
            atlassian = runner.atlassian()
            replaced = runner.source.take_replaced(by=policies)
            if replaced is not None:
                # the same summary as `plan --against`, for the file that takes effect now
                log_reload_impact(atlassian, replaced, policies, journal=runner.store)
            spec = search_spec(policies)
            incremental = runner.incremental(policies, spec, policy_sha)
            reading = stream_site(atlassian, spec, journal=runner.store,
                                  on_issue=runner.on_issue, stopping=stopping.is_set,
                                  policies=policies, deal_pages=runner.deal_pages,
                                  incremental=incremental, deal_facts=runner.deal_facts,
                                  hint=hint)
            progress["reading"] = reading
            posted = None if dry_run else PostedComments(
                atlassian.bot.id, written=reading.recent, comments_read=spec.comments)
            if posted is not None:
                reading.watch = posted.observe
            actors = None if dry_run else load_actors(
                runner.settings, runner.store, bot_id=atlassian.bot.id, now=reading.now,
                fence=fence, window=JOURNAL_WINDOW)
            if actors is not None:
                reading.review = actors.review
            report_deal_problems(reading.deal_read, policies, runner.metrics,
                                 full=reading.read is None or reading.read.full)
            partial = reading.read is not None and not reading.read.full
            journal = GuardedJournal(runner.store)
            dispatch: WriteDispatch | None = None
            if not dry_run:
                runner.in_hand = (run_id, started, journal)
                dispatch = _while_reading(runner, run_id, atlassian, journal, reading,
                                          policies, stopping, fence, actors)
                progress["dispatch"] = dispatch
            the_plan = plan(
                reading,
                reading.directory,
                reading.deal_read,
                policies,
                reading.now,
                keep_no_match=False,
                # An incremental read sees part of each scope: the breaker's percentage
                # is taken against the scope as the last full read counted it.
                scope_sizes=incremental.state.scope_sizes if partial else None,
                on_write=None if dispatch is None else dispatch.submit,
            )
            log.info(
                "cycle.read",
                issues=reading.issues,
                malformed=reading.malformed,
                deals=len(reading.deals),
                deal_skips=len(reading.deal_skips),
                people=len(reading.directory.people),
            )
            progress["plan"] = the_plan
            log.info(
                "cycle.planned",
                decisions=len(the_plan.decisions),
                verdicts=dict(Counter(d.verdict for d in the_plan.decisions)),
                writes=len(the_plan.writes),
                breakers=dict(the_plan.breakers),
                deferred=dict(the_plan.deferred),
                promises=dict(the_plan.promises),
            )
            if actors is not None and actors.active(reading.now):
                # seen now or kept from an earlier cycle: no write starts
                log.error("another_actor", detail=actors.reason, writes=len(the_plan.writes))
            if runner.source.reloads != runner.reloads_seen:
                # The first plan with a reloaded file says which promises outlive the edit.
                runner.reloads_seen = runner.source.reloads
                log.info("config.promises", **dict(the_plan.promises),
                         messages=promise_words(the_plan.promises))
            results = _execute(the_plan, atlassian, journal, dry_run=dry_run,
                               stopping=stopping, property_key=policies.property_key,
                               verify=reading.verify,
                               verify_all=_without_history(runner.store, run_id, reading.now),
                               timeout_s=runner.settings.timeout_s,
                               concurrency=runner.settings.writes_in_flight, fence=fence,
                               actors=actors, started=dispatch)
            progress.pop("dispatch", None)
            runner.in_hand = None
            progress["results"] = tuple(results)
            report = build_report(
                run_id, started, started_mono, dry_run, runner, atlassian,
                base_requests, base_retries, reading, the_plan, tuple(results), stopping,
            )
            report = replace(report, matches=dry_run_matches(the_plan))
            if fence is not None and fence.lost.is_set():
                not_done = sum(1 for o in results if o.status == "stopped")
                log.error("cycle.lease_lost", writes_not_done=not_done,
                          detail=fence.describe())
                report = replace(report, status="stopped", lease_lost=True,
                                 error=f"{fence.describe()}: {not_done} write(s) not done")
            if actors is not None:
                report = _with_actors(runner, actors, report, reading.now)
            journal.flush()
            if posted is not None:
                _name_posted(runner, posted, reading.now)
            if journal.failure is not None:
                # What Jira received is in the report and recorded below; the store stumbled.
                log.error("cycle.store_failed", error=journal.failure)
                report = replace(report, status="failed", error=journal.failure,
                                 error_kind="store")
            if report.status == "ok" and hint is not None:
                _keep_rechecks(runner, reading, the_plan, report.results)
            elif report.status == "ok":
                _advance(runner, incremental, reading, the_plan, report.results)
        except CycleStoppedError as exc:
            _written_while_reading(runner, progress)
            log.info("cycle.stopped", detail=str(exc))
            report = replace(
                failed_report(run_id, started, started_mono, dry_run, runner, "error", str(exc),
                               base_requests, base_retries, progress),
                status="stopped", error=None, error_kind=None,
            )
        except Exception as exc:
            _written_while_reading(runner, progress)
            kind, message = classify(exc)
            log.error("cycle.failed", error=message, error_kind=kind,
                      exc_info=kind == "error")
            report = failed_report(
                run_id, started, started_mono, dry_run, runner, kind, message,
                base_requests, base_retries, progress,
            )
        record_cycle(runner, report)
        observe_cycle(runner, report)
        publish_report(runner, report)
        log.info("cycle.finished", **report.summary())
        return report


def _while_reading(
    runner: CycleResources,
    run_id: str,
    atlassian: Atlassian,
    journal: GuardedJournal,
    reading: IssueStream,
    policies: Policies,
    stopping: threading.Event,
    fence: Fence | None,
    actors: Actors | None,
) -> WriteDispatch | None:
    """The writers that start on each ticket as soon as it is planned, while later pages are
    still read; None when a limit that counts the whole cycle (the budget, a breaker) makes
    every write wait for the plan (``writes_wait_for_read``), or on Data Center."""
    why = writes_wait_for_read(policies)
    if why is None and atlassian.flavor != "cloud":
        # Data Center pages by offset (startAt): an edit that takes a ticket out of the
        # scope (a reassignment to Sales) would shift the later pages, and a ticket would
        # be skipped. Cloud's nextPageToken carries on from where the last page ended.
        why = "Data Center pages by offset: an edit during the read would shift later pages"
    log.info("execute.while_reading", enabled=why is None, why_not=why)
    if why is not None:
        return None
    return WriteDispatch(
        atlassian, journal, now=reading.now, stopping=stopping.is_set,
        property_key=policies.property_key, verify=reading.verify,
        verify_all=_without_history(runner.store, run_id, reading.now),
        in_flight=timedelta(seconds=runner.settings.timeout_s) + IN_FLIGHT_MARGIN,
        concurrency=runner.settings.writes_in_flight, fence=fence, actors=actors,
        recent=reading.recent,
    )  # fmt: skip


def _written_while_reading(runner: CycleResources, progress: dict[str, object]) -> None:
    """The cycle ends before its plan: writes started while reading finish (no new one
    starts), and their outcomes and journal rows are kept for the record."""
    dispatch = progress.pop("dispatch", None)
    if isinstance(dispatch, WriteDispatch):
        progress["results"] = tuple(dispatch.abort())
    in_hand = runner.in_hand
    runner.in_hand = None
    if in_hand is not None:
        in_hand[2].flush()


def _without_history(store: Store, run_id: str, now: datetime) -> str | None:
    """Why every write must read the issue's state first, when the store holds no enforcing
    cycle that completed within the journal window before this one (new, lost, restored
    from a backup, or stopped for a while): its journal cannot tell what a lagging search
    hides. A cycle that was stopped (another actor, a lost lease, a stop request) may have
    written nothing and does not count. A store that cannot answer counts as one without
    history."""
    try:
        earlier = [c for c in store.cycles(limit=20)
                   if c.run_id != run_id and not c.dry_run and c.status == "ok"]
    except Exception as exc:  # the store stumbling must not make us guess: read first
        log.warning("store.failed", error=one_line(exc))
        earlier = []
    if not earlier:
        return "the store holds no earlier cycle (new or lost) and search may lag behind writes"
    if all((c.site_now or c.started_at) < now - JOURNAL_WINDOW for c in earlier):
        return ("the store's last completed cycle is older than the journal window (restored "
                "from a backup, or stopped a while): its journal may miss writes search hides")
    return None


def _execute(
    the_plan: Plan,
    atlassian: Atlassian,
    store: WriteJournal,
    *,
    dry_run: bool,
    stopping: threading.Event,
    property_key: str,
    verify: Mapping[str, str],
    verify_all: str | None,
    timeout_s: int,
    concurrency: int = 1,
    fence: Fence | None = None,
    actors: Actors | None = None,
    started: WriteDispatch | None = None,
) -> list[Outcome]:
    return execute(
        the_plan, atlassian, store, dry_run=dry_run, stopping=stopping.is_set,
        property_key=property_key, verify=verify, verify_all=verify_all,
        in_flight=timedelta(seconds=timeout_s) + IN_FLIGHT_MARGIN,
        concurrency=concurrency, fence=fence, actors=actors, started=started,
    )


def _with_actors(runner: CycleResources, actors: Actors, report: CycleReport,
                 now: datetime) -> CycleReport:
    """Keep what was seen of other installations; a cycle another one stopped says so (its
    writes are "stopped"; status "stopped", so the read state does not move on). Tickets
    whose state cannot be trusted are skipped (the plan says why) and told once more here,
    together, for the admin."""
    try:
        actors.save(runner.store, now)
    except Exception as exc:  # seen again next cycle: the tickets still say who wrote them
        log.error("store.failed", error=one_line(exc))
    if actors.unverified:
        keys = tuple(sorted(actors.unverified))
        log.warning("cycle.state_unverified", tickets=len(keys), issues=list(keys[:20]),
                    detail=UNVERIFIED_WORDS)
        report = replace(report, state_unverified=keys)
    if not actors.active(now):
        return report
    stopped = sum(1 for o in report.results if o.status == "stopped")
    log.error("cycle.another_actor", detail=actors.reason, writes_not_done=stopped)
    return replace(report, status="stopped", another_actor=actors.reason)


#: outcomes after which the ticket changed on the site (its `updated` moved: read next cycle)
_LANDED = frozenset({"applied", "fallback"})


def _name_posted(runner: CycleResources, posted: PostedComments, now: datetime) -> None:
    """Name the comment ids of the writes before this cycle from what it read."""
    try:
        record_posted(runner.store, posted, since=now - JOURNAL_WINDOW, before=now)
    except Exception as exc:  # the writes stand; revert finds their comments by the stamp
        log.error("store.failed", error=one_line(exc))


def _keep_rechecks(runner: CycleResources, reading: IssueStream, the_plan: Plan,
                   results: Iterable[Outcome]) -> None:
    """After a successful hinted cycle: only the rechecks of what it read move."""
    due = reading.read.due if reading.read is not None else ()
    try:
        keep_rechecks(runner.store, read=(reading.keys or frozenset()) | frozenset(due),
                      rechecks=the_plan.rechecks, results=results, now=reading.now)
    except Exception as exc:  # the next scheduled cycle reads what changed anyway
        log.error("store.failed", error=one_line(exc))


def _advance(
    runner: CycleResources,
    incremental: IncrementalRead,
    reading: IssueStream,
    the_plan: Plan,
    results: Iterable[Outcome],
) -> None:
    """After a successful cycle: move the watermark and keep what the next one compares.

    A planned write that did not land (dry run, failed, held back, stopped) is read again
    next cycle by key: nothing on the ticket changed to bring it back otherwise.
    """
    read = reading.read
    old = incremental.state
    full = read is None or read.full
    if full:
        rechecks = dict(the_plan.rechecks)
    else:
        assert read is not None
        # What was read (or due and not found any more) is decided afresh by this plan.
        fresh = (reading.keys or frozenset()) | frozenset(read.due)
        rechecks = {k: t for k, t in old.rechecks.items() if k not in fresh}
        rechecks.update(the_plan.rechecks)
    for outcome in results:
        if outcome.status not in _LANDED:
            rechecks[outcome.issue] = reading.now
    state = ReadState(
        watermark=reading.now,
        last_full_sweep=reading.now if full else old.last_full_sweep,
        config=incremental.config,
        people=people_of(reading.directory),
        # A deal read that failed is not a new baseline: the next cycle compares with the last
        # good one (and reads the customers whose pages really changed).
        deals=deal_prints(reading.deals) if reading.deal_read.failed is None else old.deals,
        rechecks=rechecks,
        scope_sizes=dict(the_plan.scope_sizes) if full else old.scope_sizes,
    )
    try:
        state.save(runner.store)
    except Exception as exc:  # the next cycle then reads more, never less
        log.error("store.failed", error=one_line(exc))
