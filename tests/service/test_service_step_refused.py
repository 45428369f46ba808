"""A step is all or nothing (issue 19 item 5), over HTTP on both flavors: when Jira refuses the
reassignment (Sales lacks the "Assignable User" permission), nothing of the step that claims
the handoff goes out (no ``sales-owned`` label, no note to the new owner); the outcome is
``failed`` with Jira's reason, ``actions_failed`` counts it, the cycle's exit code is 3, an
error is logged with the ticket and the reason, ``handoff_guard_actions_total`` counts it,
``history`` lists it; the next cycle the same day does not retry, the next business day does,
and the first comment's promise is not repeated."""

from __future__ import annotations

import copy
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import generate_latest
from structlog.testing import capture_logs

from tests.service.service_support import DEMO_SITE
from worker.__main__ import main
from worker.cycle.runner import CycleRunner
from worker.cycle.source import PolicySource
from worker.exits import EXIT_FAILED_ACTIONS
from worker.model.plan import ReassignAction
from worker.sandbox import Sandbox
from worker.settings.env import Settings
from worker.state.store import Store
from worker.telemetry import logs
from worker.telemetry.health import Health
from worker.telemetry.metrics import Metrics

SALES = ["sam", "dana", "rita"]


@pytest.fixture(params=["cloud", "datacenter"])
def site(request: pytest.FixtureRequest) -> Iterator[Sandbox]:
    """The demo site in one flavor, where Sales may not be assigned issues in any project."""
    data = yaml.safe_load(DEMO_SITE.read_text(encoding="utf-8"))
    data = copy.deepcopy(data)
    data["site"]["flavor"] = request.param
    for project in data["projects"]:
        project["not_assignable"] = SALES
    with Sandbox.start(data) as sandbox:
        yield sandbox


def env_for(sb: Sandbox, config_dir: Path, tmp_path: Path) -> dict[str, str]:
    """The environment a person would set for this site."""
    common = {"HANDOFF_GUARD_CONFIG": str(config_dir / "policies.yaml"),
              "HANDOFF_GUARD_STATE": str(tmp_path / "state.db"),
              "HANDOFF_GUARD_LOG_FORMAT": "json"}
    if sb.flavor == "cloud":
        return {**common, "JIRA_URL": sb.url, "JIRA_USERNAME": sb.bot_email,
                "JIRA_API_TOKEN": sb.bot_token, "JIRA_FLAVOR": "cloud"}
    return {**common, "JIRA_URL": sb.url, "JIRA_PERSONAL_TOKEN": sb.bot_token,
            "CONFLUENCE_URL": sb.wiki_url, "JIRA_FLAVOR": "datacenter"}


def issue(sb: Sandbox, key: str) -> dict[str, Any]:
    """The issue as the site holds it now."""
    return next(i for i in sb.site()["issues"] if i["key"] == key)


def bot_comments(sb: Sandbox, key: str) -> list[str]:
    """The bodies of the bot's comments on one issue."""
    return [c["body"] for c in issue(sb, key).get("comments", [])
            if c["author"] in (sb.bot_account_id, sb.bot_name)]


def test_a_refused_reassignment_sends_nothing_of_its_step(
    site: Sandbox, config_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """No label, no note, exit 3, an error log, a metric and a history row; retried once the
    next business day, never twice a day, and the first comment is not repeated."""
    env = env_for(site, config_dir, tmp_path)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = Settings.from_env(env)
    try:
        assert main(["run", "--once"]) == 0  # day 1: the comments, promising a reassignment
        capsys.readouterr()
        site.advance("4d")  # past "2 business days"
        store = Store.open(settings.state)
        metrics = Metrics()
        health = Health(interval_s=60)
        runner = CycleRunner(settings, store, health=health, metrics=metrics,
                             source=PolicySource(settings.config_path, health=health))
        with capture_logs() as events:
            report = runner.run()
        refused = [o for o in report.results if o.status == "failed"]
        assert refused, report.summary()
        planned = {w.issue: w for w in report.plan.writes}
        for outcome in refused:
            write = planned[outcome.issue]
            reassign = next(a for a in write.actions if isinstance(a, ReassignAction))
            assert reassign.to.id in ({"712020:" + s for s in SALES} | set(SALES))
            assert "cannot be assigned issues" in outcome.detail
            assert "nothing of the step was sent" in outcome.detail
            held = issue(site, outcome.issue)
            assert "sales-owned" not in held.get("labels", []), outcome.issue
            assert held["assignee"] in ("priya", "marco", "mei"), outcome.issue
            assert len(bot_comments(site, outcome.issue)) == 1  # the day-1 comment only
        assert report.actions_failed == sum(len(o.actions) for o in refused)  # reassign, label
        assert report.exit_code == EXIT_FAILED_ACTIONS
        errors = [e for e in events if e["event"] == "step.refused"]
        assert errors
        assert all(e["log_level"] == "error" for e in errors)
        assert {e["issue"] for e in errors} == {o.issue for o in refused}
        assert all("cannot be assigned issues" in e["reason"] for e in errors)
        text = generate_latest(metrics.registry).decode()
        failed = [line for line in text.splitlines()
                  if line.startswith("handoff_guard_actions_total{")
                  and 'outcome="failed"' in line and 'action="reassign"' in line]
        assert failed
        assert sum(float(line.rsplit(" ", 1)[1]) for line in failed) == len(refused)
        store.close()

        # The same day: nothing is tried again, and the plan says why and when.
        capsys.readouterr()
        assert main(["plan", "--verdict", "waiting"]) == 0
        out = capsys.readouterr().out
        words = " ".join(out.replace("│", " ").split())
        assert "was refused by Jira on 2026-11-06 10:00" in words
        assert "cannot be assigned issues.); tried again 2026-11-09 10:00" in words
        requests_before = len(site.requests())
        assert main(["run", "--once"]) == 0
        assert not [r for r in site.requests()[requests_before:]
                    if r["method"] == "PUT" and r["path"].endswith("/assignee")]

        # The history lists the failure with Jira's reason.
        capsys.readouterr()
        assert main(["history", "--outcome", "failed", "--format", "json"]) == 0
        rows = json.loads(capsys.readouterr().out)
        rows = rows["rows"] if isinstance(rows, dict) else rows
        assert {r["issue"] for r in rows} == {o.issue for o in refused}
        assert all("cannot be assigned issues" in json.dumps(r) for r in rows)

        # The next business day (Friday -> Monday): tried once more, refused again, exit 3;
        # no comment repeated.
        site.advance("3d")
        capsys.readouterr()
        assert main(["run", "--once"]) == EXIT_FAILED_ACTIONS
        summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert summary["actions_failed"] == sum(len(o.actions) for o in refused)
        for outcome in refused:
            assert len(bot_comments(site, outcome.issue)) == 1
            assert "sales-owned" not in issue(site, outcome.issue).get("labels", [])
    finally:
        logs.configure(log_format="json", level="WARNING", stream=io.StringIO())
