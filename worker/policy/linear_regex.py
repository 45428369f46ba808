"""Regular expressions that run in linear time on ticket text (RE2 through ``google-re2``).

Any Jira user writes summaries, descriptions and comments, so a policy's regex meets hostile
text: with Python's backtracking ``re``, ``(a+)+$`` on a 100 KB summary hangs a cycle for
minutes. RE2 guarantees time linear in the text, at the price of a smaller language: no
lookaround, no backreferences, no possessive quantifiers; ``\\w``, ``\\d`` and ``\\b`` are ASCII.
A pattern RE2 cannot run is refused when the policy file loads (``validate`` names the line),
never found out on ticket text.

Keyword phrases keep their Unicode whole-word meaning ("Contractor" is not "contract",
"Vertrag" next to "ä" is not a word edge) through explicit Unicode classes instead of lookaround.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import re2

#: not Python's ``\\w`` for ``str`` (letters, digits, underscore), in RE2's Unicode classes
_NOT_WORD = r"[^\p{L}\p{N}_]"
#: whitespace inside a phrase: ASCII and Unicode separators (a no-break space counts)
_SPACE = r"[\s\p{Z}]+"
#: RE2's working memory per pattern: far above what a policy regex needs, far below trouble
_MAX_MEM = 8 << 20
#: a policy regex longer than this is a mistake, not a pattern
MAX_PATTERN_CHARS = 1000

#: constructs Python admins reach for that RE2 does not have, with what to write instead
_HINTS = (
    ("(?<", "lookbehind is not supported; match the text around it instead"),
    ("(?=", "lookahead is not supported; match the text that follows instead"),
    ("(?!", "negative lookahead is not supported; use `not:` with a second condition"),
    ("\\1", "backreferences are not supported"),
    ("*+", "possessive quantifiers are not supported"),
    ("++", "possessive quantifiers are not supported"),
    ("(?>", "atomic groups are not supported"),
)


def _options() -> Any:
    options = re2.Options()
    options.case_sensitive = False
    options.log_errors = False  # the reason reaches the admin in our error, not on stderr
    options.max_mem = _MAX_MEM
    return options


@dataclass(frozen=True, slots=True)
class LinearRegex:
    """A compiled case-insensitive RE2 pattern; equal when the source text is equal.

    ``group`` is the group whose text :meth:`find` returns (0: the whole match).
    """

    pattern: str
    group: int = 0
    compiled: Any = field(default=None, compare=False, repr=False)

    def find(self, text: str) -> str | None:
        """The first match's text in ``text``, or None (linear time in ``len(text)``)."""
        m = self.compiled.search(text)
        return None if m is None else str(m.group(self.group))


def compile_regex(pattern: str) -> LinearRegex:
    """Compile a policy's regex; ``ValueError`` with an admin-readable reason when RE2 cannot
    run it (the loader adds file:line)."""
    if len(pattern) > MAX_PATTERN_CHARS:
        raise ValueError(
            f"regular expression is {len(pattern)} characters long; at most {MAX_PATTERN_CHARS}"
        )
    try:
        compiled = re2.compile(pattern, _options())
    except re2.error as exc:
        reason = exc.args[0] if exc.args else exc
        detail = reason.decode("utf-8", "replace") if isinstance(reason, bytes) else str(reason)
        hint = next((h for token, h in _HINTS if token in pattern), None)
        raise ValueError(
            f"regular expression does not compile (RE2 syntax, linear time): {detail}"
            + (f"; {hint}" if hint else "")
        ) from None
    return LinearRegex(pattern=pattern, compiled=compiled)


def keyword_regex(keywords: list[str]) -> LinearRegex:
    """Whole-word, case-insensitive match of any of the phrases (any spacing inside one)."""
    parts = [_SPACE.join(re2.escape(w) for w in k.split()) for k in keywords]
    source = f"(?:^|{_NOT_WORD})(" + "|".join(parts) + f")(?:$|{_NOT_WORD})"
    compiled = re2.compile(source, _options())
    return LinearRegex(pattern=source, group=1, compiled=compiled)
