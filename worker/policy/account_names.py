"""Customer names as people write them: "Globex Corporation" on the deal page, "Globex" in the
ticket's Account field.

:func:`account_key` folds case, punctuation and the usual company suffixes, so the deal index
can match two spellings of one company. A match made only this way is weaker than an exact one,
and the evidence says so. Pure functions.
"""

from __future__ import annotations

import re
import unicodedata

#: legal forms dropped from the end of a name ("Co" last: "Globex Co., Ltd" -> "globex")
COMPANY_SUFFIXES: frozenset[str] = frozenset({
    "inc", "incorporated", "corp", "corporation", "ltd", "limited", "llc", "gmbh", "ag", "sa",
    "bv", "co", "company", "plc", "nv", "srl", "sarl", "pty", "oy", "ab", "as", "kg",
})  # fmt: skip
_SPACES = re.compile(r"[^\w]+")


def account_key(name: str) -> str:
    """A company name as compared loosely: case, accents, punctuation and trailing legal forms
    ignored ("Globex Corporation", "GLOBEX, Inc.", "Globex" -> "globex"). Never empty for a
    name with a letter: a name that is only a legal form ("AG") keeps it."""
    text = unicodedata.normalize("NFKD", name)
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold()
    text = text.replace(".", "").replace("&", " and ")  # "B.V." -> "bv", "S.A." -> "sa"
    words = [w for w in _SPACES.split(text) if w and w != "_"]
    while len(words) > 1 and words[-1] in COMPANY_SUFFIXES:
        words.pop()
    return " ".join(words)
