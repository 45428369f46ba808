"""Prometheus metrics for the service, in a registry of their own.

A dedicated :class:`~prometheus_client.CollectorRegistry` (not the process-global one) keeps
two services in one test process, or one service and its tests, from sharing counters.
Label values go through the one scrubber (:func:`worker.telemetry.logs.scrub`) like every
other output.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from worker.telemetry.logs import scrub

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Pacing(Protocol):
    """What the write pacer reports (:class:`worker.atlassian.pacing.PacerStats`)."""

    @property
    def waiting(self) -> int: ...

    @property
    def paced_s(self) -> float: ...


class _PacerCollector(Collector):
    """The write pacer's numbers, read at each scrape from the connection being followed
    (none yet: 0 writers waiting, 0 s)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._source: Callable[[], Pacing] | None = None

    def follow(self, source: Callable[[], Pacing]) -> None:
        with self._lock:
            self._source = source

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            source = self._source
        stats = None if source is None else source()
        yield GaugeMetricFamily(
            "handoff_guard_write_pacer_waiting",
            "Writers waiting for their turn at the write pacer now (Jira's Retry-After, or "
            "HANDOFF_GUARD_WRITE_RATE).",
            value=0 if stats is None else stats.waiting,
        )
        yield CounterMetricFamily(
            "handoff_guard_write_paced_seconds",
            "Seconds writers waited at the write pacer, in all.",
            value=0.0 if stats is None else stats.paced_s,
        )


class Metrics:
    """The service's counters and gauges (names prefixed ``handoff_guard_``)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.cycles = Counter(
            "handoff_guard_cycles", "Cycles run, by how they ended.", ["status"], registry=r
        )
        self.decisions = Counter(
            "handoff_guard_decisions",
            "Decisions, each counted once when new (a ticket's step, not every cycle).",
            ["policy", "verdict"],
            registry=r,
        )
        self.actions = Counter(
            "handoff_guard_actions",
            "Actions by policy, kind and outcome (writes every time; dry-run matches once).",
            ["policy", "action", "outcome"],
            registry=r,
        )
        self.matching = Gauge(
            "handoff_guard_matching_tickets",
            "Tickets whose conditions a policy matches, each as last read (waiting and "
            "handled included; one that left the search counts until the next full read).",
            ["policy"],
            registry=r,
        )
        self.deal_problems = Counter(
            "handoff_guard_deal_problems",
            "Deal pages the bot could not trust, per cycle: unreadable, conflicting, "
            "or a failed read of all deal pages (read_failed).",
            ["kind"],
            registry=r,
        )
        self.deal_statuses_unreadable = Gauge(
            "handoff_guard_deal_statuses_unreadable",
            "Deal pages per contract status value the bot cannot read (in neither "
            "deals.signed_values nor deals.unsigned_values, or contradicting itself), as of "
            "the last full read.",
            ["value"],
            registry=r,
        )
        self.issues_read = Counter(
            "handoff_guard_issues_read", "Issues read from Jira search.", registry=r
        )
        self.api_requests = Counter(
            "handoff_guard_api_requests", "HTTP requests sent to Atlassian.", registry=r
        )
        self.api_retries = Counter(
            "handoff_guard_api_retries", "HTTP requests retried (429, 5xx, timeouts).", registry=r
        )
        self.last_success = Gauge(
            "handoff_guard_last_success_timestamp_seconds",
            "Unix time the last successful cycle finished (at start: the store's last one).",
            registry=r,
        )
        self.config_valid = Gauge(
            "handoff_guard_config_valid",
            "1 when the policy file on disk loaded, 0 when the last good one is in use.",
            registry=r,
        )
        self.leader = Gauge(
            "handoff_guard_leader",
            "1 while this replica holds the leader lease (it alone runs cycles), else 0.",
            registry=r,
        )
        self.another_actor = Gauge(
            "handoff_guard_another_actor",
            "1 while another installation's recent writes are seen on the site (writes stop).",
            registry=r,
        )
        self.cycle_interval = Gauge(
            "handoff_guard_cycle_interval_seconds",
            "The longest expected gap between two cycles: the schedule's interval (cron: its "
            "longest gap over the next week); 0 until a policy file loaded.",
            registry=r,
        )
        self.lease_fencing = Gauge(
            "handoff_guard_lease_fencing",
            "The leader lease's fencing number as this replica last saw it: one more at "
            "every change of holder (0: no lease seen).",
            registry=r,
        )
        self._pacer = _PacerCollector()
        r.register(self._pacer)
        self.state_unverified = Gauge(
            "handoff_guard_state_unverified",
            "Tickets the last enforcing cycle skipped because the bot's state on them was not "
            "written by this installation or one sharing its signing key.",
            registry=r,
        )
        self.webhook_requests = Counter(
            "handoff_guard_webhook_requests",
            "Requests to /webhooks/jira, by what the front door made of them (accepted, "
            "unsigned, bad_signature, stale, duplicate, too_large, rate_limited...).",
            ["result"],
            registry=r,
        )
        self.webhook_waiting = Gauge(
            "handoff_guard_webhook_waiting_tickets",
            "Tickets named by accepted webhook events that wait for their cycle.",
            registry=r,
        )
        self.cycle_duration = Histogram(
            "handoff_guard_cycle_duration_seconds",
            "Wall time of one cycle.",
            buckets=(0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300),
            registry=r,
        )

    def observe_cycle(
        self,
        *,
        status: str,
        duration_s: float,
        issues_read: int,
        requests: int,
        retries: int,
        decisions: Mapping[str, Mapping[str, int]],
        actions: Mapping[tuple[str, str, str], int],
        finished_unix_s: float | None,
        matching: Mapping[str, int] | None = None,
    ) -> None:
        """Add one cycle's numbers (``finished_unix_s`` only when it succeeded).

        ``decisions`` and ``actions`` are events (new this cycle, see ``worker.telemetry.events``);
        ``matching`` sets the gauge of tickets each policy matches now.
        """
        self.cycles.labels(status=scrub(status)).inc()
        self.cycle_duration.observe(duration_s)
        self.issues_read.inc(issues_read)
        self.api_requests.inc(requests)
        self.api_retries.inc(retries)
        for policy, verdicts in decisions.items():
            for verdict, count in verdicts.items():
                self.decisions.labels(policy=scrub(policy), verdict=scrub(verdict)).inc(count)
        for (policy, action, outcome), count in actions.items():
            self.actions.labels(
                policy=scrub(policy), action=scrub(action), outcome=scrub(outcome)
            ).inc(count)
        for policy, count in (matching or {}).items():
            self.matching.labels(policy=scrub(policy)).set(count)
        if finished_unix_s is not None:
            self.last_success.set(finished_unix_s)

    def follow_pacing(self, source: Callable[[], Pacing]) -> None:
        """Export the write pacer's numbers from ``source`` (the connection's, once made)."""
        self._pacer.follow(source)

    def render(self) -> bytes:
        """The registry in Prometheus' text exposition format."""
        return generate_latest(self.registry)
