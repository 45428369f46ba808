"""Fixtures for snapshots and plan differences: the demo site in both flavors, served; the
default policies; a reader that plans a served site the way ``plan`` does."""

from __future__ import annotations

import copy
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import yaml

from tests.cli_support import DEMO_SITE, POLICIES, ROOT  # noqa: F401  (this area's paths)
from worker.atlassian import retry
from worker.atlassian.clients import Atlassian, Connection, connect
from worker.cli.render import plan_json
from worker.model.plan import Plan
from worker.policy import Policies, load_policies, plan, search_spec
from worker.read.site import read_site
from worker.sandbox import Sandbox


@pytest.fixture(autouse=True)
def _no_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(retry, "sleep", lambda _s: None)
    monkeypatch.setattr(retry, "jitter", random.Random(1))


@pytest.fixture(scope="session")
def demo_data() -> dict[str, Any]:
    """The demo site as a dict (Cloud, as shipped)."""
    data = yaml.safe_load(DEMO_SITE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def with_flavor(data: dict[str, Any], flavor: str) -> dict[str, Any]:
    """A copy of a site dict in another flavor."""
    out = copy.deepcopy(data)
    out["site"]["flavor"] = flavor
    return out


@pytest.fixture(scope="session", params=["cloud", "datacenter"])
def demo(request: pytest.FixtureRequest, demo_data: dict[str, Any]) -> Iterator[Sandbox]:
    """The demo site served, once per flavor."""
    with Sandbox.start(with_flavor(demo_data, str(request.param))) as sandbox:
        yield sandbox


@pytest.fixture
def source(demo: Sandbox) -> Sandbox:
    """The demo site, reset for this test."""
    demo.reset()
    return demo


@pytest.fixture(scope="session")
def policies() -> Policies:
    """The default policy set as shipped."""
    return load_policies(POLICIES)


def connection_for(sb: Sandbox) -> Connection:
    """The bot's credentials on a sandbox, in its flavor."""
    if sb.flavor == "cloud":
        return Connection(jira_url=sb.url, flavor="cloud", username=sb.bot_email,
                          api_token=sb.bot_token, confluence_url=sb.url + "/wiki", timeout_s=5)
    return Connection(jira_url=sb.url, flavor="datacenter", personal_token=sb.bot_token,
                      confluence_url=sb.url + "/wiki", timeout_s=5)


@dataclass(frozen=True)
class Planned:
    """A plan made over HTTP, its decisions as ``plan --format json`` prints them (the site's
    own URL replaced by ``<site>`` so two sites compare), and the requests it took."""

    plan: Plan
    decisions: list[dict[str, Any]]
    requests: int


def plan_site(sb: Sandbox, policies: Policies) -> Planned:
    """Read ``sb`` as ``plan`` does (fresh connection) and plan ``policies`` on it."""
    atl = connect(connection_for(sb))
    try:
        reading = read_site(atl, search_spec(policies), journal=None, policies=policies)
        the_plan = plan([*reading.snapshots, *reading.malformed], reading.directory,
                        reading.deals, policies, reading.now, keep_no_match=True)
        requests = atl.requests_made
    finally:
        atl.close()
    decisions = plan_json(the_plan)["decisions"]
    text = yaml.safe_dump(decisions).replace(sb.url, "<site>")
    return Planned(the_plan, yaml.safe_load(text), requests)


@pytest.fixture
def open_atlassian() -> Iterator[Callable[[Sandbox], Atlassian]]:
    """Connect to sandboxes; every connection is closed at the end of the test."""
    opened: list[Atlassian] = []

    def open_one(sb: Sandbox) -> Atlassian:
        atl = connect(connection_for(sb))
        opened.append(atl)
        return atl

    yield open_one
    for atl in opened:
        atl.close()
