"""Counting what a scenario cost, from the sandbox's request log (pure: log in, numbers out).

The request log is the neutral witness: it counts what reached the site, whatever the client
believes it sent. Reads and writes are told apart by method and path, and every request is put
in one bucket of the request-economy formula ``ceil(N/100) + G + D + k`` (issue-search pages,
group-member pages, deal-search pages, acted-on issues) or in ``other`` (the per-cycle
constants: server info, field list, current user; and per-ticket reads where a client makes
them), so the bound can be checked term by term.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

#: pages of tickets: searches, and bulkfetch (incremental cycles read due tickets by key)
_ISSUE_SEARCH = re.compile(r"/rest/api/[23]/(search(/jql)?|issue/bulkfetch)$")
_GROUP_MEMBERS = re.compile(r"/rest/api/[23]/group/member$")
_CQL_SEARCH = re.compile(r"/rest/api/(content/)?search$")
_ISSUE_PATH = re.compile(r"/rest/api/[23]/issue/(?P<key>[A-Z][A-Z0-9_]*-\d+)(?P<rest>/.*)?$")
_READ_POSTS = (
    re.compile(r"/search(/jql)?$"),
    re.compile(r"/search/approximate-count$"),
    re.compile(r"/jql/match$"),
    re.compile(r"/issue/bulkfetch$"),
)
#: Issue numbers in paths are folded so ``other`` groups requests by endpoint.
_KEY_IN_PATH = re.compile(r"/[A-Z][A-Z0-9_]*-\d+(?=/|$)")
_NUMBER_IN_PATH = re.compile(r"/\d{3,}(?=/|$)")  # ids, not the API version


@dataclass(frozen=True, slots=True)
class RequestCounts:
    """One scenario's requests, split by kind and by term of the request-economy formula."""

    total: int
    reads: int
    writes: int
    search_pages: int
    group_pages: int
    deal_pages: int
    #: distinct issues that received at least one write request (answered or not): the k
    acted: int
    #: per-issue GETs (property reads, issue reads): the read path should have none
    per_issue_reads: int
    #: everything not in a formula term, by method and endpoint ("GET /rest/api/3/field")
    other: Mapping[str, int] = field(default_factory=dict)
    #: requests answered with a status >= 400 (the baseline's 404s for absent properties land
    #: here too; for Handoff Guard it should be zero in a clean run)
    errors: int = 0
    #: reads of the bot's state before writing, where search cannot be trusted (a new store,
    #: no properties in search): a property read right before an edit of the same issue, or
    #: a batched one on Cloud (a search naming no fields, its tickets' ids to reconcile: up
    #: to 50 tickets each); at most k
    state_reads: int = 0

    def to_json(self) -> dict[str, Any]:
        """The JSON form used in the results file."""
        return {
            "total": self.total,
            "reads": self.reads,
            "writes": self.writes,
            "search_pages": self.search_pages,
            "group_pages": self.group_pages,
            "deal_pages": self.deal_pages,
            "acted": self.acted,
            "per_issue_reads": self.per_issue_reads,
            "state_reads": self.state_reads,
            "other": dict(sorted(self.other.items())),
            "errors": self.errors,
        }


def is_write(method: str, path: str) -> bool:
    """True when a request changes the site (searches sent as POST are reads)."""
    method = method.upper()
    if method in ("GET", "HEAD", "OPTIONS"):
        return False
    return not (method == "POST" and any(p.search(path) for p in _READ_POSTS))


def api_requests(log: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The Atlassian API requests of a log (the sandbox's control API is not the site's)."""
    return [r for r in log if not str(r["path"]).startswith("/_sandbox")]


def acted_issues(
    log: Iterable[Mapping[str, Any]], *, succeeded_only: bool = True
) -> frozenset[str]:
    """Keys of the issues that received a write request (by default: one that succeeded)."""
    keys: set[str] = set()
    for request in api_requests(log):
        match = _ISSUE_PATH.search(str(request["path"]))
        if match is None or not is_write(str(request["method"]), str(request["path"])):
            continue
        status = request.get("status")
        if succeeded_only and not (isinstance(status, int) and status < 400):
            continue
        keys.add(match.group("key"))
    return frozenset(keys)


def count_requests(log: Iterable[Mapping[str, Any]]) -> RequestCounts:
    """Split a request log into reads, writes and the terms of the request-economy formula."""
    requests = api_requests(log)
    reads = writes = search = groups = deals = per_issue = errors = state = 0
    other: Counter[str] = Counter()
    before_edit = _state_reads(requests)
    for index, request in enumerate(requests):
        method = str(request["method"]).upper()
        path = str(request["path"])
        status = request.get("status")
        if not isinstance(status, int) or status >= 400:
            errors += 1
        if is_write(method, path):
            writes += 1
            continue
        reads += 1
        if _batched_state_read(request):
            state += 1
        elif _ISSUE_SEARCH.search(path):
            search += 1
        elif _GROUP_MEMBERS.search(path):
            groups += 1
        elif _CQL_SEARCH.search(path):
            deals += 1
        elif index in before_edit:
            state += 1
        else:
            if _ISSUE_PATH.search(path):
                per_issue += 1
            other[endpoint(method, path)] += 1
    return RequestCounts(
        total=len(requests),
        reads=reads,
        writes=writes,
        search_pages=search,
        group_pages=groups,
        deal_pages=deals,
        acted=len(acted_issues(requests, succeeded_only=False)),
        per_issue_reads=per_issue,
        other=dict(other),
        errors=errors,
        state_reads=state,
    )


def _batched_state_read(request: Mapping[str, Any]) -> bool:
    """A search that asks for no field and names ids to reconcile: the bot's state on the
    tickets it is about to write, read fresh (the sandbox logs each search's parameters)."""
    search = request.get("search")
    return (isinstance(search, Mapping) and search.get("fields") == 0
            and isinstance(search.get("reconcile"), int) and search["reconcile"] > 0)


def _state_reads(requests: list[Mapping[str, Any]]) -> frozenset[int]:
    """Indexes of property reads whose issue's next request is an edit of that issue."""
    found: set[int] = set()
    waiting: dict[str, int] = {}
    for index, request in enumerate(requests):
        match = _ISSUE_PATH.search(str(request["path"]))
        if match is None:
            continue
        key, rest = match.group("key"), match.group("rest") or ""
        method = str(request["method"]).upper()
        if method == "GET" and rest.startswith("/properties/"):
            waiting[key] = index
            continue
        read = waiting.pop(key, None)
        if read is not None and method == "PUT" and not rest:
            found.add(read)
    return frozenset(found)


def endpoint(method: str, path: str) -> str:
    """A request's endpoint with issue keys and ids folded: ``GET /rest/api/3/issue/{key}``."""
    folded = _KEY_IN_PATH.sub("/{key}", path)
    folded = _NUMBER_IN_PATH.sub("/{id}", folded)
    return f"{method.upper()} {folded}"


def formula_bound(n: int, counts: RequestCounts) -> int:
    """``ceil(N/100) + G + D + k`` with G, D and k taken from the log itself."""
    return math.ceil(n / 100) + counts.group_pages + counts.deal_pages + counts.acted


def formula_check(n: int, counts: RequestCounts) -> dict[str, Any]:
    """The request-economy bound term by term: what was allowed, what was spent, the constants.

    ``constants`` are the requests outside the four terms (server info, field list...), the
    ``k`` of the bound's ``+ k`` documented by endpoint in ``other``.
    """
    constants = counts.total - (
        counts.search_pages + counts.group_pages + counts.deal_pages + counts.writes
    )
    bound = formula_bound(n, counts)
    return {
        "n": n,
        "search_pages_allowed": math.ceil(n / 100),
        "search_pages": counts.search_pages,
        "writes_allowed": counts.acted,
        "writes": counts.writes,
        "bound": bound,
        "constants": constants,
        "bound_with_constants": bound + constants,
        "within": counts.search_pages <= math.ceil(n / 100)
        and counts.writes <= counts.acted
        and counts.per_issue_reads == 0
        and counts.state_reads <= counts.acted,
    }
