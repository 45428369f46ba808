"""The pure planner: snapshots + people + deals + policies + now -> Plan.

Per ticket, policies run in file order. A ticket is claimed by the first *enforce* policy
that matches it (unless that policy says ``continue: true``); later policies then get a
``no-match`` decision with the reason "already handled by policy X". Dry-run policies never
claim a ticket: they report, and never change what enforcing policies do.

The stages of one plan live beside this module: :mod:`~worker.policy.evaluate` (one policy on
one ticket), :mod:`~worker.policy.ladder` (the due step), :mod:`~worker.policy.limits` (the
breaker and the budget, over the whole cycle), :mod:`~worker.policy.writes` (one write per
ticket), over :mod:`~worker.policy.matches` (what is kept while planning).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime

from worker.model.deals import Deal, DealRead
from worker.model.issue import IssueSnapshot, MalformedIssue
from worker.model.people import Directory
from worker.model.plan import Decision, IssueWrite, Plan
from worker.policy.config import Policies
from worker.policy.context import PlanContext, TicketContext
from worker.policy.evaluate import (
    evaluate,
    timed_conditions,
)
from worker.policy.ladder import (
    render_step,
)
from worker.policy.limits import apply_budget, trip_breakers
from worker.policy.matches import Held, Tally, issue_sort_key, subject_of
from worker.policy.writes import writes_of


def plan(
    snapshots: Iterable[IssueSnapshot | MalformedIssue],
    directory: Directory,
    deals: DealRead | Sequence[Deal],
    policies: Policies,
    now: datetime,
    *,
    keep_no_match: bool = True,
    scope_sizes: Mapping[str, int] | None = None,
    on_write: Callable[[IssueWrite], None] | None = None,
) -> Plan:
    """Decide, for every ticket and active policy, what to do now. Pure and deterministic.

    ``scope_sizes`` (policy id -> tickets in scope) is given when ``snapshots`` are only part
    of the scope (an incremental read): the breaker's percentage is taken against the larger
    of it and what was counted here.

    ``on_write`` gets each ticket's write as soon as the ticket is planned, while the rest
    is still being read, when :func:`writes_wait_for_read` says no limit can change it;
    otherwise it is never called. Either way the plan returned holds every write, equal to
    the ones handed out.
    """
    planner = _Planner(
        policies,
        PlanContext(policies, directory, deals, now),
        keep_no_match=keep_no_match,
        full=False,
        scope_sizes=scope_sizes or {},
        on_write=on_write if writes_wait_for_read(policies) is None else None,
    )
    for snap in snapshots:
        planner.add(snap)
    return planner.finish()


def writes_wait_for_read(policies: Policies) -> str | None:
    """Why the writes must wait until every ticket is read, or None when each ticket's
    write is final as soon as that ticket is planned.

    A ticket's decision depends on the ticket, the people, the deals, the policies and the
    time, all known before the tickets are read, except for the limits that count over the
    whole cycle: the budget (which tickets are served first) and the breaker (a policy that
    matches too many plans nothing at all, before any write). Only when none of them can
    bind may a write start before the last ticket is read.
    """
    safety = policies.safety
    for policy in policies.policies:
        if policy.mode != "enforce":
            continue  # dry-run policies never write, and never hold an enforcing one back
        limits = policy.breaker or safety.breaker
        if limits.binds:
            return f"policy {policy.id}'s breaker counts the whole cycle's matches"
        if policy.max_actions_per_cycle is not None:
            return f"policy {policy.id} has an action budget per cycle"
        if safety.max_actions_per_cycle is not None:
            return "the action budget per cycle is served in issue-key order"
    return None


def plan_with_context(
    snapshots: Iterable[IssueSnapshot | MalformedIssue],
    policies: Policies,
    pctx: PlanContext,
    *,
    keep_no_match: bool,
    full: bool,
    scope_sizes: Mapping[str, int] | None = None,
) -> Plan:
    """A plan in a given context (``explain`` plans one ticket with every decision, ``full``)."""
    planner = _Planner(policies, pctx, keep_no_match=keep_no_match, full=full,
                       scope_sizes=scope_sizes or {})
    for snap in snapshots:
        planner.add(snap)
    return planner.finish()


class _Planner:
    """One plan, ticket by ticket: :meth:`add` each snapshot, then :meth:`finish`."""

    def __init__(
        self,
        policies: Policies,
        pctx: PlanContext,
        *,
        keep_no_match: bool,
        full: bool,
        scope_sizes: Mapping[str, int],
        on_write: Callable[[IssueWrite], None] | None = None,
    ) -> None:
        self.policies = policies
        self.pctx = pctx
        self.keep_no_match = keep_no_match
        self.full = full
        self.scope_sizes = scope_sizes
        self.on_write = on_write
        self.active = [(i, p) for i, p in enumerate(policies.policies) if p.mode != "off"]
        self.acc = Tally(scope_counts={p.id: 0 for _, p in self.active})
        # Time-based conditions decide the rechecks: an enforcing policy's for its writes, a
        # dry-run policy's so that what it would have done is recorded when it becomes true
        # (the report's "would have"), not at the next full read or never (a ticket changed
        # meanwhile).
        self.timed = {p.id: timed_conditions(p) for _, p in self.active}

    def add(self, snap: IssueSnapshot | MalformedIssue) -> None:
        """Decide one ticket for every active policy (limits are applied by :meth:`finish`)."""
        acc, keep_no_match = self.acc, self.keep_no_match
        skey = issue_sort_key(snap.key)
        if isinstance(snap, MalformedIssue):
            for order, policy in self.active:
                acc.decide(skey, order, snap.key, policy, "skip", reason=snap.reason)
            return
        tctx = TicketContext(snap, self.pctx)
        claimed_by: str | None = None
        first_match = len(acc.matches)
        for order, policy in self.active:
            if claimed_by is not None:
                if keep_no_match:
                    acc.decide(
                        skey, order, snap.key, policy, "no-match",
                        reason=f"already handled by policy {claimed_by}",
                    )  # fmt: skip
                continue
            out = evaluate(policy, order, snap, tctx, full=self.full, fast=not keep_no_match)
            if out.in_scope:
                acc.scope_counts[policy.id] += 1
                for cond in self.timed.get(policy.id, ()):
                    acc.recheck(snap.key, cond.changes_at(snap, tctx))
            if out.claims:
                claimed_by = policy.id
            if out.match is not None:
                out.match.skey = skey
                out.match.subject = subject_of(tctx)
                acc.matches.append(out.match)
            elif out.verdict != "no-match":
                acc.decide(
                    skey, order, snap.key, policy, out.verdict,
                    reason=out.reason, evidence=out.evidence, subject=subject_of(tctx),
                )  # fmt: skip
            elif keep_no_match:
                acc.decide(
                    skey, order, snap.key, policy, out.verdict,
                    reason=out.reason, evidence=out.evidence,
                )  # fmt: skip
        if self.on_write is not None and len(acc.matches) > first_match:
            # No limit can bind (see writes_wait_for_read): this ticket's write is final.
            mine = acc.matches[first_match:]
            for m in mine:
                if m.planned:
                    render_step(m)  # what finish() would do; done once
            for write in writes_of(mine, self.pctx.now):
                self.on_write(write)
        held = Held.of(snap)
        for m in acc.matches[first_match:]:
            if m.later is None:  # decided and rendered: nothing more is read from the ticket
                m.snapshot = held

    def finish(self) -> Plan:
        """Apply the breaker and the budget, render the comments, and return the plan."""
        acc, pctx, policies = self.acc, self.pctx, self.policies
        counted = dict(acc.scope_counts)
        for pid, known in self.scope_sizes.items():
            if pid in acc.scope_counts:
                acc.scope_counts[pid] = max(acc.scope_counts[pid], known)
        breakers = trip_breakers(acc, policies, self.active)
        deferred = apply_budget(acc, policies, breakers)
        for m in acc.matches:
            if m.policy.mode != "enforce":
                continue
            acc.recheck(m.snapshot.key, m.due_at)
            if m.verdict in ("breaker", "deferred"):
                # Held back: the next cycle looks again. (A write that lands changes the
                # ticket's `updated`; one that does not land is rechecked by the cycle from
                # its outcome.)
                acc.recheck(m.snapshot.key, pctx.now)
        for m in acc.matches:
            if m.planned:
                render_step(m)
        for m in acc.matches:
            acc.decisions.append(
                (
                    m.skey,
                    m.order,
                    Decision(
                        issue=m.snapshot.key,
                        policy=m.policy.id,
                        mode=m.policy.mode,
                        verdict=m.verdict,
                        actions=m.actions if m.planned else (),
                        evidence=m.evidence,
                        reason=m.reason,
                        step=m.step if m.planned else None,
                        subject=m.subject,
                        due_step=m.due_step,
                        due_at=m.due_at,
                    ),
                )
            )
        acc.decisions.sort(key=lambda d: (d[0], d[1]))
        promises: dict[str, set[str]] = {}
        for m in acc.matches:
            if m.promise_vs_file is not None:
                promises.setdefault(m.promise_vs_file, set()).add(m.snapshot.key)
        return Plan(
            now=pctx.now,
            decisions=tuple(d for _, _, d in acc.decisions),
            writes=writes_of(acc.matches, pctx.now),
            breakers=breakers,
            deferred=deferred,
            promises={k: len(v) for k, v in sorted(promises.items())},
            rechecks=acc.rechecks,
            scope_sizes=counted,
        )


