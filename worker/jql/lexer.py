"""JQL's lexical rules (CQL shares them): text -> tokens, with Jira's positions and wording
for what cannot be a token."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from worker.jql.context import JqlError

TokenKind = Literal[
    "word", "string", "op", "lparen", "rparen", "comma", "and", "or", "not", "eof"
]


@dataclass(frozen=True, slots=True)
class Token:
    """One lexical token; ``text`` is the unescaped value, ``raw`` what was written."""

    kind: TokenKind
    text: str
    raw: str
    line: int
    column: int  # 1-based, as in Jira's messages

    @property
    def where(self) -> str:
        """Jira's position suffix, e.g. ``(line 1, character 9)``."""
        return f"(line {self.line}, character {self.column})"

    @property
    def shown(self) -> str:
        """The token as Jira quotes it in a message."""
        return self.raw


_PREFIX = "Error in the JQL Query: "
# Characters Jira refuses outside a quoted string.
_RESERVED_CHARS = frozenset("{};?#^$%`")
# Characters that end an unquoted word.
_WORD_STOP = frozenset(" \t\r\n\f\v()\",'=!<>~&|") | _RESERVED_CHARS
_OPERATORS = ("!=", "!~", "<=", ">=", "=", "<", ">", "~")
_ESCAPES = {"'": "'", '"': '"', "t": "\t", "n": "\n", "r": "\r", "\\": "\\", " ": " "}


def syntax_error(message: str, line: int, column: int) -> JqlError:
    return JqlError(f"{_PREFIX}{message} (line {line}, character {column})")


def tokenize(text: str) -> list[Token]:
    """Split JQL (or CQL, which shares the lexical rules) into tokens; the last is ``eof``."""
    tokens: list[Token] = []
    i = 0
    n = len(text)
    line = 1
    line_start = 0
    while i < n:
        c = text[i]
        if c.isspace():
            if c == "\n":
                line += 1
                line_start = i + 1
            i += 1
            continue
        column = i - line_start + 1
        if c == "(":
            tokens.append(Token("lparen", c, c, line, column))
            i += 1
        elif c == ")":
            tokens.append(Token("rparen", c, c, line, column))
            i += 1
        elif c == ",":
            tokens.append(Token("comma", c, c, line, column))
            i += 1
        elif c in "\"'":
            value, end = _read_string(text, i, line, column)
            tokens.append(Token("string", value, text[i:end], line, column))
            i = end
        elif text.startswith("&&", i):
            tokens.append(Token("and", "&&", "&&", line, column))
            i += 2
        elif text.startswith("||", i):
            tokens.append(Token("or", "||", "||", line, column))
            i += 2
        elif c in "=!<>~":
            op = next((o for o in _OPERATORS if text.startswith(o, i)), None)
            if op is None:  # a lone '!' is NOT
                tokens.append(Token("not", c, c, line, column))
                i += 1
            else:
                tokens.append(Token("op", op, op, line, column))
                i += len(op)
        elif c in _RESERVED_CHARS or c in "&|":
            raise syntax_error(
                f"The character '{c}' is a reserved JQL character. You must enclose it in a "
                f"string or use the escape '\\u{ord(c):04x}' instead.",
                line,
                column,
            )
        else:
            value, end = _read_word(text, i, line, column)
            raw = text[i:end]
            low = value.lower() if raw == value else ""
            kind: TokenKind = "word"
            if low == "and":
                kind = "and"
            elif low == "or":
                kind = "or"
            elif low == "not":
                kind = "not"
            tokens.append(Token(kind, value, raw, line, column))
            i = end
    column = n - line_start + 1
    tokens.append(Token("eof", "", "", line, column))
    return tokens


def _read_escape(text: str, i: int, line: int, column: int) -> tuple[str, int]:
    """Decode the escape starting at the backslash ``text[i]``; return (char, next index)."""
    nxt = text[i + 1 : i + 2]
    if nxt in _ESCAPES and nxt:
        return _ESCAPES[nxt], i + 2
    if nxt == "u":
        digits = text[i + 2 : i + 6]
        if len(digits) == 4 and all(d in "0123456789abcdefABCDEF" for d in digits):
            return chr(int(digits, 16)), i + 6
    shown = text[i : i + 2]
    raise syntax_error(
        f"'{shown}' is an illegal JQL escape sequence. The valid escape sequences are \\', "
        "\\\", \\t, \\n, \\r, \\\\, '\\ ' and \\uXXXX.",
        line,
        column,
    )


def _read_string(text: str, start: int, line: int, column: int) -> tuple[str, int]:
    quote = text[start]
    out: list[str] = []
    i = start + 1
    n = len(text)
    while i < n:
        c = text[i]
        if c == quote:
            return "".join(out), i + 1
        if c == "\\":
            ch, i = _read_escape(text, i, line, column)
            out.append(ch)
            continue
        out.append(c)
        i += 1
    raise syntax_error(
        f"The quoted string '{text[start + 1:]}' has not been completed.", line, column
    )


def _read_word(text: str, start: int, line: int, column: int) -> tuple[str, int]:
    out: list[str] = []
    i = start
    n = len(text)
    while i < n and text[i] not in _WORD_STOP:
        if text[i] == "\\":
            ch, i = _read_escape(text, i, line, column)
            out.append(ch)
            continue
        out.append(text[i])
        i += 1
    return "".join(out), i
