"""Our JQL subset (worker/jql.py): parsing, evaluation, sorting and Jira-worded errors."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from worker.jql import (
    JqlContext,
    JqlError,
    parse_date,
    parse_jql,
    tokenize,
)

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # 10:00 in Berlin (CET, after the DST change)
BERLIN = ZoneInfo("Europe/Berlin")
GROUPS = {
    "project-managers": frozenset({"712020:priya", "712020:marco", "712020:olga"}),
    "sales": frozenset({"712020:sam", "712020:dana"}),
}
CLOUD_USERS = frozenset(
    {"712020:priya", "712020:marco", "712020:sam", "712020:dana", "712020:lee", "712020:olga"}
)
DC_GROUPS = {"project-managers": frozenset({"priya", "marco"})}
DC_USERS = frozenset({"priya", "marco", "sam", "dana"})
FIELDS = {"account": "customfield_10050", "contract status": "customfield_10051"}


def _members(groups: Mapping[str, frozenset[str]]) -> Any:
    def members_of(name: str) -> frozenset[str]:
        return groups[name]  # KeyError for an unknown group, as the contract says

    return members_of


CTX = JqlContext(
    now=NOW,
    timezone=BERLIN,
    current_user="712020:priya",
    members_of=_members(GROUPS),
    user_exists=lambda u: u in CLOUD_USERS,
    fields_by_name=FIELDS,
    flavor="cloud",
    known_projects=frozenset({"ACME", "GLOBEX", "SALES"}),
)
DC_CTX = JqlContext(
    now=NOW,
    timezone=BERLIN,
    current_user="priya",
    members_of=_members(DC_GROUPS),
    user_exists=lambda u: u.lower() in DC_USERS,
    fields_by_name=FIELDS,
    flavor="datacenter",
)


def issue(**overrides: Any) -> dict[str, Any]:
    """ACME-1 from the example site file, with ``overrides`` applied."""
    base: dict[str, Any] = {
        "key": "ACME-1",
        "id": "10001",
        "project": "ACME",
        "issuetype": "Statement of Work",
        "status": "In Progress",
        "statusCategory": "indeterminate",
        "assignee": "712020:priya",
        "reporter": "712020:sam",
        "labels": ["sow"],
        "summary": "Finalize SOW for Acme phase 2",
        "description": "Sam asked to have the SOW finished before Friday.",
        "comment": ["Priya, can you get this over the line today? I need an update by EOD."],
        "created": datetime(2026, 10, 27, 10, 0, tzinfo=UTC),
        "updated": datetime(2026, 10, 30, 16, 20, tzinfo=UTC),
        "custom": {"customfield_10050": "Acme Corp", "customfield_10051": None},
    }
    base.update(overrides)
    return base


def matches(jql: str, item: Mapping[str, Any], ctx: JqlContext = CTX) -> bool:
    return parse_jql(jql, ctx).matches(item, ctx)


# --------------------------------------------------------------------------- operators x fields

MATCH_TABLE: list[tuple[str, dict[str, Any], bool]] = [
    # project: = != in, not in, is (not) EMPTY, case-insensitive keys
    ("project = ACME", {}, True),
    ("project = acme", {}, True),
    ("project = GLOBEX", {}, False),
    ("project != GLOBEX", {}, True),
    ("project != ACME", {}, False),
    ("project in (GLOBEX, acme)", {}, True),
    ("project in (GLOBEX, SALES)", {}, False),
    ("project not in (GLOBEX, SALES)", {}, True),
    ("project not in (ACME)", {}, False),
    ("project is not EMPTY", {}, True),
    ("project is EMPTY", {}, False),
    # issuetype / type
    ('issuetype = "Statement of Work"', {}, True),
    ('type = "statement of work"', {}, True),
    ("type = Task", {}, False),
    ("issuetype in (Task, 'Statement of Work')", {}, True),
    ("issuetype not in (Task, Bug)", {}, True),
    ("issuetype != Task", {}, True),
    # status
    ('status = "In Progress"', {}, True),
    ("status = 'in progress'", {}, True),
    ("status = Done", {}, False),
    ("status in (Done, 'To Do')", {}, False),
    ("status not in (Done, 'To Do')", {}, True),
    ("status != Done", {}, True),
    # statusCategory: name, key or id
    ('statusCategory = "In Progress"', {}, True),
    ("statusCategory = indeterminate", {}, True),
    ("statusCategory = 4", {}, True),
    ("statusCategory = Done", {}, False),
    ("statusCategory != Done", {}, True),
    ("statusCategory = done", {"statusCategory": "done"}, True),
    ("statusCategory = 3", {"statusCategory": "done"}, True),
    ('statusCategory = "To Do"', {"statusCategory": "new"}, True),
    ("statusCategory = new", {"statusCategory": "new"}, True),
    ("statusCategory = 2", {"statusCategory": "new"}, True),
    ('statusCategory in ("To Do", 4)', {}, True),
    ("statusCategory not in (new, done)", {}, True),
    ("statusCategory not in (indeterminate)", {}, False),
    # assignee / reporter: ids, currentUser(), membersOf(), lists, EMPTY
    ("assignee = 712020:priya", {}, True),
    ("assignee = 712020:marco", {}, False),
    ("assignee != 712020:marco", {}, True),
    ("assignee != 712020:marco", {"assignee": None}, False),  # Jira: != skips empty fields
    ("assignee = currentUser()", {}, True),
    ("assignee = currentUser()", {"assignee": "712020:sam"}, False),
    ("assignee != currentUser()", {"assignee": "712020:sam"}, True),
    ('assignee in membersOf("project-managers")', {}, True),
    ('assignee in membersOf("project-managers")', {"assignee": "712020:sam"}, False),
    ('assignee in membersOf("project-managers")', {"assignee": None}, False),
    ("assignee in membersOf(sales)", {"assignee": "712020:dana"}, True),
    ('assignee not in membersOf("sales")', {}, True),
    ('assignee not in membersOf("sales")', {"assignee": None}, False),
    ("assignee in (712020:sam, 712020:priya)", {}, True),
    ("assignee in (712020:sam, currentUser())", {}, True),
    ('assignee in (712020:sam, membersOf("sales"))', {"assignee": "712020:dana"}, True),
    ("assignee in (712020:sam, 712020:dana)", {}, False),
    ("assignee not in (712020:sam, 712020:dana)", {}, True),
    ("assignee in (EMPTY, 712020:sam)", {"assignee": None}, True),
    ("assignee in (EMPTY, 712020:sam)", {}, False),
    ("assignee is EMPTY", {"assignee": None}, True),
    ("assignee is EMPTY", {}, False),
    ("assignee is null", {"assignee": None}, True),
    ("assignee is not EMPTY", {}, True),
    ("assignee is not NULL", {"assignee": None}, False),
    ("assignee = EMPTY", {"assignee": None}, True),
    ("assignee != EMPTY", {"assignee": None}, False),
    ("reporter = 712020:sam", {}, True),
    ('reporter in membersOf("sales")', {}, True),
    ("reporter is EMPTY", {"reporter": None}, True),
    # labels: exact (case-sensitive, as Jira)
    ("labels = sow", {}, True),
    ("labels = SOW", {}, False),
    ("labels = msa", {"labels": ["redline", "msa"]}, True),
    ("labels != msa", {"labels": ["redline", "msa"]}, False),
    ("labels != msa", {"labels": ["redline"]}, True),
    ("labels != msa", {"labels": []}, False),
    ("labels in (msa, sow)", {}, True),
    ("labels in (msa, redline)", {}, False),
    ("labels not in (msa, redline)", {}, True),
    ("labels not in (msa, sow)", {"labels": ["sow", "x"]}, False),
    ("labels not in (msa)", {"labels": []}, False),
    ("labels in (EMPTY, msa)", {"labels": []}, True),
    ("labels is EMPTY", {"labels": []}, True),
    ("labels is EMPTY", {}, False),
    ("labels is not EMPTY", {}, True),
    # summary / description: ~ !~ and EMPTY
    ("summary ~ sow", {}, True),
    ("summary ~ SOW", {}, True),
    ("summary ~ fin", {}, True),  # word prefix
    ("summary ~ alize", {}, False),  # not a prefix
    ('summary ~ "fin*"', {}, True),
    ('summary ~ "acme phase"', {}, True),  # every word, any order
    ('summary ~ "phase acme"', {}, True),
    ('summary ~ "acme globex"', {}, False),
    ('summary ~ "\\"acme phase\\""', {}, True),  # exact phrase
    ("summary ~ '\"phase acme\"'", {}, False),
    ("summary ~ '\"sow for\" phase'", {}, True),
    ("summary !~ globex", {}, True),
    ("summary !~ acme", {}, False),
    ("description ~ friday", {}, True),
    ("description ~ monday", {}, False),
    ("description !~ monday", {}, True),
    ("description !~ monday", {"description": ""}, False),  # negative op skips empty fields
    ("description is EMPTY", {"description": ""}, True),
    ("description is EMPTY", {"description": None}, True),
    ("description is not EMPTY", {}, True),
    # comment: any comment, phrases stay within one comment
    ("comment ~ eod", {}, True),
    ("comment ~ '\"over the line\"'", {}, True),
    ("comment ~ 'line update'", {"comment": ["over the line", "an update"]}, True),
    ("comment ~ '\"line an\"'", {"comment": ["over the line", "an update"]}, False),
    ("comment ~ eod", {"comment": []}, False),
    ("comment !~ eod", {"comment": ["nothing here"]}, True),
    ("comment !~ eod", {}, False),
    # text: summary, description, comments and text custom fields
    ("text ~ finalize", {}, True),
    ("text ~ friday", {}, True),
    ("text ~ eod", {}, True),
    ("text ~ corp", {}, True),  # the Account custom field
    ("text ~ 'friday eod'", {}, True),  # words may come from different fields
    ("text ~ initech", {}, False),
    # dates: relative, absolute, functions, by instant
    ("created < now()", {}, True),
    ("created > -7d", {}, True),  # 2026-10-27T10:00Z > 2026-10-26T09:00Z
    ("created > -5d", {}, False),
    ("created >= '-1w'", {}, True),
    ("created < -1w", {}, False),
    ("updated > -4h", {"updated": NOW - timedelta(hours=3)}, True),
    ("updated > -4h", {"updated": NOW - timedelta(hours=5)}, False),
    ("updated > -30m", {"updated": NOW - timedelta(minutes=29)}, True),
    ("updated > -30m", {"updated": NOW - timedelta(minutes=31)}, False),
    ("updated <= -1w2d", {"updated": NOW - timedelta(days=9)}, True),
    ("updated <= -1w2d", {"updated": NOW - timedelta(days=8)}, False),
    ("created >= 2026-10-27", {}, True),
    ("created > '2026-10-27 10:59'", {}, True),  # 09:59Z in Berlin (UTC+1)
    ("created > '2026-10-27 11:00'", {}, False),  # 10:00Z, not after itself
    ("created >= '2026-10-27 11:00'", {}, True),
    ("created = '2026-10-27 11:00'", {}, True),
    ("created != '2026-10-27 11:00'", {}, False),
    ("created < 2026/10/28", {}, True),
    ("created in ('2026-10-27 11:00', 2026-01-01)", {}, True),
    ("created not in ('2026-10-27 11:00')", {}, False),
    ("createdDate > 2026-10-01", {}, True),
    ("updatedDate < 2026-10-01", {}, False),
    ("updated is not EMPTY", {}, True),
    ("updated is EMPTY", {"updated": None}, True),
    ("updated > -1d", {"updated": None}, False),
    ("created > startOfDay(-7d)", {}, True),
    ("created < endOfDay()", {}, True),
    # key / issue / issuekey / id
    ("key = ACME-1", {}, True),
    ("key = acme-1", {}, True),
    ("issue = ACME-2", {}, False),
    ("issuekey in (ACME-2, ACME-1)", {}, True),
    ("key not in (ACME-2, ACME-3)", {}, True),
    ("key != ACME-1", {}, False),
    ("id = 10001", {}, True),
    ("key = 10001", {}, True),
    ("id in (10002, 10003)", {}, False),
    ("key > ACME-0", {}, True),
    ("key > ACME-1", {}, False),
    ("key >= ACME-1", {}, True),
    ("key < ACME-2", {}, True),
    ("key <= ACME-0", {}, False),
    ("key > GLOBEX-0", {}, False),  # ordering is within one project
    ("id > 10000", {}, True),
    ("id < 10001", {}, False),
    ("key > ACME-9", {"key": "ACME-10"}, True),  # numeric, not string, ordering
    # custom fields by name (quoted, case-insensitive) and cf[N]
    ('"Account" = "Acme Corp"', {}, True),
    ("account = 'acme corp'", {}, True),
    ("cf[10050] = 'Acme Corp'", {}, True),
    ("cf[10050] != Globex", {}, True),
    ("cf[10050] in (Globex, 'Acme Corp')", {}, True),
    ("cf[10050] not in (Globex, 'Acme Corp')", {}, False),
    ("cf[10050] ~ acme", {}, True),
    ("cf[10050] !~ acme", {}, False),
    ('"Contract status" is EMPTY', {}, True),
    ('"contract STATUS" = Signed', {}, False),
    ('"Contract status" != Signed', {}, False),  # empty field: != does not match
    (
        '"Contract status" = signed',
        {"custom": {"customfield_10051": "Signed"}},
        True,
    ),
    (
        "cf[10051] in (Draft, Signed)",
        {"custom": {"customfield_10051": ["Lost", "Signed"]}},
        True,
    ),
    ("cf[10051] is not EMPTY", {"custom": {"customfield_10051": []}}, False),
    (  # an option in REST shape compares by its value
        "cf[10051] = signed",
        {"custom": {"customfield_10051": {"id": "10", "value": "Signed"}}},
        True,
    ),
    # connectives, symbols and precedence
    ("project = ACME AND labels = sow", {}, True),
    ("project = ACME and labels = msa", {}, False),
    ("project = GLOBEX OR labels = sow", {}, True),
    ("project = GLOBEX or labels = msa", {}, False),
    ("project = ACME && labels = sow", {}, True),
    ("project = GLOBEX || labels = sow", {}, True),
    ("NOT project = GLOBEX", {}, True),
    ("not project = ACME", {}, False),
    ("!project = ACME", {}, False),
    ("! (project = ACME)", {}, False),
    ("NOT NOT project = ACME", {}, True),
    # AND binds tighter than OR: true OR (false AND false)
    ("project = ACME OR project = GLOBEX AND labels = msa", {}, True),
    # ... and parentheses override it: (true OR false) AND false
    ("(project = ACME OR project = GLOBEX) AND labels = msa", {}, False),
    # false AND false OR true  ==  (false AND false) OR true
    ("project = GLOBEX AND labels = msa OR key = ACME-1", {}, True),
    ("project = GLOBEX AND (labels = msa OR key = ACME-1)", {}, False),
    # NOT binds tighter than AND/OR
    ("NOT project = GLOBEX AND labels = sow", {}, True),
    ("NOT project = ACME OR labels = sow", {}, True),
    ("NOT (project = ACME OR labels = msa)", {}, False),
    ("((project = ACME))", {}, True),
    ("project = ACME AND (status = Done OR (labels = sow AND NOT assignee is EMPTY))", {}, True),
    # keywords are case-insensitive, newlines are whitespace
    ("PROJECT = ACME And Assignee IS Not empty\nORDER BY Key DESC", {}, True),
    # the empty and ORDER-BY-only queries have no restriction
    ("", {}, True),
    ("ORDER BY created DESC", {}, True),
]


@pytest.mark.parametrize(("jql", "overrides", "expected"), MATCH_TABLE)
def test_matches(jql: str, overrides: dict[str, Any], expected: bool) -> None:
    """Each operator, field and connective evaluates as Jira does on ACME-1."""
    assert matches(jql, issue(**overrides)) is expected


@pytest.mark.parametrize(
    ("jql", "restricted"),
    [
        ("", False),
        ("   ", False),
        ("order by key", False),
        ("ORDER BY updated DESC, key ASC", False),
        ("project = ACME", True),
        ("project = ACME ORDER BY key", True),
    ],
)
def test_has_restriction(jql: str, restricted: bool) -> None:
    """Only a query with a WHERE part counts as bounded (Cloud refuses the others)."""
    assert parse_jql(jql, CTX).has_restriction is restricted


# --------------------------------------------------------------------------- dates


@pytest.mark.parametrize(
    ("literal", "expected"),
    [
        ("-2d", NOW - timedelta(days=2)),
        ("-4h", NOW - timedelta(hours=4)),
        ("-1w", NOW - timedelta(weeks=1)),
        ("-30m", NOW - timedelta(minutes=30)),
        ("-1w2d", NOW - timedelta(days=9)),
        ("-1w 2d", NOW - timedelta(days=9)),
        ("4w 2d", NOW + timedelta(days=30)),
        ("+1d", NOW + timedelta(days=1)),
        ("2026-11-01", datetime(2026, 10, 31, 23, 0, tzinfo=UTC)),  # CET: UTC+1
        ("2026/11/01", datetime(2026, 10, 31, 23, 0, tzinfo=UTC)),
        ("2026-11-01 10:00", datetime(2026, 11, 1, 9, 0, tzinfo=UTC)),
        ("2026/11/01 10:00", datetime(2026, 11, 1, 9, 0, tzinfo=UTC)),
        ("2026-10-01", datetime(2026, 9, 30, 22, 0, tzinfo=UTC)),  # CEST: UTC+2
        ("2026-7-4", datetime(2026, 7, 3, 22, 0, tzinfo=UTC)),
    ],
)
def test_date_literals(literal: str, expected: datetime) -> None:
    """Relative periods count from the site clock; absolute dates are in the site timezone."""
    assert parse_date(literal, "created", CTX) == expected


@pytest.mark.parametrize(
    ("function", "instant"),
    [
        ("now()", NOW),
        ("startOfDay()", datetime(2026, 11, 1, 23, 0, tzinfo=UTC)),
        ("startOfDay(-1d)", datetime(2026, 10, 31, 23, 0, tzinfo=UTC)),
        ("startOfDay('+1d')", datetime(2026, 11, 2, 23, 0, tzinfo=UTC)),
        ("startOfDay(-1w)", datetime(2026, 10, 25, 23, 0, tzinfo=UTC)),
        # 2026-10-25 is the DST change: its midnight is still CEST (UTC+2)
        ("startOfDay(-8d)", datetime(2026, 10, 24, 22, 0, tzinfo=UTC)),
        ("startOfDay(-2h)", datetime(2026, 11, 1, 21, 0, tzinfo=UTC)),
        ("startOfDay(30m)", datetime(2026, 11, 1, 23, 30, tzinfo=UTC)),
        ("endOfDay()", datetime(2026, 11, 2, 22, 59, 59, 999000, tzinfo=UTC)),
        ("endOfDay(-1d)", datetime(2026, 11, 1, 22, 59, 59, 999000, tzinfo=UTC)),
        ("ENDOFDAY(\"1d\")", datetime(2026, 11, 3, 22, 59, 59, 999000, tzinfo=UTC)),
    ],
)
def test_date_functions(function: str, instant: datetime) -> None:
    """Date functions resolve to the exact instant in the site timezone (checked on both sides)."""
    query = parse_jql(f"created >= {function}", CTX)
    assert query.matches(issue(created=instant), CTX)
    assert not query.matches(issue(created=instant - timedelta(microseconds=1)), CTX)


def test_naive_and_iso_string_dates_are_utc() -> None:
    """An issue date without a zone, or as an ISO string, is read as UTC rather than crashing."""
    assert matches("created = '2026-10-27 11:00'", issue(created=datetime(2026, 10, 27, 10, 0)))
    assert matches("created = '2026-10-27 11:00'", issue(created="2026-10-27T10:00:00Z"))


# --------------------------------------------------------------------------- flavors and contexts


@pytest.mark.parametrize(
    ("jql", "assignee", "expected"),
    [
        ("assignee = priya", "priya", True),
        ("assignee = PRIYA", "priya", True),  # Data Center usernames are case-insensitive
        ("assignee = currentUser()", "Priya", True),
        ('assignee in membersOf("project-managers")', "marco", True),
        ('assignee in membersOf("project-managers")', "sam", False),
        ("assignee in (sam, dana)", "dana", True),
        ("assignee != sam", None, False),
    ],
)
def test_datacenter_usernames(jql: str, assignee: str | None, expected: bool) -> None:
    """On Data Center users are usernames, compared case-insensitively."""
    assert matches(jql, issue(assignee=assignee), DC_CTX) is expected


def test_cloud_account_ids_are_exact() -> None:
    """On Cloud a username is not an accountId: Jira answers that the value does not exist."""
    with pytest.raises(JqlError, match="The value 'priya' does not exist for the field 'assignee'"):
        parse_jql("assignee = priya", CTX)
    anyone = replace(CTX, user_exists=lambda u: True)
    assert not matches("assignee = 712020:PRIYA", issue(), anyone)


def test_another_context_recompiles() -> None:
    """A query evaluated with a different context resolves its functions against that context."""
    query = parse_jql("assignee = currentUser() AND created > -1d", CTX)
    item = issue(created=NOW - timedelta(hours=2))
    assert query.matches(item, CTX)
    as_sam = replace(CTX, current_user="712020:sam")
    assert not query.matches(item, as_sam)
    later = replace(CTX, now=NOW + timedelta(days=2))
    assert not query.matches(item, later)
    assert query.matches(item, CTX)


def test_unknown_projects_are_not_checked_without_known_projects() -> None:
    """An empty ``known_projects`` turns the project existence check off."""
    ctx = replace(CTX, known_projects=frozenset())
    assert not matches("project = NOPE", issue(), ctx)


def test_group_membership_is_resolved_once() -> None:
    """membersOf() is resolved at parse time, not once per evaluated issue."""
    calls: list[str] = []

    def members_of(name: str) -> frozenset[str]:
        calls.append(name)
        return GROUPS[name]

    ctx = replace(CTX, members_of=members_of)
    query = parse_jql('assignee in membersOf("project-managers")', ctx)
    for _ in range(100):
        query.matches(issue(), ctx)
    assert calls == ["project-managers"]


# --------------------------------------------------------------------------- ORDER BY

SORTABLE = [
    issue(key="ACME-10", id="3", project="ACME", status="Done", assignee=None,
          created=datetime(2026, 10, 3, tzinfo=UTC), labels=["b"]),
    issue(key="ACME-2", id="1", project="ACME", status="To Do", assignee="712020:sam",
          created=datetime(2026, 10, 1, tzinfo=UTC), labels=[]),
    issue(key="GLOBEX-1", id="2", project="GLOBEX", status="done", assignee="712020:dana",
          created=datetime(2026, 10, 2, tzinfo=UTC), labels=["a"]),
    issue(key="ACME-9", id="4", project="acme", status="To Do", assignee="712020:dana",
          created=datetime(2026, 10, 3, tzinfo=UTC), labels=["a"]),
]


@pytest.mark.parametrize(
    ("jql", "expected"),
    [
        ("project = ACME", ["ACME-10", "ACME-2", "GLOBEX-1", "ACME-9"]),  # no ORDER BY: as given
        ("ORDER BY key", ["ACME-2", "ACME-9", "ACME-10", "GLOBEX-1"]),
        ("ORDER BY key DESC", ["GLOBEX-1", "ACME-10", "ACME-9", "ACME-2"]),
        ("ORDER BY id DESC", ["GLOBEX-1", "ACME-10", "ACME-9", "ACME-2"]),  # id aliases key
        ("ORDER BY created", ["ACME-2", "GLOBEX-1", "ACME-10", "ACME-9"]),  # stable on ties
        ("ORDER BY created DESC", ["ACME-10", "ACME-9", "GLOBEX-1", "ACME-2"]),
        ("ORDER BY created DESC, key DESC", ["ACME-10", "ACME-9", "GLOBEX-1", "ACME-2"]),
        ("ORDER BY created DESC, key ASC", ["ACME-9", "ACME-10", "GLOBEX-1", "ACME-2"]),
        ("ORDER BY status, key", ["ACME-10", "GLOBEX-1", "ACME-2", "ACME-9"]),
        ("ORDER BY project DESC, created ASC", ["GLOBEX-1", "ACME-2", "ACME-10", "ACME-9"]),
        # empties last ascending, first descending
        ("ORDER BY assignee", ["GLOBEX-1", "ACME-9", "ACME-2", "ACME-10"]),
        ("ORDER BY assignee DESC", ["ACME-10", "ACME-2", "GLOBEX-1", "ACME-9"]),
        ("ORDER BY labels, key", ["ACME-9", "GLOBEX-1", "ACME-10", "ACME-2"]),
        ("ORDER BY statusCategory DESC, key", ["ACME-2", "ACME-9", "ACME-10", "GLOBEX-1"]),
    ],
)
def test_order_by(jql: str, expected: list[str]) -> None:
    """ORDER BY sorts stably over several fields, each ASC or DESC."""
    query = parse_jql(jql, CTX)
    # a wrapper object, to show the key function is what reads the fields
    wrapped = [(item["key"], item) for item in SORTABLE]
    ordered = query.sort(wrapped, lambda pair: pair[1], CTX)
    assert [k for k, _ in ordered] == expected


def test_order_by_status_category_uses_workflow_order() -> None:
    """Status categories sort To Do, In Progress, Done rather than alphabetically."""
    items = [issue(key=f"ACME-{n}", statusCategory=c)
             for n, c in enumerate(["done", "new", "indeterminate"])]
    ordered = parse_jql("order by statusCategory", CTX).sort(items, lambda i: i, CTX)
    assert [i["statusCategory"] for i in ordered] == ["new", "indeterminate", "done"]


def test_order_by_custom_field() -> None:
    """A custom field named in ORDER BY sorts by its value, case-insensitively."""
    items = [issue(key=f"ACME-{n}", custom={"customfield_10050": v})
             for n, v in enumerate(["globex", None, "Acme Corp"])]
    ordered = parse_jql('order by "Account"', CTX).sort(items, lambda i: i, CTX)
    assert [i["key"] for i in ordered] == ["ACME-2", "ACME-0", "ACME-1"]


# --------------------------------------------------------------------------- errors

P = "Error in the JQL Query: "
ERROR_TABLE: list[tuple[str, str]] = [
    # syntax, with positions (line, 1-based character)
    ("project foo", P + "Expecting operator but got 'foo'. (line 1, character 9)"),
    ("assignee = priya foo = 1",
     P + "Expecting either 'OR' or 'AND' but got 'foo'. (line 1, character 18)"),
    ("project = ACME\nAND foo", P + "Expecting operator before the end of the query. "
     "(line 2, character 8)"),
    ("project = ACME\n  AND status bar",
     P + "Expecting operator but got 'bar'. (line 2, character 14)"),
    ("project", P + "Expecting operator before the end of the query. (line 1, character 8)"),
    ("project =",
     P + "Expecting either a value, list or function before the end of the query. "
     "(line 1, character 10)"),
    ("project = )", P + "Expecting either a value, list or function but got ')'. You must "
     "surround ')' in quotation marks to use it as a value. (line 1, character 11)"),
    ("project in ()", P + "Expecting either a value, list or function but got ')'. You must "
     "surround ')' in quotation marks to use it as a value. (line 1, character 13)"),
    ("project in (X Y)", P + "Expecting either ',' or ')' but got 'Y'. (line 1, character 15)"),
    ("labels = a", P + "'a' is a reserved JQL word. You must surround it in quotation marks "
     "to use it in a query. (line 1, character 10)"),
    ("project = ACME AND",
     P + "Expecting a field name before the end of the query. (line 1, character 19)"),
    ("= ACME", P + "Expecting a field name but got '='. (line 1, character 1)"),
    ("(project = ACME", P + "Expecting ')' before the end of the query. (line 1, character 16)"),
    ("(project = ACME status = Done)",
     P + "Expecting either 'OR', 'AND' or ')' but got 'status'. (line 1, character 17)"),
    ("project = ACME)", P + "Expecting either 'OR' or 'AND' but got ')'. (line 1, character 15)"),
    ("project = ACME ORDER key", P + "Expecting 'BY' but got 'key'. (line 1, character 22)"),
    ("ORDER BY", P + "Expecting a field name before the end of the query. (line 1, character 9)"),
    ("ORDER BY key foo",
     P + "Expecting either ',' or the end of the query but got 'foo'. (line 1, character 14)"),
    ("summary ~ \"unterminated",
     P + "The quoted string 'unterminated' has not been completed. (line 1, character 11)"),
    ("project = 'ACME", P + "The quoted string 'ACME' has not been completed. "
     "(line 1, character 11)"),
    ("project = \"A\\qB\"", P + "'\\q' is an illegal JQL escape sequence. The valid escape "
     "sequences are \\', \\\", \\t, \\n, \\r, \\\\, '\\ ' and \\uXXXX. (line 1, character 11)"),
    ("project = ACME # x", P + "The character '#' is a reserved JQL character. You must enclose "
     "it in a string or use the escape '\\u0023' instead. (line 1, character 16)"),
    ("project = A & labels = b", P + "The character '&' is a reserved JQL character. You must "
     "enclose it in a string or use the escape '\\u0026' instead. (line 1, character 13)"),
    ("labels = select", P + "'select' is a reserved JQL word. You must surround it in "
     "quotation marks to use it in a query. (line 1, character 10)"),
    ("order = x", P + "Expecting 'BY' but got '='. (line 1, character 7)"),
    ("empty = x", P + "'empty' is a reserved JQL word. You must surround it in quotation "
     "marks to use it in a query. (line 1, character 1)"),
    ("status was Done",
     P + "The operator 'WAS' is not supported by Handoff Guard's JQL subset. "
     "(line 1, character 8)"),
    ("status changed", P + "The operator 'CHANGED' is not supported by Handoff Guard's JQL subset. "
     "(line 1, character 8)"),
    ("project not = ACME", P + "Expecting operator but got 'not'. (line 1, character 9)"),
    ("assignee in membersOf(", P + "Expecting a function argument before the end of the query. "
     "(line 1, character 23)"),
    ("NOT " * 101 + "project = ACME", P + "The query nests NOT and parentheses more than 100 "
     "levels deep. (line 1, character 401)"),
    # fields
    ("nosuchfield = 1",
     "Field 'nosuchfield' does not exist or you do not have permission to view it."),
    ('"No such field" = 1',
     "Field 'No such field' does not exist or you do not have permission to view it."),
    ("cf[99999] = x",
     "Field 'cf[99999]' does not exist or you do not have permission to view it."),
    ("ORDER BY nosuchfield",
     "Field 'nosuchfield' does not exist or you do not have permission to view it."),
    ("ORDER BY comment", "Field 'comment' does not support sorting."),
    ("ORDER BY text", "Field 'text' does not support sorting."),
    ("ORDER BY key, issuekey",
     "The sort field 'issuekey' is referenced multiple times in the JQL sort."),
    # values
    ("assignee = zed", "The value 'zed' does not exist for the field 'assignee'."),
    ("reporter in (712020:sam, zed)", "The value 'zed' does not exist for the field 'reporter'."),
    ("project = X", "The value 'X' does not exist for the field 'project'."),
    ("project in (ACME, nope)", "The value 'nope' does not exist for the field 'project'."),
    ("statusCategory = nope", "The value 'nope' does not exist for the field 'statusCategory'."),
    ("key = foo", "The issue key 'foo' for field 'key' is invalid."),
    ("issue in (ACME-1, ACME-)", "The issue key 'ACME-' for field 'issue' is invalid."),
    ("created > yesterday", "Date value 'yesterday' for field 'created' is invalid. Valid "
     "formats include: 'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', or "
     "a period format e.g. '-5d', '4w 2d'."),
    ("updated < 2026-13-01", "Date value '2026-13-01' for field 'updated' is invalid. Valid "
     "formats include: 'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', or "
     "a period format e.g. '-5d', '4w 2d'."),
    ("updated < -5y", "Date value '-5y' for field 'updated' is invalid. Valid "
     "formats include: 'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', or "
     "a period format e.g. '-5d', '4w 2d'."),
    # functions
    ("assignee = bogus()", "Function 'bogus' is not supported."),
    ("created > startOfWeek()", "Function 'startOfWeek' is not supported."),
    ('assignee in membersOf("x")', "The group 'x' does not exist."),
    ("assignee in membersOf()", "Function 'membersOf' expected '1' arguments but got '0'."),
    ("assignee = currentUser(x)", "Function 'currentUser' expected '0' arguments but got '1'."),
    ("created < now(1)", "Function 'now' expected '0' arguments but got '1'."),
    ("created < startOfDay(-1d, 2)",
     "Function 'startOfDay' expected '0' or '1' arguments but got '2'."),
    ("created < startOfDay(yesterday)", "Function 'startOfDay' got the invalid offset "
     "'yesterday'; expected a period such as '-1d', '+2w', '-4h' or '30m'."),
    ("status = currentUser()", "Function 'currentUser' is not supported by the 'status' field."),
    ("created in (membersOf(sales))",
     "Function 'membersOf' is not supported by the 'created' field."),
    # operators
    ("project ~ x", "The operator '~' is not supported by the 'project' field."),
    ("labels !~ x", "The operator '!~' is not supported by the 'labels' field."),
    ("summary = x", "The operator '=' is not supported by the 'summary' field."),
    ("text !~ x", "The operator '!~' is not supported by the 'text' field."),
    ("comment is EMPTY", "The operator 'is' is not supported by the 'comment' field."),
    ("status > Done", "The operator '>' is not supported by the 'status' field."),
    ("key is EMPTY", "The operator 'is' is not supported by the 'key' field."),
    ('"Account" < x', "The operator '<' is not supported by the 'Account' field."),
    ("assignee is 712020:sam",
     "The operator 'is' only supports the EMPTY or NULL keywords, not '712020:sam'."),
    ("labels is not (x, y)",
     "The operator 'is not' only supports the EMPTY or NULL keywords, not a list."),
    ("assignee = membersOf(sales)", "The operator '=' does not support the multi-value operand "
     "'membersOf(sales)'; use 'in' or 'not in' instead."),
    ("project = (ACME, GLOBEX)", "The operator '=' does not support the multi-value operand "
     "a list; use 'in' or 'not in' instead."),
    ("assignee in currentUser()",
     "The operator 'in' only supports a list or a list function, not 'currentUser()'."),
    ("project in ACME",
     "The operator 'in' only supports a list or a list function, not 'ACME'."),
    ("created > EMPTY", "The operator '>' does not support the EMPTY keyword."),
    ("key = EMPTY", "The field 'key' does not support searching for EMPTY."),
    ("summary ~ (x, y)", "The operator '~' only supports a text value, not a list."),
    ("summary ~ EMPTY", "The operator '~' only supports a text value, not EMPTY."),
    # text search terms
    ("summary ~ ''", "The field 'summary' does not support searching for an empty string."),
    ("summary ~ '--'", "The field 'summary' does not support searching for an empty string."),
    ("summary ~ '*foo'", "The text query '*foo' for field 'summary' is not valid: probably your "
     "use of wildcard characters is not correct."),
    ("text ~ 'f*o'", "The text query 'f*o' for field 'text' is not valid: probably your use of "
     "wildcard characters is not correct."),
    ("comment ~ 'fo?'", "The text query 'fo?' for field 'comment' is not valid: probably your "
     "use of wildcard characters is not correct."),
]


@pytest.mark.parametrize(("jql", "message"), ERROR_TABLE)
def test_errors(jql: str, message: str) -> None:
    """Anything outside the subset, or malformed, is a JqlError with Jira's wording."""
    with pytest.raises(JqlError) as raised:
        parse_jql(jql, CTX)
    assert str(raised.value) == message


@pytest.mark.parametrize(
    ("jql", "text"),
    [
        (r'summary ~ "say \"hi\""', 'say "hi"'),
        (r"summary ~ 'it\'s'", "it's"),
        (r'summary ~ "back\\slash"', "back\\slash"),
        (r'summary ~ "tab\there"', "tab\there"),
        (r'summary ~ "\u0041cme"', "Acme"),
        (r"summary ~ one\ two", "one two"),
    ],
)
def test_escapes(jql: str, text: str) -> None:
    """Backslash escapes decode inside quoted and unquoted strings."""
    values = [t.text for t in tokenize(jql) if t.kind in ("string", "word")]
    assert values[-1] == text


def test_quoted_reserved_words_are_values() -> None:
    """A reserved word in quotes is an ordinary value."""
    assert matches('labels = "select"', issue(labels=["select"]))
    assert matches("labels = 'EMPTY'", issue(labels=["EMPTY"]))
    assert not matches("labels = 'EMPTY'", issue(labels=[]))


# --------------------------------------------------------------------------- properties

JQLISH = st.lists(
    st.sampled_from(
        [
            "project", "assignee", "labels", "summary", "created", "key", "cf[10050]", '"Account"',
            "=", "!=", "~", "!~", "<", ">=", "in", "not", "is", "EMPTY", "NULL", "AND", "OR", "NOT",
            "&&", "||", "!", "(", ")", ",", "ORDER", "BY", "DESC", "ACME", "sow", "-2d",
            "2026-11-01", "'2026-11-01 10:00'", "currentUser()", 'membersOf("sales")',
            "startOfDay(-1d)", "now()", "foo(", '"', "'", "\\", "*", "#", "\n", "ACME-1", "10001",
            "select", "was", "712020:sam",
        ]
    ),
    max_size=14,
).map(" ".join)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=60), JQLISH))
def test_parsing_raises_only_jql_errors(text: str) -> None:
    """Any text either parses into a usable query or raises JqlError, never anything else."""
    try:
        query = parse_jql(text, CTX)
    except JqlError:
        return
    items = [issue(), issue(assignee=None, labels=[], description=None, comment=[], custom={})]
    for item in items:
        assert query.matches(item, CTX) in (True, False)
    assert len(query.sort(items, lambda i: i, CTX)) == 2


CLAUSES = st.sampled_from(
    [
        "project = ACME", "project in (GLOBEX, SALES)", "project != GLOBEX",
        "assignee = currentUser()", 'assignee in membersOf("sales")', "assignee is EMPTY",
        "assignee != 712020:sam", "assignee not in (712020:sam, 712020:priya)",
        "labels = sow", "labels != msa", "labels is not EMPTY", "labels not in (sow, msa)",
        "statusCategory != Done", 'status in ("To Do", Done)', "summary ~ acme",
        "summary !~ globex", "description is EMPTY", "comment ~ eod", "comment !~ eod",
        "text ~ 'acme eod'", "created > -3d", "updated <= startOfDay()", "created = 2026-11-01",
        "key > ACME-3", "id <= 10003", '"Account" = "Acme Corp"', "cf[10050] != Globex",
        "cf[10050] ~ globex", '"Contract status" is EMPTY', "type = Task",
    ]
)
QUERIES = st.recursive(
    CLAUSES,
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from([" AND ", " OR ", " && ", " || "]), inner).map(
            lambda t: f"{t[0]}{t[1]}{t[2]}"
        ),
        inner.map(lambda q: f"NOT ({q})"),
        inner.map(lambda q: f"({q})"),
    ),
    max_leaves=6,
)
ISSUES = st.builds(
    issue,
    key=st.sampled_from(["ACME-1", "ACME-4", "GLOBEX-2", "SALES-9"]),
    id=st.sampled_from(["10001", "10003", "10007"]),
    project=st.sampled_from(["ACME", "GLOBEX", "SALES"]),
    issuetype=st.sampled_from(["Task", "Proposal"]),
    status=st.sampled_from(["To Do", "In Progress", "Done"]),
    statusCategory=st.sampled_from(["new", "indeterminate", "done"]),
    assignee=st.sampled_from([None, "712020:priya", "712020:sam", "712020:dana"]),
    labels=st.lists(st.sampled_from(["sow", "msa", "redline"]), unique=True, max_size=2),
    summary=st.sampled_from(["Acme kickoff", "Globex rollout", ""]),
    description=st.sampled_from([None, "", "Needs an update"]),
    comment=st.lists(st.sampled_from(["by EOD please", "thanks"]), max_size=2),
    created=st.sampled_from([NOW - timedelta(days=5), NOW - timedelta(days=1),
                             datetime(2026, 10, 31, 23, 0, tzinfo=UTC)]),
    updated=st.sampled_from([None, NOW, NOW - timedelta(days=2)]),
    custom=st.fixed_dictionaries(
        {"customfield_10050": st.sampled_from([None, "Acme Corp", "Globex"])}
    ),
)


@settings(max_examples=300, deadline=None)
@given(QUERIES, QUERIES, ISSUES)
def test_not_is_the_exact_complement(q: str, r: str, item: dict[str, Any]) -> None:
    """NOT (q) matches exactly the issues q does not, and AND/OR compose as booleans."""
    a = matches(q, item)
    b = matches(r, item)
    assert matches(f"NOT ({q})", item) is (not a)
    assert matches(f"({q}) AND ({r})", item) is (a and b)
    assert matches(f"({q}) OR ({r})", item) is (a or b)
