"""The JQL subset we speak, in stages: ``lexer`` (text -> tokens), ``parser`` (tokens -> the
syntax tree of ``syntax``), ``compiler`` (tree -> plain Python predicates, with ``fields`` and
``values``) and ``evaluator`` (a query that matches and sorts issues).

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

from worker.jql.context import Issue, JqlContext, JqlError, Predicate
from worker.jql.evaluator import JqlQuery, parse_jql
from worker.jql.fields import CUSTOM_FIELD_RE, SYSTEM_FIELDS, FieldKind
from worker.jql.lexer import Token, tokenize
from worker.jql.parser import RESERVED_WORDS, parse_ast
from worker.jql.syntax import (
    And,
    Clause,
    Empty,
    FunctionCall,
    ListOperand,
    Node,
    Not,
    Operand,
    Operator,
    Or,
    SortKey,
    Value,
)
from worker.jql.values import TextSearch, parse_date, parse_text_search

__all__ = [
    "CUSTOM_FIELD_RE",
    "RESERVED_WORDS",
    "SYSTEM_FIELDS",
    "And",
    "Clause",
    "Empty",
    "FieldKind",
    "FunctionCall",
    "Issue",
    "JqlContext",
    "JqlError",
    "JqlQuery",
    "ListOperand",
    "Node",
    "Not",
    "Operand",
    "Operator",
    "Or",
    "Predicate",
    "SortKey",
    "TextSearch",
    "Token",
    "Value",
    "parse_ast",
    "parse_date",
    "parse_jql",
    "parse_text_search",
    "tokenize",
]
