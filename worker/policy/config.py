"""The loaded policy file as frozen values (what ``load_policies`` returns)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from worker.model.people import Person
from worker.model.vocabulary import Mode
from worker.policy.actions import ActionSpec
from worker.policy.conditions import Condition
from worker.policy.durations import Duration
from worker.policy.sections import PM_SET, SALES_SET, DealsConfig, PeopleSet
from worker.policy.templates import CommentTemplate


@dataclass(frozen=True, slots=True)
class Schedule:
    """When cycles run: a fixed interval or a cron expression, in a timezone."""

    interval_s: int | None
    cron: str | None
    timezone: str
    misfire_grace_s: int


@dataclass(frozen=True, slots=True)
class Breaker:
    """Blast-radius limit: a policy matching more than this plans nothing.

    ``max_percent`` applies only when the policy's scope holds at least ``min_scope`` tickets,
    so a small site with three open tickets does not trip on "100 %".
    """

    #: None: no limit on the number of matches (``unlimited`` in the file)
    max_matches: int | None
    max_percent: float
    min_scope: int

    @property
    def binds(self) -> bool:
        """Whether this breaker can trip at all: a percentage of 100 cannot be exceeded
        (every match is in the scope), so only a number of matches can."""
        return self.max_matches is not None or self.max_percent < 100


@dataclass(frozen=True, slots=True)
class Safety:
    """Cycle-wide limits."""

    #: None: no cycle-wide budget (``unlimited`` in the file)
    max_actions_per_cycle: int | None
    breaker: Breaker


@dataclass(frozen=True, slots=True)
class Step:
    """One rung of a policy's ladder: ``after`` the ticket was first flagged, do ``actions``."""

    after: Duration
    actions: tuple[ActionSpec, ...]


@dataclass(frozen=True, slots=True)
class Policy:
    """One admin-written rule."""

    id: str
    description: str
    mode: Mode
    scope: str | None
    conditions: tuple[Condition, ...]
    exempt: tuple[Condition, ...]
    steps: tuple[Step, ...]
    continue_: bool = False
    ignore_opt_out: bool = False
    max_actions_per_cycle: int | None = None
    breaker: Breaker | None = None
    #: the parsed scope (a ``worker.jql`` query), None without a scope
    scope_query: Any = field(default=None, compare=False, repr=False)
    #: the Jira groups the scope's ``membersOf`` names (read into the directory each cycle)
    scope_groups: tuple[str, ...] = ()
    line: int = 0
    #: True when a condition or exemption reads the contract status (the policy then skips
    #: tickets whose deal pages cannot be trusted). Computed once: the planner asks for every
    #: ticket, and walking the condition tree each time cost a fifth of its time.
    needs_deals: bool = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "needs_deals", any("deals" in c.needs() for c in self.conditions + self.exempt)
        )


@dataclass(frozen=True, slots=True)
class ReportConfig:
    """The ``report:`` section: which Confluence page the service keeps up to date, when."""

    space: str
    title: str
    schedule: str  # cron, in the file's timezone
    weeks: int
    attachment: str


@dataclass(frozen=True, slots=True)
class Policies:
    """A validated policy file."""

    version: int
    source: Path | None
    schedule: Schedule
    safety: Safety
    property_key: str
    people: Mapping[str, PeopleSet]
    deals: DealsConfig
    sales_owner_fallback: Person | None
    holidays: frozenset[date]
    templates: Mapping[str, CommentTemplate]
    policies: tuple[Policy, ...]
    #: labels that exempt a ticket from every policy not marked ``ignore_opt_out``
    opt_out_labels: tuple[str, ...] = ("handoff-exception",)
    #: the leadership report page (None: the service publishes no report)
    report: ReportConfig | None = None

    @property
    def opt_out_label(self) -> str:
        """The label comments tell people to add (the first opt-out label)."""
        return self.opt_out_labels[0]

    @property
    def tz(self) -> ZoneInfo:
        """The file's timezone (business days and dates in comments use it)."""
        return ZoneInfo(self.schedule.timezone)


DEFAULT_PEOPLE: Mapping[str, PeopleSet] = {
    PM_SET: PeopleSet(PM_SET, ("project-managers",), ()),
    SALES_SET: PeopleSet(SALES_SET, ("sales",), ()),
}
