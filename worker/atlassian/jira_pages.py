"""Jira's paged answers: the search in both dialects (token pages on Cloud, offset pages on
Data Center) and the full comment and changelog lists of one issue when the search's answer
left some out."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import structlog

from worker.atlassian.transport import Transport, expect_dict
from worker.model.issue import SearchSpec
from worker.model.vocabulary import Flavor

log = structlog.get_logger(__name__)

#: Cloud's /search/jql may return fewer; 100 is the most either flavor returns per page.
SEARCH_PAGE_SIZE = 100
#: comments and changelog entries per request when an issue's are read in full
PAGED_SIZE = 100


def cloud_pages(
    transport: Transport, api: str, spec: SearchSpec, wanted: list[str], reconcile: list[int]
) -> Iterator[list[Any]]:
    """Cloud's ``POST /search/jql`` pages, one ``nextPageToken`` after the other;
    ``reconcile``: issue ids Jira answers for with read-after-write consistency."""
    body: dict[str, Any] = {
        "jql": spec.jql,
        "fields": wanted,
        "properties": [spec.property_key],
        "maxResults": SEARCH_PAGE_SIZE,
    }
    if spec.changelog:
        body["expand"] = "changelog"
    if reconcile:
        body["reconcileIssues"] = reconcile
    while True:
        page = expect_dict(
            transport.call("POST", f"{api}/search/jql", body=body, idempotent=True),
            "search/jql",
        )
        issues = page.get("issues") or []
        yield issues
        token = page.get("nextPageToken")
        if not token or page.get("isLast") is True or not issues:
            return
        body = {**body, "nextPageToken": token}


def dc_pages(
    transport: Transport, api: str, spec: SearchSpec, wanted: list[str]
) -> Iterator[list[Any]]:
    """Data Center's ``POST /search`` pages, by ``startAt`` offset up to ``total``."""
    start = 0
    while True:
        body: dict[str, Any] = {
            "jql": spec.jql,
            "startAt": start,
            "maxResults": SEARCH_PAGE_SIZE,
            "fields": wanted,
            "properties": [spec.property_key],
        }
        if spec.changelog:
            body["expand"] = ["changelog"]
        page = expect_dict(
            transport.call("POST", f"{api}/search", body=body, idempotent=True),
            "search",
        )
        warnings = page.get("warningMessages")
        if isinstance(warnings, list) and warnings and start == 0:
            # Data Center names JQL values it ignored here: the scope may be wider or
            # narrower than the admin meant.
            log.warning("search.warnings", messages=[str(w) for w in warnings][:10])
        issues = page.get("issues") or []
        yield issues
        start += len(issues)
        total = page.get("total")
        if not issues or not isinstance(total, int) or start >= total:
            return


def read_in_full(
    transport: Transport, api: str, flavor: Flavor, raw: Mapping[str, Any], wanted: frozenset[str]
) -> dict[str, Any]:
    """The issue's search JSON with every comment and/or changelog entry read in."""
    key = str(raw.get("key"))
    out = dict(raw)
    fields = dict(out.get("fields") or {})
    if "comments" in wanted:
        # Search listed the oldest ones: read from where it stopped.
        shown = fields.get("comment")
        listed = shown.get("comments") if isinstance(shown, dict) else None
        first = list(listed) if isinstance(listed, list) else []
        comments = first + _paged(transport, f"{api}/issue/{key}/comment", "comments",
                                       start=len(first))
        fields["comment"] = {"comments": comments, "total": len(comments),
                             "startAt": 0, "maxResults": len(comments)}
        log.info("issue.comments_read", issue=key, comments=len(comments))
    if "changelog" in wanted and flavor == "cloud":
        # Data Center's search carries the whole changelog; Cloud's endpoint pages it,
        # oldest first.
        histories = _paged(transport, f"{api}/issue/{key}/changelog", "values")
        out["changelog"] = {"histories": histories, "total": len(histories),
                            "startAt": 0, "maxResults": len(histories)}
        log.info("issue.changelog_read", issue=key, entries=len(histories))
    out["fields"] = fields
    return out


def _paged(transport: Transport, path: str, items: str, *, start: int = 0) -> list[Any]:
    """Every item of a ``startAt``/``maxResults``/``total`` list endpoint from ``start``."""
    found: list[Any] = []
    while True:
        page = expect_dict(
            transport.call(
                "GET", path, params={"startAt": start + len(found), "maxResults": PAGED_SIZE}
            ),
            path,
        )
        batch = page.get(items)
        if not isinstance(batch, list) or not batch:
            return found
        found.extend(batch)
        total = page.get("total")
        done = isinstance(total, int) and start + len(found) >= total
        if page.get("isLast") is True or done:
            return found
