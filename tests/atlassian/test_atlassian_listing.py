"""One read's listing: each ticket once; an id under a second key is unreadable, not a repeat."""

from __future__ import annotations

from typing import Any

import pytest
from structlog.testing import capture_logs

from worker.atlassian.listing import each_once, id_clash_reason
from worker.model.issue import MalformedIssue


def _raw(ident: str | None, key: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {"fields": {}}
    if ident is not None:
        out["id"] = ident
    if key is not None:
        out["key"] = key
    return out


def _shown(item: Any) -> str:
    if isinstance(item, MalformedIssue):
        return f"unreadable {item.key}"
    return str(item.get("key", "no key"))


@pytest.mark.parametrize(
    ("listed", "read", "warnings"),
    [
        ([("1", "A-1"), ("2", "A-2")], ["A-1", "A-2"], {}),
        # a page repeats a ticket (Cloud), or offset paging shifts by one (Data Center)
        ([("1", "A-1"), ("1", "A-1")], ["A-1"], {"search.duplicates": ["A-1"]}),
        ([("1", "A-1"), ("2", "A-2"), ("2", "A-2"), ("1", "A-1")], ["A-1", "A-2"],
         {"search.duplicates": ["A-2", "A-1"]}),
        # one id under two keys: not the same ticket listed twice; the later one is unreadable
        ([("1", "A-1"), ("1", "B-3")], ["A-1", "unreadable B-3"], {"search.id_clash": ["B-3"]}),
        ([("1", "A-1"), ("1", "B-3"), ("1", "B-3"), ("1", "A-1")], ["A-1", "unreadable B-3"],
         {"search.id_clash": ["B-3"], "search.duplicates": ["B-3", "A-1"]}),
        # no id: the key tells it; neither: passed on (its snapshot says it has no key)
        ([(None, "A-1"), (None, "A-1")], ["A-1"], {"search.duplicates": ["A-1"]}),
        ([(None, None), (None, None)], ["no key", "no key"], {}),
        # ids and keys kept as numbers where they read as one, never two read as one
        ([("1", "A-1"), ("01", "A-1")], ["A-1", "A-1"], {}),
        ([("1", "A-01"), ("1", "A-1")], ["A-01", "unreadable A-1"], {"search.id_clash": ["A-1"]}),
        ([("1", "A-1"), ("1", "A-01"), ("1", "A-1")], ["A-1", "unreadable A-01"],
         {"search.id_clash": ["A-01"], "search.duplicates": ["A-1"]}),
        ([("7", "PRJ"), ("7", "PRJ"), ("8", "B-99999999999"), ("8", "B-99999999999")],
         ["PRJ", "B-99999999999"], {"search.duplicates": ["PRJ", "B-99999999999"]}),
    ],
)
def test_each_ticket_once(
    listed: list[tuple[str | None, str | None]], read: list[str], warnings: dict[str, list[str]]
) -> None:
    """Repeats are left out and counted; a second key for an id is unreadable with a reason."""
    with capture_logs() as events:
        out = [_shown(item) for item in each_once(_raw(i, k) for i, k in listed)]
    assert out == read
    assert {e["event"]: e["issues"] for e in events} == warnings
    assert all(e["count"] == len(e["issues"]) for e in events)


def test_the_unreadable_listing_says_which_key_came_first() -> None:
    """The reason names the id and the key it was first listed under."""
    [_, clash] = list(each_once([_raw("10040", "FINBEL-22"), _raw("10040", "LUMVEL-3")]))
    assert clash == MalformedIssue("LUMVEL-3", id_clash_reason("10040", "FINBEL-22"))
    assert "10040" in clash.reason
    assert "FINBEL-22" in clash.reason


@pytest.mark.parametrize("first", ["FINBEL-22", "FINBEL-022", "X-Y-7", "NODASH", ""])
def test_the_first_key_is_named_as_it_was_listed(first: str) -> None:
    """However the first key is kept, the reason names it exactly as Jira listed it."""
    [*_, clash] = list(each_once([_raw("10040", first), _raw("10040", "LUMVEL-3")]))
    assert clash == MalformedIssue("LUMVEL-3", id_clash_reason("10040", first or "10040"))
