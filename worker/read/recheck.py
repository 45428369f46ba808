"""Reading the tickets due for a recheck by key, and what became of each key.

An incremental cycle reads, besides what changed, the tickets whose verdict can change with
time alone (:mod:`worker.read.incremental`), by the keys the last cycles recorded. On Jira Cloud
they come from ``POST /rest/api/3/issue/bulkfetch`` (100 a request); Data Center has no such
endpoint and searches ``key in (...)`` instead (the caller's business).

bulkfetch is not a search: it ignores the cycle's JQL, so every issue it returns is checked
against that JQL locally (with the engine that re-checks policy scopes) and one outside it
is left out, as a full read would leave it out. What became of each asked-for key is logged,
never dropped in silence:

* answered under its own key: read;
* answered under another key (Jira answers a moved issue's old key with the issue under its
  new key): read under the new key, the old key mapped to it (``read.recheck_moved``);
* named in ``issueErrors`` (Jira found it but could not return it): read again through the
  search, as a full read would read it;
* absent (deleted, or the bot may no longer browse it): one ``GET /issue/{key}`` tells a move
  the answer hid from a real absence; then gone, with the reason (``read.recheck_gone``). A
  full read does not see such a ticket either, so nothing is planned for it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import structlog

from worker.model.issue import IssueSnapshot, MalformedIssue, SearchSpec

if TYPE_CHECKING:
    from worker.atlassian.jira import JiraGateway

log = structlog.get_logger(__name__)

Item = IssueSnapshot | MalformedIssue
#: a search of the cycle's JQL narrowed to these keys or ids (the fallback)
SearchByRefs = Callable[[Sequence[str]], Iterable[Item]]


@dataclass(slots=True)
class DueRead:
    """The due tickets read, and the fate of every asked-for key that is not among them."""

    items: list[Item] = field(default_factory=list)
    #: asked-for key -> the key the issue has now (moved to another project)
    moved: dict[str, str] = field(default_factory=dict)
    #: asked-for key -> why no ticket answers for it any more
    gone: dict[str, str] = field(default_factory=dict)
    #: keys answered but outside the cycle's JQL now (a full read would not see them)
    out_of_scope: list[str] = field(default_factory=list)


def in_jql(spec: SearchSpec, *, now: datetime, tz: Any, groups: Mapping[str, frozenset[str]]
           ) -> Callable[[IssueSnapshot], bool]:
    """A local check of the cycle's JQL on one snapshot; raises ``ValueError`` when the JQL
    cannot be checked locally (the caller then searches instead)."""
    from worker.policy.scope import parse_scope, scope_context, scope_matches

    query, _groups = parse_scope(spec.jql)
    ctx = scope_context(now=now, tz=tz, groups=groups)
    return lambda snapshot: scope_matches(query, snapshot, ctx)


def read_due(
    jira: JiraGateway,
    spec: SearchSpec,
    keys: Sequence[str],
    *,
    now: datetime,
    groups: Mapping[str, frozenset[str]],
    search: SearchByRefs,
    complete: Callable[[IssueSnapshot], frozenset[str]] | None = None,
) -> DueRead:
    """Read ``keys`` with bulkfetch (Cloud); see the module docstring for what comes back."""
    out = DueRead()
    if not keys:
        return out
    answer = jira.bulk_fetch(spec, keys, complete=complete)
    try:
        matches = in_jql(spec, now=now, tz=jira.time_zone(), groups=groups)
        kept: list[Item] = []
        for item in answer.issues:
            if isinstance(item, IssueSnapshot) and not matches(item):
                out.out_of_scope.append(item.key)
            else:
                kept.append(item)
    except ValueError as exc:
        # When unsure, ask Jira: the search applies the JQL itself.
        log.warning("read.recheck_by_search", reason=str(exc))
        return DueRead(items=list(search(keys)))
    out.items = kept
    if answer.errors:
        log.warning("read.recheck_errors", issues=sorted(answer.errors)[:20],
                    reasons=sorted(set(answer.errors.values()))[:5])
        out.items.extend(search(sorted(answer.errors)))
    answered = {item.key.upper() for item in answer.issues}
    answered |= {item.key.upper() for item in out.items}
    for key in keys:
        if key.upper() in answered:
            continue
        current = jira.issue_key(key)
        if current is not None and current.upper() != key.upper():
            out.moved[key] = current
            log.info("read.recheck_moved", issue=key, now_key=current)
        elif current is None:
            out.gone[key] = ("Jira knows no issue by this key that the bot may see (deleted, "
                             "or moved out of the bot's reach)")
            log.info("read.recheck_gone", issue=key, reason=out.gone[key])
        else:
            # Jira answers the key now but left it out of bulkfetch: a full read would see
            # the issue, so read it the way a full read does.
            out.items.extend(search([key]))
    if out.out_of_scope:
        log.info("read.recheck_out_of_scope", count=len(out.out_of_scope),
                 issues=out.out_of_scope[:20])
    return out
