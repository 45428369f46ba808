"""The JQL subset we speak: a tokenizer, a recursive-descent parser into an AST, and a
compiler that turns the AST into plain Python predicates.

Two users: the sandbox answers searches with it, and the planner re-checks each policy's
``scope`` locally with it (a server that returns too much must not make the bot act).

Only the subset the worker and its tests need is supported, and everything outside it is an
error in Jira's wording (the sandbox answers 400 with it) instead of a clause that is silently
ignored or a query that matches everything.

Semantics chosen to follow Jira:

* Keywords, field names and function names are case-insensitive; project keys, issue types,
  statuses, status categories and user names (Data Center) compare case-insensitively; labels
  and Cloud accountIds compare exactly; custom field values compare case-insensitively.
* A negative operator (``!=``, ``not in``, ``!~``) never matches an issue whose field is empty:
  ``assignee != priya`` leaves unassigned issues out, as in Jira. ``NOT`` is the exact
  logical complement.
* ``~`` is a text search: every word of the term must start a word of the field
  (case-insensitive), ``"quoted phrases"`` inside the term must appear as consecutive words,
  and a trailing ``*`` is allowed (a leading or inner one is an error).
* Dates compare by instant; a date-only literal is 00:00 in the site's timezone.
* ``key``, ``issue``, ``issuekey`` and ``id`` are one field (as in Jira): a value is an issue
  key or a numeric id; ``<``/``>`` on keys compare numbers within the key's project.
* Jira's reserved words (``select``, ``update``, ``a``, ...) must be quoted to be values.
* ORDER BY is stable; empty values sort last ascending and first descending; every field's
  default direction is ascending.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal, TypeVar
from zoneinfo import ZoneInfo

T = TypeVar("T")
Issue = Mapping[str, Any]
Predicate = Callable[[Issue], bool]


class JqlError(ValueError):
    """A query Jira would answer with 400; the message is Jira's wording."""


@dataclass(frozen=True, slots=True)
class JqlContext:
    """What a query needs from the site to be checked and evaluated."""

    now: datetime  # site clock, tz-aware UTC
    timezone: ZoneInfo  # site timezone, for date literals and startOfDay()
    current_user: str  # caller id (accountId on cloud, name on DC)
    members_of: Callable[[str], frozenset[str]]  # group -> member ids; KeyError if unknown
    user_exists: Callable[[str], bool]
    fields_by_name: Mapping[str, str]  # lower-cased custom field name -> "customfield_10051"
    flavor: str  # "cloud" | "datacenter"
    known_projects: frozenset[str] = frozenset()  # upper-case keys; empty: don't check


# --------------------------------------------------------------------------- tokens

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


def _syntax_error(message: str, line: int, column: int) -> JqlError:
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
            raise _syntax_error(
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
    raise _syntax_error(
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
    raise _syntax_error(
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


# --------------------------------------------------------------------------- AST


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
_OPERATOR_BY_TEXT: dict[str, Operator] = {
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


# Jira's reserved words: they must be quoted to be used as a field name or a value.
_RESERVED_TEXT = """
    a an abort access add after alias all alter and any are as asc at audit avg before begin
    between boolean break by byte catch cf char character check checkpoint collate collation
    column commit connect continue count create current date decimal declare decrement
    default defaults define delete delimiter desc difference distinct divide do double drop
    else empty encoding end equals escape exclusive exec execute exists explain false fetch
    file field first float for from function go goto grant greater group having identified if
    immediate in increment index initial inner inout input insert int integer intersect
    intersection into is isempty isnull join last left less like limit lock long max min
    minus mode modify modulo more multiply next noaudit not notin nowait null number object
    of on option or order outer output power previous prior privileges public raise raw
    remainder rename resource return returns revoke right row rowid rownum rows select
    session set share size sqrt start strict string subtract sum synonym table then to trans
    transaction trigger true uid union unique update user validate values view was when
    whenever where while with changed
"""
RESERVED_WORDS = frozenset(_RESERVED_TEXT.split())


MAX_NESTING = 100


class _Parser:
    """Recursive descent over the token list; AND binds tighter than OR, NOT tightest."""

    def __init__(self, tokens: list[Token], reserved: frozenset[str]) -> None:
        self.tokens = tokens
        self.pos = 0
        self.depth = 0
        self.reserved = reserved

    @property
    def tok(self) -> Token:
        return self.tokens[self.pos]

    def kind(self) -> TokenKind:
        # A method, not the property, so mypy does not narrow it across advance().
        return self.tokens[self.pos].kind

    def advance(self) -> Token:
        tok = self.tokens[self.pos]
        if tok.kind != "eof":
            self.pos += 1
        return tok

    def is_word(self, *words: str) -> bool:
        return self.kind() == "word" and self.tok.raw.lower() in words

    def fail(self, expecting: str, tok: Token | None = None) -> JqlError:
        tok = tok or self.tok
        if tok.kind == "eof":
            return _syntax_error(f"Expecting {expecting} before the end of the query.",
                                 tok.line, tok.column)
        return _syntax_error(f"Expecting {expecting} but got '{tok.shown}'.", tok.line,
                             tok.column)

    # query := [or_expr] [ORDER BY sort_key ("," sort_key)*] EOF
    def parse(self) -> tuple[Node | None, tuple[SortKey, ...]]:
        where: Node | None = None
        if self.kind() != "eof" and not self.is_word("order"):
            where = self.or_expr()
        sort: tuple[SortKey, ...] = ()
        if self.is_word("order"):
            self.advance()
            if not self.is_word("by"):
                raise self.fail("'BY'")
            self.advance()
            sort = self.sort_keys()
        if self.kind() != "eof":
            if sort:
                raise self.fail("either ',' or the end of the query")
            raise self.fail("either 'OR' or 'AND'")
        return where, sort

    def or_expr(self) -> Node:
        children = [self.and_expr()]
        while self.kind() == "or":
            self.advance()
            children.append(self.and_expr())
        return children[0] if len(children) == 1 else Or(tuple(children))

    def and_expr(self) -> Node:
        children = [self.not_expr()]
        while self.kind() == "and":
            self.advance()
            children.append(self.not_expr())
        return children[0] if len(children) == 1 else And(tuple(children))

    def not_expr(self) -> Node:
        if self.kind() not in ("not", "lparen"):
            return self.clause()
        self.depth += 1
        if self.depth > MAX_NESTING:
            # Recursion, here and in the compiler, must stay far from Python's limit.
            raise _syntax_error(
                f"The query nests NOT and parentheses more than {MAX_NESTING} levels deep.",
                self.tok.line, self.tok.column,
            )
        try:
            if self.advance().kind == "not":
                return Not(self.not_expr())
            inner = self.or_expr()
            if self.kind() != "rparen":
                raise self.fail("')'" if self.kind() == "eof" else "either 'OR', 'AND' or ')'")
            self.advance()
            return inner
        finally:
            self.depth -= 1

    def field_name(self) -> Token:
        tok = self.tok
        if tok.kind == "string":
            return self.advance()
        if tok.kind != "word":
            raise self.fail("a field name")
        if tok.raw.lower() in self.reserved:
            raise _reserved(tok)
        return self.advance()

    def clause(self) -> Clause:
        name = self.field_name()
        op = self.operator()
        operand = self.operand()
        return Clause(name.text, op, operand, name)

    def operator(self) -> Operator:
        tok = self.tok
        if tok.kind == "op":
            self.advance()
            return _OPERATOR_BY_TEXT[tok.text]
        if tok.kind == "word":
            low = tok.raw.lower()
            if low == "in":
                self.advance()
                return "in"
            if low == "is":
                self.advance()
                if self.kind() == "not":
                    self.advance()
                    return "is not"
                return "is"
            if low in ("was", "changed"):
                raise _syntax_error(
                    f"The operator '{low.upper()}' is not supported by Handoff Guard's JQL subset.",
                    tok.line, tok.column,
                )
        if tok.kind == "not" and tok.raw.lower() == "not":
            nxt = self.tokens[self.pos + 1]
            if nxt.kind == "word" and nxt.raw.lower() == "in":
                self.advance()
                self.advance()
                return "not in"
        if tok.kind == "eof":
            raise _syntax_error("Expecting operator before the end of the query.",
                                tok.line, tok.column)
        raise _syntax_error(f"Expecting operator but got '{tok.shown}'.", tok.line, tok.column)

    def operand(self) -> Operand:
        if self.kind() == "lparen":
            start = self.advance()
            items = [self.item()]
            while self.kind() == "comma":
                self.advance()
                items.append(self.item())
            if self.kind() != "rparen":
                raise self.fail("either ',' or ')'")
            self.advance()
            return ListOperand(tuple(items), start)
        return self.item()

    def item(self) -> Item:
        tok = self.tok
        if tok.kind == "string":
            self.advance()
            return Value(tok.text, tok)
        if tok.kind == "word":
            low = tok.raw.lower()
            if low in ("empty", "null"):
                self.advance()
                return Empty(tok)
            if self.tokens[self.pos + 1].kind == "lparen":
                return self.function()
            if low in self.reserved:
                raise _reserved(tok)
            self.advance()
            return Value(tok.text, tok)
        if tok.kind == "eof":
            raise _syntax_error(
                "Expecting either a value, list or function before the end of the query.",
                tok.line, tok.column,
            )
        raise _syntax_error(
            f"Expecting either a value, list or function but got '{tok.shown}'. You must "
            f"surround '{tok.shown}' in quotation marks to use it as a value.",
            tok.line, tok.column,
        )

    def function(self) -> FunctionCall:
        name = self.advance()
        self.advance()  # "("
        args: list[str] = []
        if self.kind() != "rparen":
            while True:
                arg = self.tok
                if arg.kind not in ("word", "string"):
                    raise self.fail("a function argument")
                args.append(self.advance().text)
                if self.kind() != "comma":
                    break
                self.advance()
        if self.kind() != "rparen":
            raise self.fail("either ',' or ')'")
        self.advance()
        return FunctionCall(name.text, tuple(args), name)

    def sort_keys(self) -> tuple[SortKey, ...]:
        keys: list[SortKey] = []
        while True:
            name = self.field_name()
            descending = False
            if self.is_word("asc", "desc"):
                descending = self.advance().raw.lower() == "desc"
            keys.append(SortKey(name.text, descending, name))
            if self.kind() != "comma":
                return tuple(keys)
            self.advance()


def _reserved(tok: Token) -> JqlError:
    return _syntax_error(
        f"'{tok.raw}' is a reserved JQL word. You must surround it in quotation marks to use "
        "it in a query.",
        tok.line, tok.column,
    )


def parse_ast(
    text: str, *, reserved: frozenset[str] = RESERVED_WORDS
) -> tuple[Node | None, tuple[SortKey, ...]]:
    """Parse JQL (or CQL, with its own ``reserved`` words) into its AST: the restriction
    (None when there is none) and the ORDER BY keys. Fields and values are not checked here."""
    return _Parser(tokenize(text), reserved).parse()


# --------------------------------------------------------------------------- text search

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


# --------------------------------------------------------------------------- fields

FieldKind = Literal[
    "project", "issuetype", "status", "statusCategory", "user", "labels", "text", "comment",
    "alltext", "date", "key", "custom",
]
_EQUALITY: frozenset[str] = frozenset({"=", "!=", "in", "not in", "is", "is not"})
_ORDERING: frozenset[str] = frozenset({"<", "<=", ">", ">="})
_SUPPORTED: dict[FieldKind, frozenset[str]] = {
    "project": _EQUALITY,
    "issuetype": _EQUALITY,
    "status": _EQUALITY,
    "statusCategory": _EQUALITY,
    "user": _EQUALITY,
    "labels": _EQUALITY,
    "text": frozenset({"~", "!~", "is", "is not"}),
    "comment": frozenset({"~", "!~"}),
    "alltext": frozenset({"~"}),
    "date": _EQUALITY | _ORDERING,
    "key": (_EQUALITY - {"is", "is not"}) | _ORDERING,
    "custom": _EQUALITY | {"~", "!~"},
}


@dataclass(frozen=True, slots=True)
class _Field:
    """A resolved field: its kind and where its value lives in the issue mapping."""

    name: str  # as typed, for messages
    kind: FieldKind
    slot: str  # issue mapping key, or the custom field id


_SYSTEM_FIELDS: dict[str, tuple[FieldKind, str]] = {
    "project": ("project", "project"),
    "issuetype": ("issuetype", "issuetype"),
    "type": ("issuetype", "issuetype"),
    "status": ("status", "status"),
    "statuscategory": ("statusCategory", "statusCategory"),
    "assignee": ("user", "assignee"),
    "reporter": ("user", "reporter"),
    "labels": ("labels", "labels"),
    "summary": ("text", "summary"),
    "description": ("text", "description"),
    "comment": ("comment", "comment"),
    "text": ("alltext", "text"),
    "created": ("date", "created"),
    "createddate": ("date", "created"),
    "updated": ("date", "updated"),
    "updateddate": ("date", "updated"),
    "key": ("key", "key"),
    "issue": ("key", "key"),
    "issuekey": ("key", "key"),
    "id": ("key", "key"),
}
_CF_RE = re.compile(r"^cf\[(\d+)\]$", re.IGNORECASE)


def _resolve_field(name: str, ctx: JqlContext) -> _Field:
    low = name.strip().lower()
    system = _SYSTEM_FIELDS.get(low)
    if system is not None:
        return _Field(name, system[0], system[1])
    cf = _CF_RE.match(low)
    if cf is not None:
        field_id = f"customfield_{cf.group(1)}"
        if field_id in ctx.fields_by_name.values():
            return _Field(name, "custom", field_id)
    else:
        field_id_by_name = ctx.fields_by_name.get(low)
        if field_id_by_name is not None:
            return _Field(name, "custom", field_id_by_name)
    raise JqlError(f"Field '{name}' does not exist or you do not have permission to view it.")


_CATEGORY_BY_VALUE = {
    "to do": "new", "new": "new", "2": "new",
    "in progress": "indeterminate", "indeterminate": "indeterminate", "4": "indeterminate",
    "done": "done", "complete": "done", "3": "done",
    "no category": "undefined", "undefined": "undefined", "1": "undefined",
}
_CATEGORY_ORDER = {"undefined": 0, "new": 1, "indeterminate": 2, "done": 3}


# Extractors: issue -> normalized scalar (None when empty) or tuple (empty when empty).
Scalar = Callable[[Issue], Any]
Multi = Callable[[Issue], tuple[Any, ...]]


def _upper_of(slot: str) -> Scalar:
    def get(issue: Issue) -> Any:
        v = issue.get(slot)
        return v.upper() if v else None
    return get


def _fold_of(slot: str) -> Scalar:
    def get(issue: Issue) -> Any:
        v = issue.get(slot)
        return v.casefold() if v else None
    return get


def _raw_of(slot: str) -> Scalar:
    def get(issue: Issue) -> Any:
        return issue.get(slot) or None
    return get


def _as_utc(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _date_of(slot: str) -> Scalar:
    def get(issue: Issue) -> Any:
        return _as_utc(issue.get(slot))
    return get


_KEY_RE = re.compile(r"^([A-Za-z][A-Za-z0-9_]*)-([0-9]{1,18})$")
_ID_RE = re.compile(r"^[0-9]{1,18}$")


def _key_of(issue: Issue) -> Any:
    m = _KEY_RE.match(issue.get("key") or "")
    return (m.group(1).upper(), int(m.group(2))) if m else None


def _id_of(issue: Issue) -> Any:
    v = issue.get("id")
    return int(v) if v is not None and _ID_RE.match(str(v)) else None


def _labels_of(issue: Issue) -> tuple[Any, ...]:
    return tuple(issue.get("labels") or ())


def _plain(value: Any) -> str:
    # Option fields may arrive in REST shape ({"value": "Signed"}) rather than as text.
    if isinstance(value, Mapping):
        return str(value.get("value") or value.get("name") or "")
    return str(value)


def _custom_values(issue: Issue, slot: str) -> tuple[str, ...]:
    v = (issue.get("custom") or {}).get(slot)
    if v is None or v == "":
        return ()
    if isinstance(v, list | tuple):
        return tuple(t for t in (_plain(x) for x in v if x is not None) if t)
    t = _plain(v)
    return (t,) if t else ()


def _custom_of(slot: str) -> Multi:
    def get(issue: Issue) -> tuple[Any, ...]:
        return tuple(x.casefold() for x in _custom_values(issue, slot))
    return get


def _texts_of(f: _Field) -> Callable[[Issue], list[str]]:
    """The texts a ``~`` clause searches for this field."""
    if f.kind == "text":
        slot = f.slot

        def one(issue: Issue) -> list[str]:
            v = issue.get(slot)
            return [v] if v else []
        return one
    if f.kind == "comment":
        return lambda issue: [c for c in issue.get("comment") or () if c]
    if f.kind == "custom":
        slot = f.slot
        return lambda issue: list(_custom_values(issue, slot))

    def everything(issue: Issue) -> list[str]:
        out = [t for t in (issue.get("summary"), issue.get("description")) if t]
        out.extend(c for c in issue.get("comment") or () if c)
        for v in (issue.get("custom") or {}).values():
            # Plain strings only: REST-shaped option values ({"value": ...}) are not free text.
            if isinstance(v, str) and v:
                out.append(v)
            elif isinstance(v, list | tuple):
                out.extend(x for x in v if isinstance(x, str) and x)
        return out
    return everything


# --------------------------------------------------------------------------- values

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
_LIST_FUNCTIONS = frozenset({"membersof"})
_FUNCTIONS = {"membersof": "membersOf", "currentuser": "currentUser", "now": "now",
              "startofday": "startOfDay", "endofday": "endOfDay"}
_FUNCTION_KINDS: dict[str, frozenset[FieldKind]] = {
    "membersOf": frozenset({"user"}),
    "currentUser": frozenset({"user"}),
    "now": frozenset({"date"}),
    "startOfDay": frozenset({"date"}),
    "endOfDay": frozenset({"date"}),
}


def _check_arity(call: FunctionCall, name: str, allowed: tuple[int, ...]) -> None:
    if len(call.args) not in allowed:
        want = " or ".join(f"'{n}'" for n in allowed)
        raise JqlError(
            f"Function '{name}' expected {want} arguments but got '{len(call.args)}'."
        )


def _day_instant(call: FunctionCall, name: str, ctx: JqlContext) -> datetime:
    _check_arity(call, name, (0, 1))
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


def _day_function(call: FunctionCall, name: str, ctx: JqlContext) -> datetime:
    try:
        return _day_instant(call, name, ctx)
    except OverflowError:
        raise JqlError(
            f"Function '{name}' got the offset '{call.args[0]}', which is out of range."
        ) from None


_EMPTY = object()  # a resolved EMPTY in a value list


class _Compiler:
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

    def values(self, f: _Field, clause: Clause, items: Sequence[Item]) -> list[Any]:
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

    def function(self, f: _Field, clause: Clause, call: FunctionCall) -> list[Any]:
        name = _FUNCTIONS.get(call.name.lower())
        if name is None:
            raise JqlError(f"Function '{call.name}' is not supported.")
        if f.kind not in _FUNCTION_KINDS[name]:
            raise JqlError(f"Function '{name}' is not supported by the '{f.name}' field.")
        if name == "membersOf":
            _check_arity(call, name, (1,))
            try:
                members = self.ctx.members_of(call.args[0])
            except KeyError:
                raise JqlError(f"The group '{call.args[0]}' does not exist.") from None
            return [self.user_id(m) for m in members]
        if name == "currentUser":
            _check_arity(call, name, (0,))
            return [self.user_id(self.ctx.current_user)]
        if name == "now":
            _check_arity(call, name, (0,))
            return [self.ctx.now.astimezone(UTC)]
        return [_day_function(call, name, self.ctx)]

    def user_id(self, value: str) -> str:
        return value if self.cloud else value.lower()

    def literal(self, f: _Field, text: str) -> Any:
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
            category = _CATEGORY_BY_VALUE.get(text.strip().lower())
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
                if _ID_RE.match(t):
                    return ("id", int(t))
                m = _KEY_RE.match(t)
                if m is not None:
                    return ("key", (m.group(1).upper(), int(m.group(2))))
            except ValueError:  # more digits than int() accepts
                pass
            raise JqlError(f"The issue key '{text}' for field '{f.name}' is invalid.")
        return text.casefold()  # custom

    # ---- clauses

    def clause(self, clause: Clause) -> Predicate:
        f = _resolve_field(clause.field, self.ctx)
        op = clause.operator
        if op not in _SUPPORTED[f.kind]:
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
                isinstance(operand, FunctionCall) and operand.name.lower() in _LIST_FUNCTIONS
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
            isinstance(operand, FunctionCall) and operand.name.lower() in _LIST_FUNCTIONS
        ):
            raise JqlError(
                f"The operator '{op}' does not support the multi-value operand "
                f"{_describe(operand)}; use 'in' or 'not in' instead."
            )
        if isinstance(operand, Empty):
            if op in _ORDERING:
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
        return _ordered(_scalar(f, self.cloud), op, value)

    def emptiness(self, f: _Field, *, want_empty: bool) -> Predicate:
        if f.kind in ("text", "comment", "alltext"):
            texts = _texts_of(f)
            if want_empty:
                return lambda issue: not texts(issue)
            return lambda issue: bool(texts(issue))
        multi = _multi(f)
        if multi is not None:
            if want_empty:
                return lambda issue: not multi(issue)
            return lambda issue: bool(multi(issue))
        get = _scalar(f, self.cloud)
        if want_empty:
            return lambda issue: get(issue) is None
        return lambda issue: get(issue) is not None

    def membership(self, f: _Field, values: list[Any], *, negate: bool) -> Predicate:
        has_empty = any(v is _EMPTY for v in values)
        wanted = frozenset(v for v in values if v is not _EMPTY)
        multi = _multi(f)
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
        get = _scalar(f, self.cloud)
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
            return (bool(keys) and _key_of(issue) in keys) or (bool(ids) and _id_of(issue) in ids)

        if negate:
            return lambda issue: not hit(issue)
        return hit

    def key_order(self, value: Any, op: str) -> Predicate:
        kind, target = value
        if kind == "id":
            return _ordered(_id_of, op, target)
        project, number = target
        return _ordered(lambda issue: issue_number(issue, project), op, number)

    def text(self, f: _Field, clause: Clause) -> Predicate:
        op = clause.operator
        operand = clause.operand
        if not isinstance(operand, Value):
            raise JqlError(
                f"The operator '{op}' only supports a text value, not {_describe(operand)}."
            )
        search = parse_text_search(operand.text, f.name)
        texts = _texts_of(f)
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
    key = _key_of(issue)
    return key[1] if key is not None and key[0] == project else None


def _describe(operand: Operand) -> str:
    if isinstance(operand, Empty):
        return "EMPTY"
    if isinstance(operand, FunctionCall):
        return f"'{operand.shown}'"
    if isinstance(operand, ListOperand):
        return "a list"
    return f"'{operand.text}'"


def _scalar(f: _Field, cloud: bool) -> Scalar:
    kind = f.kind
    if kind == "project":
        return _upper_of("project")
    if kind in ("issuetype", "status"):
        return _fold_of(f.slot)
    if kind == "statusCategory":
        return _fold_of("statusCategory")
    if kind == "user":
        return _raw_of(f.slot) if cloud else _fold_of(f.slot)
    if kind == "date":
        return _date_of(f.slot)
    if kind == "key":
        return _key_of
    return _fold_of(f.slot)


def _multi(f: _Field) -> Multi | None:
    if f.kind == "labels":
        return _labels_of
    if f.kind == "custom":
        return _custom_of(f.slot)
    return None


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


# --------------------------------------------------------------------------- sorting

SortValue = Callable[[Issue], Any]


def _sort_value(f: _Field, cloud: bool) -> SortValue:
    if f.kind in ("comment", "alltext"):
        raise JqlError(f"Field '{f.name}' does not support sorting.")
    if f.kind == "statusCategory":
        def category(issue: Issue) -> Any:
            v = issue.get("statusCategory")
            return _CATEGORY_ORDER.get(v.lower()) if v else None
        return category
    if f.kind == "labels":
        return lambda issue: tuple(sorted(_labels_of(issue))) or None
    if f.kind == "custom":
        multi = _custom_of(f.slot)
        return lambda issue: multi(issue) or None
    if f.kind == "text":
        return _fold_of(f.slot)
    return _scalar(f, cloud)


def _compile_sort(keys: Sequence[SortKey], ctx: JqlContext) -> list[tuple[SortValue, bool]]:
    seen: set[str] = set()
    out: list[tuple[SortValue, bool]] = []
    for key in keys:
        f = _resolve_field(key.field, ctx)
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
    predicate = _Compiler(ctx).node(where) if where is not None else _match_all
    return _Compiled(ctx, predicate, _compile_sort(order_by, ctx))


def parse_jql(text: str, ctx: JqlContext) -> JqlQuery:
    """Parse and check ``text`` against ``ctx``; raise :class:`JqlError` in Jira's words."""
    where, order_by = parse_ast(text)
    return JqlQuery(text, where, order_by, _compile(where, order_by, ctx))
