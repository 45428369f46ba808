"""The sandbox's CQL: the fields, operators and connectives the worker uses to find deal pages."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from worker.sandbox.cql import CqlError, parse_cql


def page(**overrides: Any) -> dict[str, Any]:
    """The "Deal: Acme Corp" page of the example site file, with ``overrides`` applied."""
    base: dict[str, Any] = {
        "id": "100001",
        "type": "page",
        "space": "SALES",
        "title": "Deal: Acme Corp",
        "text": "Account Acme Corp Contract status In negotiation. Phase 2 scope under "
        "negotiation.",
        "labels": ["deal"],
        "creator": "712020:sam",
    }
    base.update(overrides)
    return base


MATCH_TABLE: list[tuple[str, dict[str, Any], bool]] = [
    # space
    ("space = SALES", {}, True),
    ('space = "sales"', {}, True),
    ("space = PS", {}, False),
    ("space != PS", {}, True),
    ("space in (PS, SALES)", {}, True),
    ("space not in (PS, SALES)", {}, False),
    ("space.key = SALES", {}, True),
    # label
    ("label = deal", {}, True),
    ("label = DEAL", {}, True),
    ("label = policy", {}, False),
    ("label != policy", {}, True),
    ("label != policy", {"labels": []}, True),
    ("label in (policy, deal)", {}, True),
    ("label not in (policy, deal)", {}, False),
    ("label = deal", {"labels": []}, False),
    # type
    ("type = page", {}, True),
    ("type = blogpost", {}, False),
    ("type in (blogpost, page)", {}, True),
    ("type != page", {}, False),
    ("type not in (blogpost)", {}, True),
    # title
    ('title = "Deal: Acme Corp"', {}, True),
    ('title = "deal: acme corp"', {}, True),
    ('title = "Deal"', {}, False),
    ('title != "Deal: Globex"', {}, True),
    ('title in ("Deal: Globex", "Deal: Acme Corp")', {}, True),
    ("title ~ acme", {}, True),
    ("title ~ 'deal acme'", {}, True),
    ("title ~ 'negotiation'", {}, False),
    ("title !~ globex", {}, True),
    ("title ~ 'acm*'", {}, True),
    # text: title, body and labels
    ("text ~ negotiation", {}, True),
    ("text ~ 'phase 2'", {}, True),
    ("text ~ '\"scope under\"'", {}, True),
    ("text ~ '\"under scope\"'", {}, False),
    ("text ~ acme", {"text": ""}, True),  # from the title
    ("text ~ deal", {"title": "x", "text": ""}, True),  # from the labels
    ("text !~ signed", {}, True),
    ("text !~ negotiation", {}, False),
    # creator and id
    ("creator = 712020:sam", {}, True),
    ("creator = 712020:SAM", {}, False),  # account ids compare exactly
    ("creator in (712020:dana, 712020:sam)", {}, True),
    ("creator != 712020:sam", {}, False),
    ("creator not in (712020:dana)", {}, True),
    ("id = 100001", {}, True),
    ('id = "100001"', {}, True),
    ("id in (100002, 100003)", {}, False),
    ("id != 100002", {}, True),
    ("content = 100001", {}, True),
    # connectives, precedence, parentheses
    ("space = SALES AND label = deal", {}, True),
    ("space = SALES and label = policy", {}, False),
    ("space = PS OR label = deal", {}, True),
    ("space = PS or label = policy", {}, False),
    ("NOT space = PS", {}, True),
    ("not label = deal", {}, False),
    ("space = SALES OR space = PS AND label = policy", {}, True),
    ("(space = SALES OR space = PS) AND label = policy", {}, False),
    ("space = PS AND label = policy OR type = page", {}, True),
    ("space = PS AND (label = policy OR type = page)", {}, False),
    ("NOT (space = PS OR label = policy)", {}, True),
    ('type = page AND space = SALES AND label = "deal" ORDER BY title', {}, True),
    ("SPACE = SALES And LABEL = deal order by created desc", {}, True),
]


@pytest.mark.parametrize(("cql", "overrides", "expected"), MATCH_TABLE)
def test_matches(cql: str, overrides: dict[str, Any], expected: bool) -> None:
    """Each CQL field, operator and connective evaluates as Confluence does on a deal page."""
    assert parse_cql(cql).matches(page(**overrides)) is expected


PAGES = [
    {"id": "1", "title": "deal: Globex", "created": "2026-10-02"},
    {"id": "2", "title": "Deal: Acme Corp", "created": "2026-10-03"},
    {"id": "3", "title": "Deal: Initech", "created": "2026-10-01"},
    {"id": "4", "title": "Deal: acme corp"},
]


@pytest.mark.parametrize(
    ("cql", "expected"),
    [
        ("type = page", ["1", "2", "3", "4"]),
        ("type = page ORDER BY title", ["2", "4", "1", "3"]),  # case-insensitive, stable
        ("type = page ORDER BY title DESC", ["3", "1", "2", "4"]),
        ("type = page ORDER BY created", ["3", "1", "2", "4"]),  # missing: last ascending
        ("type = page ORDER BY created DESC", ["4", "2", "1", "3"]),  # ... first descending
        ("type = page ORDER BY title, created DESC", ["4", "2", "1", "3"]),
        ("type = page ORDER BY created ASC, title", ["3", "1", "2", "4"]),
    ],
)
def test_order_by(cql: str, expected: list[str]) -> None:
    """ORDER BY title / created is applied by ``sort``, stably, over several keys."""
    ordered = parse_cql(cql).sort(PAGES, lambda p: p)
    assert [p["id"] for p in ordered] == expected


ERROR_TABLE: list[tuple[str, str]] = [
    ("", "a query needs at least one clause"),
    ("ORDER BY title", "a query needs at least one clause"),
    ("space SALES", "Expecting operator but got 'SALES'. (line 1, character 7)"),
    ("space = SALES label = deal",
     "Expecting either 'OR' or 'AND' but got 'label'. (line 1, character 15)"),
    ("(space = SALES", "Expecting ')' before the end of the query. (line 1, character 15)"),
    ("space =", "Expecting either a value, list or function before the end of the query. "
     "(line 1, character 8)"),
    ('title = "Deal', "The quoted string 'Deal' has not been completed. (line 1, character 9)"),
    ("label = update", "'update' is a reserved CQL word. You must surround it in quotation "
     "marks to use it in a query. (line 1, character 9)"),
    ("status was current", "The operator 'WAS' is not supported by Handoff Guard's CQL subset. "
     "(line 1, character 8)"),
    ("ancestor = 123", "the field 'ancestor' is not supported; use one of space, label, type, "
     "title, text, creator, id, lastmodified, created"),
    ("space ~ SALES", "the operator '~' is not supported by the field 'space'"),
    ("text = deal", "the operator '=' is not supported by the field 'text'"),
    ("contributor = 712020:sam", "the field 'contributor' is not supported; use one of space, "
     "label, type, title, text, creator, id, lastmodified, created"),
    ("label is EMPTY", "the operator 'is' is not supported by the field 'label'"),
    ("label in deal", "the operator 'in' needs a list of values"),
    ("label = (deal, policy)", "the operator '=' takes one value"),
    ("creator = currentUser()", "the function 'currentUser' is not supported"),
    ("label in (deal, EMPTY)", "EMPTY and NULL are not supported"),
    ("text ~ ''", "The field 'text' does not support searching for an empty string."),
    ("title ~ '*deal'", "The text query '*deal' for field 'title' is not valid: probably your "
     "use of wildcard characters is not correct."),
    ("type = page ORDER BY space", "ORDER BY supports title and created, not 'space'"),
    ("type = page ORDER BY title, TITLE", "'TITLE' appears twice in ORDER BY"),
]


@pytest.mark.parametrize(("cql", "detail"), ERROR_TABLE)
def test_errors(cql: str, detail: str) -> None:
    """Anything outside the subset raises CqlError: "Could not parse cql : <query> (<why>)"."""
    with pytest.raises(CqlError) as raised:
        parse_cql(cql)
    assert str(raised.value) == f"Could not parse cql : {cql} ({detail})"


CQLISH = st.lists(
    st.sampled_from(
        [
            "space", "label", "type", "title", "text", "creator", "id", "=", "!=", "~", "!~",
            "in", "not", "AND", "OR", "NOT", "(", ")", ",", "ORDER", "BY", "title", "DESC",
            "SALES", "deal", "page", '"Deal: Acme"', "'x'", "currentUser()", "EMPTY", '"', "\\",
            "*", "#",
        ]
    ),
    max_size=12,
).map(" ".join)


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(max_size=50), CQLISH))
def test_parsing_raises_only_cql_errors(text: str) -> None:
    """Any text either parses into a usable query or raises CqlError, never anything else."""
    try:
        query = parse_cql(text)
    except CqlError:
        return
    assert query.matches(page()) in (True, False)
    assert query.matches(page(labels=[], text="", title="")) in (True, False)


#: lastmodified 2026-10-30 16:20 UTC = 17:20 in Berlin (CET after the end of summer time)
MODIFIED = datetime(2026, 10, 30, 16, 20, tzinfo=UTC)

DATE_TABLE: list[tuple[str, str, bool]] = [
    ('lastmodified >= "2026-10-30 17:20"', "Europe/Berlin", True),  # minute, user's zone
    ('lastmodified >= "2026-10-30 17:21"', "Europe/Berlin", False),
    ('lastmodified > "2026-10-30 17:20"', "Europe/Berlin", True),  # the seconds are kept
    ('lastmodified >= "2026-10-30 16:20"', "UTC", True),
    ('lastmodified >= "2026-10-30 16:21"', "UTC", False),
    ('lastmodified < "2026-10-31"', "UTC", True),
    ('lastmodified <= "2026/10/30 16:19"', "UTC", False),
    ('lastmodified >= "2026-10-30"', "Europe/Berlin", True),
    ('created < "2026-10-30"', "UTC", True),
    ('label = deal and lastmodified >= "2026-10-30 17:00"', "Europe/Berlin", True),
]


@pytest.mark.parametrize(("cql", "zone", "expected"), DATE_TABLE)
def test_dates(cql: str, zone: str, expected: bool) -> None:
    """``lastmodified`` and ``created`` compare with minute-precision literals read in the
    searching user's time zone."""
    found = parse_cql(cql, timezone=ZoneInfo(zone)).matches(
        page(lastmodified=MODIFIED + timedelta(seconds=30),
             created=datetime(2026, 10, 1, tzinfo=UTC)))
    assert found is expected


@pytest.mark.parametrize(
    ("cql", "detail"),
    [
        ('lastmodified = "2026-10-30"', "operator '='"),
        ('lastmodified >= "30.10.2026"', "Date value '30.10.2026'"),
        ("lastmodified ~ today", "operator '~'"),
    ],
)
def test_date_errors(cql: str, detail: str) -> None:
    """Dates take ordering operators and JQL's date formats only."""
    with pytest.raises(CqlError, match=re.escape(detail)):
        parse_cql(cql)
