"""The alert rules against what the real service exports.

Each scenario runs ``python -m worker run`` against the sandbox and brings about one thing an
on-call person must hear of (Jira refuses the bot, writes fail, the policy file breaks, deal
pages cannot be read, another installation writes, the lease keeps changing hands, writes wait
on the rate limit), scraping /metrics as it goes. The scrapes become `promtool test rules`
input (tests/deploy/promscrape.py), and promtool checks that exactly the expected alerts fire
(and, in the healthy run, none). A metric renamed in the worker is then a missing series: its
alert stays silent and this test fails.

promtool comes from the OS package `prometheus`; .ci/run installs it, and CI fails rather
than skips without it (HANDOFF_GUARD_TEST_REQUIRE_PROMTOOL)."""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from tests.deploy.kit import ROOT, tool
from tests.deploy.promscrape import JOB, Event, Scrape, Stopped, input_series, metric_names
from tests.service.service_support import (
    DEMO_SITE,
    POLICIES,
    PYTHON,
    TEMPLATES,
    ServiceProcess,
    subprocess_env,
    until,
)
from worker.sandbox import Sandbox
from worker.state.store import Store

RULES = ROOT / "deploy" / "prometheus" / "handoff-guard.rules.yaml"

#: when each alert is looked at on promtool's clock (the scenario's events sit at minutes 1..n)
EVAL_AT = {
    "HandoffGuardNoSuccessfulCycle": "45m",  # two 15-minute intervals, then its `for`
    "HandoffGuardAnotherActor": "5m",
    "HandoffGuardConfigInvalid": "15m",
    "HandoffGuardActionsFailing": "10m",
    "HandoffGuardDealReadFailing": "10m",
    "HandoffGuardDealPagesUnreadable": "10m",
    "HandoffGuardLeaseFlapping": "10m",
    "HandoffGuardWritesPaced": "20m",
}

PLACEHOLDER_PAGE = (
    '<ac:structured-macro ac:name="details"><ac:rich-text-body><table><tbody>'
    "<tr><th>Account</th><td>Umbrella Health</td></tr><tr><th>Jira project</th><td>UMB</td></tr>"
    "<tr><th>Contract status</th><td><p><ac:placeholder>Draft, In negotiation, Signed"
    "</ac:placeholder></p></td></tr></tbody></table></ac:rich-text-body></ac:structured-macro>"
)


def promtool() -> str:
    found = tool("promtool")
    if found is None:
        if os.environ.get("HANDOFF_GUARD_TEST_REQUIRE_PROMTOOL"):
            pytest.fail("promtool is required here (apt-get install prometheus)")
        pytest.skip("promtool is absent (apt-get install prometheus; .ci/run installs it)")
    return found


def rules() -> list[dict[str, Any]]:
    """The alert rules of the rules file."""
    data = yaml.safe_load(RULES.read_text("utf-8"))
    return [rule for group in data["groups"] for rule in group["rules"] if "alert" in rule]


# --------------------------------------------------------------------------- the runs


@dataclass
class Run:
    """One scenario's world: a sandbox, a policy folder, a store folder."""

    sandbox: Sandbox
    tmp_path: Path
    events: list[Event]
    #: a PostgreSQL schema of its own (the replicas' store), for the scenarios that need one
    postgres_url: str | None = None

    def env(self, state: str = "state.db", **extra: str) -> dict[str, str]:
        settings = {"HANDOFF_GUARD_HTTP_PORT": "0",
                    "HANDOFF_GUARD_STATE": str(self.tmp_path / state), **extra}
        return subprocess_env(self.sandbox, self.tmp_path / "config", self.tmp_path,
                              **settings)

    def scrape(self, service: ServiceProcess, name: str) -> Scrape:
        text = requests.get(f"http://127.0.0.1:{service.port}/metrics", timeout=10).text
        scraped = Scrape(name, time.time(), text)
        self.events.append(scraped)
        return scraped

    def stopped(self, service: ServiceProcess, name: str) -> None:
        service.stop()
        self.events.append(Stopped(name))


def _metrics(service: ServiceProcess, instance: str = "-") -> Scrape:
    """A scrape, not kept yet (for waiting on a value)."""
    text = requests.get(f"http://127.0.0.1:{service.port}/metrics", timeout=10).text
    return Scrape(instance, time.time(), text)


def _first_cycle(service: ServiceProcess) -> dict[str, Any]:
    """The first cycle's summary (``cycle.finished``, whichever way it ended)."""
    return service.wait_for("cycle.finished", timeout_s=90)


def healthy(run: Run) -> None:
    """The demo site, every policy as shipped: the first cycle comments and succeeds."""
    with ServiceProcess(run.env()) as service:
        assert _first_cycle(service)["status"] == "ok"
        run.scrape(service, "a")


def jira_refuses_the_bot(run: Run) -> None:
    """A revoked API token: every cycle fails, none succeeds."""
    with ServiceProcess(run.env(JIRA_API_TOKEN="revoked-token")) as service:
        assert _first_cycle(service)["status"] == "failed"
        run.scrape(service, "a")


def writes_fail(run: Run) -> None:
    """Jira answers 500 to every edit: the cycle ends, its actions failed."""
    run.sandbox.add_faults([{"method": "PUT", "path": "/issue/", "status": 500}])
    with ServiceProcess(run.env()) as service:
        _first_cycle(service)
        run.scrape(service, "a")


def policy_file_breaks(run: Run) -> None:
    """After a good first cycle an admin saves an invalid policy file (and leaves it)."""
    with ServiceProcess(run.env()) as service:
        _first_cycle(service)
        run.scrape(service, "a")
        path = run.tmp_path / "config" / "policies.yaml"
        path.write_text(path.read_text("utf-8") + "\nno_such_key: 1\n", "utf-8")
        service.wait_for("config.invalid", timeout_s=60)
        until(lambda: run.scrape(service, "a").value("handoff_guard_config_valid") == 0,
              timeout_s=30, every_s=0.5)


def deal_read_fails(run: Run) -> None:
    """Confluence answers the deal-page search with an empty 200: a failed read."""
    run.sandbox.add_faults([{"method": "GET", "path": "/wiki/rest/api/content/search",
                             "status": 200, "body": ""}])
    with ServiceProcess(run.env()) as service:
        _first_cycle(service)
        run.scrape(service, "a")


def deal_page_unreadable(run: Run) -> None:
    """Sales leaves a deal page's status as the template's placeholder."""
    reply = requests.put(
        f"{run.sandbox.url}/wiki/rest/api/content/100004",
        auth=(run.sandbox.bot_email, run.sandbox.bot_token), timeout=10,
        json={"type": "page", "title": "Deal: Umbrella Health", "version": {"number": 2},
              "body": {"storage": {"value": PLACEHOLDER_PAGE, "representation": "storage"}}})
    assert reply.status_code == 200
    with ServiceProcess(run.env()) as service:
        _first_cycle(service)
        run.scrape(service, "a")


def another_installation_writes(run: Run) -> None:
    """Installation B (its own name and store) exists; another installation (A) then acts
    on the site; B's service finds A's writes on its tickets and stops writing."""
    Store.open(run.tmp_path / "b.db").close()  # B was installed first
    _run_once(run, run.env("a.db", HANDOFF_GUARD_INSTALLATION="a"))
    with ServiceProcess(run.env("b.db", HANDOFF_GUARD_INSTALLATION="b")) as service:
        _first_cycle(service)
        run.scrape(service, "b")


def lease_changes_hands(run: Run) -> None:
    """Four replicas on one PostgreSQL store, as the Kubernetes kit runs them; each leader is
    stopped once a standby watches the lease: it passes A -> B -> C -> D."""
    assert run.postgres_url is not None
    env = run.env(HANDOFF_GUARD_LEASE_S="2", HANDOFF_GUARD_STATE=run.postgres_url)
    names = ["a", "b", "c", "d"]
    services = {names[0]: ServiceProcess(env)}
    try:
        _first_cycle(services["a"])
        run.scrape(services["a"], "a")
        for before, after in itertools.pairwise(names):
            services[after] = standby = ServiceProcess(env)
            held = run.events[-1]
            assert isinstance(held, Scrape)
            fencing = held.value("handoff_guard_lease_fencing")
            # up, and looking at the lease the leader holds
            until(lambda s=standby, f=fencing:
                  _metrics(s).value("handoff_guard_lease_fencing") == f,
                  timeout_s=60, every_s=0.2)
            run.stopped(services[before], before)
            standby.wait_for("lease.acquired", timeout_s=60)
            until(lambda s=standby: _metrics(s).value("handoff_guard_leader") == 1,
                  timeout_s=30, every_s=0.2)
            run.scrape(standby, after)
    finally:
        for service in services.values():
            service.stop()


def writes_wait_on_the_rate_limit(run: Run) -> None:
    """A first cycle comments (``run --once``); three days later the reassignments are due,
    and Jira answers every edit with 429 and Retry-After: 30, so the service's writers wait on
    the pacer. (The service starts with the store's last success, a few seconds old.)"""
    _run_once(run, run.env())
    run.sandbox.advance("4d")
    run.sandbox.add_faults([{"method": "PUT", "path": "/issue/", "status": 429,
                             "retry_after": "30"}])
    with ServiceProcess(run.env()) as service:
        def waiting() -> Scrape | None:
            scraped = _metrics(service, "a")
            paced = scraped.value("handoff_guard_write_pacer_waiting") or 0
            return scraped if paced > 0 else None
        scraped = until(waiting, timeout_s=60, every_s=0.2)
        # no cycle of this process finished yet: the last success is the store's
        assert service.find("cycle.finished") is None
        assert (scraped.value("handoff_guard_last_success_timestamp_seconds") or 0) > 0
        run.events.append(scraped)


def _run_once(run: Run, env: dict[str, str]) -> None:
    once = subprocess.run([PYTHON, "-m", "worker", "run", "--once"], cwd=ROOT, timeout=90,
                          env=env, capture_output=True, text=True, check=False)
    assert once.returncode == 0, once.stderr[-2000:]


@dataclass(frozen=True)
class Scenario:
    run: Callable[[Run], None]
    #: the alerts that must fire, each with the labels (besides job and severity) of every
    #: instance of it, read from the run's scrapes
    fires: dict[str, Callable[[list[Scrape]], list[dict[str, str]]]]


def _once(_scrapes: list[Scrape]) -> list[dict[str, str]]:
    return [{}]


def _failed_actions(scrapes: list[Scrape]) -> list[dict[str, str]]:
    found = []
    for (name, labels), value in scrapes[-1].samples.items():
        by = dict(labels)
        if name == "handoff_guard_actions_total" and by.get("outcome") == "failed" and value:
            found.append({"policy": by["policy"], "action": by["action"]})
    assert found, "the run failed no action"
    return found


SCENARIOS: dict[str, Scenario] = {
    "healthy": Scenario(healthy, {}),
    "jira_refuses_the_bot": Scenario(jira_refuses_the_bot,
                                     {"HandoffGuardNoSuccessfulCycle": _once}),
    "writes_fail": Scenario(writes_fail, {"HandoffGuardActionsFailing": _failed_actions}),
    "policy_file_breaks": Scenario(policy_file_breaks, {"HandoffGuardConfigInvalid": _once}),
    "deal_read_fails": Scenario(deal_read_fails, {"HandoffGuardDealReadFailing": _once}),
    "deal_page_unreadable": Scenario(
        deal_page_unreadable,
        {"HandoffGuardDealPagesUnreadable": lambda _: [{"kind": "unreadable"}]}),
    "another_installation_writes": Scenario(another_installation_writes,
                                            {"HandoffGuardAnotherActor": _once}),
    "lease_changes_hands": Scenario(lease_changes_hands, {"HandoffGuardLeaseFlapping": _once}),
    "writes_wait_on_the_rate_limit": Scenario(writes_wait_on_the_rate_limit,
                                              {"HandoffGuardWritesPaced": _once}),
}


def test_every_alert_fires_in_a_scenario_and_has_a_time() -> None:
    alerts = {rule["alert"] for rule in rules()}
    assert set(EVAL_AT) == alerts
    fired = [alert for case in SCENARIOS.values() for alert in case.fires]
    assert sorted(fired) == sorted(alerts)  # each alert in exactly one scenario


def test_promtool_checks_the_rules() -> None:
    done = subprocess.run([promtool(), "check", "rules", str(RULES)], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(rules())} rules found" in done.stdout


@pytest.fixture
def world(tmp_path: Path) -> Iterator[Run]:
    config = tmp_path / "config"
    config.mkdir()
    shutil.copy(POLICIES, config / "policies.yaml")
    shutil.copytree(TEMPLATES, config / "templates")
    with Sandbox.start(DEMO_SITE) as sandbox:
        yield Run(sandbox, tmp_path, [])


def promtool_test(events: list[Event], expected: dict[str, list[dict[str, str]]],
                  *, severities: dict[str, str], name: str) -> dict[str, Any]:
    """One promtool test: the events as series; for every alert, at its time, exactly the
    expected firing instances."""
    checks = []
    for alert, at in EVAL_AT.items():
        samples = [{"labels": _alert_labels(alert, severities[alert], extra), "value": 1}
                   for extra in expected.get(alert, [])]
        checks.append({"expr": f'ALERTS{{alertname="{alert}",alertstate="firing"}}',
                       "eval_time": at, "exp_samples": samples})
    return {"name": name, "interval": "1m", "input_series": input_series(events),
            "promql_expr_test": checks}


def _alert_labels(alert: str, severity: str, extra: dict[str, str]) -> str:
    labels = {"alertname": alert, "alertstate": "firing", "job": JOB, "severity": severity,
              **extra}
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return f"ALERTS{{{inner}}}"


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_the_expected_alerts_fire_on_what_the_service_exported(
    scenario: str, world: Run, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    binary = promtool()
    case = SCENARIOS[scenario]
    if scenario == "lease_changes_hands":
        world.postgres_url = request.getfixturevalue("postgres_url")
    case.run(world)
    scrapes = [e for e in world.events if isinstance(e, Scrape)]
    assert scrapes, "nothing scraped"
    expected = {alert: labels(scrapes) for alert, labels in case.fires.items()}
    severities = {rule["alert"]: rule["labels"]["severity"] for rule in rules()}
    test_file = tmp_path / "promtool-test.yaml"
    test_file.write_text(yaml.safe_dump({
        "rule_files": [str(RULES)],
        "evaluation_interval": "1m",
        "tests": [promtool_test(world.events, expected, severities=severities,
                                name=scenario)],
    }, sort_keys=False), "utf-8")
    done = subprocess.run([binary, "test", "rules", str(test_file)], capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, (
        f"{scenario}: expected {expected or 'no alert'}\n{done.stdout}{done.stderr}")
    # every metric a rule names is one this run's service exported
    missing = {m for m in _rule_metrics() if m not in metric_names(scrapes)}
    assert missing == set(), f"rules name metrics the service does not export: {missing}"


def _rule_metrics() -> set[str]:
    import re

    names: set[str] = set()
    for rule in rules():
        names |= set(re.findall(r"\bhandoff_guard_[a-z_]+\b", rule["expr"]))
    return names
