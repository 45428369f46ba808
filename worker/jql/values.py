"""What operands mean: a ``~`` term (word prefixes and phrases), a date literal (absolute, or
relative to the site clock), and the functions (``membersOf``, ``currentUser``, ``now``,
``startOfDay``...)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from worker.jql.context import JqlContext, JqlError
from worker.jql.fields import FieldKind
from worker.jql.syntax import FunctionCall

_WORD_RE = re.compile(r"\w+")


def _words(text: str) -> list[str]:
    return [w.lower() for w in _WORD_RE.findall(text)]


@dataclass(frozen=True, slots=True)
class TextSearch:
    """A compiled ``~`` term: word prefixes and exact phrases, all of which must match.

    Each part is one case-insensitive regular expression searched in each text, which is
    several times faster than splitting 50,000 issues' texts into words on every query.
    """

    prefixes: tuple[str, ...]
    phrases: tuple[tuple[str, ...], ...]
    patterns: tuple[re.Pattern[str], ...]

    def matches(self, values: Sequence[str]) -> bool:
        """Search several texts as one field: each part must occur in some text (a phrase
        within one text, so it never spans two comments)."""
        for pattern in self.patterns:
            for v in values:
                if pattern.search(v):
                    break
            else:
                return False
        return True


def _text_search(prefixes: tuple[str, ...], phrases: tuple[tuple[str, ...], ...]) -> TextSearch:
    patterns = [re.compile(r"(?<!\w)" + re.escape(p), re.IGNORECASE) for p in prefixes]
    patterns.extend(
        re.compile(
            r"(?<!\w)" + r"\W+".join(re.escape(w) for w in phrase) + r"(?!\w)", re.IGNORECASE
        )
        for phrase in phrases
    )
    return TextSearch(prefixes, phrases, tuple(patterns))


_PHRASE_RE = re.compile(r'"([^"]*)"')


def parse_text_search(term: str, field_name: str) -> TextSearch:
    """Compile a ``~`` term; raise :class:`JqlError` for empty terms or misplaced wildcards."""
    phrases = tuple(
        p for p in (tuple(_words(m)) for m in _PHRASE_RE.findall(term)) if p
    )
    rest = _PHRASE_RE.sub(" ", term).replace('"', " ")
    prefixes: list[str] = []
    for chunk in rest.split():
        if "*" in chunk.rstrip("*") or "?" in chunk or chunk.startswith("*"):
            raise JqlError(
                f"The text query '{term}' for field '{field_name}' is not valid: probably your "
                "use of wildcard characters is not correct."
            )
        prefixes.extend(_words(chunk.rstrip("*")))
    if not prefixes and not phrases:
        raise JqlError(
            f"The field '{field_name}' does not support searching for an empty string."
        )
    return _text_search(tuple(dict.fromkeys(prefixes)), phrases)


_RELATIVE_RE = re.compile(r"^([-+]?)\s*((?:\d+\s*[wdhm]\s*)+)$")
_PART_RE = re.compile(r"(\d+)\s*([wdhm])")
_ABSOLUTE_RE = re.compile(r"^(\d{4})[-/](\d{1,2})[-/](\d{1,2})(?:\s+(\d{1,2}):(\d{2}))?$")
_UNIT_MINUTES = {"w": 7 * 24 * 60, "d": 24 * 60, "h": 60, "m": 1}


def _relative_minutes(text: str) -> int | None:
    m = _RELATIVE_RE.match(text.strip())
    if m is None:
        return None
    total = sum(int(n) * _UNIT_MINUTES[u] for n, u in _PART_RE.findall(m.group(2)))
    return -total if m.group(1) == "-" else total


def parse_date(text: str, field_name: str, ctx: JqlContext) -> datetime:
    """A JQL date literal (relative period or absolute date) as a UTC instant."""
    try:
        minutes = _relative_minutes(text)
        if minutes is not None:
            return ctx.now.astimezone(UTC) + timedelta(minutes=minutes)
        m = _ABSOLUTE_RE.match(text.strip())
        if m is not None:
            y, mo, d, hh, mm = m.groups()
            local = datetime(int(y), int(mo), int(d), int(hh or 0), int(mm or 0),
                             tzinfo=ctx.timezone)
            return local.astimezone(UTC)
    except (ValueError, OverflowError):  # 2026-13-01, or a period beyond datetime's range
        pass
    raise JqlError(
        f"Date value '{text}' for field '{field_name}' is invalid. Valid formats include: "
        "'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', or a period "
        "format e.g. '-5d', '4w 2d'."
    )


_OFFSET_RE = re.compile(r"^([-+]?)([0-9]+)([wdhm])$")
LIST_FUNCTIONS = frozenset({"membersof"})
FUNCTIONS = {"membersof": "membersOf", "currentuser": "currentUser", "now": "now",
              "startofday": "startOfDay", "endofday": "endOfDay"}
FUNCTION_KINDS: dict[str, frozenset[FieldKind]] = {
    "membersOf": frozenset({"user"}),
    "currentUser": frozenset({"user"}),
    "now": frozenset({"date"}),
    "startOfDay": frozenset({"date"}),
    "endOfDay": frozenset({"date"}),
}


def check_arity(call: FunctionCall, name: str, allowed: tuple[int, ...]) -> None:
    if len(call.args) not in allowed:
        want = " or ".join(f"'{n}'" for n in allowed)
        raise JqlError(
            f"Function '{name}' expected {want} arguments but got '{len(call.args)}'."
        )


def _day_instant(call: FunctionCall, name: str, ctx: JqlContext) -> datetime:
    check_arity(call, name, (0, 1))
    day = ctx.now.astimezone(ctx.timezone).date()
    extra = timedelta()
    if call.args:
        m = _OFFSET_RE.match(call.args[0].strip())
        if m is not None and len(m.group(2)) > 9:
            m = None
        if m is None:
            raise JqlError(
                f"Function '{name}' got the invalid offset '{call.args[0]}'; expected a "
                "period such as '-1d', '+2w', '-4h' or '30m'."
            )
        amount = int(m.group(2)) * (-1 if m.group(1) == "-" else 1)
        unit = m.group(3)
        if unit in "wd":
            day = day + timedelta(days=amount * (7 if unit == "w" else 1))
        else:
            extra = timedelta(minutes=amount * _UNIT_MINUTES[unit])
    if name == "startOfDay":
        instant = datetime.combine(day, time(0), tzinfo=ctx.timezone)
    else:
        # Jira's endOfDay is the last millisecond of the day; via the next midnight so a
        # DST change inside the day does not shift it.
        nxt: date = day + timedelta(days=1)
        instant = datetime.combine(nxt, time(0), tzinfo=ctx.timezone) - timedelta(
            milliseconds=1
        )
    return (instant + extra).astimezone(UTC)


def day_function(call: FunctionCall, name: str, ctx: JqlContext) -> datetime:
    try:
        return _day_instant(call, name, ctx)
    except OverflowError:
        raise JqlError(
            f"Function '{name}' got the offset '{call.args[0]}', which is out of range."
        ) from None
