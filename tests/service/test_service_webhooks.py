"""The webhook fast path over real HTTP: the sandbox sends Jira's signed events to the
service's /webhooks/jira, and a cycle reads exactly the named tickets with the usual reads."""

from __future__ import annotations

import copy
import hashlib
import hmac
import io
import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa
import yaml

from tests.humans import Human, with_logins
from tests.service.service_support import DEMO_SITE, sandbox_settings, until
from worker.cycle.runner import CycleRunner
from worker.cycle.source import PolicySource
from worker.sandbox import Sandbox
from worker.service.shell import Service
from worker.settings.env import Settings
from worker.settings.secret import Secret
from worker.state.lease import Lease
from worker.state.records import CycleRecord
from worker.state.store import Store
from worker.state.tables import lease
from worker.telemetry import logs
from worker.telemetry.health import Health
from worker.telemetry.metrics import Metrics

SECRET = "webhook-secret-7c1d2e9f40a1"
#: a Sales deliverable a PM gets before signature (Acme is in negotiation)
DELIVERABLE = {"issue_type": "Statement of Work", "labels": ("sow",)}


@pytest.fixture(params=["cloud", "datacenter"])
def site_sandbox(request: pytest.FixtureRequest) -> Iterator[Sandbox]:
    """The demo site, humans able to log in, as Jira Cloud or Data Center."""
    data: dict[str, Any] = dict(with_logins(copy.deepcopy(
        yaml.safe_load(DEMO_SITE.read_text(encoding="utf-8")))))
    data["site"]["flavor"] = request.param
    with Sandbox.start(data) as sandbox:
        yield sandbox


def _settings(sandbox: Sandbox, config_dir: Path, tmp_path: Path, **extra: Any) -> Settings:
    return sandbox_settings(sandbox, config_path=config_dir / "policies.yaml",
                            state=str(tmp_path / "var" / "state.db"),
                            confluence_url=sandbox.wiki_url, http_port=0,
                            webhook_secret=Secret(SECRET), webhook_coalesce_ms=200, **extra)


@dataclass
class Running:
    service: Service
    runner: CycleRunner
    metrics: Metrics
    url: str

    def results(self) -> dict[str, float]:
        """handoff_guard_webhook_requests_total by result."""
        found: dict[str, float] = {}
        for family in self.metrics.registry.collect():
            if family.name == "handoff_guard_webhook_requests":
                for sample in family.samples:
                    if sample.name.endswith("_total"):
                        found[sample.labels["result"]] = sample.value
        return found

    def cycles(self) -> int:
        return sum(1 for c in self.runner.store.cycles(limit=100) if c.status != "running")


@contextmanager
def _serving(settings: Settings, *, lease_holder: Lease | None = None,
             first_cycle: bool = True) -> Iterator[Running]:
    """The service in a thread, its first (scheduled) cycle done (unless told not to wait)."""
    health, metrics = Health(interval_s=900), Metrics()
    store = Store.open(settings.state)
    runner = CycleRunner(settings, store, health=health, metrics=metrics, lease=lease_holder,
                         source=PolicySource(settings.config_path, health=health))
    service = Service(runner, http_port=0, health=health, metrics=metrics, watch=False)
    thread = threading.Thread(target=service.run, daemon=True)
    thread.start()
    try:
        port = until(lambda: service.health_port)
        running = Running(service, runner, metrics, f"http://127.0.0.1:{port}/webhooks/jira")
        if first_cycle:
            until(lambda: running.cycles() >= 1)
        yield running
    finally:
        service.stop()
        thread.join(timeout=15)


def _bot_comments(sandbox: Sandbox, key: str) -> list[dict[str, Any]]:
    """The bot's comments on ``key``, read through the REST API."""
    http = requests.Session()
    if sandbox.flavor == "cloud":
        http.auth = (sandbox.bot_email, sandbox.bot_token)
    else:
        http.headers["Authorization"] = f"Bearer {sandbox.bot_token}"
    answer = http.get(f"{sandbox.url}/rest/api/2/issue/{key}/comment", timeout=10)
    answer.raise_for_status()
    who = "accountId" if sandbox.flavor == "cloud" else "name"
    bot = sandbox.bot_account_id if sandbox.flavor == "cloud" else sandbox.bot_name
    return [c for c in answer.json()["comments"] if c["author"].get(who) == bot]


def _signed_post(url: str, payload: dict[str, Any], *, secret: str = SECRET,
                 **headers: str) -> requests.Response:
    body = json.dumps(payload).encode()
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return requests.post(url, data=body, timeout=10, headers={
        "Content-Type": "application/json; charset=UTF-8", "X-Hub-Signature": signature,
        **headers})


def _event(key: str, *, event: str = "jira:issue_updated") -> dict[str, Any]:
    return {"timestamp": int(time.time() * 1000), "webhookEvent": event,
            "issue": {"key": key, "fields": {"summary": "whatever the body says"}}}


def test_signed_event_runs_a_cycle_for_its_keys(site_sandbox: Sandbox, config_dir: Path,
                                                tmp_path: Path) -> None:
    """A PM given a Sales deliverable: the sandbox's signed event reaches the service, which
    reads that ticket alone (bulkfetch on Cloud, a key search on DC) and comments once."""
    sandbox = site_sandbox
    with _serving(_settings(sandbox, config_dir, tmp_path)) as running:
        sandbox.register_webhook(running.url, secret=SECRET)
        sandbox.clear_requests()
        sam, priya = Human.named(sandbox, "sam"), Human.named(sandbox, "priya")
        key = sam.create("ACME", "Final SOW for phase 3", assignee=priya.ident,
                         **DELIVERABLE)  # type: ignore[arg-type]
        comments = until(lambda: _bot_comments(sandbox, key), timeout_s=20)
        assert len(comments) == 1
        assert sandbox.wait_webhooks(10)
        assert {d["status"] for d in sandbox.webhook_deliveries()} <= {202, 200}

        def hinted_cycles() -> list[CycleRecord]:
            return [c for c in running.runner.store.cycles(limit=20)
                    if c.read_full is False and c.read_keys and key in c.read_keys
                    and c.actions_applied]

        # The comment is visible before the cycle that wrote it is recorded (its report and
        # record come after its writes): wait for the record, then count.
        assert len(until(hinted_cycles, timeout_s=20)) == 1
        paths = [r["path"] for r in sandbox.requests()]
        if sandbox.flavor == "cloud":
            assert any(p.endswith("/issue/bulkfetch") for p in paths)
            assert not any(p.endswith("/search/jql") for p in paths), "a search was not needed"
        assert running.results().get("accepted", 0) >= 1
        # what the bot wrote sends events too: they are read again and change nothing
        time.sleep(1)
        assert len(_bot_comments(sandbox, key)) == 1


def test_forged_unsigned_oversized_replayed_and_mistyped_are_refused(
        site_sandbox: Sandbox, config_dir: Path, tmp_path: Path) -> None:
    """None of these is accepted, and none starts a cycle: 0 accepted, each counted."""
    sandbox = site_sandbox
    with _serving(_settings(sandbox, config_dir, tmp_path)) as running:
        url = running.url
        cycles = running.cycles()
        good = _event("ACME-3")
        body = json.dumps(good).encode()
        answers = {
            "unsigned": requests.post(url, data=body, timeout=10,
                                      headers={"Content-Type": "application/json"}),
            "forged": _signed_post(url, good, secret="another-secret-of-an-attacker"),
            "content_type": requests.post(url, data=body, timeout=10, headers={
                "Content-Type": "text/plain", "X-Hub-Signature": "sha256=" + hmac.new(
                    SECRET.encode(), body, hashlib.sha256).hexdigest()}),
            "huge": _signed_post(url, {**good, "pad": "x" * (2 << 20)}),
            "stale": _signed_post(url, {**good, "timestamp": int(time.time() * 1000) - 3_600_000}),
            "get": requests.get(url, timeout=10),
        }
        assert {k: a.status_code for k, a in answers.items()} == {
            "unsigned": 401, "forged": 401, "content_type": 415, "huge": 413, "stale": 401,
            "get": 405}
        assert running.results().get("accepted", 0) == 0
        first = _signed_post(url, good)
        assert first.status_code == 202
        again = [_signed_post(url, good, **{"X-Atlassian-Webhook-Identifier": f"id-{n}"})
                 for n in range(3)]
        assert [a.status_code for a in again] == [200, 200, 200]
        assert [a.json()["status"] for a in again] == ["duplicate"] * 3
        results = running.results()
        assert results["accepted"] == 1
        assert (results["unsigned"], results["bad_signature"], results["content_type"],
                results["too_large"], results["stale"], results["method"],
                results["duplicate"]) == (1, 1, 1, 1, 1, 1, 3)
        until(lambda: running.service.hints is not None and running.service.hints.idle())
        assert running.cycles() == cycles + 1  # the one accepted event's cycle, no other


def test_flood_is_coalesced_and_bounded(site_sandbox: Sandbox, config_dir: Path,
                                        tmp_path: Path) -> None:
    """400 signed events for 40 tickets from 8 senders at once: the rate bound answers 429
    past its burst, and the accepted ones run in a few cycles (one per coalescing window at
    most, one at a time), never one per event."""
    sandbox = site_sandbox
    settings = _settings(sandbox, config_dir, tmp_path, webhook_rate=20)  # burst of 100
    with _serving(settings) as running:
        cycles = running.cycles()
        keys = [f"ACME-{n}" for n in range(1, 41)]
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(pool.map(
                lambda n: _signed_post(running.url, {**_event(keys[n % 40]), "n": n}).status_code,
                range(400)))
        until(lambda: running.service.hints is not None and running.service.hints.idle())
        elapsed_s = time.monotonic() - started
        accepted = statuses.count(202)
        assert set(statuses) <= {202, 429}
        assert accepted >= 100
        assert statuses.count(429) > 0
        ran = running.cycles() - cycles
        assert 1 <= ran <= elapsed_s / 0.2 + 2
        assert ran * 5 <= accepted


def test_out_of_scope_and_unknown_tickets_change_nothing(site_sandbox: Sandbox,
                                                         config_dir: Path,
                                                         tmp_path: Path) -> None:
    """An event for a ticket outside every scope (a consultant's) or one that does not
    exist: read, planned as nothing, nothing written, whatever the body claims."""
    sandbox = site_sandbox
    with _serving(_settings(sandbox, config_dir, tmp_path)) as running:
        site_before = sandbox.site()["issues"]
        cycles = running.cycles()
        for key in ("ACME-5", "ACME-999"):
            payload = _event(key)
            payload["issue"]["fields"] = {"assignee": {"accountId": "712020:priya"},
                                          "issuetype": {"name": "Statement of Work"}}
            assert _signed_post(running.url, payload).status_code == 202
        until(lambda: running.cycles() >= cycles + 1)
        until(lambda: running.service.hints is not None and running.service.hints.idle())
        newest = running.runner.store.cycles(limit=1)[0]
        assert (newest.status, newest.actions_applied) == ("ok", 0)
        assert sandbox.site()["issues"] == site_before


def _expire(store: Store) -> None:
    with store.engine.begin() as conn:
        conn.execute(sa.update(lease).values(expires_at=sa.literal("2000-01-01T00:00:00+00:00")))


def test_event_during_a_lease_handover_writes_nothing(site_sandbox: Sandbox, config_dir: Path,
                                                      tmp_path: Path) -> None:
    """The lease passes to another replica while an event is on its way: the old leader's
    hinted cycle is fenced off (nothing written); the new holder's cycle writes it once."""
    sandbox = site_sandbox
    settings = _settings(sandbox, config_dir, tmp_path)
    store = Store.open(settings.state)
    mine = Lease(store, period_s=60, holder="replica-a")
    with _serving(settings, lease_holder=mine) as running:
        sandbox.register_webhook(running.url, secret=SECRET)
        other = Lease(store, period_s=60, holder="replica-b")
        _expire(store)
        assert other.acquire()
        sam, priya = Human.named(sandbox, "sam"), Human.named(sandbox, "priya")
        key = sam.create("ACME", "SOW addendum", assignee=priya.ident,
                         **DELIVERABLE)  # type: ignore[arg-type]
        until(lambda: any(c.read_keys and key in c.read_keys
                          for c in running.runner.store.cycles(limit=5)), timeout_s=20)
        until(lambda: running.service.hints is not None and running.service.hints.idle())
        assert _bot_comments(sandbox, key) == []
        # replica-b hands the lease back; the next scheduled cycle catches up, once
        other.release()
        running.service._run_now()
        until(lambda: _bot_comments(sandbox, key), timeout_s=20)
        assert len(_bot_comments(sandbox, key)) == 1


def test_secret_never_logged(site_sandbox: Sandbox, config_dir: Path, tmp_path: Path) -> None:
    """Not in any log line: not when a request carries it as its signature, nor in a body."""
    sandbox = site_sandbox
    out = io.StringIO()
    logs.configure(log_format="json", stream=out)
    try:
        with _serving(_settings(sandbox, config_dir, tmp_path)) as running:
            sandbox.register_webhook(running.url, secret=SECRET)
            requests.post(running.url, data=json.dumps(_event("ACME-1", event=SECRET)),
                          timeout=10, headers={"Content-Type": "application/json",
                                               "X-Hub-Signature": SECRET,
                                               "X-Atlassian-Webhook-Identifier": SECRET})
            _signed_post(running.url, {**_event("ACME-2"), "webhookEvent": SECRET})
            Human.named(sandbox, "sam").comment("ACME-1", "Any update?")
            assert sandbox.wait_webhooks(10)
            until(lambda: running.service.hints is not None and running.service.hints.idle())
    finally:
        logs.configure(log_format="json")
    text = out.getvalue()
    assert "webhook.refused" in text
    assert "webhook.accepted" in text
    assert SECRET not in text


def test_a_standby_sends_the_event_back(site_sandbox: Sandbox, config_dir: Path,
                                        tmp_path: Path) -> None:
    """A replica that does not hold the lease answers 503 with Retry-After (Jira sends the
    event again, maybe to the leader), before reading the body: nothing accepted, no cycle."""
    sandbox = site_sandbox
    settings = _settings(sandbox, config_dir, tmp_path)
    store = Store.open(settings.state)
    other = Lease(store, period_s=60, holder="replica-b")
    assert other.acquire()
    mine = Lease(store, period_s=60, holder="replica-a")
    with _serving(settings, lease_holder=mine, first_cycle=False) as running:
        until(lambda: running.service.health.status().detail.get("state") == "standby")
        answer = _signed_post(running.url, _event("ACME-1"))
        assert answer.status_code == 503
        assert answer.headers["Retry-After"] == "5"
        assert running.results() == {"standby": 1.0}
        assert running.cycles() == 0
