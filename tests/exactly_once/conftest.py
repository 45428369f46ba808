"""Real cycles (``worker.cycle``: read, plan with the default policies, execute, record) over
HTTP against the sandbox, with a real store on disk: the exactly-once findings of issue 15
and the state checks of issue 9, each reproduced as users would meet them."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import EXAMPLE_SITE
from worker.atlassian import retry
from worker.cycle.report import CycleReport
from worker.cycle.runner import CycleRunner
from worker.sandbox import Sandbox
from worker.settings.env import Settings
from worker.settings.secret import Secret
from worker.state.lease import Lease
from worker.state.store import Store
from worker.telemetry import logs

ROOT = Path(__file__).resolve().parents[2]
POLICIES = ROOT / "config" / "policies.yaml"
#: the tickets the default policies comment on in the example site
ACTED = ("ACME-1", "ACME-2", "SALES-3")


@pytest.fixture(autouse=True)
def _no_sleep(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(retry, "sleep", lambda _s: None)
    yield
    logs.clear_secrets()


@pytest.fixture(params=["cloud", "datacenter"])
def flavor(request: pytest.FixtureRequest) -> str:
    """Both flavors."""
    return str(request.param)


def example_site(flavor: str) -> dict[str, Any]:
    """The example site in one flavor."""
    site: dict[str, Any] = yaml.safe_load(EXAMPLE_SITE.read_text(encoding="utf-8"))
    site = copy.deepcopy(site)
    site["site"]["flavor"] = flavor
    return site


@dataclass
class Bench:
    """One sandbox, the settings that point at it, and cycles run against a store path."""

    sandbox: Sandbox
    tmp: Path

    def settings(self, *, state: str | None = None, timeout_s: int = 30,
                 trusted: frozenset[str] = frozenset(),
                 installation: str | None = None) -> Settings:
        sb = self.sandbox
        cloud = sb.flavor == "cloud"
        return Settings(
            jira_url=sb.url,
            jira_username=sb.bot_email if cloud else None,
            jira_api_token=Secret(sb.bot_token) if cloud else None,
            jira_personal_token=None if cloud else Secret(sb.bot_token),
            jira_flavor="cloud" if cloud else "datacenter",
            confluence_url=sb.wiki_url,
            confluence_personal_token=None if cloud else Secret(sb.bot_token),
            config_path=POLICIES,
            state=state or str(self.tmp / "state.db"),
            timeout_s=timeout_s,
            trusted_installations=trusted,
            installation=installation,
        )

    def runner(self, *, state: str | None = None, timeout_s: int = 30,
               trusted: frozenset[str] = frozenset(), installation: str | None = None,
               lease_s: int | None = None) -> CycleRunner:
        """A runner on a store; with ``lease_s``, one long-lived process holding the store's
        leader lease (its holder stays the same across its cycles, like a service's)."""
        settings = self.settings(state=state, timeout_s=timeout_s, trusted=trusted,
                                 installation=installation)
        store = Store.open(settings.state)
        lease = None if lease_s is None else Lease(store, period_s=lease_s)
        return CycleRunner(settings, store, lease=lease)

    def cycle(self, runner: CycleRunner) -> CycleReport:
        report = runner.run()
        assert report.error is None, report.error
        return report

    def bot_comments(self, key: str) -> list[dict[str, Any]]:
        """The bot's comments on one issue (from the sandbox's own model)."""
        sb = self.sandbox
        issue = next(i for i in sb.site()["issues"] if i["key"] == key)
        return [c for c in issue.get("comments", [])
                if c["author"] in (sb.bot_account_id, sb.bot_name)]

    def comment_counts(self, keys: tuple[str, ...] = ACTED) -> dict[str, int]:
        """Bot comments per issue."""
        return {k: len(self.bot_comments(k)) for k in keys}

    def puts(self) -> list[str]:
        """Keys of the edit requests in the request log since the last clear."""
        return [r["path"].rsplit("/", 1)[-1] for r in self.sandbox.requests()
                if r["method"] == "PUT" and "/properties/" not in r["path"]]


@pytest.fixture
def bench(tmp_path: Path) -> Iterator[Any]:
    """Start a sandbox for a site dict: ``with bench(site) as b:``."""
    started: list[Sandbox] = []

    def start(site: dict[str, Any]) -> Bench:
        sb = Sandbox.start(site)
        started.append(sb)
        return Bench(sb, tmp_path)

    yield start
    for sb in started:
        sb.stop()
