"""The compiler (``worker.jql.compiler``, with ``fields``): each operator on each field as Jira
evaluates it, flavors and contexts, and Jira's errors for fields and values outside the subset."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from tests.jql.jql_support import CTX, DC_CTX, GROUPS, NOW, issue, matches
from worker.jql import JqlError, parse_jql

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


COMPILER_ERRORS: list[tuple[str, str]] = [
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


@pytest.mark.parametrize(("jql", "message"), COMPILER_ERRORS)
def test_errors(jql: str, message: str) -> None:
    """Unknown fields, values and functions, and operators a field does not support."""
    with pytest.raises(JqlError) as raised:
        parse_jql(jql, CTX)
    assert str(raised.value) == message


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
