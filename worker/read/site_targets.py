"""The users a policy file names, checked on the site before the file acts.

Every literal user id the file names (``reassign`` targets and fallbacks, people sets, the
fallback sales owner) must have this flavor's shape, exist and be active; the people the bot
may assign must be assignable in some project it can see. ``validate --site`` prints the
problems; the service refuses a file that has any when it loads it (the last good file keeps
running and ``/readyz`` says why).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from worker.atlassian.assignable import assignable_in, project_keys
from worker.atlassian.clients import Atlassian
from worker.policy.actions import ReassignSpec
from worker.policy.config import Policies
from worker.policy.targets import SYMBOLIC_TARGETS, flavor_problem


@dataclass(frozen=True, slots=True)
class LiteralUser:
    """A user id the policy file names, where, and whether the bot may assign them."""

    value: str
    where: str
    line: int
    assigned: bool


def literal_users(policies: Policies) -> Iterator[LiteralUser]:
    """Every literal user id the file names (symbolic targets left out)."""
    for i, policy in enumerate(policies.policies):
        for s, step in enumerate(policy.steps):
            for spec in step.actions:
                if not isinstance(spec, ReassignSpec):
                    continue
                where = f"policies[{i}] ({policy.id}) step {s + 1} reassign"
                if spec.to not in SYMBOLIC_TARGETS:
                    yield LiteralUser(spec.to, f"{where} to", policy.line, True)
                if spec.fallback is not None:
                    yield LiteralUser(spec.fallback, f"{where} fallback", policy.line, True)
    for name, pset in policies.people.items():
        for user in pset.users:
            yield LiteralUser(user, f"people.{name}.users", 0, False)
    if policies.sales_owner_fallback is not None:
        yield LiteralUser(policies.sales_owner_fallback.id, "sales_owner.fallback", 0, True)


def user_problems(
    policies: Policies, atlassian: Atlassian, *, assigned_only: bool = False
) -> list[str]:
    """What the site says is wrong with the file's literal users (empty: nothing);
    ``assigned_only``: only the people the bot may assign tickets to."""
    problems: list[str] = []
    jira = atlassian.jira
    projects: tuple[str, ...] | None = None
    for user in literal_users(policies):
        if assigned_only and not user.assigned:
            continue
        at = f"{policies.source}:{user.line}" if user.line else f"{policies.source}"
        shape = flavor_problem(user.value, atlassian.flavor)
        if shape is not None:
            problems.append(f"{at}: {user.where}: {shape}")
            continue
        person = (jira.user(account_id=user.value) if atlassian.flavor == "cloud"
                  else jira.user(username=user.value))
        if person is None:
            problems.append(f"{at}: {user.where}: no user '{user.value}' on this site")
            continue
        if not person.active:
            problems.append(f"{at}: {user.where}: {person.display_name} ({user.value}) is "
                            "inactive")
            continue
        if not user.assigned:
            continue
        if projects is None:
            projects = project_keys(jira)
        barred = [key for key in projects if not assignable_in(jira, user.value, key)]
        if projects and len(barred) == len(projects):
            problems.append(f"{at}: {user.where}: {person.display_name} ({user.value}) cannot "
                            "be assigned issues in any project the bot can see")
    return problems
