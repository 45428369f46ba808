"""``summarize``: the one-screen description ``validate`` prints for a valid file."""

from __future__ import annotations

from worker.policy.config import Policies


def summarize(policies: Policies) -> list[str]:
    """A few lines per policy: id, mode, what it matches, what it does and when."""
    sched = policies.schedule
    when = f"every {sched.interval_s // 60} min" if sched.interval_s else f"cron '{sched.cron}'"
    limits = policies.safety
    lines = [
        f"{len(policies.policies)} policies; cycles {when} ({sched.timezone}); "
        f"at most {limits.max_actions_per_cycle} actions per cycle; breaker at "
        f"{limits.breaker.max_matches} matches or {limits.breaker.max_percent:g}% of scope",
    ]
    for n, policy in enumerate(policies.policies, 1):
        lines.append("")
        cont = ", continue" if policy.continue_ else ""
        lines.append(f"{n}. {policy.id} [{policy.mode}{cont}] — {policy.description}")
        if policy.scope:
            lines.append(f"   scope: {policy.scope}")
        lines.append("   when: " + "; ".join(c.describe() for c in policy.conditions))
        if policy.exempt:
            lines.append("   unless: " + "; or ".join(c.describe() for c in policy.exempt))
        for i, step in enumerate(policy.steps, 1):
            at = "at once" if step.after.is_zero else f"after {step.after.words()} still matching"
            does = " and ".join(a.words(None) for a in step.actions)
            lines.append(f"   step {i}, {at}: {does}")
    return lines
