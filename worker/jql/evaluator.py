"""A parsed query at work: whether an issue matches, and the ORDER BY sort (stable, empties
last ascending). Compiled once per context, recompiled when another context is used."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from worker.jql.compiler import Compiler
from worker.jql.context import Issue, JqlContext, JqlError, Predicate
from worker.jql.fields import (
    CATEGORY_ORDER,
    Field,
    custom_of,
    fold_of,
    labels_of,
    resolve_field,
    scalar_of,
)
from worker.jql.parser import parse_ast
from worker.jql.syntax import Node, SortKey

T = TypeVar("T")


SortValue = Callable[[Issue], Any]


def _sort_value(f: Field, cloud: bool) -> SortValue:
    if f.kind in ("comment", "alltext"):
        raise JqlError(f"Field '{f.name}' does not support sorting.")
    if f.kind == "statusCategory":
        def category(issue: Issue) -> Any:
            v = issue.get("statusCategory")
            return CATEGORY_ORDER.get(v.lower()) if v else None
        return category
    if f.kind == "labels":
        return lambda issue: tuple(sorted(labels_of(issue))) or None
    if f.kind == "custom":
        multi = custom_of(f.slot)
        return lambda issue: multi(issue) or None
    if f.kind == "text":
        return fold_of(f.slot)
    return scalar_of(f, cloud)


def _compile_sort(keys: Sequence[SortKey], ctx: JqlContext) -> list[tuple[SortValue, bool]]:
    seen: set[str] = set()
    out: list[tuple[SortValue, bool]] = []
    for key in keys:
        f = resolve_field(key.field, ctx)
        ident = f"{f.kind}:{f.slot}"
        if ident in seen:
            raise JqlError(
                f"The sort field '{key.field}' is referenced multiple times in the JQL sort."
            )
        seen.add(ident)
        out.append((_sort_value(f, ctx.flavor != "datacenter"), key.descending))
    return out


# --------------------------------------------------------------------------- the query


@dataclass(slots=True)
class _Compiled:
    ctx: JqlContext
    predicate: Predicate
    sort: list[tuple[SortValue, bool]]


def _match_all(issue: Issue) -> bool:
    return True


@dataclass(slots=True)
class JqlQuery:
    """A parsed query, compiled against a context (recompiled if another context is used)."""

    text: str
    where: Node | None
    order_by: tuple[SortKey, ...]
    _compiled: _Compiled = field(repr=False)

    @property
    def has_restriction(self) -> bool:
        """False for an empty or ORDER-BY-only query (Cloud's search/jql refuses those)."""
        return self.where is not None

    def _for(self, ctx: JqlContext) -> _Compiled:
        compiled = self._compiled
        if compiled.ctx is not ctx:
            compiled = _compile(self.where, self.order_by, ctx)
            self._compiled = compiled
        return compiled

    def matches(self, issue: Mapping[str, Any], ctx: JqlContext) -> bool:
        """Whether ``issue`` (the sandbox's issue mapping) satisfies the restriction."""
        return self._for(ctx).predicate(issue)

    def sort(
        self, issues: Sequence[T], key: Callable[[T], Mapping[str, Any]], ctx: JqlContext
    ) -> list[T]:
        """Stable sort by the ORDER BY clauses; with no ORDER BY keep the given order."""
        keys = self._for(ctx).sort
        items = list(issues)
        if not keys:
            return items
        mappings = [key(item) for item in items]
        order = list(range(len(items)))
        # Successive stable sorts, least significant key first; (1, 0) puts empties last
        # ascending and, through reverse=True, first descending.
        for value_of, descending in reversed(keys):
            values = [value_of(m) for m in mappings]
            order.sort(
                key=lambda i: (1, 0) if values[i] is None else (0, values[i]),
                reverse=descending,
            )
        return [items[i] for i in order]


def _compile(
    where: Node | None, order_by: tuple[SortKey, ...], ctx: JqlContext
) -> _Compiled:
    predicate = Compiler(ctx).node(where) if where is not None else _match_all
    return _Compiled(ctx, predicate, _compile_sort(order_by, ctx))


def parse_jql(text: str, ctx: JqlContext) -> JqlQuery:
    """Parse and check ``text`` against ``ctx``; raise :class:`JqlError` in Jira's words."""
    where, order_by = parse_ast(text)
    return JqlQuery(text, where, order_by, _compile(where, order_by, ctx))
