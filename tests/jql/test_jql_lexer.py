"""The lexer (``worker.jql.lexer``): words, strings, operators and connectives as tokens, escapes
decoded, and Jira's errors for what cannot be a token, with its line and character."""

from __future__ import annotations

import pytest

from tests.jql.jql_support import P
from worker.jql import JqlError, tokenize

TOKENS: list[tuple[str, list[tuple[str, str]]]] = [
    ("project = ACME", [("word", "project"), ("op", "="), ("word", "ACME"), ("eof", "")]),
    ("a!=b", [("word", "a"), ("op", "!="), ("word", "b"), ("eof", "")]),
    ('labels in ("x y", z)', [("word", "labels"), ("word", "in"), ("lparen", "("),
                             ("string", '"x y"'), ("comma", ","), ("word", "z"), ("rparen", ")"),
                             ("eof", "")]),
    ("a AND b && c OR d || e", [("word", "a"), ("and", "AND"), ("word", "b"), ("and", "&&"),
                                ("word", "c"), ("or", "OR"), ("word", "d"), ("or", "||"),
                                ("word", "e"), ("eof", "")]),
    ("NOT x ~ y", [("not", "NOT"), ("word", "x"), ("op", "~"), ("word", "y"), ("eof", "")]),
    ("", [("eof", "")]),
]


@pytest.mark.parametrize(("text", "expected"), TOKENS)
def test_tokens(text: str, expected: list[tuple[str, str]]) -> None:
    """Each piece of the query becomes one token of the right kind; the last is ``eof``."""
    assert [(t.kind, t.raw) for t in tokenize(text)] == expected
    assert tokenize('"x y"')[0].text == "x y"  # the value, unquoted


def test_positions_count_lines_and_characters() -> None:
    """Tokens carry Jira's 1-based line and character, as its messages quote them."""
    tokens = tokenize("project = ACME\n  AND status")
    assert [(t.raw, t.line, t.column) for t in tokens[:-1]] == [
        ("project", 1, 1), ("=", 1, 9), ("ACME", 1, 11), ("AND", 2, 3), ("status", 2, 7)]
    assert tokens[3].where == "(line 2, character 3)"


LEXER_ERRORS: list[tuple[str, str]] = [
    ("summary ~ \"unterminated",
     P + "The quoted string 'unterminated' has not been completed. (line 1, character 11)"),
    ("project = 'ACME", P + "The quoted string 'ACME' has not been completed. "
     "(line 1, character 11)"),
    ("project = \"A\\qB\"", P + "'\\q' is an illegal JQL escape sequence. The valid escape "
     "sequences are \\', \\\", \\t, \\n, \\r, \\\\, '\\ ' and \\uXXXX. (line 1, character 11)"),
    ("project = ACME # x", P + "The character '#' is a reserved JQL character. You must enclose "
     "it in a string or use the escape '\\u0023' instead. (line 1, character 16)"),
    ("project = A & labels = b", P + "The character '&' is a reserved JQL character. You must "
     "enclose it in a string or use the escape '\\u0026' instead. (line 1, character 13)"),
]


@pytest.mark.parametrize(("jql", "message"), LEXER_ERRORS)
def test_errors(jql: str, message: str) -> None:
    """Unterminated strings, unknown escapes and reserved characters: Jira's words."""
    with pytest.raises(JqlError) as raised:
        tokenize(jql)
    assert str(raised.value) == message


@pytest.mark.parametrize(
    ("jql", "text"),
    [
        (r'summary ~ "say \"hi\""', 'say "hi"'),
        (r"summary ~ 'it\'s'", "it's"),
        (r'summary ~ "back\\slash"', "back\\slash"),
        (r'summary ~ "tab\there"', "tab\there"),
        (r'summary ~ "\u0041cme"', "Acme"),
        (r"summary ~ one\ two", "one two"),
    ],
)
def test_escapes(jql: str, text: str) -> None:
    """Backslash escapes decode inside quoted and unquoted strings."""
    values = [t.text for t in tokenize(jql) if t.kind in ("string", "word")]
    assert values[-1] == text
