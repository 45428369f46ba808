"""The long-running service: APScheduler in the foreground, signals, health and metrics.

One job runs :class:`worker.cycle.CycleRunner` on the policy file's schedule (an interval or a
cron expression, in its timezone) with ``max_instances=1`` and ``coalesce=True``: a slow cycle
delays the next one instead of overlapping it, and missed runs collapse into one. The first
cycle runs at start. When a reload changes the schedule, the job is rescheduled.

SIGTERM or SIGINT sets a stop flag that the reader checks between issues and the executor
between writes: the issue in hand is finished and recorded, ``service.stopped`` is logged with
a summary, and the process exits within :data:`STOP_BOUND_S`. A second signal exits at once.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import FrameType
from zoneinfo import ZoneInfo

import structlog
from apscheduler.job import Job
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from worker.cycle import CycleReport, CycleRunner
from worker.health import Health, HealthServer
from worker.metrics import Metrics
from worker.policy.config import Schedule

log = structlog.get_logger(__name__)

#: SIGTERM to exit, at most (process managers usually wait 10 s before SIGKILL)
STOP_BOUND_S = 10.0
#: part of the bound reserved for logging, closing the store and the HTTP server
_STOP_MARGIN_S = 1.5
JOB_ID = "cycle"


def trigger_for(schedule: Schedule) -> BaseTrigger:
    """The APScheduler trigger for a policy file's schedule (interval wins over cron)."""
    tz = ZoneInfo(schedule.timezone)
    if schedule.interval_s is not None:
        return IntervalTrigger(seconds=schedule.interval_s, timezone=tz)
    if schedule.cron is None:
        raise ValueError("a schedule needs interval_s or cron")
    return CronTrigger.from_crontab(schedule.cron, timezone=tz)


def interval_of(schedule: Schedule, *, now: datetime | None = None) -> float:
    """The longest expected gap between two cycles (the health bound is twice this).

    For a cron it is the longest gap between its runs over the next week, so a
    "weekdays at 9" schedule is not reported stale over the weekend.
    """
    if schedule.interval_s is not None:
        return float(schedule.interval_s)
    trigger = trigger_for(schedule)
    start = now or datetime.now(ZoneInfo(schedule.timezone))
    horizon = start + timedelta(days=8)
    previous = trigger.get_next_fire_time(None, start)
    longest = 0.0
    for _ in range(2000):  # bounded: a per-minute cron has ~11,500 runs a week; this is enough
        if previous is None or previous > horizon:
            break
        following = trigger.get_next_fire_time(previous, previous + timedelta(microseconds=1))
        if following is None:
            break
        longest = max(longest, (following - previous).total_seconds())
        previous = following
    return longest or 86400.0


@dataclass(slots=True)
class _Tally:
    cycles: int = 0
    failed: int = 0
    actions_applied: int = 0
    actions_failed: int = 0
    requests: int = 0
    retries: int = 0
    last: CycleReport | None = None


class Service:
    """Runs cycles on a schedule until told to stop."""

    def __init__(
        self,
        runner: CycleRunner,
        *,
        dry_run: bool = False,
        http_port: int | None = None,
        health: Health | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.runner = runner
        self.dry_run = dry_run
        self.http_port = http_port
        self.health = health or runner.health or Health(interval_s=300.0)
        self.metrics = metrics or runner.metrics or Metrics()
        runner.health = self.health
        runner.metrics = self.metrics
        self.stopping = threading.Event()
        self._done = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self._tally = _Tally()
        self._statuses: Counter[str] = Counter()
        self._schedule: Schedule | None = None
        self._scheduler: BackgroundScheduler | None = None
        self._server: HealthServer | None = None
        self._signal: str | None = None
        self._started = time.monotonic()

    # ------------------------------------------------------------------ the job

    def _job(self) -> None:
        if self.stopping.is_set():
            return
        self._idle.clear()
        try:
            report = self.runner.run(dry_run=self.dry_run, stopping=self.stopping)
            self._count(report)
        except Exception as exc:  # run_cycle never raises; this is the last line of defence
            log.exception("service.job_failed", error=str(exc))
            self.health.cycle_failed(kind="error", message=str(exc))
        finally:
            self._idle.set()
        if not self.stopping.is_set():
            self._maybe_reschedule()

    def _count(self, report: CycleReport) -> None:
        t = self._tally
        t.cycles += 1
        t.failed += report.status == "failed"
        t.actions_applied += report.actions_applied
        t.actions_failed += report.actions_failed
        t.requests += report.requests
        t.retries += report.retries
        t.last = report
        self._statuses[report.status] += 1

    def _maybe_reschedule(self) -> None:
        policies = self.runner.source.policies
        if policies is None or policies.schedule == self._schedule or self._scheduler is None:
            return
        self._schedule = policies.schedule
        self._scheduler.reschedule_job(JOB_ID, trigger=trigger_for(policies.schedule))
        self._scheduler.modify_job(JOB_ID, misfire_grace_time=policies.schedule.misfire_grace_s)
        self.health.set_interval(interval_of(policies.schedule))
        log.info("service.rescheduled", interval_s=policies.schedule.interval_s,
                 cron=policies.schedule.cron, timezone=policies.schedule.timezone)

    # ------------------------------------------------------------------ lifecycle

    def install_signal_handlers(self) -> None:
        """SIGTERM/SIGINT -> graceful stop; a second one -> exit now (main thread only)."""
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self.stopping.is_set():
            log.warning("service.killed", signal=name)
            os._exit(130)
        self._signal = name
        log.info("service.stopping", signal=name)
        self.stop()

    def stop(self) -> None:
        """Ask the service to stop (thread-safe; the cycle in hand finishes its issue)."""
        self.stopping.set()
        self._done.set()

    def run(self) -> int:
        """Start the health server and the scheduler; block until stopped. Returns an exit code.

        The first cycle runs at once, so a broken config or connection shows immediately.
        """
        policies = self.runner.source.current()  # PolicyError here: nothing good to run
        self._schedule = policies.schedule
        self.health.set_interval(interval_of(policies.schedule))
        if self.http_port is not None:
            self._server = HealthServer(self.health, self.metrics, port=self.http_port).start()
        scheduler = BackgroundScheduler(timezone=ZoneInfo(policies.schedule.timezone))
        self._scheduler = scheduler
        scheduler.add_job(
            self._job,
            trigger=trigger_for(policies.schedule),
            id=JOB_ID,
            name="handoff-guard cycle",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=policies.schedule.misfire_grace_s,
            next_run_time=datetime.now(ZoneInfo(policies.schedule.timezone)),
        )
        scheduler.start()
        log.info(
            "service.started",
            dry_run=self.dry_run,
            interval_s=policies.schedule.interval_s,
            cron=policies.schedule.cron,
            timezone=policies.schedule.timezone,
            health_port=self._server.port if self._server else None,
        )
        self._done.wait()
        return self._shutdown()

    def _shutdown(self) -> int:
        deadline = time.monotonic() + STOP_BOUND_S - _STOP_MARGIN_S
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
        finished = self._idle.wait(timeout=max(0.0, deadline - time.monotonic()))
        if self._server is not None:
            self._server.stop()
        t = self._tally
        log.info(
            "service.stopped",
            signal=self._signal,
            cycle_in_hand="finished" if finished else "abandoned",
            cycles=t.cycles,
            cycles_failed=t.failed,
            actions_applied=t.actions_applied,
            actions_failed=t.actions_failed,
            requests=t.requests,
            retries=t.retries,
            uptime_s=round(time.monotonic() - self._started, 3),
            last_run_id=t.last.run_id if t.last else None,
            last_status=t.last.status if t.last else None,
        )
        if not finished:
            self.runner.abandon()
        self.runner.store.close()
        if not finished:
            # The worker thread is stuck in a network call; exiting now is the lesser evil:
            # the executor records "unknown" before each write, so the journal stays honest.
            os._exit(0)
        return 0

    def job(self) -> Job | None:
        """The scheduled cycle job while the scheduler runs (for inspection)."""
        return self._scheduler.get_job(JOB_ID) if self._scheduler is not None else None

    @property
    def health_port(self) -> int | None:
        """The health server's port once started (useful with port 0)."""
        return self._server.port if self._server else None
