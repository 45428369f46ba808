"""Recursive-descent parser: tokens -> syntax tree (restriction and ORDER BY). Reserved words
and nesting are checked here; fields and values are the compiler's."""

from __future__ import annotations

from worker.jql.context import JqlError
from worker.jql.lexer import Token, TokenKind, syntax_error, tokenize
from worker.jql.syntax import (
    OPERATOR_BY_TEXT,
    And,
    Clause,
    Empty,
    FunctionCall,
    Item,
    ListOperand,
    Node,
    Not,
    Operand,
    Operator,
    Or,
    SortKey,
    Value,
)

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
            return syntax_error(f"Expecting {expecting} before the end of the query.",
                                 tok.line, tok.column)
        return syntax_error(f"Expecting {expecting} but got '{tok.shown}'.", tok.line,
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
            raise syntax_error(
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
            return OPERATOR_BY_TEXT[tok.text]
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
                raise syntax_error(
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
            raise syntax_error("Expecting operator before the end of the query.",
                                tok.line, tok.column)
        raise syntax_error(f"Expecting operator but got '{tok.shown}'.", tok.line, tok.column)

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
            raise syntax_error(
                "Expecting either a value, list or function before the end of the query.",
                tok.line, tok.column,
            )
        raise syntax_error(
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
    return syntax_error(
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
