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

from worker.atlassian.first_keys import FirstKeys
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
    first_keys = FirstKeys()
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
