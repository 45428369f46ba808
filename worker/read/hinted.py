"""A cycle that reads exactly the tickets a webhook named (the fast path's read).

The keys are read the way a due recheck reads them: with bulkfetch on Jira Cloud (which reads
the issues themselves, not the lagging search index), each answer checked against the
cycle's JQL locally, moves and absences told apart (:mod:`worker.read.recheck`); with a
``key in (...)`` search narrowed by the cycle's JQL on Data Center. A key outside the scope
is left out, as a full read would leave it out. What Jira answers is all that counts: the
webhook's own body was only the hint.

Such a cycle sees a few tickets, so it does not move the incremental read's watermark; it
only refreshes the rechecks of the tickets it read (:func:`keep_rechecks`), so the next
scheduled cycle knows what this one planned for them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from worker.model.issue import IssueSnapshot, MalformedIssue, SearchSpec
from worker.model.outcome import Outcome
from worker.model.people import Directory
from worker.read.incremental import KEYS_PER_QUERY, ReadState, keys_clause
from worker.read.recheck import read_due

if TYPE_CHECKING:
    from worker.atlassian.clients import Atlassian
    from worker.read.incremental import MetaStore

Item = IssueSnapshot | MalformedIssue

#: outcomes after which the ticket changed on the site
_LANDED = frozenset({"applied", "fallback"})


def read_hinted(
    atlassian: Atlassian,
    spec: SearchSpec,
    keys: Sequence[str],
    *,
    reconcile: list[str],
    now: datetime,
    directory: Directory,
    complete: Callable[[IssueSnapshot], frozenset[str]] | None,
) -> list[Item]:
    """The hinted tickets that are in the cycle's scope now, each once."""

    def by_refs(refs: Sequence[str]) -> Iterator[Item]:
        for start in range(0, len(refs), KEYS_PER_QUERY):
            narrowed = replace(
                spec, jql=f"({spec.jql}) AND {keys_clause(refs[start : start + KEYS_PER_QUERY])}")
            yield from atlassian.jira.search(narrowed, reconcile_ids=reconcile,
                                             complete=complete)

    found: Iterable[Item]
    if atlassian.jira.flavor == "cloud":
        found = read_due(atlassian.jira, spec, keys, now=now, groups=directory.groups,
                         search=by_refs, complete=complete).items
    else:
        found = by_refs(keys)
    seen: dict[str, Item] = {}
    for item in found:
        seen.setdefault(item.key, item)
    return list(seen.values())


def keep_rechecks(
    store: MetaStore,
    *,
    read: Iterable[str],
    rechecks: Mapping[str, datetime],
    results: Iterable[Outcome],
    now: datetime,
) -> None:
    """After a hinted cycle: the tickets it read are rechecked when its plan says (and at
    once when a planned write did not land); every other ticket keeps its recheck."""
    state = ReadState.load(store)
    fresh = set(read)
    merged = {k: t for k, t in state.rechecks.items() if k not in fresh}
    merged.update(rechecks)
    for outcome in results:
        if outcome.status not in _LANDED:
            merged[outcome.issue] = now
    replace(state, rechecks=merged).save_rechecks(store)
