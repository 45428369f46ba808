"""Whole-file checks that run on every policy file, valid shape or not.

``validate`` reports every problem at once, each at file:line:col and sorted by line: a key
typo must not hide a bad cron or a bad regular expression further down. The loader
(:mod:`worker.policy.load`) validates the file's shape with its models, walks each policy,
then runs every check registered here on the *raw* YAML data, whether or not the models
accepted it; every problem, from wherever it comes, goes into one list the loader sorts.

A check is a function ``(raw, sink) -> None`` registered with :func:`file_check`. It reads
what it needs from ``raw`` (the parsed YAML, untyped: check types before use) and reports
through ``sink``, naming the place by its path in the file (``("schedule", "cron")``); the
sink turns the path into file:line:col. For example::

    @file_check
    def _report_needs_a_space(raw: Mapping[str, Any], sink: ProblemSink) -> None:
        report = raw.get("report")
        if isinstance(report, dict) and not report.get("space"):
            sink.problem(("report",), "the report needs a Confluence space key")
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from worker.policy.schedule import cron_problem
from worker.policy.sections import PM_SET
from worker.policy.targets import target_problem, user_shape_problem

#: a place in the file: keys and list indexes from the top (``("policies", 2, "scope")``)
Loc = tuple[str | int, ...]


class ProblemSink(Protocol):
    """Where checks report: each problem at a path in the file."""

    def problem(self, loc: Loc, message: str, *, at_key: bool = False) -> None:
        """A problem at the value of ``loc`` (at its key with ``at_key``)."""

    def problem_in(self, loc: Loc, message: str, *, offset: int) -> None:
        """A problem ``offset`` characters into the scalar at ``loc`` (quotes allowed for)."""


FileCheck = Callable[[Mapping[str, Any], ProblemSink], None]

_CHECKS: list[FileCheck] = []


def file_check(check: FileCheck) -> FileCheck:
    """Register ``check`` to run on every policy file (in registration order)."""
    _CHECKS.append(check)
    return check


def run_file_checks(raw: Mapping[str, Any], sink: ProblemSink) -> None:
    """Run every registered check on ``raw``."""
    for check in _CHECKS:
        check(raw, sink)


@file_check
def _cron(raw: Mapping[str, Any], sink: ProblemSink) -> None:
    """A cron expression the scheduler would refuse, at the field that is wrong."""
    schedule = raw.get("schedule")
    expression = schedule.get("cron") if isinstance(schedule, dict) else None
    if not isinstance(expression, str):
        return  # absent, or of the wrong type: the model says so
    found = cron_problem(expression)
    if found is not None:
        sink.problem_in(("schedule", "cron"), found.message, offset=found.offset)


@file_check
def _pm_set(raw: Mapping[str, Any], sink: ProblemSink) -> None:
    """The bot only looks at tickets assigned to project managers: the set must exist."""
    people = raw.get("people")
    if isinstance(people, dict) and PM_SET not in people:
        sink.problem(("people",), f"people set '{PM_SET}' is required: the bot only "
                     "looks at tickets assigned to project managers")


@file_check
def _reassign_targets(raw: Mapping[str, Any], sink: ProblemSink) -> None:
    """A ``reassign`` whose ``to`` or ``fallback`` names nobody (a typo of ``sales_owner``, a
    display name, an email), at the value itself; a typo elsewhere in the step or the file
    does not hide it."""
    policies = raw.get("policies")
    for i, policy in enumerate(policies if isinstance(policies, list) else ()):
        steps = policy.get("actions") if isinstance(policy, dict) else None
        for j, step in enumerate(steps if isinstance(steps, list) else ()):
            if not isinstance(step, dict) or "reassign" not in step:
                continue
            loc: Loc = ("policies", i, "actions", j, "reassign")
            spec = step["reassign"]
            if isinstance(spec, str):  # the shorthand `reassign: sales_owner` is the `to`
                _target(sink, loc, spec, symbolic=True)
            elif isinstance(spec, dict):
                for key, symbolic in (("to", True), ("fallback", False)):
                    _target(sink, (*loc, key), spec.get(key), symbolic=symbolic)


def _target(sink: ProblemSink, loc: Loc, value: object, *, symbolic: bool) -> None:
    # Anything but a non-empty string is the action model's to report (wrong type, empty).
    if isinstance(value, str) and value:
        found = target_problem(value, symbolic=symbolic)
        if found is not None:
            sink.problem(loc, found)


@file_check
def _fallback_sales_owner(raw: Mapping[str, Any], sink: ProblemSink) -> None:
    """The fallback sales owner's ``id`` is a user id, not a display name or an email."""
    owner = raw.get("sales_owner")
    fallback = owner.get("fallback") if isinstance(owner, dict) else None
    user_id = fallback.get("id") if isinstance(fallback, dict) else None
    if isinstance(user_id, str) and user_id and (found := user_shape_problem(user_id)):
        sink.problem(("sales_owner", "fallback", "id"), found)
