"""The syntax tree the parser builds: operands, clauses, ``AND``/``OR``/``NOT`` and the ORDER BY
keys. Plain frozen values; nothing here knows fields or the site."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from worker.jql.lexer import Token


@dataclass(frozen=True, slots=True)
class Value:
    """A literal operand (a quoted ``"EMPTY"`` is a value, the bare keyword is :class:`Empty`)."""

    text: str
    token: Token


@dataclass(frozen=True, slots=True)
class Empty:
    """The ``EMPTY`` / ``NULL`` keyword."""

    token: Token


@dataclass(frozen=True, slots=True)
class FunctionCall:
    """A JQL function such as ``membersOf("pm")``."""

    name: str
    args: tuple[str, ...]
    token: Token

    @property
    def shown(self) -> str:
        """How Jira prints the call in messages."""
        return f"{self.name}({', '.join(self.args)})"


Item = Value | Empty | FunctionCall


@dataclass(frozen=True, slots=True)
class ListOperand:
    """A parenthesised list, e.g. ``(ACME, GLOBEX)``."""

    items: tuple[Item, ...]
    token: Token


Operand = Item | ListOperand

Operator = Literal["=", "!=", "~", "!~", "<", "<=", ">", ">=", "in", "not in", "is", "is not"]
OPERATOR_BY_TEXT: dict[str, Operator] = {
    "=": "=", "!=": "!=", "~": "~", "!~": "!~", "<": "<", "<=": "<=", ">": ">", ">=": ">=",
}


@dataclass(frozen=True, slots=True)
class Clause:
    """``field operator operand``."""

    field: str
    operator: Operator
    operand: Operand
    token: Token


@dataclass(frozen=True, slots=True)
class And:
    """All children must match."""

    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    """Any child must match."""

    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Not:
    """The exact complement of the child."""

    child: Node


Node = Clause | And | Or | Not


@dataclass(frozen=True, slots=True)
class SortKey:
    """One ORDER BY entry."""

    field: str
    descending: bool
    token: Token
