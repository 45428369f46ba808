"""Counting a scenario's cost from the sandbox's request log (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from bench.measure import acted_issues, count_requests, endpoint, formula_check, is_write


def _req(method: str, path: str, status: int = 200) -> dict[str, Any]:
    return {"method": method, "path": path, "query": "", "status": status}


@pytest.mark.parametrize(
    ("method", "path", "write"),
    [
        ("GET", "/rest/api/3/search/jql", False),
        ("POST", "/rest/api/3/search/jql", False),
        ("POST", "/rest/api/2/search", False),
        ("POST", "/rest/api/3/search/approximate-count", False),
        ("POST", "/rest/api/3/issue/bulkfetch", False),
        ("PUT", "/rest/api/3/issue/ACME-1", True),
        ("POST", "/rest/api/2/issue/ACME-1/comment", True),
        ("PUT", "/rest/api/2/issue/ACME-1/properties/handoff-guard", True),
        ("GET", "/rest/api/2/issue/ACME-1/properties/handoff-guard", False),
        ("DELETE", "/rest/api/3/issue/ACME-1/properties/handoff-guard", True),
    ],
)
def test_is_write(method: str, path: str, write: bool) -> None:
    """Searches and bulkfetch are reads whatever their method; edits, comments and property
    writes are writes."""
    assert is_write(method, path) is write


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("get", "/rest/api/2/issue/AC-12/properties/p", "GET /rest/api/2/issue/{key}/properties/p"),
        ("GET", "/wiki/rest/api/content/300001", "GET /wiki/rest/api/content/{id}"),
        ("GET", "/rest/api/3/serverInfo", "GET /rest/api/3/serverInfo"),
    ],
)
def test_endpoint_folds_keys_and_ids(method: str, path: str, expected: str) -> None:
    """Issue keys and numeric ids are folded so constants group by endpoint."""
    assert endpoint(method, path) == expected


GUARD_LOG = [
    _req("GET", "/rest/api/3/serverInfo"),
    _req("GET", "/rest/api/3/myself"),
    _req("GET", "/rest/api/3/field"),
    _req("GET", "/rest/api/3/group/member"),
    _req("GET", "/rest/api/3/group/member"),
    _req("GET", "/wiki/rest/api/content/search"),
    *[_req("POST", "/rest/api/3/search/jql")] * 3,
    _req("PUT", "/rest/api/3/issue/ACME-1", 204),
    _req("PUT", "/rest/api/3/issue/ACME-2", 204),
    _req("PUT", "/rest/api/3/issue/ACME-3", 400),
    {"method": "GET", "path": "/_sandbox/requests", "query": "", "status": 200},
]

BASELINE_LOG = [
    *[_req("GET", "/rest/api/3/search/jql")] * 6,
    _req("GET", "/rest/api/2/issue/ACME-1/properties/handoff-guard", 404),
    _req("GET", "/rest/api/2/issue/ACME-2/properties/handoff-guard", 404),
    _req("POST", "/rest/api/2/issue/ACME-1/comment", 201),
    _req("PUT", "/rest/api/2/issue/ACME-1/assignee", 204),
    _req("PUT", "/rest/api/2/issue/ACME-1/properties/handoff-guard", 200),
]


def test_counts_split_by_formula_term() -> None:
    """Each request lands in one term of ceil(N/100)+G+D+k or in the named constants."""
    counts = count_requests(GUARD_LOG)
    assert (counts.total, counts.reads, counts.writes) == (12, 9, 3)
    assert (counts.search_pages, counts.group_pages, counts.deal_pages) == (3, 2, 1)
    assert counts.acted == 3  # k counts the refused write too: it was a request spent
    assert acted_issues(GUARD_LOG) == frozenset({"ACME-1", "ACME-2"})
    assert counts.per_issue_reads == 0
    assert counts.errors == 1
    assert dict(counts.other) == {
        "GET /rest/api/3/serverInfo": 1,
        "GET /rest/api/3/myself": 1,
        "GET /rest/api/3/field": 1,
    }


def test_per_issue_reads_are_counted() -> None:
    """The baseline's per-ticket property reads show up as per-issue reads."""
    counts = count_requests(BASELINE_LOG)
    assert counts.per_issue_reads == 2
    assert counts.writes == 3
    assert counts.acted == 1
    assert acted_issues(BASELINE_LOG) == frozenset({"ACME-1"})


def test_state_reads_before_edits_are_counted_apart() -> None:
    """A property read followed by an edit of the same issue is a state read (at most k: a
    new store reads each acted ticket's state first), not a per-issue read."""
    log = [
        _req("GET", "/rest/api/3/issue/ACME-1/properties/handoff-guard"),
        _req("PUT", "/rest/api/3/issue/ACME-1", 204),
        _req("GET", "/rest/api/3/issue/ACME-2/properties/handoff-guard"),
        _req("GET", "/rest/api/3/issue/ACME-3/properties/handoff-guard"),
        _req("POST", "/rest/api/3/issue/ACME-3/comment", 201),
    ]
    counts = count_requests(log)
    assert (counts.state_reads, counts.per_issue_reads) == (1, 2)


@pytest.mark.parametrize(("n", "within"), [(300, True), (200, False)])
def test_formula_check(n: int, within: bool) -> None:
    """Three search pages fit N=300 (ceil(300/100)=3) but not N=200."""
    check = formula_check(n, count_requests(GUARD_LOG))
    assert check["within"] is within
    assert check["constants"] == 3
    assert check["bound"] == -(-n // 100) + 2 + 1 + 3


def test_batched_state_reads_are_not_search_pages() -> None:
    """A Cloud search naming no fields and ids to reconcile reads the bot's state on tickets
    it is about to write (a state read, up to 50 tickets); a search for fields is a page,
    ids to reconcile or not."""
    state = {**_req("POST", "/rest/api/3/search/jql"),
             "search": {"jql": 'key in ("A-1", "A-2")', "fields": 0, "reconcile": 2}}
    page = {**_req("POST", "/rest/api/3/search/jql"),
            "search": {"jql": "project = A", "fields": 9, "reconcile": 2}}
    plain = {**_req("POST", "/rest/api/3/search/jql"),
             "search": {"jql": "project = A", "fields": 0, "reconcile": 0}}
    counts = count_requests([state, page, plain])
    assert (counts.state_reads, counts.search_pages) == (1, 2)
