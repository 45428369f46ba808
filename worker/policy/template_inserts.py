"""The values one render of a comment template inserts, kept aside as placeholders.

Every value a template inserts becomes text, never markup: ``finalize`` swaps each inserted
value for a private-use placeholder carrying the render's random nonce and keeps the value
aside, so that the comment's structure is parsed from the template's literal text alone
(:mod:`worker.policy.template_document`). The render also counts the room left in the
comment: nothing builds more than :data:`MAX_COMMENT_CHARS`.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import datetime

from jinja2.exceptions import SecurityError

from worker.model.people import Person

OPEN, CLOSE = "\ue000", "\ue001"
PRIVATE = re.compile(f"[{OPEN}{CLOSE}]")
#: a placeholder of any render: its nonce (16 hex digits) and the inserted value's index
PLACEHOLDER = re.compile(f"{OPEN}([0-9a-f]{{16}}):(\\d+){CLOSE}")
#: the values of the render in progress (each render sets its own)
values: ContextVar[Inserted] = ContextVar("template_values")

#: Jira's limit on a comment's body; a template rendering more is a mistake, never a comment
MAX_COMMENT_CHARS = 32_767


class OutputTooLargeError(SecurityError):
    """The comment would exceed :data:`MAX_COMMENT_CHARS` (refused before it is built)."""


class Inserted(list[object]):
    """The values one render inserted, with that render's placeholder nonce and the room
    left in the comment.

    The placeholder carries a random nonce: text a macro or ``include`` produced (already
    holding placeholders) passes through ``finalize`` again and must stay as it is, while
    ticket text that imitates a placeholder cannot guess the nonce and stays plain text.
    """

    def __init__(self) -> None:
        super().__init__()
        self.nonce = secrets.token_hex(8)
        self.room = MAX_COMMENT_CHARS

    def placeholders(self, text: str) -> Iterator[re.Match[str]]:
        """This render's placeholders in ``text`` (one with another nonce is plain text).

        One pattern for every render, the nonce compared per match: compiling a pattern per
        render (each with its own nonce) cost a third of rendering a comment.
        """
        for m in PLACEHOLDER.finditer(text):
            if m.group(1) == self.nonce:
                yield m

    def holds_placeholder(self, text: str) -> bool:
        """Whether ``text`` holds one of this render's placeholders."""
        return next(self.placeholders(text), None) is not None


def spend(chars: int) -> None:
    """Count ``chars`` more of the comment in progress; refused past the bound."""
    inserted = values.get(None)
    if inserted is None:
        return
    inserted.room -= chars
    if inserted.room < 0:
        raise OutputTooLargeError(f"the comment would exceed {MAX_COMMENT_CHARS} characters")


def check_size(chars: int) -> None:
    """Refuse an expression that would build more than a whole comment."""
    if chars > MAX_COMMENT_CHARS:
        raise OutputTooLargeError(
            f"an expression would build {chars} characters (a comment is at most "
            f"{MAX_COMMENT_CHARS})"
        )


def finalize(value: object) -> str:
    """Jinja's ``finalize``: an inserted value kept aside, a placeholder in its place."""
    store = values.get()
    if isinstance(value, str) and store.holds_placeholder(value):
        return value  # a macro's or include's output: already placeholders and literal text
    store.append(value)
    placeholder = f"{OPEN}{store.nonce}:{len(store) - 1}{CLOSE}"
    # the render loop counts the placeholder; the value's own length replaces it
    spend(len(value_text(value)) - len(placeholder))
    return placeholder


def value_text(value: object) -> str:
    """How an inserted value reads in the comment (a person by name, a list joined)."""
    if value is None:
        return ""
    if isinstance(value, Person):
        return value.display_name
    if isinstance(value, datetime):
        return f"{value:%A} {value.day} {value:%B} {value:%H:%M}"
    if isinstance(value, list | tuple):
        return ", ".join(value_text(v) for v in value)
    return PRIVATE.sub("", str(value))
