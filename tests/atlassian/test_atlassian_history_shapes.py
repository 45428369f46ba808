"""Comments and changelog in the shapes real Jira sends: both changelog orders, caps with the
real ``total``; what a snapshot can and cannot know from them (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from worker.atlassian.snapshots import issue_to_snapshot
from worker.model.issue import IssueSnapshot

BOT = "712020:bot"
T0 = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)


def _at(day: int) -> str:
    return (T0 + timedelta(days=day)).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def _entry(day: int, who: str) -> dict[str, Any]:
    return {"id": str(day), "author": {"accountId": who}, "created": _at(day), "items": []}


def _raw(histories: list[dict[str, Any]], total: int, *, comments: int = 0,
         comment_total: int | None = None) -> dict[str, Any]:
    listed = [{"id": str(n), "author": {"accountId": "712020:sam"}, "created": _at(0),
               "body": "x"} for n in range(comments)]
    return {
        "id": "1", "key": "ACME-1",
        "fields": {
            "summary": "s", "issuetype": {"name": "Task"}, "project": {"key": "ACME"},
            "status": {"name": "To Do", "statusCategory": {"key": "new"}},
            "labels": [], "created": _at(0), "updated": _at(0),
            "comment": {"comments": listed,
                        "total": comments if comment_total is None else comment_total},
        },
        "properties": {},
        "changelog": {"histories": histories, "total": total},
    }


def _snap(raw: dict[str, Any]) -> IssueSnapshot:
    snap = issue_to_snapshot(raw, flavor="cloud", extra_fields={}, flagged_field_id=None,
                             property_key="handoff-guard", bot_id=BOT)
    assert isinstance(snap, IssueSnapshot)
    return snap


@pytest.mark.parametrize(
    ("histories", "total", "complete", "last_day"),
    [
        # Data Center: whole, oldest first
        ([_entry(1, "h"), _entry(5, BOT), _entry(3, "h")], 3, True, 3),
        # Cloud search: newest first, capped, a human among the shown: the latest is known
        ([_entry(9, BOT), _entry(8, "h"), _entry(7, "h")], 60, True, 8),
        # Cloud search: newest first, capped, only the bot among the shown: unknown
        ([_entry(9, BOT), _entry(8, BOT)], 60, False, 0),
        # capped but oldest first: the newest entries are the missing ones
        ([_entry(1, "h"), _entry(2, "h")], 60, False, 2),
    ],
)
def test_changelog_orders_and_caps(histories: list[dict[str, Any]], total: int,
                                   complete: bool, last_day: int) -> None:
    """The latest human change is read in either order; a cap that may hide it is said."""
    snap = _snap(_raw(histories, total))
    assert snap.changelog_complete is complete
    assert snap.last_human_activity == T0 + timedelta(days=last_day)


@pytest.mark.parametrize(("listed", "total", "complete"),
                         [(3, 3, True), (100, 105, False), (0, 0, True)])
def test_comment_total_beyond_the_list(listed: int, total: int, complete: bool) -> None:
    """Fewer comments listed than the field's ``total``: the snapshot says it is partial."""
    snap = _snap(_raw([], 0, comments=listed, comment_total=total))
    assert snap.comments_complete is complete
