"""The evaluator (``worker.jql.evaluator``): a parsed query's restriction, its ORDER BY sort, its
recompiling for another context, and the engine's properties over generated queries."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.jql.jql_support import CTX, NOW, issue, matches
from worker.jql import JqlError, parse_jql


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
