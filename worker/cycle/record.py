"""After a cycle: its record in the store, the health and metrics it moves, the report page."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import structlog

from worker.cycle.errors import one_line
from worker.cycle.report import CycleReport
from worker.cycle.resources import CycleResources
from worker.report.context import context_from
from worker.state.records import CycleRecord

log = structlog.get_logger(__name__)


#: how long the end-of-cycle recording retries a store that stumbles
RECORD_RETRY_S = 30.0


RECORD_PAUSE_S = 0.5


def _retrying(step: Callable[[], object], *, deadline: float) -> None:
    """Run one store step, again after a pause while it fails and time is left."""
    while True:
        try:
            step()
            return
        except Exception as exc:
            if time.monotonic() + RECORD_PAUSE_S > deadline:
                raise
            log.warning("store.retry", error=one_line(exc))
            time.sleep(RECORD_PAUSE_S)


def record_cycle(runner: CycleResources, report: CycleReport) -> None:
    """Write the cycle, its decisions and outcomes to the store, then apply retention.

    Each step is retried for a while on its own (a step done is not done twice): the audit
    trail must say what Jira received even when the store is busy for a few seconds.
    """
    deadline = time.monotonic() + RECORD_RETRY_S
    try:
        at = report.site_now or report.started_at
        the_plan = report.plan
        full_read = the_plan is not None and report.read_full is not False
        if the_plan is not None:
            _retrying(lambda: runner.store.record_decisions(
                report.run_id, at, the_plan.decisions, recheck_at=the_plan.rechecks
            ), deadline=deadline)
        _retrying(lambda: runner.store.record_outcomes(report.run_id, at, report.results),
                  deadline=deadline)
        _retrying(lambda: runner.store.finish_cycle(
            CycleRecord(
                run_id=report.run_id,
                started_at=report.started_at,
                finished_at=datetime.now(UTC),
                site_now=report.site_now,
                dry_run=report.dry_run,
                status=report.status,
                error=report.error,
                issues_read=report.issues_read,
                actions_applied=report.actions_applied,
                actions_failed=report.actions_failed,
                requests=report.requests,
                retries=report.retries,
                duration_s=report.duration_s,
                counts=report.counts,
                config_sha256=report.config_sha256,
                # A cycle that recorded no plan (stopped while reading) read nothing usable.
                read_full=full_read,
                read_keys=None if full_read else frozenset(
                    () if the_plan is None else report.read_keys or ()),
            )
        ), deadline=deadline)
        cutoff = report.started_at - timedelta(days=runner.settings.retention_days)
        purged = runner.store.purge(before=cutoff)
        if purged:
            log.info("store.purged", rows=purged, before=cutoff.isoformat())
    except Exception as exc:
        log.error("store.failed", error=one_line(exc))


def publish_report(runner: CycleResources, report: CycleReport) -> None:
    """Update the leadership report page when the ``report:`` schedule says so.

    After the cycle's own work, and only for a cycle that wrote for real: a dry run writes
    nothing anywhere. A failure is logged by the publisher and retried next cycle; it never
    changes this cycle's outcome.
    """
    policies = runner.source.policies
    atlassian = runner.connected
    if (policies is None or policies.report is None or atlassian is None or report.dry_run
            or report.error_kind is not None):
        return
    # matplotlib loads only in services that publish a report.
    from worker.report.publish import publish_if_due

    publish_if_due(runner.store, atlassian.confluence.transport, policies.report,
                   tz=policies.tz, now=report.site_now or report.started_at,
                   context=context_from(policies, runner.settings.jira_url))


def observe_cycle(runner: CycleResources, report: CycleReport) -> None:
    # whether another installation writes is known once an enforcing cycle has planned
    checked = report.plan is not None and not report.dry_run
    if runner.health is not None:
        if report.error_kind is None:
            runner.health.cycle_succeeded()
        else:
            runner.health.cycle_failed(kind=report.error_kind, message=report.error or "")
        if checked:
            runner.health.another_actor(report.another_actor)
    if runner.metrics is None:
        return
    runner.metrics.config_valid.set(0 if runner.source.problems else 1)
    if checked:
        runner.metrics.another_actor.set(0 if report.another_actor is None else 1)
        runner.metrics.state_unverified.set(len(report.state_unverified))
    loaded = runner.source.policies
    events = runner.events.count(
        report.plan,
        report.results,
        policies=[p.id for p in loaded.policies if p.mode != "off"] if loaded else (),
        read=(report.read_keys or frozenset()) if report.read_full is False else None,
    )
    runner.metrics.observe_cycle(
        status=report.status,
        duration_s=report.duration_s,
        issues_read=report.issues_read,
        requests=report.requests,
        retries=report.retries,
        decisions=events.decisions,
        actions=events.actions,
        # Each ticket as last read (an incremental cycle reads only what changed).
        matching=events.matching if report.plan is not None else None,
        finished_unix_s=time.time() if report.error_kind is None else None,
    )
