"""Operand values (``worker.jql.values``): date literals and functions in the site's clock and
timezone, and ``~`` terms as word prefixes and phrases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.jql.jql_support import CTX, NOW, issue, matches
from worker.jql import JqlError, parse_date, parse_jql, parse_text_search


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


@pytest.mark.parametrize(("term", "prefixes", "phrases"), [
    ("acme", ("acme",), ()),
    ("Acme kick*", ("acme", "kick"), ()),
    ('"by EOD" update', ("update",), (("by", "eod"),)),
    ("acme ACME", ("acme",), ()),
    ("it's", ("it", "s"), ()),
])
def test_text_search_terms(term: str, prefixes: tuple[str, ...],
                           phrases: tuple[tuple[str, ...], ...]) -> None:
    """A ``~`` term is lower-cased word prefixes (a trailing ``*`` allowed) and quoted phrases."""
    search = parse_text_search(term, "summary")
    assert (search.prefixes, search.phrases) == (prefixes, phrases)


@pytest.mark.parametrize(("term", "texts", "expected"), [
    ("acme kick", ["Acme kickoff"], True),
    ("acme kick", ["Acme", "kickoff"], True),
    ("cme", ["Acme kickoff"], False),
    ('"by EOD"', ["update by eod please"], True),
    ('"by EOD"', ["by", "eod"], False),
    ('"by EOD"', ["by the EOD"], False),
])
def test_text_search_matches(term: str, texts: list[str], expected: bool) -> None:
    """Every part must start a word of some text; a phrase lies within one text."""
    assert parse_text_search(term, "comment").matches(texts) is expected


@pytest.mark.parametrize("term", ["*acme", "a*b", "fo?", "", "--"])
def test_text_search_refuses(term: str) -> None:
    """Leading or inner wildcards, ``?`` and empty terms are errors."""
    with pytest.raises(JqlError):
        parse_text_search(term, "summary")
