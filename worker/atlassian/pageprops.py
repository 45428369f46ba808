"""Page Properties as people write them: storage format -> the key/values of a deal page.

Pure functions, no I/O. What real pages hold (``../shared/reference/ATLASSIAN.md``):

* keys in any case, wrapped in ``p``/``strong``/``span``, with a trailing colon or
  non-breaking space, in ``th`` or ``td`` cells (:func:`normalize_key`);
* the details macro inside layouts, panels and expand macros, and several details macros on
  one page (:func:`page_properties` picks one: the configured ``id``, else the one holding
  most of the configured keys);
* vertical tables (a key and a value per row), the editor's header row switched on (the
  first pair in header cells), and horizontal tables (keys in the first row, values in the
  second) (:func:`table_pairs`);
* ``ac:placeholder`` hints of a half-filled template, which are no value;
* status lozenges in any case; dates as ``<time datetime>``, ISO text or typed
  (:func:`read_date`).

Storage format is XML with ``ac:``/``ri:`` prefixes that are never declared and HTML named
entities (``&nbsp;``) that XML does not know. We wrap the body in a root element that
declares both prefixes, turn named entities into character references, and parse with lxml
in recover mode. Never regex over markup.
"""

from __future__ import annotations

import html.entities
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

from dateutil.parser import isoparse
from lxml import etree

AC = "http://atlassian.com/content"
RI = "http://atlassian.com/resource/identifier"
_WRAP_OPEN = f'<hg-root xmlns:ac="{AC}" xmlns:ri="{RI}">'
_WRAP_CLOSE = "</hg-root>"
_XML_ENTITIES = frozenset({"amp", "lt", "gt", "quot", "apos"})
_ENTITY = re.compile(r"&([A-Za-z][A-Za-z0-9]*);")
_MACRO = f"{{{AC}}}structured-macro"
_PARAM = f"{{{AC}}}parameter"
_PLACEHOLDER = f"{{{AC}}}placeholder"
_BLOCK_TAGS = frozenset({"p", "div", "li", "br", "h1", "h2", "h3", "h4", "h5", "h6"})
#: characters people leave around keys: NBSP, narrow NBSP, zero-width space/joiners, BOM
_INVISIBLE = str.maketrans({"\u00a0": " ", "\u202f": " ", "\u2007": " ", "\u200b": None,
                            "\u200c": None, "\u200d": None, "\u2060": None, "\ufeff": None})

DateOrder = Literal["dmy", "mdy"]


class StorageError(ValueError):
    """The storage-format body could not be parsed at all."""


@dataclass(frozen=True, slots=True)
class UserRef:
    """A user link in a page: exactly one of the three identities is set."""

    account_id: str | None = None
    username: str | None = None
    user_key: str | None = None

    def describe(self) -> str:
        """The identity as written on the page ("ri:userkey 8a7f…")."""
        if self.account_id:
            return f"ri:account-id {self.account_id}"
        if self.username:
            return f"ri:username {self.username}"
        return f"ri:userkey {self.user_key}"


@dataclass(frozen=True, slots=True)
class CellValue:
    """One Page Properties value: its visible text, and the structured things found in it.

    ``text`` leaves out placeholders and macro parameters (a lozenge shows as its title).
    """

    text: str
    users: tuple[UserRef, ...] = ()
    status: str | None = None  # the first status lozenge's title
    dates: tuple[str, ...] = ()  # <time datetime="...">
    statuses: tuple[str, ...] = ()  # every lozenge title, when there are several
    #: the visible text line by line (a paragraph, a list item, a line break each): a status
    #: is read from the first line, the rest is kept as evidence. ``text`` says the same in
    #: one line, so two cells that read alike are equal whatever their line breaks
    lines: tuple[str, ...] = field(default=(), compare=False)
    #: link targets in the cell, as written: ``<a href>`` (smart links included),
    #: ``ri:url ri:value`` and a Jira issue macro's ``key`` (as ``jira-key:KEY-1``)
    links: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        """True when the cell holds nothing a reader would take as a value."""
        return not self.text and not self.users and not self.status and not self.dates


# --------------------------------------------------------------------------- parsing


def _named_entities_to_refs(storage: str) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in _XML_ENTITIES:
            return match.group(0)
        codepoint = html.entities.name2codepoint.get(name)
        return f"&#{codepoint};" if codepoint is not None else match.group(0)

    return _ENTITY.sub(replace, storage)


def parse_storage(storage: str) -> etree._Element:
    """Parse a storage-format body into an element tree (prefixes declared, recover mode)."""
    parser = etree.XMLParser(recover=True, resolve_entities=False, no_network=True, huge_tree=False)
    text = _WRAP_OPEN + _named_entities_to_refs(storage) + _WRAP_CLOSE
    try:
        root = etree.fromstring(text.encode("utf-8"), parser)
    except etree.XMLSyntaxError as exc:
        raise StorageError(f"storage format unreadable: {exc}") from exc
    if root is None:
        raise StorageError("storage format unreadable")
    return root


def _local(tag: object) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _is_macro(element: etree._Element, name: str) -> bool:
    return element.tag == _MACRO and (element.get(f"{{{AC}}}name") or "").casefold() == name


def _param(macro: etree._Element, name: str) -> str | None:
    for child in macro:
        if child.tag == _PARAM and child.get(f"{{{AC}}}name") == name:
            return _squash("".join(str(t) for t in child.itertext())) or None
    return None


def _squash(text: str) -> str:
    return " ".join(text.translate(_INVISIBLE).split())


def normalize_key(text: str) -> str:
    """A key as compared: case, surrounding and repeated whitespace, non-breaking and
    zero-width spaces, and trailing colons do not count ("Contract Status:\u00a0" is
    "contract status")."""
    return _squash(text).rstrip(":：").strip().casefold()


def visible_text(element: etree._Element) -> str:
    """Text a reader sees: macro parameters and placeholders hidden, a status lozenge shown
    as its title, block elements separated by spaces."""
    parts: list[str] = [element.text] if isinstance(element.text, str) else []
    for child in element:
        if not isinstance(child.tag, str):
            pass  # a comment or processing instruction: never shown; its tail is
        elif _is_macro(child, "status"):
            parts.append(_param(child, "title") or "")
        elif child.tag not in (_PARAM, _PLACEHOLDER):  # hidden; their tails are not
            inner = visible_text(child)
            parts.append(f" {inner} " if _local(child.tag) in _BLOCK_TAGS else inner)
        if isinstance(child.tail, str):
            parts.append(child.tail)
    return "".join(parts)


def visible_lines(element: etree._Element) -> tuple[str, ...]:
    """The visible text (as :func:`visible_text`) split at block elements and line breaks,
    each line squashed, empty lines left out."""
    marker = "\u2029"  # PARAGRAPH SEPARATOR: never typed in a cell, and not a space to split()
    return tuple(
        line for raw in _lined_text(element, marker).split(marker) if (line := _squash(raw))
    )


def _lined_text(element: etree._Element, marker: str) -> str:
    parts: list[str] = [element.text] if isinstance(element.text, str) else []
    for child in element:
        if not isinstance(child.tag, str):
            pass
        elif _is_macro(child, "status"):
            parts.append(_param(child, "title") or "")
        elif child.tag not in (_PARAM, _PLACEHOLDER):
            inner = _lined_text(child, marker)
            block = _local(child.tag) in _BLOCK_TAGS
            parts.append(f"{marker}{inner}{marker}" if block else inner)
        if isinstance(child.tail, str):
            parts.append(child.tail)
    return "".join(parts)


def cell_links(cell: etree._Element) -> tuple[str, ...]:
    """Every link target in a cell, in page order: ``<a href>`` (the Cloud editor's smart
    links are ``<a href data-card-appearance>``), ``<ri:url ri:value>`` inside ``ac:link``
    or a card, and the ``key`` of a Jira issue macro (written ``jira-key:KEY-1``)."""
    out: list[str] = []
    for element in cell.iter():
        if not isinstance(element.tag, str):
            continue
        if _local(element.tag) == "a" and (href := (element.get("href") or "").strip()):
            out.append(href)
        elif element.tag == f"{{{RI}}}url" and (value := (element.get(f"{{{RI}}}value")
                                                        or "").strip()):
            out.append(value)
        elif _is_macro(element, "jira") and (key := _param(element, "key")):
            out.append(f"jira-key:{key}")
    return tuple(out)


def cell_value(cell: etree._Element) -> CellValue:
    """The value of one table cell: user links, status lozenges, dates, links and text."""
    users = tuple(
        UserRef(
            account_id=user.get(f"{{{RI}}}account-id") or None,
            username=user.get(f"{{{RI}}}username") or None,
            user_key=user.get(f"{{{RI}}}userkey") or None,
        )
        for user in cell.iter(f"{{{RI}}}user")
    )
    statuses = tuple(
        title
        for macro in cell.iter(_MACRO)
        if _is_macro(macro, "status") and (title := _param(macro, "title"))
    )
    dates = tuple(t.get("datetime", "").strip() for t in cell.iter("time") if t.get("datetime"))
    text = _squash(visible_text(cell))
    return CellValue(
        text=text or (dates[0] if dates else ""),
        users=users,
        status=statuses[0] if statuses else None,
        dates=dates,
        statuses=statuses if len(statuses) > 1 else (),
        lines=visible_lines(cell),
        links=cell_links(cell),
    )


# --------------------------------------------------------------------------- tables


def _rows(table: etree._Element) -> list[list[etree._Element]]:
    rows: list[list[etree._Element]] = []
    for row in table.iter("tr"):
        cells = [c for c in row if _local(c.tag) in ("th", "td")]
        if cells:
            rows.append(cells)
    return rows


def _key_text(cell: etree._Element) -> str:
    return _squash(visible_text(cell)).rstrip(":：").strip()


def table_pairs(
    table: etree._Element, keys: frozenset[str] = frozenset()
) -> list[tuple[str, etree._Element]]:
    """The (key, value cell) pairs of one Page Properties table.

    Vertical (a key and a value per row) unless the table is horizontal: its first row is all
    header cells and holds the keys, the next row the values. A two-column table whose first
    row is all header cells (the editor's "header row") is still vertical when its later rows
    are key/value pairs. With configured ``keys`` (normalized), the reading that finds more of
    them wins; without, a table is horizontal only when it has exactly two rows, the first all
    header cells and the second none.
    """
    rows = _rows(table)
    if not rows:
        return []
    vertical = [(_key_text(r[0]), r[1]) for r in rows if len(r) >= 2]
    first = rows[0]
    if len(rows) < 2 or len(first) < 2 or not all(_local(c.tag) == "th" for c in first):
        return vertical
    if any(_local(r[0].tag) == "th" for r in rows[1:]):
        return vertical  # a header column: keys down the left
    horizontal = [(_key_text(k), v) for k, v in zip(first, rows[1], strict=False)]
    if keys:
        found_h = sum(normalize_key(k) in keys for k, _ in horizontal)
        found_v = sum(normalize_key(k) in keys for k, _ in vertical)
        return horizontal if found_h > found_v else vertical
    if len(rows) == 2 and not any(_local(c.tag) == "th" for c in rows[1]):
        return horizontal
    return vertical


def details_macros(root: etree._Element) -> list[etree._Element]:
    """Every Page Properties ("details") macro, in page order, wherever it sits (layouts,
    panels, expand macros...)."""
    return [m for m in root.iter(_MACRO) if _is_macro(m, "details")]


def macro_properties(
    macro: etree._Element, keys: frozenset[str] = frozenset()
) -> dict[str, CellValue]:
    """One details macro's key/values (display key -> value); the first value of a key wins.

    Tables of a details macro nested inside this one belong to that macro, not this one.
    """
    out: dict[str, CellValue] = {}
    seen: set[str] = set()
    for table in macro.iter("table"):
        if _owner(table) is not macro:
            continue
        for key, cell in table_pairs(table, keys):
            norm = normalize_key(key)
            if norm and norm not in seen:
                seen.add(norm)
                out[key] = cell_value(cell)
    return out


def _owner(element: etree._Element) -> etree._Element | None:
    parent = element.getparent()
    while parent is not None and not _is_macro(parent, "details"):
        parent = parent.getparent()
    return parent


def page_properties(
    storage: str, *, keys: Iterable[str] = (), macro_id: str | None = None
) -> dict[str, CellValue]:
    """The Page Properties of a page (display key -> value).

    With several details macros: the one whose ``id`` parameter is ``macro_id`` when given
    and present, else the one holding most of ``keys`` (the first on ties); without ``keys``
    every macro's values are merged, the first value of a key winning.
    """
    wanted = frozenset(normalize_key(k) for k in keys)
    macros = details_macros(parse_storage(storage))
    if macro_id is not None:
        chosen = [m for m in macros if _param(m, "id") == macro_id]
        if chosen:
            return macro_properties(chosen[0], wanted)
    if wanted:
        best: dict[str, CellValue] = {}
        best_found = 0
        for macro in macros:
            props = macro_properties(macro, wanted)
            found = sum(normalize_key(k) in wanted for k in props)
            if found > best_found:
                best, best_found = props, found
        return best
    out: dict[str, CellValue] = {}
    for macro in macros:
        for key, value in macro_properties(macro).items():
            if all(normalize_key(k) != normalize_key(key) for k in out):
                out[key] = value
    return out


def lookup(props: Mapping[str, CellValue], name: str) -> CellValue | None:
    """The value under ``name``, compared as :func:`normalize_key` does."""
    wanted = normalize_key(name)
    for key, value in props.items():
        if normalize_key(key) == wanted:
            return value
    return None


# --------------------------------------------------------------------------- dates

_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"),
            ("may",), ("jun", "june"), ("jul", "july"), ("aug", "august"),
            ("sep", "sept", "september"), ("oct", "october"), ("nov", "november"),
            ("dec", "december"),
        ),
        start=1,
    )
    for name in names
}
#: what people type for "no date"
NO_VALUE = frozenset({"n/a", "na", "-", "–", "—", "tbd", "tba", "none", "not yet", "?"})
_DAY_MONTH_YEAR = re.compile(r"^(\d{1,2})(?:st|nd|rd|th)?\.?[\s-]+([A-Za-z]+)\.?,?[\s-]+(\d{4})$")
_MONTH_DAY_YEAR = re.compile(r"^([A-Za-z]+)\.?[\s-]+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})$")
_YMD = re.compile(r"^(\d{4})[/.](\d{1,2})[/.](\d{1,2})$")
_NUMERIC = re.compile(r"^(\d{1,2})([./-])(\d{1,2})\2(\d{4})$")


@dataclass(frozen=True, slots=True)
class DateReading:
    """A date cell as read: the date, or why there is none (``None`` problem: empty)."""

    value: date | None
    problem: str | None = None


def read_date(cell: CellValue, *, order: DateOrder | None = None) -> DateReading:
    """Read a date cell: ``<time datetime>``, ISO text, or a common typed form.

    Typed forms: ``15 Oct 2026``, ``15 October 2026``, ``October 15, 2026``, ``2026/10/15``,
    ``15.10.2026`` (day first, as written in Europe), and ``10/11/2026``, whose order only
    ``order`` (the policy file's ``deals.date_order``) decides. Empty cells, placeholders and
    "n/a" are no date; anything else is a problem, never a guess.
    """
    raw = cell.dates[0] if cell.dates else cell.text
    raw = _squash(raw)
    if not raw or raw.casefold() in NO_VALUE:
        return DateReading(None)
    try:
        return DateReading(_typed_date(raw, order))
    except ValueError as exc:
        return DateReading(None, str(exc))


def _typed_date(raw: str, order: DateOrder | None) -> date:
    if re.match(r"^\d{4}-\d{2}-\d{2}", raw):
        try:
            return isoparse(raw).date()
        except ValueError:
            raise ValueError(f"{raw!r} is not a valid date") from None
    if m := _YMD.match(raw):
        return _make(raw, int(m.group(1)), int(m.group(2)), int(m.group(3)))
    if m := _DAY_MONTH_YEAR.match(raw):
        return _make(raw, int(m.group(3)), _month(raw, m.group(2)), int(m.group(1)))
    if m := _MONTH_DAY_YEAR.match(raw):
        return _make(raw, int(m.group(3)), _month(raw, m.group(1)), int(m.group(2)))
    if m := _NUMERIC.match(raw):
        first, sep, second, year = int(m.group(1)), m.group(2), int(m.group(3)), int(m.group(4))
        if sep == ".":
            return _make(raw, year, second, first)  # dotted dates are day first everywhere
        if order is None:
            if first > 12 >= second:
                return _make(raw, year, second, first)
            if second > 12 >= first:
                return _make(raw, year, first, second)
            raise ValueError(
                f"{raw!r} could be day/month or month/day (set deals.date_order: dmy or mdy)"
            )
        day, month = (first, second) if order == "dmy" else (second, first)
        return _make(raw, year, month, day)
    raise ValueError(f"{raw!r} is not a date")


def _month(raw: str, name: str) -> int:
    number = _MONTHS.get(name.casefold())
    if number is None:
        raise ValueError(f"{raw!r} is not a date (unknown month {name!r})")
    return number


def _make(raw: str, year: int, month: int, day: int) -> date:
    try:
        return date(year, month, day)
    except ValueError:
        raise ValueError(f"{raw!r} is not a valid date") from None
