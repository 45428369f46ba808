"""What every stage of the JQL engine shares: the site context a query is checked and
evaluated against, the issue mapping it reads, and the error in Jira's words."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

Issue = Mapping[str, Any]
Predicate = Callable[[Issue], bool]


class JqlError(ValueError):
    """A query Jira would answer with 400; the message is Jira's wording."""


@dataclass(frozen=True, slots=True)
class JqlContext:
    """What a query needs from the site to be checked and evaluated."""

    now: datetime  # site clock, tz-aware UTC
    timezone: ZoneInfo  # site timezone, for date literals and startOfDay()
    current_user: str  # caller id (accountId on cloud, name on DC)
    members_of: Callable[[str], frozenset[str]]  # group -> member ids; KeyError if unknown
    user_exists: Callable[[str], bool]
    fields_by_name: Mapping[str, str]  # lower-cased custom field name -> "customfield_10051"
    flavor: str  # "cloud" | "datacenter"
    known_projects: frozenset[str] = frozenset()  # upper-case keys; empty: don't check
