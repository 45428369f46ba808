"""The sandbox's CQL (Confluence Query Language): the small subset the worker uses to find
deal pages, parsed with the JQL tokenizer and parser (CQL shares JQL's syntax) and checked
and compiled here against CQL's own fields.

Fields: ``space``, ``label``, ``type``, ``title``, ``text``, ``creator``, ``id``, and the dates
``lastmodified`` and ``created``; operators ``= != in, not in ~ !~`` where the field allows
them, ``< <= > >=`` on dates (literals ``"yyyy-MM-dd HH:mm"``, ``"yyyy/MM/dd HH:mm"``,
``"yyyy-MM-dd"``, ``"yyyy/MM/dd"``, minute precision, read in the searching user's time zone,
as JQL's are); ``AND OR NOT`` and parentheses; ``ORDER BY
title | created [ASC|DESC]``, which is checked by :func:`parse_cql` and applied by
:meth:`CqlQuery.sort` (``matches`` ignores it). Space keys, labels, types and titles compare
case-insensitively; creators (accountIds / usernames) and ids exactly. Negative operators are
the plain complement of the positive ones (Confluence has no "empty field" exception).
Functions and ``EMPTY`` are outside the subset and raise :class:`CqlError`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar
from zoneinfo import ZoneInfo

from worker.jql import (
    And,
    Clause,
    Empty,
    FunctionCall,
    JqlContext,
    JqlError,
    ListOperand,
    Node,
    Not,
    Or,
    SortKey,
    TextSearch,
    Value,
    parse_ast,
    parse_date,
    parse_text_search,
)

T = TypeVar("T")
Page = Mapping[str, Any]
Predicate = Callable[[Page], bool]


class CqlError(ValueError):
    """A query Confluence would answer with 400 ("Could not parse cql : ...")."""


# CQL's reserved words (Atlassian's list): they must be quoted to be used as values.
CQL_RESERVED_WORDS = frozenset(
    {
        "after", "and", "as", "avg", "before", "begin", "by", "commit", "contains", "count",
        "distinct", "else", "empty", "end", "explain", "from", "having", "if", "in", "inner",
        "insert", "into", "is", "isnull", "left", "like", "limit", "max", "min", "not", "null",
        "or", "order", "outer", "right", "select", "sum", "then", "was", "where", "update",
    }
)

FieldKind = Literal["space", "label", "type", "title", "text", "creator", "id", "lastmodified",
                    "created"]
_EQUALITY = frozenset({"=", "!=", "in", "not in"})
_TEXT = frozenset({"~", "!~"})
_ORDERING = frozenset({"<", "<=", ">", ">="})
_DATES: frozenset[FieldKind] = frozenset({"lastmodified", "created"})
_OPERATORS: dict[FieldKind, frozenset[str]] = {
    "space": _EQUALITY,
    "label": _EQUALITY,
    "type": _EQUALITY,
    "title": _EQUALITY | _TEXT,
    "text": _TEXT,
    "creator": _EQUALITY,
    "id": _EQUALITY,
    "lastmodified": _ORDERING,
    "created": _ORDERING,
}
_FIELD_BY_NAME: dict[str, FieldKind] = {
    "space": "space",
    "space.key": "space",
    "label": "label",
    "type": "type",
    "title": "title",
    "text": "text",
    "creator": "creator",
    "id": "id",
    "content": "id",
    "lastmodified": "lastmodified",
    "created": "created",
}
_SORT_FIELDS = ("title", "created")


def _fail(text: str, detail: str) -> CqlError:
    return CqlError(f"Could not parse cql : {text} ({detail})")


def _values(page: Page, kind: FieldKind) -> tuple[str, ...]:
    """The field's values on ``page``, normalized for comparison."""
    if kind == "label":
        return tuple(str(v).casefold() for v in page.get("labels") or ())
    if kind == "creator":
        v = page.get("creator")
        return (str(v),) if v else ()
    if kind == "id":
        v = page.get("id")
        return (str(v).strip(),) if v is not None else ()
    v = page.get(kind)
    return (str(v).casefold(),) if v else ()


def _normalize(kind: FieldKind, value: str) -> str:
    if kind == "creator":
        return value
    if kind == "id":
        return value.strip()
    return value.casefold()


def _searched_texts(page: Page, kind: FieldKind) -> list[str]:
    if kind == "title":
        title = page.get("title")
        return [title] if title else []
    # Confluence's `text` field covers the title, the body and the labels.
    out = [t for t in (page.get("title"), page.get("text")) if t]
    out.extend(str(label) for label in page.get("labels") or ())
    return out


class _Compiler:
    def __init__(self, text: str, *, timezone: ZoneInfo, now: datetime) -> None:
        self.text = text
        self.dates = JqlContext(now=now, timezone=timezone, current_user="",
                                members_of=lambda _g: frozenset(), user_exists=lambda _u: True,
                                fields_by_name={}, flavor="cloud")

    def node(self, node: Node) -> Predicate:
        if isinstance(node, Clause):
            return self.clause(node)
        if isinstance(node, Not):
            inner = self.node(node.child)
            return lambda page: not inner(page)
        preds = tuple(self.node(c) for c in node.children)
        if isinstance(node, And):
            return lambda page: all(p(page) for p in preds)
        assert isinstance(node, Or)
        return lambda page: any(p(page) for p in preds)

    def clause(self, clause: Clause) -> Predicate:
        kind = _FIELD_BY_NAME.get(clause.field.lower())
        if kind is None:
            raise _fail(
                self.text,
                f"the field '{clause.field}' is not supported; use one of "
                "space, label, type, title, text, creator, id, lastmodified, created",
            )
        op = clause.operator
        if op not in _OPERATORS[kind]:
            raise _fail(self.text, f"the operator '{op}' is not supported by the field '{kind}'")
        operand = clause.operand
        if isinstance(operand, ListOperand) != (op in ("in", "not in")):
            raise _fail(
                self.text,
                f"the operator '{op}' "
                + ("needs a list of values" if op in ("in", "not in") else "takes one value"),
            )
        items = operand.items if isinstance(operand, ListOperand) else (operand,)
        values: list[str] = []
        for item in items:
            if isinstance(item, FunctionCall):
                raise _fail(self.text, f"the function '{item.name}' is not supported")
            if isinstance(item, Empty):
                raise _fail(self.text, "EMPTY and NULL are not supported")
            assert isinstance(item, Value)
            values.append(item.text)
        if op in ("~", "!~"):
            try:
                search = parse_text_search(values[0], kind)
            except JqlError as e:
                raise _fail(self.text, str(e)) from None
            return self.search(kind, search, negate=op == "!~")
        if kind in _DATES:
            return self.date(kind, op, values[0])
        wanted = frozenset(_normalize(kind, v) for v in values)

        def hit(page: Page) -> bool:
            return not wanted.isdisjoint(_values(page, kind))

        if op in ("!=", "not in"):
            return lambda page: not hit(page)
        return hit

    def date(self, kind: FieldKind, op: str, text: str) -> Predicate:
        try:
            bound = parse_date(text, kind, self.dates)
        except JqlError as e:
            raise _fail(self.text, str(e)) from None
        compare: dict[str, Callable[[datetime], bool]] = {
            "<": lambda at: at < bound, "<=": lambda at: at <= bound,
            ">": lambda at: at > bound, ">=": lambda at: at >= bound,
        }
        check = compare[op]

        def hit(page: Page) -> bool:
            at = page.get(kind)
            return isinstance(at, datetime) and check(at.astimezone(UTC))

        return hit

    @staticmethod
    def search(kind: FieldKind, search: TextSearch, *, negate: bool) -> Predicate:
        def found(page: Page) -> bool:
            texts = _searched_texts(page, kind)
            return bool(texts) and search.matches(texts)

        if negate:
            return lambda page: not found(page)
        return found


@dataclass(frozen=True, slots=True)
class CqlQuery:
    """A parsed CQL query: ``matches`` applies the restriction, ``sort`` the ORDER BY."""

    text: str
    predicate: Predicate
    order_by: tuple[tuple[str, bool], ...]  # (field, descending)

    def matches(self, page: Mapping[str, Any]) -> bool:
        """Whether ``page`` (the sandbox's page mapping) satisfies the query."""
        return self.predicate(page)

    def sort(self, pages: Sequence[T], key: Callable[[T], Mapping[str, Any]]) -> list[T]:
        """Stable sort by ORDER BY (title case-insensitively, created by its value); pages
        without the field sort last ascending and first descending."""
        items = list(pages)
        mappings = [key(item) for item in items]
        order = list(range(len(items)))
        for name, descending in reversed(self.order_by):
            values = [m.get(name) for m in mappings]
            if name == "title":
                values = [v.casefold() if isinstance(v, str) and v else None for v in values]
            order.sort(
                key=lambda i: (1, 0) if values[i] is None else (0, values[i]),
                reverse=descending,
            )
        return [items[i] for i in order]


def _order_by(text: str, keys: tuple[SortKey, ...]) -> tuple[tuple[str, bool], ...]:
    out: list[tuple[str, bool]] = []
    for key in keys:
        name = key.field.lower()
        if name not in _SORT_FIELDS:
            raise _fail(text, f"ORDER BY supports title and created, not '{key.field}'")
        if any(name == seen for seen, _ in out):
            raise _fail(text, f"'{key.field}' appears twice in ORDER BY")
        out.append((name, key.descending))
    return tuple(out)


def parse_cql(
    text: str, *, timezone: ZoneInfo | None = None, now: datetime | None = None
) -> CqlQuery:
    """Parse and check ``text``; raise :class:`CqlError` for anything outside the subset.

    Date literals are read in ``timezone`` (the searching user's; UTC when None)."""
    try:
        where, keys = parse_ast(text, reserved=CQL_RESERVED_WORDS)
    except JqlError as e:
        detail = str(e).removeprefix("Error in the JQL Query: ")
        # The shared parser words its messages for JQL; the syntax rules are the same.
        raise _fail(text, detail.replace("JQL", "CQL")) from None
    if where is None:
        raise _fail(text, "a query needs at least one clause")
    compiler = _Compiler(text, timezone=timezone or ZoneInfo("UTC"), now=now or datetime.now(UTC))
    predicate = compiler.node(where)
    return CqlQuery(text, predicate, _order_by(text, keys))
