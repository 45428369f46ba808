"""``summarize``: the one-screen description ``validate`` prints for a valid file."""

from __future__ import annotations

from collections.abc import Mapping

from worker.policy.config import Policies
from worker.policy.schedule import schedule_words


def summarize(policies: Policies) -> list[str]:
    """A few lines per policy: id, mode, what it matches, what it does and when."""
    sched = policies.schedule
    when = schedule_words(interval_s=sched.interval_s, cron=sched.cron)
    limits = policies.safety
    lines = [
        f"{len(policies.policies)} policies; cycles {when} ({sched.timezone}); "
        f"opt-out labels {', '.join(policies.opt_out_labels)}; "
        f"{_budget(limits.max_actions_per_cycle)}; breaker at "
        f"{_matches(limits.breaker.max_matches)}{limits.breaker.max_percent:g}% of scope",
    ]
    for n, policy in enumerate(policies.policies, 1):
        lines.append("")
        cont = ", continue" if policy.continue_ else ""
        cont += ", ignores the opt-out" if policy.ignore_opt_out else ""
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


def _budget(value: int | None) -> str:
    return "no action budget per cycle" if value is None else f"at most {value} actions per cycle"


def _matches(value: int | None) -> str:
    return "" if value is None else f"{value} matches or "


def warnings(policies: Policies) -> list[str]:
    """What ``validate`` accepts but an admin should know: policies that ignore the opt-out."""
    where = str(policies.source) if policies.source else "<string>"
    label = policies.opt_out_label
    return [
        f"{where}:{policy.line}: warning: policy {policy.id} has `ignore_opt_out: true`: it acts "
        f"even on tickets labelled {label}, although every comment promises that the label "
        "makes the bot leave a ticket alone"
        for policy in policies.policies
        if policy.ignore_opt_out and policy.mode != "off"
    ]


def promise_words(promises: Mapping[str, int]) -> list[str]:
    """How the plan honours dates that comments announced, when the file now says otherwise."""
    lines: list[str] = []
    kept = promises.get("kept", 0)
    later = promises.get("later", 0)
    if kept:
        lines.append(
            f"{kept} ticket(s) were promised a later date than this file gives them; "
            "their promises are kept (the next step waits for the announced date)"
        )
    if later:
        lines.append(
            f"{later} ticket(s) were promised an earlier date than this file gives them; "
            "the file's later date applies (no new comment is posted)"
        )
    return lines
