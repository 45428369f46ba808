"""Search JSON -> IssueSnapshot, the edit body, and the journal overlay (pure functions)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from worker.atlassian.edit_body import edit_body
from worker.atlassian.snapshots import issue_to_snapshot, normalize_field, parse_jira_time
from worker.model.document import Document, Mention, Paragraph, Text
from worker.model.issue import IssueSnapshot, MalformedIssue
from worker.model.outcome import RecordedWrite
from worker.model.people import Person
from worker.model.plan import (
    CommentAction,
    FlagAction,
    IssueWrite,
    LabelAction,
    ReassignAction,
    Visibility,
)
from worker.model.state import BotState, PolicyState, StepRecord
from worker.state.recent import overlay_recent
from worker.write.steps import step_landed

BOT = "712020:bot"
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def user(ident: str, *, cloud: bool = True, active: bool = True) -> dict[str, Any]:
    """A user as Jira renders it."""
    key = "accountId" if cloud else "name"
    return {key: ident, "displayName": ident.title(), "active": active}


def raw_issue(**overrides: Any) -> dict[str, Any]:
    """One issue from a Cloud search page, with our property inline."""
    fields: dict[str, Any] = {
        "summary": "Finalize SOW",
        "description": {
            "type": "doc",
            "version": 1,
            "content": [
                {"type": "paragraph", "content": [{"type": "text", "text": "Before Friday"}]}
            ],
        },
        "issuetype": {"name": "Statement of Work"},
        "project": {"key": "ACME"},
        "status": {"name": "In Progress", "statusCategory": {"key": "indeterminate"}},
        "assignee": user("712020:priya"),
        "reporter": user("712020:sam"),
        "labels": ["sow"],
        "created": "2026-10-27T10:00:00.000+0000",
        "updated": "2026-10-30T16:20:00.000+0100",
        "customfield_10050": "Acme Corp",
        "customfield_10051": {"value": "Draft", "id": "1"},
        "customfield_10021": [{"value": "Impediment"}],
        "comment": {
            "comments": [
                {
                    "id": "1",
                    "author": user("712020:sam"),
                    "created": "2026-10-30T16:20:00.000+0000",
                    "body": {
                        "type": "doc",
                        "content": [
                            {
                                "type": "paragraph",
                                "content": [{"type": "text", "text": "Need it by EOD"}],
                            }
                        ],
                    },
                },
                {
                    "id": "2",
                    "author": user(BOT),
                    "created": "2026-11-01T08:00:00.000+0000",
                    "body": {"type": "doc", "content": []},
                },
            ]
        },
    }
    fields.update(overrides.pop("fields", {}))
    issue: dict[str, Any] = {
        "id": "10001",
        "key": "ACME-1",
        "fields": fields,
        "properties": {"handoff-guard": {"v": 1, "policies": {}}},
    }
    issue.update(overrides)
    return issue


def build(raw: dict[str, Any], **kw: Any) -> IssueSnapshot | MalformedIssue:
    """Convert with the example site's field catalogue."""
    return issue_to_snapshot(
        raw,
        flavor=kw.pop("flavor", "cloud"),
        extra_fields={"customfield_10050": "Account", "customfield_10051": "Contract status"},
        flagged_field_id="customfield_10021",
        property_key="handoff-guard",
        bot_id=kw.pop("bot_id", BOT),
    )


def test_cloud_issue_becomes_snapshot() -> None:
    """Every field of a Cloud search result lands in the snapshot, normalized."""
    snap = build(raw_issue())
    assert isinstance(snap, IssueSnapshot)
    assert (snap.key, snap.id, snap.project, snap.issue_type) == (
        "ACME-1",
        "10001",
        "ACME",
        "Statement of Work",
    )
    assert snap.description == "Before Friday"
    assert snap.assignee == Person("712020:priya", "712020:Priya")
    assert snap.fields == {"Account": "Acme Corp", "Contract status": "Draft"}
    assert snap.flagged is True
    assert snap.updated == datetime(2026, 10, 30, 15, 20, tzinfo=UTC)
    assert [c.text for c in snap.comments] == ["Need it by EOD", ""]
    # the bot's own comment is not human activity
    assert snap.last_human_activity == datetime(2026, 10, 30, 16, 20, tzinfo=UTC)


def test_data_center_issue_uses_names_and_wiki() -> None:
    """On Data Center users are names and comment bodies are wiki strings."""
    raw = raw_issue(
        fields={
            "assignee": user("priya", cloud=False),
            "reporter": None,
            "description": "h1. wiki",
            "comment": {
                "comments": [
                    {
                        "id": "9",
                        "author": user("sam", cloud=False),
                        "created": "2026-10-31T10:00:00.000+0000",
                        "body": "*hi*",
                    }
                ]
            },
        }
    )
    snap = build(raw, flavor="datacenter", bot_id="handoff-bot")
    assert isinstance(snap, IssueSnapshot)
    assert snap.assignee is not None
    assert snap.assignee.id == "priya"
    assert snap.reporter is None
    assert snap.description == "h1. wiki"
    assert snap.comments[0].text == "*hi*"


def test_changelog_by_bot_is_not_human_activity() -> None:
    """Changelog entries count as activity unless the bot made them."""
    raw = raw_issue(
        changelog={
            "histories": [
                {"author": user(BOT), "created": "2026-11-02T08:00:00.000+0000", "items": []},
                {
                    "author": user("712020:priya"),
                    "created": "2026-10-31T08:00:00.000+0000",
                    "items": [],
                },
            ]
        }
    )
    snap = build(raw)
    assert isinstance(snap, IssueSnapshot)
    assert snap.last_human_activity == datetime(2026, 10, 31, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("stored", "reason_part"),
    [
        ("not an object", "issue property 'handoff-guard' is in a shape the bot never writes"),
        ({"policies": {"p": {"steps": [{"at": "x"}]}}}, "state for policy 'p' is malformed"),
        ({"v": 1, "policies": {}, "by": {"installation": 7}}, "'by' is not an object"),
    ],
)
def test_a_property_the_bot_never_writes_is_a_doubt_not_a_broken_issue(
        stored: object, reason_part: str) -> None:
    """Anyone who may edit the ticket may write the property: a shape the bot never writes
    leaves the ticket readable, with an empty state and the reason it cannot be trusted (the
    planner skips it), instead of dropping the whole ticket."""
    result = build(raw_issue(properties={"handoff-guard": stored}))
    assert isinstance(result, IssueSnapshot)
    assert result.state == BotState()
    assert result.state_doubt is not None
    assert reason_part in result.state_doubt


@pytest.mark.parametrize(
    ("overrides", "reason_part"),
    [
        ({"fields": {"status": None}}, "field 'status' is missing"),
        ({"fields": {"created": "yesterday"}}, "bad timestamp"),
        ({"fields": {"summary": None}}, "field 'summary' is missing"),
        ({"fields": {"labels": "sow"}}, "not a list"),
    ],
)
def test_malformed_issues_are_reported(overrides: dict[str, Any], reason_part: str) -> None:
    """An issue that cannot be trusted is a MalformedIssue with the reason, not an exception."""
    result = build(raw_issue(**overrides))
    assert isinstance(result, MalformedIssue)
    assert result.key == "ACME-1"
    assert reason_part in result.reason


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("x", "x"),
        (3, "3"),
        (True, "true"),
        ({"value": "Signed"}, "Signed"),
        ([{"value": "a"}, {"value": "b"}], ("a", "b")),
        ({"displayName": "Sam"}, "Sam"),
        (
            {
                "type": "doc",
                "content": [{"type": "paragraph", "content": [{"type": "text", "text": "t"}]}],
            },
            "t",
        ),
    ],
)
def test_normalize_field(value: object, expected: object) -> None:
    """Custom field values normalize to a string, a tuple of strings, or None."""
    assert normalize_field(value) == expected


SAM = Person("712020:sam", "Sam Ortiz")
STATE = BotState(
    {
        "pre-sales": PolicyState(
            first_flagged_at=T0, steps=(StepRecord(step=0, at=T0, actions=("comment", "label")),)
        )
    }
)
ACTIONS = (
    CommentAction(
        Document((Paragraph((Mention(SAM), Text(" *pls*"))),)),
        template="t",
        visibility=Visibility("group", "jira-users"),
    ),
    ReassignAction(to=SAM, target="sales_owner"),
    LabelAction(add=("pre-sales",), remove=("sow",)),
    FlagAction(on=True),
)


def test_edit_body_cloud() -> None:
    """Cloud: ADF comment, accountId assignee, label ops, flag and property in one body."""
    body = edit_body(
        ACTIONS, STATE, flavor="cloud", property_key="hg", flagged_field_id="customfield_10021"
    )
    assert body["fields"] == {
        "assignee": {"accountId": "712020:sam"},
        "customfield_10021": [{"value": "Impediment"}],
    }
    assert body["update"]["labels"] == [{"add": "pre-sales"}, {"remove": "sow"}]
    comment = body["update"]["comment"][0]["add"]
    assert comment["body"]["type"] == "doc"
    assert comment["visibility"] == {"type": "group", "value": "jira-users"}
    assert body["properties"] == [{"key": "hg", "value": STATE.to_json()}]


def test_edit_body_data_center_and_dropped_fields() -> None:
    """Data Center: wiki comment with [~name]; refused fields are left out, the rest stays."""
    dc_actions = (
        CommentAction(
            Document((Paragraph((Mention(Person("sam", "Sam")), Text(" *pls*"))),)), template="t"
        ),
        ReassignAction(to=Person("sam", "Sam"), target="sales_owner"),
        LabelAction(add=("pre-sales",)),
    )
    body = edit_body(
        dc_actions,
        STATE,
        flavor="datacenter",
        property_key="hg",
        flagged_field_id=None,
        drop_fields=frozenset({"assignee", "labels"}),
    )
    assert body["update"] == {"comment": [{"add": {"body": "[~sam] \\*pls\\*"}}]}
    assert "fields" not in body
    assert body["properties"][0]["key"] == "hg"


def snapshot(state: BotState) -> IssueSnapshot:
    """A minimal snapshot with the given state."""
    return IssueSnapshot(
        key="ACME-1",
        id="10001",
        project="ACME",
        issue_type="Task",
        summary="s",
        description="",
        status="To Do",
        status_category="new",
        assignee=None,
        reporter=None,
        labels=(),
        created=T0,
        updated=T0,
        state=state,
    )


def two_steps() -> BotState:
    """State after steps 0 and 1."""
    return BotState(
        {
            "pre-sales": PolicyState(
                first_flagged_at=T0,
                steps=(StepRecord(0, T0, ("comment",)), StepRecord(1, T0, ("reassign",))),
            )
        }
    )


@pytest.mark.parametrize(
    ("seen", "recorded", "status", "expected"),
    [
        (BotState(), STATE, "applied", STATE),
        (BotState(), STATE, "unknown", BotState()),
        (STATE, two_steps(), "applied", two_steps()),
        (two_steps(), STATE, "applied", two_steps()),
        (STATE, None, "applied", STATE),
    ],
    ids=["stale-empty", "unknown-ignored", "stale-behind", "search-ahead", "no-record"],
)
def test_overlay_recent(
    seen: BotState, recorded: BotState | None, status: str, expected: BotState
) -> None:
    """The journal's applied state wins per policy only when it knows a later step."""
    recent = (
        {}
        if recorded is None
        else {"ACME-1": RecordedWrite("ACME-1", "10001", T0, recorded, status)}
    )  # type: ignore[arg-type]
    assert overlay_recent(snapshot(seen), recent).state == expected


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        (None, False),
        ({"v": 1, "policies": {}}, False),
        (STATE.to_json(), True),
        (two_steps().to_json(), True),
        ("garbage", False),
    ],
)
def test_step_landed(stored: object, expected: bool) -> None:
    """A re-read shows our write landed when every policy's step is there."""
    write = IssueWrite("ACME-1", "10001", ACTIONS, STATE, ("pre-sales",), T0)
    assert step_landed(stored, write) is expected


def _labels_history(author: str, at: str, before: str, after: str) -> dict[str, Any]:
    return {"author": user(author), "created": at,
            "items": [{"field": "labels", "fromString": before, "toString": after}]}


@pytest.mark.parametrize(
    ("histories", "labels", "expected"),
    [
        ([], ["sow", "handoff-exception"], {}),
        (  # Cloud: newest first; the latest addition wins
            [_labels_history("712020:marco", "2026-11-01T09:00:00.000+0000",
                             "sow", "sow handoff-exception"),
             _labels_history("712020:marco", "2026-10-31T09:00:00.000+0000",
                             "sow handoff-exception", "sow"),
             _labels_history("712020:priya", "2026-10-30T09:00:00.000+0000",
                             "sow", "sow handoff-exception")],
            ["sow", "handoff-exception"],
            {"handoff-exception": ("712020:Marco", datetime(2026, 11, 1, 9, tzinfo=UTC))},
        ),
        (  # Data Center: oldest first; the same answer
            [_labels_history("712020:priya", "2026-10-30T09:00:00.000+0000",
                             "sow", "sow handoff-exception"),
             _labels_history("712020:marco", "2026-10-31T09:00:00.000+0000",
                             "sow handoff-exception", "sow"),
             _labels_history("712020:marco", "2026-11-01T09:00:00.000+0000",
                             "sow", "sow handoff-exception")],
            ["sow", "handoff-exception"],
            {"handoff-exception": ("712020:Marco", datetime(2026, 11, 1, 9, tzinfo=UTC))},
        ),
        (  # a label added and then removed is not a current label
            [_labels_history("712020:priya", "2026-10-30T09:00:00.000+0000",
                             "sow", "sow handoff-exception")],
            ["sow"],
            {},
        ),
    ],
)
def test_who_added_each_label(
    histories: list[dict[str, Any]], labels: list[str], expected: dict[str, Any]
) -> None:
    """The changelog says who last added each current label, whatever its order."""
    raw = raw_issue(changelog={"histories": histories}, fields={"labels": labels})
    snap = build(raw)
    assert isinstance(snap, IssueSnapshot)
    got = {a.label: (a.by.display_name if a.by else None, a.at) for a in snap.labels_added}
    assert got == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-02T10:00:00.000+0100", datetime(2026, 11, 2, 9, 0, tzinfo=UTC)),
        ("2026-11-02T10:00:00.000+0000", datetime(2026, 11, 2, 10, 0, tzinfo=UTC)),
        ("2026-11-02T10:00:00.000-0530", datetime(2026, 11, 2, 15, 30, tzinfo=UTC)),
        ("2026-11-02T10:00:00+01:00", datetime(2026, 11, 2, 9, 0, tzinfo=UTC)),
        ("2026-11-02T10:00:00Z", datetime(2026, 11, 2, 10, 0, tzinfo=UTC)),
        ("2026-11-02T10:00:00.5+0000", datetime(2026, 11, 2, 10, 0, 0, 500000, tzinfo=UTC)),
        ("2026-11-02T10:00:00.123456+0000",
         datetime(2026, 11, 2, 10, 0, 0, 123456, tzinfo=UTC)),
        ("2026-11-02T10:00:00", datetime(2026, 11, 2, 10, 0, tzinfo=UTC)),  # no offset: UTC
    ],
)
def test_jira_timestamps_in_every_form_jira_sends(text: str, expected: datetime) -> None:
    """Jira's offsets without a colon, with one, ``Z``, any fraction: one aware UTC instant."""
    parsed = parse_jira_time(text)
    assert parsed == expected
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize("bad", ["", "yesterday", "2026-13-01T00:00:00+0000", None, 17])
def test_a_bad_timestamp_makes_the_issue_malformed(bad: object) -> None:
    """An unreadable ``updated`` is a skip with the reason, not an exception."""
    issue = raw_issue()
    issue["fields"]["updated"] = bad
    result = issue_to_snapshot(issue, flavor="cloud", extra_fields={}, flagged_field_id=None,
                               property_key="handoff-guard", bot_id=BOT)
    assert isinstance(result, MalformedIssue)
    assert "timestamp" in result.reason
