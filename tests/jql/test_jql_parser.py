"""The parser (``worker.jql.parser``): tokens -> the syntax tree, with Jira's precedence and its
errors for malformed queries and reserved words."""

from __future__ import annotations

import pytest

from tests.jql.jql_support import P, issue, matches
from worker.jql import And, Clause, FunctionCall, JqlError, ListOperand, Not, Or, parse_ast
from worker.jql.syntax import Node


def _shape(node: Node | None) -> object:
    """The tree without tokens: clauses as (field, operator, operand), connectives as tuples."""
    if node is None:
        return None
    if isinstance(node, Clause):
        operand = node.operand
        if isinstance(operand, ListOperand):
            shown: object = tuple(getattr(i, "text", type(i).__name__) for i in operand.items)
        elif isinstance(operand, FunctionCall):
            shown = operand.shown
        else:
            shown = getattr(operand, "text", type(operand).__name__)
        return (node.field, node.operator, shown)
    if isinstance(node, Not):
        return ("NOT", _shape(node.child))
    name = "AND" if isinstance(node, And) else "OR"
    assert isinstance(node, And | Or)
    return (name, *(_shape(c) for c in node.children))


SHAPES: list[tuple[str, object, list[tuple[str, bool]]]] = [
    ("", None, []),
    ("ORDER BY key DESC, created", None, [("key", True), ("created", False)]),
    ("project = ACME", ("project", "=", "ACME"), []),
    ("x = 1 AND y = 2 OR z = 3",
     ("OR", ("AND", ("x", "=", "1"), ("y", "=", "2")), ("z", "=", "3")), []),
    ("x = 1 OR y = 2 AND z = 3",
     ("OR", ("x", "=", "1"), ("AND", ("y", "=", "2"), ("z", "=", "3"))), []),
    ("NOT x = 1 AND (y = 2 OR z = 3)",
     ("AND", ("NOT", ("x", "=", "1")), ("OR", ("y", "=", "2"), ("z", "=", "3"))), []),
    ("labels not in (sow, 'msa')", ("labels", "not in", ("sow", "msa")), []),
    ("assignee is not EMPTY", ("assignee", "is not", "Empty"), []),
    ('assignee in membersOf("sales") order by key',
     ("assignee", "in", "membersOf(sales)"), [("key", False)]),
]


@pytest.mark.parametrize(("jql", "where", "order_by"), SHAPES)
def test_tree(jql: str, where: object, order_by: list[tuple[str, bool]]) -> None:
    """AND binds tighter than OR, NOT tighter than both; ORDER BY keys keep their order."""
    tree, keys = parse_ast(jql)
    assert _shape(tree) == where
    assert [(k.field, k.descending) for k in keys] == order_by


PARSER_ERRORS: list[tuple[str, str]] = [
    # syntax, with positions (line, 1-based character)
    ("project foo", P + "Expecting operator but got 'foo'. (line 1, character 9)"),
    ("assignee = priya foo = 1",
     P + "Expecting either 'OR' or 'AND' but got 'foo'. (line 1, character 18)"),
    ("project = ACME\nAND foo", P + "Expecting operator before the end of the query. "
     "(line 2, character 8)"),
    ("project = ACME\n  AND status bar",
     P + "Expecting operator but got 'bar'. (line 2, character 14)"),
    ("project", P + "Expecting operator before the end of the query. (line 1, character 8)"),
    ("project =",
     P + "Expecting either a value, list or function before the end of the query. "
     "(line 1, character 10)"),
    ("project = )", P + "Expecting either a value, list or function but got ')'. You must "
     "surround ')' in quotation marks to use it as a value. (line 1, character 11)"),
    ("project in ()", P + "Expecting either a value, list or function but got ')'. You must "
     "surround ')' in quotation marks to use it as a value. (line 1, character 13)"),
    ("project in (X Y)", P + "Expecting either ',' or ')' but got 'Y'. (line 1, character 15)"),
    ("labels = a", P + "'a' is a reserved JQL word. You must surround it in quotation marks "
     "to use it in a query. (line 1, character 10)"),
    ("project = ACME AND",
     P + "Expecting a field name before the end of the query. (line 1, character 19)"),
    ("= ACME", P + "Expecting a field name but got '='. (line 1, character 1)"),
    ("(project = ACME", P + "Expecting ')' before the end of the query. (line 1, character 16)"),
    ("(project = ACME status = Done)",
     P + "Expecting either 'OR', 'AND' or ')' but got 'status'. (line 1, character 17)"),
    ("project = ACME)", P + "Expecting either 'OR' or 'AND' but got ')'. (line 1, character 15)"),
    ("project = ACME ORDER key", P + "Expecting 'BY' but got 'key'. (line 1, character 22)"),
    ("ORDER BY", P + "Expecting a field name before the end of the query. (line 1, character 9)"),
    ("ORDER BY key foo",
     P + "Expecting either ',' or the end of the query but got 'foo'. (line 1, character 14)"),
    ("labels = select", P + "'select' is a reserved JQL word. You must surround it in "
     "quotation marks to use it in a query. (line 1, character 10)"),
    ("order = x", P + "Expecting 'BY' but got '='. (line 1, character 7)"),
    ("empty = x", P + "'empty' is a reserved JQL word. You must surround it in quotation "
     "marks to use it in a query. (line 1, character 1)"),
    ("status was Done",
     P + "The operator 'WAS' is not supported by Handoff Guard's JQL subset. "
     "(line 1, character 8)"),
    ("status changed", P + "The operator 'CHANGED' is not supported by Handoff Guard's JQL subset. "
     "(line 1, character 8)"),
    ("project not = ACME", P + "Expecting operator but got 'not'. (line 1, character 9)"),
    ("assignee in membersOf(", P + "Expecting a function argument before the end of the query. "
     "(line 1, character 23)"),
    ("NOT " * 101 + "project = ACME", P + "The query nests NOT and parentheses more than 100 "
     "levels deep. (line 1, character 401)"),
]


@pytest.mark.parametrize(("jql", "message"), PARSER_ERRORS)
def test_errors(jql: str, message: str) -> None:
    """Malformed queries, reserved words and unsupported operators: Jira's words and position."""
    with pytest.raises(JqlError) as raised:
        parse_ast(jql)
    assert str(raised.value) == message


def test_quoted_reserved_words_are_values() -> None:
    """A reserved word in quotes is an ordinary value."""
    assert matches('labels = "select"', issue(labels=["select"]))
    assert matches("labels = 'EMPTY'", issue(labels=["EMPTY"]))
    assert not matches("labels = 'EMPTY'", issue(labels=[]))
