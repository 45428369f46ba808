"""Small synthetic sites for the Atlassian tests: the example site with N candidate issues.

Every generated issue is a candidate (assigned to an active project manager, not Done), so N
is what the scope returns. Every fifth issue is a pre-signature deliverable (label ``sow``),
the ones the test planner acts on.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import yaml

from tests.conftest import EXAMPLE_SITE

PMS = ("priya", "marco")
PROJECTS = ("ACME", "GLOBEX")
STATUSES = ("To Do", "In Progress", "Waiting for customer")
START = datetime(2026, 10, 1, 8, 0, tzinfo=UTC)


def example_site() -> dict[str, Any]:
    """The example site as a dict (the contract fixture, unchanged)."""
    loaded: dict[str, Any] = yaml.safe_load(EXAMPLE_SITE.read_text(encoding="utf-8"))
    return loaded


def make_site(
    n: int,
    *,
    flavor: str = "cloud",
    search_lag_s: float = 0,
    assignee_on_edit_screen: bool = True,
    deliverable_every: int = 5,
) -> dict[str, Any]:
    """The example site with its issues replaced by ``n`` generated candidates."""
    site = copy.deepcopy(example_site())
    site["site"]["flavor"] = flavor
    site["site"]["search_lag_s"] = search_lag_s
    for project in site["projects"]:
        project["assignee_on_edit_screen"] = assignee_on_edit_screen
    issues: list[dict[str, Any]] = []
    for i in range(n):
        created = START + timedelta(hours=i % 500)
        deliverable = i % deliverable_every == 0
        project = PROJECTS[i % len(PROJECTS)]
        issues.append(
            {
                "key": f"{project}-{i + 1}",
                "type": "Statement of Work" if deliverable else "Task",
                "summary": f"Finalize SOW part {i}" if deliverable else f"Delivery task {i}",
                "status": STATUSES[i % len(STATUSES)],
                "assignee": PMS[i % len(PMS)],
                "reporter": "sam",
                "labels": ["sow"] if deliverable else [],
                "created": created.isoformat().replace("+00:00", "Z"),
                "updated": created.isoformat().replace("+00:00", "Z"),
                "fields": {"customfield_10050": "Acme Corp" if project == "ACME" else "Globex"},
            }
        )
    site["issues"] = issues
    return site
