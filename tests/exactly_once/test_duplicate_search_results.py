"""Issue 15, finding 1: the same issue twice in one search must not get two comments."""

from __future__ import annotations

from typing import Any

import pytest
from structlog.testing import capture_logs

from tests.exactly_once.conftest import ACTED, example_site
from worker.atlassian import jira_pages


def test_a_page_that_lists_each_ticket_twice_gives_one_comment(bench: Any, flavor: str,
                                                               monkeypatch: pytest.MonkeyPatch
                                                               ) -> None:
    """Pages of two, each repeating the previous page's last ticket (Data Center's offset
    shift) or its own first one (Cloud listing a ticket twice): one comment per ticket, one
    edit per ticket, and a warning that counts the repeats."""
    monkeypatch.setattr(jira_pages, "SEARCH_PAGE_SIZE", 2)
    b = bench(example_site(flavor))
    b.sandbox.add_faults([{"path": "/search", "repeat": 1}])
    runner = b.runner()
    with capture_logs() as events:
        report = b.cycle(runner)
    assert b.comment_counts() == dict.fromkeys(ACTED, 1)
    assert sorted(b.puts()) == sorted(ACTED)
    assert report.actions_applied > 0
    [warning] = [e for e in events if e["event"] == "search.duplicates"]
    assert warning["count"] >= 1
    repeats = [r for r in b.sandbox.requests() if r.get("fault") == "shape"]
    assert repeats
