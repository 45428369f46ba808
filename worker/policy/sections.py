"""The parts of a policy file that conditions, actions and templates consult about the whole
file: the people sets, where deals come from, and :class:`FileView`, what they may read of the
loaded file (:class:`~worker.policy.config.Policies` is one). They sit below the policies
themselves so that a condition can see the file it belongs to without importing it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Protocol
from zoneinfo import ZoneInfo

from worker.model.deals import DealSource
from worker.model.people import Person
from worker.policy.templates import CommentTemplate

#: the people set whose members the search is bounded to
PM_SET = "pm"
#: the people set "reporter in Sales" refers to when finding a sales owner
SALES_SET = "sales"


@dataclass(frozen=True, slots=True)
class PeopleSet:
    """A named set of people: members of Jira groups and/or explicit user ids."""

    name: str
    groups: tuple[str, ...]
    users: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DealsConfig:
    """Where contract status comes from, in order of precedence."""

    status_field: str | None
    account_field: str | None
    pages: DealSource | None
    signed_values: tuple[str, ...]
    #: statuses that positively mean "not signed yet"; a status in neither list is unreadable
    unsigned_values: tuple[str, ...] = ()


class FileView(Protocol):
    """What a plan's conditions, actions and templates read of the loaded policy file."""

    @property
    def people(self) -> Mapping[str, PeopleSet]:
        """The people sets by name."""

    @property
    def deals(self) -> DealsConfig:
        """Where contract status comes from."""

    @property
    def sales_owner_fallback(self) -> Person | None:
        """Who owns Sales work when nobody else is found (None: nobody)."""

    @property
    def holidays(self) -> frozenset[date]:
        """Days that are not business days."""

    @property
    def templates(self) -> Mapping[str, CommentTemplate]:
        """The comment templates by name."""

    @property
    def opt_out_labels(self) -> tuple[str, ...]:
        """Labels that exempt a ticket."""

    @property
    def opt_out_label(self) -> str:
        """The label comments tell people to add."""

    @property
    def tz(self) -> ZoneInfo:
        """The file's timezone."""
