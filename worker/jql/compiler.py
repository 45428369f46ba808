"""Syntax tree -> plain Python predicates over the issue mapping, every field, operator and
value checked against one context (Jira's 400 wording for anything outside our subset)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC
from typing import Any

from worker.jql.context import Issue, JqlContext, JqlError, Predicate
from worker.jql.fields import (
    CATEGORY_BY_VALUE,
    ID_RE,
    KEY_RE,
    ORDERING,
    SUPPORTED,
    Field,
    Scalar,
    id_of,
    key_of,
    multi_of,
    resolve_field,
    scalar_of,
    texts_of,
)
from worker.jql.syntax import (
    And,
    Clause,
    Empty,
    FunctionCall,
    Item,
    ListOperand,
    Node,
    Not,
    Operand,
    Value,
)
from worker.jql.values import (
    FUNCTION_KINDS,
    FUNCTIONS,
    LIST_FUNCTIONS,
    check_arity,
    day_function,
    parse_date,
    parse_text_search,
)

_EMPTY = object()  # a resolved EMPTY in a value list


class Compiler:
    """Turns an AST into predicates, resolving every value against one context."""

    def __init__(self, ctx: JqlContext) -> None:
        self.ctx = ctx
        self.cloud = ctx.flavor != "datacenter"

    def node(self, node: Node) -> Predicate:
        if isinstance(node, Clause):
            return self.clause(node)
        if isinstance(node, Not):
            inner = self.node(node.child)
            return lambda issue: not inner(issue)
        preds = tuple(self.node(c) for c in node.children)
        if isinstance(node, And):
            def all_of(issue: Issue) -> bool:
                # A plain loop: all() over a generator costs ~40% more per issue here.
                for p in preds:  # noqa: SIM110
                    if not p(issue):
                        return False
                return True
            return all_of

        def any_of(issue: Issue) -> bool:
            for p in preds:  # noqa: SIM110
                if p(issue):
                    return True
            return False
        return any_of

    # ---- values

    def values(self, f: Field, clause: Clause, items: Sequence[Item]) -> list[Any]:
        """Resolve literal items and functions into normalized values (``_EMPTY`` for EMPTY)."""
        out: list[Any] = []
        for item in items:
            if isinstance(item, Empty):
                out.append(_EMPTY)
            elif isinstance(item, FunctionCall):
                out.extend(self.function(f, clause, item))
            else:
                out.append(self.literal(f, item.text))
        return out

    def function(self, f: Field, clause: Clause, call: FunctionCall) -> list[Any]:
        name = FUNCTIONS.get(call.name.lower())
        if name is None:
            raise JqlError(f"Function '{call.name}' is not supported.")
        if f.kind not in FUNCTION_KINDS[name]:
            raise JqlError(f"Function '{name}' is not supported by the '{f.name}' field.")
        if name == "membersOf":
            check_arity(call, name, (1,))
            try:
                members = self.ctx.members_of(call.args[0])
            except KeyError:
                raise JqlError(f"The group '{call.args[0]}' does not exist.") from None
            return [self.user_id(m) for m in members]
        if name == "currentUser":
            check_arity(call, name, (0,))
            return [self.user_id(self.ctx.current_user)]
        if name == "now":
            check_arity(call, name, (0,))
            return [self.ctx.now.astimezone(UTC)]
        return [day_function(call, name, self.ctx)]

    def user_id(self, value: str) -> str:
        return value if self.cloud else value.lower()

    def literal(self, f: Field, text: str) -> Any:
        kind = f.kind
        if kind == "project":
            key = text.strip().upper()
            known = self.ctx.known_projects
            if known and key not in known:
                raise JqlError(f"The value '{text}' does not exist for the field '{f.name}'.")
            return key
        if kind in ("issuetype", "status"):
            return text.strip().casefold()
        if kind == "statusCategory":
            category = CATEGORY_BY_VALUE.get(text.strip().lower())
            if category is None:
                raise JqlError(f"The value '{text}' does not exist for the field '{f.name}'.")
            return category
        if kind == "user":
            if not self.ctx.user_exists(text):
                raise JqlError(f"The value '{text}' does not exist for the field '{f.name}'.")
            return self.user_id(text)
        if kind == "labels":
            return text
        if kind == "date":
            return parse_date(text, f.name, self.ctx)
        if kind == "key":
            t = text.strip()
            try:
                if ID_RE.match(t):
                    return ("id", int(t))
                m = KEY_RE.match(t)
                if m is not None:
                    return ("key", (m.group(1).upper(), int(m.group(2))))
            except ValueError:  # more digits than int() accepts
                pass
            raise JqlError(f"The issue key '{text}' for field '{f.name}' is invalid.")
        return text.casefold()  # custom

    # ---- clauses

    def clause(self, clause: Clause) -> Predicate:
        f = resolve_field(clause.field, self.ctx)
        op = clause.operator
        if op not in SUPPORTED[f.kind]:
            raise JqlError(
                f"The operator '{op}' is not supported by the '{f.name}' field."
            )
        operand = clause.operand
        if op in ("is", "is not"):
            if not isinstance(operand, Empty):
                raise JqlError(
                    f"The operator '{op}' only supports the EMPTY or NULL keywords, "
                    f"not {_describe(operand)}."
                )
            return self.emptiness(f, want_empty=op == "is")
        if op in ("~", "!~"):
            return self.text(f, clause)
        if op in ("in", "not in"):
            if not isinstance(operand, ListOperand) and not (
                isinstance(operand, FunctionCall) and operand.name.lower() in LIST_FUNCTIONS
            ):
                raise JqlError(
                    f"The operator '{op}' only supports a list or a list function, "
                    f"not {_describe(operand)}."
                )
            items = operand.items if isinstance(operand, ListOperand) else (operand,)
            values = self.values(f, clause, items)
            if f.kind == "key":
                return self.key_membership(values, negate=op == "not in")
            return self.membership(f, values, negate=op == "not in")
        # = != < <= > >=: a single value
        if isinstance(operand, ListOperand) or (
            isinstance(operand, FunctionCall) and operand.name.lower() in LIST_FUNCTIONS
        ):
            raise JqlError(
                f"The operator '{op}' does not support the multi-value operand "
                f"{_describe(operand)}; use 'in' or 'not in' instead."
            )
        if isinstance(operand, Empty):
            if op in ORDERING:
                raise JqlError(f"The operator '{op}' does not support the EMPTY keyword.")
            if f.kind == "key":
                raise JqlError(f"The field '{f.name}' does not support searching for EMPTY.")
            return self.emptiness(f, want_empty=op == "=")
        (value,) = self.values(f, clause, (operand,))
        if f.kind == "key":
            if op in ("=", "!="):
                return self.key_membership([value], negate=op == "!=")
            return self.key_order(value, op)
        if op in ("=", "!="):
            return self.membership(f, [value], negate=op == "!=")
        return _ordered(scalar_of(f, self.cloud), op, value)

    def emptiness(self, f: Field, *, want_empty: bool) -> Predicate:
        if f.kind in ("text", "comment", "alltext"):
            texts = texts_of(f)
            if want_empty:
                return lambda issue: not texts(issue)
            return lambda issue: bool(texts(issue))
        multi = multi_of(f)
        if multi is not None:
            if want_empty:
                return lambda issue: not multi(issue)
            return lambda issue: bool(multi(issue))
        get = scalar_of(f, self.cloud)
        if want_empty:
            return lambda issue: get(issue) is None
        return lambda issue: get(issue) is not None

    def membership(self, f: Field, values: list[Any], *, negate: bool) -> Predicate:
        has_empty = any(v is _EMPTY for v in values)
        wanted = frozenset(v for v in values if v is not _EMPTY)
        multi = multi_of(f)
        if multi is not None:
            if negate:
                def none_of(issue: Issue) -> bool:
                    xs = multi(issue)
                    return bool(xs) and wanted.isdisjoint(xs)
                return none_of

            def some_of(issue: Issue) -> bool:
                xs = multi(issue)
                if not xs:
                    return has_empty
                return not wanted.isdisjoint(xs)
            return some_of
        get = scalar_of(f, self.cloud)
        if negate:
            def not_in(issue: Issue) -> bool:
                x = get(issue)
                return x is not None and x not in wanted
            return not_in
        if has_empty:
            with_none = wanted | {None}
            return lambda issue: get(issue) in with_none
        if len(wanted) == 1:
            (only,) = wanted
            return lambda issue: get(issue) == only
        return lambda issue: get(issue) in wanted

    def key_membership(self, values: list[Any], *, negate: bool) -> Predicate:
        keys = frozenset(v[1] for v in values if v is not _EMPTY and v[0] == "key")
        ids = frozenset(v[1] for v in values if v is not _EMPTY and v[0] == "id")

        def hit(issue: Issue) -> bool:
            return (bool(keys) and key_of(issue) in keys) or (bool(ids) and id_of(issue) in ids)

        if negate:
            return lambda issue: not hit(issue)
        return hit

    def key_order(self, value: Any, op: str) -> Predicate:
        kind, target = value
        if kind == "id":
            return _ordered(id_of, op, target)
        project, number = target
        return _ordered(lambda issue: issue_number(issue, project), op, number)

    def text(self, f: Field, clause: Clause) -> Predicate:
        op = clause.operator
        operand = clause.operand
        if not isinstance(operand, Value):
            raise JqlError(
                f"The operator '{op}' only supports a text value, not {_describe(operand)}."
            )
        search = parse_text_search(operand.text, f.name)
        texts = texts_of(f)
        if op == "~":
            def has(issue: Issue) -> bool:
                values = texts(issue)
                return bool(values) and search.matches(values)
            return has

        def lacks(issue: Issue) -> bool:
            values = texts(issue)
            return bool(values) and not search.matches(values)
        return lacks


def issue_number(issue: Issue, project: str) -> int | None:
    """The issue's number when its key is in ``project``, else None."""
    key = key_of(issue)
    return key[1] if key is not None and key[0] == project else None


def _describe(operand: Operand) -> str:
    if isinstance(operand, Empty):
        return "EMPTY"
    if isinstance(operand, FunctionCall):
        return f"'{operand.shown}'"
    if isinstance(operand, ListOperand):
        return "a list"
    return f"'{operand.text}'"


def _ordered(get: Scalar, op: str, value: Any) -> Predicate:
    if op == ">":
        def gt(issue: Issue) -> bool:
            x = get(issue)
            return x is not None and x > value
        return gt
    if op == ">=":
        def ge(issue: Issue) -> bool:
            x = get(issue)
            return x is not None and x >= value
        return ge
    if op == "<":
        def lt(issue: Issue) -> bool:
            x = get(issue)
            return x is not None and x < value
        return lt
    if op == "<=":
        def le(issue: Issue) -> bool:
            x = get(issue)
            return x is not None and x <= value
        return le
    if op == "=":
        return lambda issue: get(issue) == value

    def ne(issue: Issue) -> bool:
        x = get(issue)
        return x is not None and x != value
    return ne
