"""A contract status read three ways: signed, unsigned, or neither (and then why).

A status is *signed* only when its leading value matches one of ``deals.signed_values``,
*unsigned* only when it matches one of ``deals.unsigned_values``, and otherwise
*unreadable*: the bot never folds a value it does not recognise into the nearest known
answer. The leading value is the first status lozenge of a deal page's cell, else the cell's
first line (a ticket field's first line); it is compared ignoring case, spaces, trailing
punctuation, emoji and a parenthetical ("Signed.", "Signed ✅", "Signed (DocuSign)" all read
"Signed"); a question mark ("Signed?") makes it unreadable: its writer was unsure. When the
first line as a whole matches nothing, its part before a separator ("Signed - see DocuSign",
"Signed: countersigned") is tried.

Everything else in the cell is kept as evidence, and read for a contradiction: a signed
leading value followed by an unsigned value or a negation ("not", "pending", "awaiting",
"un…signed") is *conflicting*, and so is an unsigned leading value followed by a signed value
that no negation qualifies ("In negotiation - signed copy on file"). Conflicting is a skip too.

Pure functions and frozen values only.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

StatusState = Literal["signed", "unsigned", "unreadable", "conflicting"]

#: the usual stages before a signature, shipped as ``deals.unsigned_values``' default
DEFAULT_UNSIGNED_VALUES: tuple[str, ...] = (
    "Prospecting", "Qualification", "Proposal", "Quote sent", "Negotiation",
    "In negotiation", "Verbal", "Pending signature", "Out for signature",
    "Sent for signature", "Draft", "Not signed", "Unsigned",
)  # fmt: skip
#: words that take a "signed" back when they stand next to it
NEGATIONS: frozenset[str] = frozenset({"not", "pending", "awaiting", "no", "never"})
_PARENTHETICAL = re.compile(r"\s*[(\[]([^()\[\]]*)[)\]]\s*")
#: where a first line's leading value may end: a spaced dash, a colon, a semicolon, a comma
_SEPARATOR = re.compile(r"\s+[-–—]\s+|\s*[:;,]\s*|\s+[–—]|[–—]\s+")
_WORD = re.compile(r"[^\W_]+(?:['’-][^\W_]+)*")


@dataclass(frozen=True, slots=True)
class StatusReading:
    """A status as read: its state, the value that decided it, the rest of the cell kept as
    evidence, and (unreadable or conflicting) why, in words an admin reads."""

    state: StatusState
    #: the leading value as written ("Signed ✅"); empty when there was none
    value: str
    #: the rest of the cell, as written ("countersigned copy in DocuSign")
    rest: str = ""
    reason: str | None = None

    def words(self) -> str:
        """The status as evidence: the value and, when there is one, the rest in quotes."""
        return f"{self.value} ({self.rest!r})" if self.rest else self.value


def status_core(value: str) -> str:
    """A leading value as compared: parentheticals, emoji and symbols, trailing punctuation,
    case and every space removed ("Signed (DocuSign) ✅." -> "signed")."""
    text = unicodedata.normalize("NFKC", value)
    text = _PARENTHETICAL.sub(" ", text)
    kept = [c for c in text if unicodedata.category(c)[0] not in "SC" and not _invisible(c)]
    text = "".join(kept).strip()
    while text and unicodedata.category(text[-1])[0] == "P":
        text = text[:-1].rstrip()
    while text and unicodedata.category(text[0])[0] == "P":
        text = text[1:].lstrip()
    return "".join(text.split()).casefold()


def _invisible(char: str) -> bool:
    """Zero-width joiners and variation selectors (the tail of an emoji)."""
    return char == "\u200d" or "\ufe00" <= char <= "\ufe0f" or "\U000e0100" <= char <= "\U000e01ef"


def _words(text: str) -> list[str]:
    return [w.casefold() for w in _WORD.findall(unicodedata.normalize("NFKC", text))]


def _has_phrase(words: Sequence[str], phrase: Sequence[str]) -> int | None:
    """The index where ``phrase`` (words) starts in ``words``, or None."""
    n = len(phrase)
    for i in range(len(words) - n + 1):
        if list(words[i : i + n]) == list(phrase):
            return i
    return None


@dataclass(frozen=True, slots=True)
class StatusVocabulary:
    """The admin's two lists, compared as :func:`status_core` does."""

    signed: tuple[str, ...]
    unsigned: tuple[str, ...]

    @classmethod
    def of(cls, signed: Iterable[str], unsigned: Iterable[str]) -> StatusVocabulary:
        """The vocabulary of two lists as written in the policy file."""
        return cls(tuple(signed), tuple(unsigned))

    def _keys(self, values: Iterable[str]) -> frozenset[str]:
        return frozenset(k for v in values if (k := status_core(v)))

    def state_of(self, value: str) -> Literal["signed", "unsigned"] | None:
        """``signed``/``unsigned`` when ``value``'s core is in a list; None when in neither."""
        core = status_core(value)
        if not core:
            return None
        if core in self._keys(self.signed):
            return "signed"
        if core in self._keys(self.unsigned):
            return "unsigned"
        return None

    def read(self, leading: str, rest: Sequence[str] = ()) -> StatusReading:
        """Read a leading value (a lozenge's title or a first line) and the rest of its cell.

        The first line is tried whole, then its part before a separator (the remainder then
        joins the rest); a parenthetical joins the rest too.
        """
        leading = " ".join(leading.split())
        extra = [" ".join(r.split()) for r in rest if r.strip()]
        value, state = leading, self.state_of(leading)
        if state is None:
            parts = _SEPARATOR.split(leading, maxsplit=1)
            if len(parts) == 2 and (head := parts[0].strip()):
                head_state = self.state_of(head)
                if head_state is not None:
                    value, state = head, head_state
                    extra.insert(0, parts[1].strip())
        notes = [m.group(1).strip() for m in _PARENTHETICAL.finditer(value) if m.group(1).strip()]
        rest_text = "; ".join(x for x in [*notes, *extra] if x)
        if not value:
            return StatusReading("unreadable", "", rest_text, "the status is empty")
        if state is None:
            return StatusReading(
                "unreadable", value, rest_text,
                f"{value!r} is in neither deals.signed_values nor deals.unsigned_values",
            )  # fmt: skip
        if "?" in _PARENTHETICAL.sub(" ", value):  # "Signed?": whoever wrote it was unsure
            return StatusReading("unreadable", value, rest_text, f"{value!r} asks a question")
        clash = self._contradiction(state, rest_text)
        if clash is not None:
            return StatusReading(
                "conflicting", value, rest_text,
                f"{value!r} reads {state}, but the same cell says {rest_text!r} ({clash})",
            )  # fmt: skip
        return StatusReading(state, value, rest_text)

    def read_lines(self, lines: Sequence[str]) -> StatusReading:
        """Read a text value line by line: the first line leads, the others are the rest."""
        kept = [line for line in lines if line.strip()]
        if not kept:
            return StatusReading("unreadable", "", "", "the status is empty")
        return self.read(kept[0], kept[1:])

    def read_text(self, text: str) -> StatusReading:
        """Read a ticket field's value (its first line leads)."""
        return self.read_lines(text.splitlines())

    def _contradiction(self, state: str, rest: str) -> str | None:
        """Why ``rest`` contradicts ``state``, or None."""
        words = _words(rest)
        if not words:
            return None
        if state == "signed":
            for value in self.unsigned:
                if (phrase := _words(value)) and _has_phrase(words, phrase) is not None:
                    return f"{value!r} is an unsigned value"
            for w in words:
                if w in NEGATIONS or w.endswith("n't"):
                    return f"{w!r} negates it"
                if w.startswith("un") and any(
                    status_core(s) and status_core(s) in w[2:].lstrip("-") for s in self.signed
                ):
                    return f"{w!r} negates it"
            return None
        for value in self.signed:
            phrase = _words(value)
            start = _has_phrase(words, phrase) if phrase else None
            if start is not None and not (start > 0 and words[start - 1] in NEGATIONS):
                return f"{value!r} is a signed value"
        return None
