"""One read's listing: each ticket once, whatever its pages repeat.

Offset paging (Data Center) shifts when a ticket enters the scope mid-read, and a Cloud page
can list a ticket twice. Jira gives a ticket one id for life, so the same id under the same
key again is that ticket again: the first occurrence wins (a repeat must decide nothing twice
and write nothing twice) and the repeats are counted in one warning.

The same id under another key is not a repeat. Either the ticket was moved between two pages
of the read, or the answer is wrong; the read cannot tell which key is the ticket's now. The
later listing is therefore unreadable, with a reason (its policies decide "skip" and say why),
never dropped unseen as a repeat of another ticket: that once made a new ticket vanish from a
full read whose incremental twin commented on it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import structlog

from worker.model.issue import MalformedIssue

log = structlog.get_logger(__name__)

#: at most this many keys named in a warning (the count is whole)
NAMED_AT_MOST = 20


def id_clash_reason(ident: str, first_key: str) -> str:
    """Why a ticket listed under an id another key took first is not read this cycle."""
    return (
        f"Jira listed its id {ident} under {first_key} too in the same read (moved between "
        "two pages?): which key is the ticket's cannot be told, so it is left until a read "
        "lists it once"
    )


def each_once(
    raws: Iterable[Mapping[str, Any]],
) -> Iterator[Mapping[str, Any] | MalformedIssue]:
    """The issues of one read in order, each id once: first occurrences as given, an id
    listed again under another key as an unreadable issue; logs what it left out."""
    first_keys = _FirstKeys()
    #: the (rare) second keys of an id: listed again, they are repeats, not new clashes
    clashed: set[tuple[str, str]] = set()
    repeated: list[str] = []
    clashes: list[str] = []
    for raw in raws:
        key = str(raw.get("key") or "")
        ident = str(raw.get("id") or key)
        if not ident:  # nothing to tell it by: its snapshot says it has no key
            yield raw
            continue
        first = first_keys.first(ident, key)
        if first is None:
            yield raw
        elif first == key or (ident, key) in clashed:
            repeated.append(key or ident)
        else:
            clashed.add((ident, key))
            clashes.append(key or ident)
            yield MalformedIssue(key=key or ident, reason=id_clash_reason(ident, first or ident))
    if repeated:
        log.warning("search.duplicates", count=len(repeated), issues=repeated[:NAMED_AT_MOST])
    if clashes:
        log.warning("search.id_clash", count=len(clashes), issues=clashes[:NAMED_AT_MOST])


class _FirstKeys:
    """Each id's first key, for a whole read: 100,000 entries at 100,000 tickets. Ids and keys
    are kept as ints where they read as one exactly (an id's digits; a key's project, by its
    index, and number): a third of the memory of two strings and a pair, and no string of a
    page is kept alive by it. Anything else is kept as it is."""

    def __init__(self) -> None:
        self._keys: dict[int | str, int | str] = {}
        self._projects: dict[str, int] = {}
        self._names: list[str] = []

    def first(self, ident: str, key: str) -> str | None:
        """The key ``ident`` was first listed under; None (and ``key`` kept) the first time."""
        mark: int | str = int(ident) if _canonical_number(ident) else ident
        known = self._keys.get(mark)
        if known is None:
            self._keys[mark] = self._code(key)
            return None
        if isinstance(known, str):
            return known
        return f"{self._names[known >> 32]}-{known & 0xFFFFFFFF}"

    def _code(self, key: str) -> int | str:
        project, dash, number = key.rpartition("-")
        if not (project and dash and _canonical_number(number) and int(number) < 2**32):
            return key
        index = self._projects.get(project)
        if index is None:
            index = self._projects[project] = len(self._names)
            self._names.append(project)
        return index << 32 | int(number)


def _canonical_number(text: str) -> bool:
    """Digits that ``int`` reads and ``str`` writes back as they were ("7"; not "07", nor a
    full-width digit)."""
    return text.isascii() and text.isdigit() and (text == "0" or not text.startswith("0"))
