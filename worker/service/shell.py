"""The long-running service: APScheduler in the foreground, signals, health and metrics.

One job runs :class:`~worker.cycle.runner.CycleRunner` on the policy file's schedule (an
interval or a cron expression, in its timezone: :mod:`worker.service.triggers`) with
``max_instances=1`` and ``coalesce=True``: a slow cycle delays the next one instead of
overlapping it, and missed runs collapse into one. The first cycle runs at start.

The policy file is re-read the moment it or its templates change, and on SIGHUP
(:mod:`worker.service.reload`), besides each cycle's own read: a broken edit shows in
``/readyz`` and
the log within seconds while the last good policies keep running; a valid one is in force for
the next cycle, and a changed schedule reschedules the job at once. A file that is invalid at
start does not stop the service: it stays up, alive and not ready (``config_invalid``), and
starts cycling as soon as the file loads.

With a leader lease (an enforcing service), only the holder runs cycles. A keeper thread renews
the lease every third of its period while held, and takes it when it is free or expired (a
leader killed with ``kill -9`` releases nothing): a standby takes over within one period and
runs a cycle at once. On a standby each tick looks at the lease, does nothing else and logs who
holds it (``lease.standby``). Health and metrics say whether this replica leads
(:mod:`worker.service.leadership`).

With a webhook secret (``HANDOFF_GUARD_WEBHOOK_SECRET``), ``/webhooks/jira`` takes Jira's
signed events (:mod:`worker.service.webhooks`); the issue keys they name are coalesced
(:mod:`worker.service.hints`) into cycles that read exactly those tickets
(:mod:`worker.read.hinted`), one at a time and never alongside a scheduled cycle, with the
same lease, fence and policy.
A standby answers 503 (Jira sends the event again, maybe to the leader); before the first
successful cycle, a hint runs the scheduled cycle instead (it reads everything). Polling
stays the safety net.

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
from datetime import UTC, datetime
from types import FrameType
from zoneinfo import ZoneInfo

import structlog
from apscheduler.job import Job
from apscheduler.schedulers.background import BackgroundScheduler

from worker.cycle.errors import ConfigUnavailableError
from worker.cycle.report import CycleReport
from worker.cycle.runner import CycleRunner
from worker.policy import Policies, PolicyError
from worker.policy.config import Schedule
from worker.read.incremental import ReadState
from worker.service.hints import HintQueue
from worker.service.leadership import Leadership
from worker.service.probes import HealthServer
from worker.service.reload import Reloader
from worker.service.status import STATUS_PATHS, StatusPage
from worker.service.triggers import interval_of, trigger_for
from worker.service.webhooks import GateSettings, Result, WebhookEndpoint, WebhookGate
from worker.state.lease import Lease, LeaseHeldError
from worker.state.runs import last_successful_cycle
from worker.telemetry.health import Health
from worker.telemetry.metrics import Metrics

log = structlog.get_logger(__name__)

#: SIGTERM to exit, at most (process managers usually wait 10 s before SIGKILL)
STOP_BOUND_S = 10.0
#: part of the bound reserved for logging, closing the store and the HTTP server
_STOP_MARGIN_S = 1.5
#: how often the main thread wakes to run the signal handlers another thread took
_WAKE_S = 0.2
JOB_ID = "cycle"
#: hosts a status page may answer without a token on (anything else gets a warning)
_LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})
#: how many recent cycles the service looks through at start for the last successful one
SEED_CYCLES = 50


@dataclass(slots=True)
class _Tally:
    cycles: int = 0
    failed: int = 0
    actions_applied: int = 0
    actions_failed: int = 0
    requests: int = 0
    retries: int = 0
    # the last cycle's id and status, not its report: a report holds the cycle's plan and
    # outcomes, which would stay in memory through the whole next cycle (issue 24 item 4)
    last_run_id: str | None = None
    last_status: str | None = None


class Service:
    """Runs cycles on a schedule until told to stop."""

    def __init__(
        self,
        runner: CycleRunner,
        *,
        dry_run: bool = False,
        http_port: int | None = None,
        http_host: str = "127.0.0.1",
        health: Health | None = None,
        metrics: Metrics | None = None,
        watch: bool = True,
        server: HealthServer | None = None,
    ) -> None:
        self.runner = runner
        self.dry_run = dry_run
        self.http_port = http_port
        self.http_host = http_host
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
        #: the probes' server: made by :meth:`run`, or already serving (a service that
        #: waited for its store at start)
        self._server: HealthServer | None = server
        self._signal: str | None = None
        self._started = time.monotonic()
        # the job (after each cycle) and the reload thread both apply a loaded file
        self._apply_lock = threading.Lock()
        #: file changes, SIGHUP and (without inotify) a poll -> :meth:`reload`
        self.reloader = Reloader(runner.source, self.reload, watch=watch)
        #: the leader lease (None: a dry run, or a runner without one: acts alone)
        self.lease: Lease | None = None if dry_run else runner.lease
        self.leadership = Leadership(self.lease, store=runner.store, health=self.health,
                                     metrics=self.metrics, run_now=self._run_now)
        #: a hinted cycle is not running (the scheduled job has ``_idle``)
        self._hint_idle = threading.Event()
        self._hint_idle.set()
        #: the webhook fast path (None: no webhook secret set)
        self.hints: HintQueue | None = None
        self.webhook: WebhookEndpoint | None = None
        settings = runner.settings
        if settings.webhook_secret is not None:
            self.hints = HintQueue(self._hinted, coalesce_s=settings.webhook_coalesce_ms / 1000,
                                   overflow=self._run_now)
            gate = WebhookGate(settings.webhook_secret.reveal(), GateSettings(
                rate_per_s=float(settings.webhook_rate), burst=5 * settings.webhook_rate))
            self.webhook = WebhookEndpoint(gate, self._queue_hints, count=self._count_webhook,
                                           standby=self.leadership.standby)

    # ------------------------------------------------------------------ the job

    def _run_now(self) -> None:
        """Run the scheduled cycle now (coalesced with one already due)."""
        with self._apply_lock:  # the job exists once a policy file loaded, until shutdown
            scheduler = self._scheduler
            if (scheduler is not None and not self.stopping.is_set()
                    and scheduler.get_job(JOB_ID) is not None):
                scheduler.modify_job(JOB_ID, next_run_time=datetime.now(UTC))

    def _job(self) -> None:
        if self.stopping.is_set():
            return
        self._idle.clear()
        try:
            if not self.leadership.leads():
                return
            report = self.runner.run(dry_run=self.dry_run, stopping=self.stopping)
            self._count(report)
        except LeaseHeldError:  # lost between the look and the cycle: a standby now
            self.leadership.lost()
        except Exception as exc:  # run_cycle never raises; this is the last line of defence
            log.exception("service.job_failed", error=str(exc))
            self.health.cycle_failed(kind="error", message=str(exc))
        finally:
            self._idle.set()
        if not self.stopping.is_set():
            self._maybe_reschedule()

    # ------------------------------------------------------------------ the fast path

    def _queue_hints(self, keys: list[str]) -> bool:
        assert self.hints is not None
        kept = self.hints.add(keys)
        self.metrics.webhook_waiting.set(self.hints.waiting())
        return kept

    def _count_webhook(self, result: Result) -> None:
        self.metrics.webhook_requests.labels(result=result).inc()

    def _hinted(self, keys: tuple[str, ...]) -> None:
        """A batch of hinted keys: a cycle that reads exactly those tickets."""
        self.metrics.webhook_waiting.set(self.hints.waiting() if self.hints else 0)
        if self.stopping.is_set():
            return
        self._hint_idle.clear()
        try:
            if not self.leadership.leads():
                log.info("webhook.standby", issues=len(keys),
                         detail="not the leader: its own events reach the leader")
                return
            if ReadState.load(self.runner.store).watermark is None:
                # A store with no successful cycle: the scheduled cycle reads everything
                # (and reads the bot's state before each write: search may lag).
                log.info("webhook.deferred", issues=len(keys),
                         detail="no successful cycle yet: the scheduled cycle runs now")
                self._run_now()
                return
            report = self.runner.run(dry_run=self.dry_run, stopping=self.stopping,
                                     hint=keys)
            self._count(report)
        except LeaseHeldError:  # lost between the look and the cycle: a standby now
            self.leadership.lost()
        except Exception as exc:  # run_cycle never raises; this is the last line of defence
            log.exception("service.job_failed", error=str(exc))
        finally:
            self._hint_idle.set()

    def _count(self, report: CycleReport) -> None:
        t = self._tally
        t.cycles += 1
        t.failed += report.status == "failed"
        t.actions_applied += report.actions_applied
        t.actions_failed += report.actions_failed
        t.requests += report.requests
        t.retries += report.retries
        t.last_run_id, t.last_status = report.run_id, report.status
        self._statuses[report.status] += 1

    def _maybe_reschedule(self) -> None:
        policies = self.runner.source.policies
        if policies is not None:
            self._apply(policies)

    def _apply(self, policies: Policies) -> None:
        """Put a loaded file's schedule in force: the first valid file starts the cycles
        (at once); a changed schedule rebuilds the job's trigger."""
        with self._apply_lock:
            scheduler = self._scheduler
            if scheduler is None or self.stopping.is_set() or policies.schedule == self._schedule:
                return
            first = self._schedule is None
            self._schedule = policies.schedule
            trigger = trigger_for(policies.schedule)
            if first:
                scheduler.add_job(
                    self._job,
                    trigger=trigger,
                    id=JOB_ID,
                    name="handoff-guard cycle",
                    max_instances=1,
                    coalesce=True,
                    misfire_grace_time=policies.schedule.misfire_grace_s,
                    next_run_time=datetime.now(ZoneInfo(policies.schedule.timezone)),
                )
            else:
                scheduler.reschedule_job(JOB_ID, trigger=trigger)
                scheduler.modify_job(JOB_ID, misfire_grace_time=policies.schedule.misfire_grace_s)
            interval_s = interval_of(policies.schedule)
            self.health.set_interval(interval_s)
            self.metrics.cycle_interval.set(interval_s)
            log.info("service.scheduled" if first else "service.rescheduled",
                     interval_s=policies.schedule.interval_s,
                     cron=policies.schedule.cron, timezone=policies.schedule.timezone)

    def reload(self, trigger: str = "SIGHUP") -> None:
        """Re-read the policy file now (the reload thread calls this on a file change, on
        SIGHUP and when polling); a valid file's schedule is applied at once."""
        source = self.runner.source
        before = source.sha256, source.problems
        policies: Policies | None
        try:
            policies = source.current()
        except (PolicyError, ConfigUnavailableError):  # logged by the source; still waiting
            policies = None
        self.metrics.config_valid.set(0 if source.problems else 1)
        if trigger == "SIGHUP" or (source.sha256, source.problems) != before:
            # one line per re-read that an operator asked for or that changed something
            log.info("config.checked", trigger=trigger, valid=not source.problems,
                     sha256=source.sha256[:12] if source.sha256 else None,
                     running="nothing yet" if source.policies is None else "last good config"
                     if source.problems else "this file")
        if policies is not None:
            self._apply(policies)

    # ------------------------------------------------------------------ lifecycle

    def install_signal_handlers(self) -> None:
        """SIGTERM/SIGINT -> graceful stop; a second one -> exit now; SIGHUP -> re-read the
        policy file (main thread only)."""
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGHUP, self._on_hup)

    def _on_hup(self, _signum: int, _frame: FrameType | None) -> None:
        self.reloader.request("SIGHUP")  # a queue put: safe here, the work is on its thread

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
        """Start the scheduler, the reload threads and the health server; block until
        stopped. Returns an exit code.

        The first cycle runs at once, so a broken connection shows immediately. A policy
        file that does not load leaves the service up and not ready until it does.
        """
        scheduler = BackgroundScheduler(timezone=UTC)  # each trigger carries its own zone
        self._scheduler = scheduler
        scheduler.start()
        self.reloader.start()
        try:
            policies: Policies | None = self.runner.source.current()
        except (PolicyError, ConfigUnavailableError):  # logged as config.invalid by the source
            policies = None
        self.metrics.config_valid.set(0 if self.runner.source.problems else 1)
        self._seed_last_success()
        if self.hints is not None:  # before /livez can be asked about it
            self.hints.start()
        if self._server is not None:  # started while waiting for the store
            self._server.live = self.threads
            self._server.webhook = self.webhook
            self._server.pages.update(dict.fromkeys(STATUS_PATHS, self.status_page()))
        elif self.http_port is not None:
            self._server = HealthServer(self.health, self.metrics, port=self.http_port,
                                        host=self.http_host, live=self.threads,
                                        webhook=self.webhook,
                                        pages=dict.fromkeys(STATUS_PATHS,
                                                            self.status_page())).start()
        if self.lease is not None:
            self.runner.lease_kept = True
            self.leadership.keep()
        if policies is not None:
            self._apply(policies)
        else:
            log.error("service.waiting_for_config", path=str(self.runner.source.path),
                      problems=list(self.runner.source.problems),
                      watching="the file and its templates (SIGHUP re-reads at once)")
        log.info(
            "service.started",
            dry_run=self.dry_run,
            interval_s=policies.schedule.interval_s if policies else None,
            cron=policies.schedule.cron if policies else None,
            timezone=policies.schedule.timezone if policies else None,
            health_port=self._server.port if self._server else None,
            health_host=self._server.host if self._server else None,
            webhooks=self.webhook is not None,
        )
        # A signal sent to the process may be taken by any thread; Python runs its handler on
        # the main thread only when that thread wakes, so the main thread never sleeps unbounded.
        while not self._done.wait(timeout=_WAKE_S):
            pass
        return self._shutdown()

    def _seed_last_success(self) -> None:
        """The last successful cycle the store recorded (this replica's or another's, before
        a restart), so that an alert on its age does not fire because a process is new."""
        found = last_successful_cycle(self.runner.store.cycles(limit=SEED_CYCLES))
        if found is not None and found.finished_at is not None:
            self.metrics.last_success.set(found.finished_at.timestamp())

    def status_page(self) -> StatusPage:
        """The live status page this service serves beside its probes."""
        settings = self.runner.settings
        token = settings.status_token
        if token is None and self.http_host not in _LOOPBACK:
            log.warning("status.unprotected", host=self.http_host,
                        hint="set HANDOFF_GUARD_STATUS_TOKEN: the status page names tickets "
                             "and people")
        return StatusPage(self.runner.store, self.health.status, context=self._page_context,
                          jira_url=settings.jira_url,
                          token=None if token is None else token.reveal())

    def _page_context(self) -> tuple[datetime | None, ZoneInfo, dict[str, str]]:
        """The next cycle, the policy file's time zone and the policies' plain names."""
        job = self.job()
        policies = self.runner.source.policies
        if policies is None:
            return (None, ZoneInfo("UTC"), {})
        return (getattr(job, "next_run_time", None), policies.tz,
                {p.id: p.description for p in policies.policies if p.description})

    def threads(self) -> dict[str, bool]:
        """The threads ``/livez`` requires alive: the scheduler's, the reload thread and,
        when this service keeps a leader lease, its renewer (dead, the lease would lapse);
        and ``store_schema`` (false) once the store lost its tables and could not remake them."""
        thread = getattr(self._scheduler, "_thread", None)  # APScheduler keeps it private
        running = bool(self._scheduler is not None and self._scheduler.running)
        found = {
            "scheduler": running and isinstance(thread, threading.Thread) and thread.is_alive(),
            "reload": self.reloader.alive(),
        }
        if self.leadership.keeper is not None:
            found["lease"] = self.leadership.keeper.alive()
        if self.leadership.schema_lost is not None:  # tables gone, and could not be remade
            found["store_schema"] = False
        if self.hints is not None:
            found["webhooks"] = self.hints.alive()
        return found

    def _shutdown(self) -> int:
        deadline = time.monotonic() + STOP_BOUND_S - _STOP_MARGIN_S
        with self._apply_lock:  # no reload adds or moves the job from here on
            if self._scheduler is not None:
                self._scheduler.shutdown(wait=False)
        self.reloader.stop()
        if self.hints is not None:
            self.hints.stop(timeout_s=0.0)  # no new batch; the one running is waited for below
        finished = (self._idle.wait(timeout=max(0.0, deadline - time.monotonic()))
                    and self._hint_idle.wait(timeout=max(0.0, deadline - time.monotonic())))
        self.leadership.stop_keeper(timeout_s=max(0.1, deadline - time.monotonic()))
        # Even mid-write: a standby need not wait for it to expire (it then holds back the
        # tickets journaled as in flight for the request timeout).
        self.leadership.release(in_flight=not finished,
                                timeout_s=max(0.5, deadline - time.monotonic()))
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
            last_run_id=t.last_run_id,
            last_status=t.last_status,
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
