"""What one cycle did, in numbers: logged, recorded, exported as metrics."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Literal

import structlog

from worker.cycle.errors import ErrorKind
from worker.cycle.resources import CycleResources
from worker.exits import (
    EXIT_ANOTHER_ACTOR,
    EXIT_FAILED_ACTIONS,
    EXIT_INVALID,
    EXIT_LEASE_HELD,
    EXIT_OK,
    EXIT_UNREACHABLE,
)
from worker.model.outcome import Outcome
from worker.model.plan import Plan
from worker.read.site import IssueStream
from worker.telemetry.logs import scrub

if TYPE_CHECKING:
    from worker.atlassian.clients import Atlassian

log = structlog.get_logger(__name__)


CycleStatus = Literal["ok", "failed", "stopped"]


@dataclass(frozen=True, slots=True)
class CycleReport:
    """What one cycle did, in numbers (logged, recorded, exported as metrics)."""

    run_id: str
    started_at: datetime
    duration_s: float
    dry_run: bool
    status: CycleStatus
    site_now: datetime | None = None
    error: str | None = None
    error_kind: ErrorKind | None = None
    issues_read: int = 0
    malformed: int = 0
    deals: int = 0
    deal_skips: int = 0
    #: policy id -> verdict -> number of decisions
    counts: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    #: outcome status -> number of issues
    outcomes: Mapping[str, int] = field(default_factory=dict)
    actions_applied: int = 0
    actions_failed: int = 0
    requests: int = 0
    retries: int = 0
    config_sha256: str | None = None
    #: False: an incremental read (only what can have changed); True: everything was read
    read_full: bool | None = None
    read_reason: str | None = None
    #: the tickets an incremental read looked at: what the search answered and the keys it
    #: looked up (None for a full read)
    read_keys: frozenset[str] | None = field(default=None, repr=False, compare=False)
    #: problems of the policy file on disk when it is invalid (the last good one ran)
    config_problems: tuple[str, ...] = ()
    plan: Plan | None = field(default=None, repr=False, compare=False)
    results: tuple[Outcome, ...] = field(default=(), repr=False, compare=False)
    #: what dry-run policies would have done, one "dry-run" outcome per match (logged; their
    #: decisions are recorded like any other, which is what ``history`` shows)
    matches: tuple[Outcome, ...] = field(default=(), repr=False, compare=False)
    #: the leader lease was lost mid-cycle: the writes not done are "stopped"
    lease_lost: bool = False
    #: another installation writes to the site (the ``another_actor`` line): nothing written
    another_actor: str | None = None
    #: tickets skipped because no installation of the bot can be shown to have written the
    #: state on them (a person's edit, or a key this installation lacks)
    state_unverified: tuple[str, ...] = ()

    @property
    def exit_code(self) -> int:
        """0 ok; 1 invalid config; 2 cannot reach or authenticate; 3 failed actions;
        5 the leader lease was lost mid-cycle; 6 another installation writes to the site."""
        if self.another_actor is not None:
            return EXIT_ANOTHER_ACTOR
        if self.lease_lost:
            return EXIT_LEASE_HELD
        if self.error_kind in ("unreachable", "auth"):
            return EXIT_UNREACHABLE
        if self.error_kind is not None:
            return EXIT_INVALID
        if self.actions_failed:
            return EXIT_FAILED_ACTIONS
        return EXIT_OK

    def summary(self) -> dict[str, object]:
        """The report as flat JSON-friendly values (for logs and ``run --once``)."""
        return {
            "run_id": self.run_id,
            "status": self.status,
            "dry_run": self.dry_run,
            "site_now": self.site_now.isoformat() if self.site_now else None,
            "read": None if self.read_full is None else ("full" if self.read_full
                                                          else "incremental"),
            "read_reason": self.read_reason,
            "issues_read": self.issues_read,
            "malformed": self.malformed,
            "deals": self.deals,
            "deal_skips": self.deal_skips,
            "decisions": {p: dict(v) for p, v in self.counts.items()},
            "outcomes": dict(self.outcomes),
            "dry_run_matches": len(self.matches),
            "actions_applied": self.actions_applied,
            "actions_failed": self.actions_failed,
            "requests": self.requests,
            "retries": self.retries,
            "duration_s": round(self.duration_s, 3),
            "error": None if self.error is None else scrub(self.error),
            "error_kind": self.error_kind,
            "lease_lost": self.lease_lost,
            "another_actor": None if self.another_actor is None else scrub(self.another_actor),
            "state_unverified": len(self.state_unverified),
        }


def _counts(the_plan: Plan | None) -> dict[str, dict[str, int]]:
    counts: dict[str, Counter[str]] = {}
    if the_plan is not None:
        for d in the_plan.decisions:
            counts.setdefault(d.policy, Counter())[d.verdict] += 1
    return {p: dict(c) for p, c in sorted(counts.items())}


def build_report(
    run_id: str,
    started: datetime,
    started_mono: float,
    dry_run: bool,
    runner: CycleResources,
    atlassian: Atlassian,
    base_requests: int,
    base_retries: int,
    reading: IssueStream,
    the_plan: Plan,
    results: tuple[Outcome, ...],
    stopping: threading.Event,
) -> CycleReport:
    statuses = Counter(o.status for o in results)
    applied, failed = _action_counts(results)
    stopped = stopping.is_set() or statuses.get("stopped", 0) > 0
    return CycleReport(
        run_id=run_id,
        started_at=started,
        duration_s=time.monotonic() - started_mono,
        dry_run=dry_run,
        status="stopped" if stopped else "ok",
        site_now=reading.now,
        read_full=None if reading.read is None else reading.read.full,
        read_reason=None if reading.read is None else reading.read.reason,
        read_keys=_read_keys(reading),
        issues_read=reading.issues,
        malformed=reading.malformed,
        deals=len(reading.deals),
        deal_skips=len(reading.deal_skips),
        counts=_counts(the_plan),
        outcomes=dict(sorted(statuses.items())),
        actions_applied=applied,
        actions_failed=failed,
        requests=atlassian.requests_made - base_requests,
        retries=atlassian.retries - base_retries,
        config_sha256=runner.source.sha256,
        config_problems=runner.source.problems,
        plan=the_plan,
        results=results,
    )


def _read_keys(reading: IssueStream) -> frozenset[str] | None:
    """What an incremental read looked at: the keys it returned, and the keys due for a
    recheck (looked up by key inside the scope: one not returned has left it)."""
    read = reading.read
    if read is None or read.full:
        return None
    return (reading.keys or frozenset()) | frozenset(read.due)


def failed_report(
    run_id: str,
    started: datetime,
    started_mono: float,
    dry_run: bool,
    runner: CycleResources,
    kind: ErrorKind,
    message: str,
    base_requests: int,
    base_retries: int,
    progress: Mapping[str, object],
) -> CycleReport:
    reading = progress.get("reading")
    the_plan = progress.get("plan")
    results = progress.get("results")
    # Writes started while reading, before the cycle failed or stopped, are on the record.
    done = (tuple(o for o in results if isinstance(o, Outcome))
            if isinstance(results, tuple) else ())
    outcomes: dict[str, int] = dict(Counter(o.status for o in done))
    applied, failed = _action_counts(done)
    atlassian = runner.connected
    requests_made = retries = 0
    if atlassian is not None:
        requests_made = atlassian.requests_made - base_requests
        retries = atlassian.retries - base_retries
    plan_value = the_plan if isinstance(the_plan, Plan) else None
    return CycleReport(
        run_id=run_id,
        started_at=started,
        duration_s=time.monotonic() - started_mono,
        dry_run=dry_run,
        status="failed",
        site_now=reading.now if isinstance(reading, IssueStream) else None,
        read_full=reading.read.full if isinstance(reading, IssueStream) and reading.read
        else None,
        read_keys=_read_keys(reading) if isinstance(reading, IssueStream) else None,
        error=message,
        error_kind=kind,
        issues_read=reading.issues if isinstance(reading, IssueStream) else 0,
        counts=_counts(plan_value),
        outcomes=outcomes,
        actions_applied=applied,
        actions_failed=failed,
        requests=requests_made,
        retries=retries,
        config_sha256=runner.source.sha256,
        config_problems=runner.source.problems,
        plan=plan_value,
        results=done,
    )


def _action_counts(results: Iterable[Outcome]) -> tuple[int, int]:
    """Actions applied, and actions failed (a failed issue counts at least one)."""
    applied = failed = 0
    for o in results:
        if o.status in ("applied", "fallback"):
            applied += len(o.actions)
        elif o.status == "failed":
            failed += max(len(o.actions), 1)
    return applied, failed
