"""A ticket created after another was deleted is read and decided like any other.

Found by the incremental equivalence test (seed 154): a site document whose ids were pinned
when a ticket was deleted gained a new ticket without an id, and the sandbox gave it its
position's id, which the last ticket already held. The full read's search listed both under
one id, the worker took the new ticket for a repeat of the other and never decided it, while
the incremental read (which lists only the new one) commented. Jira never lists two tickets
under one id; the sandbox now gives such a ticket the next free one.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from atlassian import JiraCloud
from structlog.testing import capture_logs

from tests.service.incremental_support import Pair, advance, iso, now_of, pin_ids
from worker.atlassian import retry
from worker.cycle.report import CycleReport
from worker.sandbox import Sandbox
from worker.sandbox.generate import generate_site


@pytest.fixture(autouse=True)
def _no_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(retry, "sleep", lambda _s: None)


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[Pair]:
    """60 generated tickets (seed 3: one unsigned customer), both workers' first cycle done."""
    site = generate_site(60, seed=3)
    site["site"]["search_lag_s"] = 0
    p = Pair(tmp_path, site)
    p.cycle()
    yield p
    p.close()


def _members(site: dict[str, Any], group: str) -> list[str]:
    return next(g["members"] for g in site["groups"] if g["name"] == group)


def _unsigned_project(site: dict[str, Any]) -> str:
    return next(
        str(p["properties"]["Jira project"]) for p in site["confluence"]["pages"]
        if "properties" in p and p["properties"]["Contract status"] != "Signed"
    )  # fmt: skip


def _comments(report: CycleReport) -> set[str]:
    assert report.plan is not None
    return {w.issue for w in report.plan.writes if any(a.kind == "comment" for a in w.actions)}


def test_a_ticket_created_after_a_deletion_gets_its_comment_from_both_reads(pair: Pair) -> None:
    """An admin deletes a ticket (ids pinned, as Jira's do not move), then Sales creates a
    deliverable in the unsigned customer's project, assigned to a PM: the sandbox serves it
    under an id of its own, every search lists each ticket once, and the full read comments
    on it exactly as the incremental read does."""
    site = pair.site
    pin_ids(site)
    site["issues"].remove(site["issues"][0])
    advance(site, timedelta(minutes=20))
    pair.cycle()

    project = _unsigned_project(pair.site)
    numbers = [int(i["key"].rsplit("-", 1)[1]) for i in pair.site["issues"]
               if i["key"].startswith(project + "-")]  # fmt: skip
    key = f"{project}-{max(numbers, default=0) + 1}"
    at = iso(now_of(pair.site))
    pair.site["issues"].append({
        "key": key, "type": "Statement of Work", "summary": "New SOW draft", "status": "To Do",
        "assignee": _members(pair.site, "project-managers")[0],
        "reporter": _members(pair.site, "sales")[0], "created": at, "updated": at,
    })  # fmt: skip
    with capture_logs() as events:
        inc, full = pair.cycle()  # the pair asserts the same writes
    assert inc.read_full is False
    assert full.read_full is True
    assert key in _comments(inc)
    assert key in _comments(full)
    assert not [e for e in events if e["event"] == "search.duplicates"]

    with Sandbox.start(pair.site) as served:
        jira = JiraCloud(served.url, username=served.bot_email, password=served.bot_token,
                         backoff_and_retry=False, retry_with_header=False)
        listed = jira.enhanced_jql_get_list_of_tickets("project is not EMPTY", fields=["key"])
    ids = [i["id"] for i in listed]
    assert len(ids) == len(set(ids)) == len(pair.site["issues"])
