"""The safety limits that count over the whole cycle, applied before any write.

Per policy, the breaker counts the tickets the policy would act on this cycle (a ladder step
is due); tickets already fully handled or waiting for a later step do not count. The percent
limit applies only when the policy's scope holds at least ``breaker.min_scope`` tickets.

The budget (``max_actions_per_cycle``) counts planned actions. Per policy it applies in every
mode; the global budget counts only enforce-mode actions (a dry-run policy never starves an
enforcing one). Tickets are served in issue-key order; a step that does not fit is deferred
whole, never split.
"""

from __future__ import annotations

from worker.policy.config import Policies, Policy
from worker.policy.matches import Tally


def trip_breakers(
    acc: Tally, policies: Policies, active: list[tuple[int, Policy]]
) -> dict[str, str]:
    """Trip the breaker of each policy that would act on too many tickets: its matches plan nothing
    this cycle (verdict ``breaker``). The tripped policies, with why."""
    due: dict[str, int] = {p.id: 0 for _, p in active}
    for m in acc.matches:
        if m.planned:
            due[m.policy.id] += 1
    tripped: dict[str, str] = {}
    for _, policy in active:
        limits = policy.breaker or policies.safety.breaker
        n, scope = due[policy.id], acc.scope_counts[policy.id]
        pct = 100.0 * n / scope if scope else 0.0
        if limits.max_matches is not None and n > limits.max_matches:
            tripped[policy.id] = (
                f"breaker tripped: {n} matches > max {limits.max_matches} "
                f"({pct:.0f}% of {scope} in scope)"
            )
        elif scope >= limits.min_scope and pct > limits.max_percent:
            tripped[policy.id] = (
                f"breaker tripped: {n} matches are {pct:.0f}% of {scope} in "
                f"scope > max {limits.max_percent:g}%"
            )
    for m in acc.matches:
        if m.policy.id in tripped and m.verdict == "act":
            m.verdict = "breaker"
            m.planned = False
            m.reason = tripped[m.policy.id]
    return tripped


def apply_budget(acc: Tally, policies: Policies, breakers: dict[str, str]) -> dict[str, int]:
    """Defer the steps that do not fit the action budgets (per policy, and the global one for
    enforcing policies), in issue-key order. Deferred actions per policy."""
    acc.matches.sort(key=lambda m: (m.skey, m.order))
    budget = policies.safety.max_actions_per_cycle
    left_global = budget if budget is not None else 10**18  # unlimited: never runs out
    left: dict[str, int] = {}
    deferred: dict[str, int] = {}
    for m in acc.matches:
        if not m.planned or not m.pending:
            continue
        pid = m.policy.id
        cost = len(m.pending)
        if pid not in left:
            limit = m.policy.max_actions_per_cycle
            left[pid] = limit if limit is not None else cost * 10**9
        enforce = m.policy.mode == "enforce"
        if cost > left[pid] or (enforce and cost > left_global):
            m.planned = False
            m.verdict = "deferred"
            m.reason = f"deferred: budget ({cost} action(s) wait for the next cycle)"
            deferred[pid] = deferred.get(pid, 0) + cost
            continue
        left[pid] -= cost
        if enforce:
            left_global -= cost
    return deferred
