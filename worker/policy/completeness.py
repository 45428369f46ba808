"""Which tickets need the rest of their comments or changelog before they can be judged.

Jira Cloud's search lists at most 100 comments per issue (the oldest) and a capped
changelog (newest first); the rest costs one or more requests per issue. This module decides,
purely, for which tickets those requests are worth it: those where a condition that reads the
missing part can still change a policy's verdict. Conditions are evaluated in three values
(true, false, unknown when they read what is missing); ``all``/``any``/``not`` combine them as
Kleene logic does. A ticket whose every policy is decided without the missing part (out of
scope, a plain condition already false, an exemption already true) is not read further.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from worker.model.deals import Deal, DealRead
from worker.model.issue import IssueSnapshot
from worker.model.people import Directory
from worker.policy.conditions import AllOf, AnyOf, Condition, Not
from worker.policy.config import Policies, Policy
from worker.policy.context import PlanContext, TicketContext
from worker.policy.scope import scope_context, scope_matches

#: three-valued truth: True, False, or None for "depends on what is missing"
Truth = bool | None


def missing(snapshot: IssueSnapshot) -> frozenset[str]:
    """What the search answer left out for this ticket: "comments", "changelog"."""
    out: set[str] = set()
    if not snapshot.comments_complete:
        out.add("comments")
    if not snapshot.changelog_complete:
        out.add("changelog")
    return frozenset(out)


class Completeness:
    """Decides, per ticket, which missing parts must be read before planning."""

    def __init__(self, policies: Policies, directory: Directory,
                 deals: DealRead | Sequence[Deal],
                 now: datetime) -> None:
        self._pctx = PlanContext(policies, directory, deals, now)
        self._active = [p for p in policies.policies if p.mode != "off"]

    def needed(self, snapshot: IssueSnapshot) -> frozenset[str]:
        """The missing parts ("comments", "changelog") a policy's verdict depends on."""
        gaps = missing(snapshot)
        if not gaps:
            return frozenset()
        ctx = TicketContext(snapshot, self._pctx)
        wanted: set[str] = set()
        for policy in self._active:
            wanted |= self._for_policy(policy, snapshot, ctx, gaps)
            if wanted == gaps:
                break
        return frozenset(wanted)

    def _for_policy(self, policy: Policy, snapshot: IssueSnapshot, ctx: TicketContext,
                    gaps: frozenset[str]) -> frozenset[str]:
        pctx = self._pctx
        if policy.scope_query is not None:
            if pctx.scope_ctx is None:
                pctx.scope_ctx = scope_context(now=pctx.now, tz=pctx.tz,
                                               groups=pctx.directory.groups)
            try:
                if not scope_matches(policy.scope_query, snapshot, pctx.scope_ctx):
                    return frozenset()
            except ValueError:
                return frozenset()
        if snapshot.state.for_policy(policy.id).overridden_at is not None:
            return frozenset()
        matched = _all(policy.conditions, snapshot, ctx, gaps)
        if matched is False:
            return frozenset()
        exempt = _any(policy.exempt, snapshot, ctx, gaps)
        if exempt is True or (matched is True and exempt is False):
            return frozenset()  # no-match or exempt either way: nothing to act on
        return frozenset().union(*(undecided(c, snapshot, ctx, gaps)
                                   for c in (*policy.conditions, *policy.exempt)))


def undecided(cond: Condition, snapshot: IssueSnapshot, ctx: TicketContext,
              gaps: frozenset[str]) -> frozenset[str]:
    """The missing parts that the undecided leaves of ``cond`` read."""
    if truth(cond, snapshot, ctx, gaps) is not None:
        return frozenset()
    if isinstance(cond, AllOf | AnyOf | Not):
        return frozenset().union(*(undecided(c, snapshot, ctx, gaps) for c in cond.items))
    return _reads(cond) & gaps


def _reads(cond: Condition) -> frozenset[str]:
    return cond.needs() & frozenset({"comments", "changelog"})


def truth(cond: Condition, snapshot: IssueSnapshot, ctx: TicketContext,
          gaps: frozenset[str]) -> Truth:
    """The condition's value, or None when it reads a part that is missing."""
    if isinstance(cond, AllOf):
        return _all(cond.items, snapshot, ctx, gaps)
    if isinstance(cond, AnyOf):
        return _any(cond.items, snapshot, ctx, gaps)
    if isinstance(cond, Not):
        inner = truth(cond.items[0], snapshot, ctx, gaps)
        return None if inner is None else not inner
    if _reads(cond) & gaps:
        return None
    return cond.test(snapshot, ctx)


def _all(conds: Sequence[Condition], snapshot: IssueSnapshot, ctx: TicketContext,
         gaps: frozenset[str]) -> Truth:
    unknown = False
    for cond in conds:
        value = truth(cond, snapshot, ctx, gaps)
        if value is False:
            return False
        unknown = unknown or value is None
    return None if unknown else True


def _any(conds: Sequence[Condition], snapshot: IssueSnapshot, ctx: TicketContext,
         gaps: frozenset[str]) -> Truth:
    unknown = False
    for cond in conds:
        value = truth(cond, snapshot, ctx, gaps)
        if value is True:
            return True
        unknown = unknown or value is None
    return None if unknown else False
