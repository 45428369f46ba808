"""/healthz and /metrics: the verdict as a table, and the endpoints over real HTTP."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import requests

from worker.service.probes import HealthServer
from worker.telemetry.health import Health
from worker.telemetry.metrics import Metrics


class _Clock:
    """A hand-set clock (seconds), so no test waits for time to pass."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def _never(h: Health, c: _Clock) -> None:
    c.t += 30


def _fresh_success(h: Health, c: _Clock) -> None:
    h.cycle_succeeded()
    c.t += 100


def _old_success(h: Health, c: _Clock) -> None:
    h.cycle_succeeded()
    c.t += 121


def _never_for_long(h: Health, c: _Clock) -> None:
    c.t += 500


def _unreachable(h: Health, c: _Clock) -> None:
    h.cycle_succeeded()
    h.cycle_failed(kind="unreachable", message="TransportFailedError: GET search")


def _auth(h: Health, c: _Clock) -> None:
    h.cycle_failed(kind="auth", message="401")


def _other(h: Health, c: _Clock) -> None:
    h.cycle_failed(kind="error", message="KeyError: x")


def _config(h: Health, c: _Clock) -> None:
    h.cycle_succeeded()
    h.config_invalid(["policies.yaml:3:1: schedule: bad"])


def _config_fixed(h: Health, c: _Clock) -> None:
    h.cycle_succeeded()
    h.config_invalid(["policies.yaml:3:1: schedule: bad"])
    h.config_valid()


def _recovered(h: Health, c: _Clock) -> None:
    h.cycle_failed(kind="unreachable", message="x")
    h.cycle_succeeded()


def _store_silent(h: Health, c: _Clock) -> None:
    h.cycle_succeeded()
    h.watch_store(leading=lambda: True, contact_age_s=lambda: 3.5, bound_s=3.0)


def _store_answers(h: Health, c: _Clock) -> None:
    h.cycle_succeeded()
    h.watch_store(leading=lambda: True, contact_age_s=lambda: 0.5, bound_s=3.0)


def _store_never(h: Health, c: _Clock) -> None:
    h.watch_store(leading=lambda: False, contact_age_s=lambda: None, bound_s=3.0)


def _standby_after_error(h: Health, c: _Clock) -> None:
    h.cycle_failed(kind="store", message="OperationalError: connection refused")
    h.set_leader(holder="other:1:aa", fencing=3, leader=False)


@pytest.mark.parametrize(
    ("events", "ok", "reason"),
    [
        (_never, True, None),
        (_fresh_success, True, None),
        (_old_success, False, "stale"),
        (_never_for_long, False, "starting"),
        (_unreachable, False, "jira_unreachable"),
        (_auth, False, "auth_failed"),
        (_other, False, "last_error"),
        (_config, False, "config_invalid"),
        (_config_fixed, True, None),
        (_recovered, True, None),
        (_store_silent, False, "store_unreachable"),
        (_store_answers, True, None),
        (_store_never, False, "store_unreachable"),
        (_standby_after_error, True, None),
    ],
)
def test_health_verdict(
    events: Callable[[Health, _Clock], None], ok: bool, reason: str | None
) -> None:
    """Healthy while the last cycle succeeded within two intervals; else why not."""
    clock = _Clock()
    health = Health(interval_s=60, clock=clock)
    events(health, clock)
    status = health.status()
    assert (status.ok, status.reason) == (ok, reason)


def test_leader_is_read_live_from_the_lease() -> None:
    """A replica whose lease deadline passed says ``leader: false`` whatever it last saw."""
    health = Health(interval_s=60, clock=_Clock())
    health.set_leader(holder="me:1:aa", fencing=2, leader=True)
    leading = [True]
    health.watch_store(leading=lambda: leading[0], contact_age_s=lambda: 0.1, bound_s=3.0)
    assert health.status().detail["leader"] is True
    leading[0] = False
    assert health.status().detail["leader"] is False


def test_endpoints_over_http() -> None:
    """/healthz answers 200 or 503 with JSON; /metrics is Prometheus text; others 404."""
    clock = _Clock()
    health = Health(interval_s=60, clock=clock)
    metrics = Metrics()
    metrics.observe_cycle(
        status="ok", duration_s=0.4, issues_read=23, requests=7, retries=1,
        decisions={"sales-deliverable": {"act": 9, "exempt": 1}},
        actions={("sales-deliverable", "comment", "applied"): 9},
        finished_unix_s=1_795_000_000.0,
    )
    server = HealthServer(health, metrics, port=0).start()
    base = f"http://127.0.0.1:{server.port}"
    try:
        health.cycle_succeeded()
        ok = requests.get(f"{base}/healthz", timeout=5)
        assert ok.status_code == 200
        assert ok.json()["status"] == "ok"

        health.cycle_failed(kind="auth", message="401 Unauthorized")
        bad = requests.get(f"{base}/healthz", timeout=5)
        assert bad.status_code == 503
        assert bad.headers["Content-Type"].startswith("application/json")
        assert bad.json()["reason"] == "auth_failed"
        assert bad.json()["error"] == "401 Unauthorized"

        text = requests.get(f"{base}/metrics", timeout=5)
        assert text.status_code == 200
        assert text.headers["Content-Type"].startswith("text/plain")
        body = text.text
        for line in (
            'handoff_guard_cycles_total{status="ok"} 1.0',
            'handoff_guard_decisions_total{policy="sales-deliverable",verdict="act"} 9.0',
            'handoff_guard_actions_total{action="comment",outcome="applied",'
            'policy="sales-deliverable"} 9.0',
            "handoff_guard_api_requests_total 7.0",
            "handoff_guard_api_retries_total 1.0",
            "handoff_guard_last_success_timestamp_seconds 1.795e+09",
        ):
            assert line in body
        assert requests.get(f"{base}/nope", timeout=5).status_code == 404
    finally:
        server.stop()


def test_metrics_registries_are_independent() -> None:
    """Two Metrics objects never share counters (no global registry)."""
    a, b = Metrics(), Metrics()
    a.cycles.labels(status="ok").inc()
    assert 'handoff_guard_cycles_total{status="ok"} 1.0' in a.render().decode()
    assert 'handoff_guard_cycles_total{status="ok"}' not in b.render().decode()
