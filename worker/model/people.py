"""People as the worker knows them: a :class:`Person` (Cloud ``accountId`` or Data Center
username as ``id``) and the :class:`Directory` of the groups the policies name."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Person:
    """A Jira user. ``id`` is the accountId (Cloud) or the username (Data Center)."""

    id: str
    display_name: str
    active: bool = True
    email: str | None = None



@dataclass(frozen=True, slots=True)
class Directory:
    """Group memberships read once per cycle. Inactive users are never members."""

    #: group name -> ids of its *active* members
    groups: Mapping[str, frozenset[str]] = field(default_factory=dict)
    #: every person seen while reading the groups, by id
    people: Mapping[str, Person] = field(default_factory=dict)
