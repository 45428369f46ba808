"""Conditions on the ticket's own fields: who it is assigned to or reported by, its type,
project and status category, its labels, its text, any field's value.

They register in :data:`worker.policy.conditions.conditions` when this module is imported
(:mod:`worker.policy.schema` and :mod:`worker.policy.load` import it).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from functools import cached_property
from typing import Annotated, ClassVar, Literal

from pydantic import (
    Field,
    model_validator,
)

from worker.model.issue import IssueSnapshot
from worker.model.people import Person
from worker.model.plan import Evidence
from worker.policy.conditions import (
    Condition,
    NonEmptyList,
    Regex,
    conditions,
    evidence_of,
    folded,
    patterns_for,
)
from worker.policy.context import TicketContext
from worker.policy.linear_regex import LinearRegex

# --------------------------------------------------------------------------- people


class _PeopleCondition(Condition):
    shorthand: ClassVar[str | None] = "sets"
    sets: list[str] = Field(default_factory=list, description="people sets defined under `people`")
    users: list[str] = Field(default_factory=list, description="explicit user ids")
    role: ClassVar[str] = ""

    @model_validator(mode="after")
    def _not_empty(self) -> _PeopleCondition:
        if not self.sets and not self.users:
            raise ValueError("name at least one people set (e.g. pm) or user id")
        return self

    def people_sets(self) -> tuple[str, ...]:
        return tuple(self.sets)

    def _person(self, snapshot: IssueSnapshot) -> Person | None:
        raise NotImplementedError

    def memo_key(self, snapshot: IssueSnapshot, ctx: TicketContext) -> Hashable | None:
        return self._person(snapshot) or ""

    def test(self, snapshot: IssueSnapshot, ctx: TicketContext) -> bool:
        person = self._person(snapshot)
        if person is None:
            return False
        plan = ctx.plan
        return any(plan.is_member(name, person) for name in self.sets) or (
            person.active and person.id in self.users
        )

    def evaluate(self, snapshot: IssueSnapshot, ctx: TicketContext) -> Evidence:
        person = self._person(snapshot)
        if person is None:
            return evidence_of(self, False, f"the ticket has no {self.role}")
        for name in self.sets:
            if ctx.plan.is_member(name, person):
                return evidence_of(self, True, f"{self.role} {person.display_name} is in {name}")
        if person.active and person.id in self.users:
            return evidence_of(self, True, f"{self.role} {person.display_name} is a listed user")
        inactive = "" if person.active else " (inactive)"
        wanted = " or ".join([*self.sets, *(["the listed users"] if self.users else [])])
        return evidence_of(
            self, False, f"{self.role} {person.display_name}{inactive} is not in {wanted}")

    def describe(self) -> str:
        return f"{self.role} in " + ", ".join([*self.sets, *self.users])


@conditions.register("assignee_in")
class AssigneeIn(_PeopleCondition):
    """The assignee is an active member of a people set (or one of the listed user ids).

    ```yaml
    assignee_in: pm
    ```
    """

    role: ClassVar[str] = "assignee"

    def _person(self, snapshot: IssueSnapshot) -> Person | None:
        return snapshot.assignee


@conditions.register("reporter_in")
class ReporterIn(_PeopleCondition):
    """The reporter is an active member of a people set (or one of the listed user ids).

    ```yaml
    reporter_in: {sets: [sales], users: ["712020:lee"]}
    ```
    """

    role: ClassVar[str] = "reporter"

    def _person(self, snapshot: IssueSnapshot) -> Person | None:
        return snapshot.reporter


# --------------------------------------------------------------------------- ticket fields


class _ValueIn(Condition):
    shorthand: ClassVar[str | None] = "values"
    values: NonEmptyList
    label: ClassVar[str] = ""

    @cached_property
    def folded(self) -> frozenset[str]:
        """The values, case-folded once."""
        return folded(self.values)

    @cached_property
    def listed(self) -> str:
        """The values as one phrase (built once; evidence is built per ticket)."""
        return ", ".join(self.values)

    def _value(self, snapshot: IssueSnapshot) -> str:
        raise NotImplementedError

    def memo_key(self, snapshot: IssueSnapshot, ctx: TicketContext) -> Hashable | None:
        return self._value(snapshot)

    def test(self, snapshot: IssueSnapshot, ctx: TicketContext) -> bool:
        return self._value(snapshot).casefold() in self.folded

    def evaluate(self, snapshot: IssueSnapshot, ctx: TicketContext) -> Evidence:
        value = self._value(snapshot)
        if value.casefold() in self.folded:
            return evidence_of(self, True, f"{self.label} is {value}")
        return evidence_of(self, False, f"{self.label} is {value}, not one of {self.listed}")

    def describe(self) -> str:
        return f"{self.label} is one of {', '.join(self.values)}"


@conditions.register("issue_type_in")
class IssueTypeIn(_ValueIn):
    """The issue type is one of these (case-insensitive).

    ```yaml
    issue_type_in: [Statement of Work, Contract, Proposal]
    ```
    """

    label: ClassVar[str] = "type"

    def _value(self, snapshot: IssueSnapshot) -> str:
        return snapshot.issue_type


@conditions.register("project_in")
class ProjectIn(_ValueIn):
    """The ticket's project key is one of these (case-insensitive).

    ```yaml
    project_in: [ACME, SALES]
    ```
    """

    label: ClassVar[str] = "project"

    def _value(self, snapshot: IssueSnapshot) -> str:
        return snapshot.project


@conditions.register("status_category_in")
class StatusCategoryIn(Condition):
    """The status category is one of ``new``, ``indeterminate`` (in progress), ``done``.

    ```yaml
    not:
      status_category_in: [done]
    ```
    """

    shorthand: ClassVar[str | None] = "categories"
    categories: Annotated[list[Literal["new", "indeterminate", "done"]], Field(min_length=1)]

    def test(self, snapshot: IssueSnapshot, ctx: TicketContext) -> bool:
        return snapshot.status_category in self.categories

    def memo_key(self, snapshot: IssueSnapshot, ctx: TicketContext) -> Hashable | None:
        return (snapshot.status, snapshot.status_category)

    def evaluate(self, snapshot: IssueSnapshot, ctx: TicketContext) -> Evidence:
        ok = snapshot.status_category in self.categories
        return evidence_of(
            self, ok, f"status {snapshot.status} is in category {snapshot.status_category}")

    def describe(self) -> str:
        return "status category is " + " or ".join(self.categories)


class _Labels(Condition):
    shorthand: ClassVar[str | None] = "labels"
    labels: NonEmptyList

    @cached_property
    def folded(self) -> frozenset[str]:
        """The values, case-folded once."""
        return folded(self.labels)

    @cached_property
    def listed(self) -> str:
        """The labels as one phrase (built once; evidence is built per ticket)."""
        return ", ".join(self.labels)

    def memo_key(self, snapshot: IssueSnapshot, ctx: TicketContext) -> Hashable | None:
        return snapshot.labels


@conditions.register("labels_any")
class LabelsAny(_Labels):
    """The ticket has at least one of these labels (case-insensitive).

    ```yaml
    labels_any: [sow, contract, msa]
    ```
    """

    def test(self, snapshot: IssueSnapshot, ctx: TicketContext) -> bool:
        folded = self.folded
        return any(lab.casefold() in folded for lab in snapshot.labels)

    def evaluate(self, snapshot: IssueSnapshot, ctx: TicketContext) -> Evidence:
        hits = [lab for lab in snapshot.labels if lab.casefold() in self.folded]
        if hits:
            return evidence_of(self, True, f"labelled {', '.join(hits)}")
        return evidence_of(self, False, f"none of the labels {self.listed}")

    def describe(self) -> str:
        return "labelled any of " + ", ".join(self.labels)


@conditions.register("labels_all")
class LabelsAll(_Labels):
    """The ticket has every one of these labels (case-insensitive).

    ```yaml
    labels_all: [msa, redline]
    ```
    """

    def evaluate(self, snapshot: IssueSnapshot, ctx: TicketContext) -> Evidence:
        have = {lab.casefold() for lab in snapshot.labels}
        missing = [lab for lab in self.labels if lab.casefold() not in have]
        if missing:
            return evidence_of(self, False, f"missing the label(s) {', '.join(missing)}")
        return evidence_of(self, True, f"labelled {', '.join(self.labels)}")

    def describe(self) -> str:
        return "labelled all of " + ", ".join(self.labels)


TextField = Literal["summary", "description"]


def _summary_only() -> list[TextField]:
    return ["summary"]


@conditions.register("text_matches")
class TextMatches(Condition):
    """The summary and/or description match a regular expression or name a keyword.

    ``keywords`` match as whole words, case-insensitively, with any spacing inside a
    phrase ("order form"), so "Contractor onboarding" does not match ``contract``.
    ``regex`` is searched case-insensitively. Give one or both.

    ```yaml
    text_matches:
      fields: [summary]
      keywords: [sow, statement of work, contract]
      regex: "\\bredlines?\\b"
    ```
    """

    fields: Annotated[list[TextField], Field(min_length=1)] = Field(default_factory=_summary_only)
    keywords: list[Annotated[str, Field(min_length=1)]] = Field(default_factory=list)
    regex: Regex | None = None

    @model_validator(mode="after")
    def _compile(self) -> TextMatches:
        if not self.keywords and self.regex is None:
            raise ValueError("give `keywords`, `regex` or both")
        return self

    @cached_property
    def patterns(self) -> tuple[LinearRegex, ...]:
        """The keyword pattern (whole words) and the regex, compiled once."""
        return patterns_for(self.keywords, self.regex)

    @cached_property
    def miss(self) -> str:
        """The evidence when nothing matches."""
        return f"the {' or '.join(self.fields)} names no Sales deliverable"

    def test(self, snapshot: IssueSnapshot, ctx: TicketContext) -> bool:
        for name in self.fields:
            text = snapshot.summary if name == "summary" else snapshot.description
            if text and any(p.find(text) is not None for p in self.patterns):
                return True
        return False

    def evaluate(self, snapshot: IssueSnapshot, ctx: TicketContext) -> Evidence:
        for name in self.fields:
            text = snapshot.summary if name == "summary" else snapshot.description
            for pattern in self.patterns:
                found = pattern.find(text) if text else None
                if found is not None:
                    return evidence_of(self, True, f"the {name} says “{found}”")
        return evidence_of(self, False, self.miss)

    def describe(self) -> str:
        what = ", ".join(self.keywords) if self.keywords else ""
        if self.regex is not None:
            what = f"{what}, /{self.regex.pattern}/" if what else f"/{self.regex.pattern}/"
        return f"{' or '.join(self.fields)} mentions {what}"


@conditions.register("field_equals")
class FieldEquals(Condition):
    """A Jira field (by its display name) equals a value (case-insensitive); ``value: null``
    means the field is empty.

    ```yaml
    field_equals: {field: Account, value: Acme Corp}
    ```
    """

    field: Annotated[str, Field(min_length=1)]
    value: str | None

    def evaluate(self, snapshot: IssueSnapshot, ctx: TicketContext) -> Evidence:
        values = _field_values(snapshot.fields, self.field)
        if self.value is None:
            ok = not values
        else:
            ok = self.value.casefold() in {v.casefold() for v in values}
        shown = ", ".join(values) if values else "empty"
        return evidence_of(self, ok, f"{self.field} is {shown}")

    def fields_read(self) -> tuple[str, ...]:
        return (self.field,)

    def describe(self) -> str:
        return f"{self.field} is {self.value if self.value is not None else 'empty'}"


@conditions.register("field_in")
class FieldIn(Condition):
    """A Jira field (by its display name) is one of these values (case-insensitive).

    ```yaml
    field_in: {field: Contract status, values: [Draft, In negotiation]}
    ```
    """

    field: Annotated[str, Field(min_length=1)]
    values: NonEmptyList

    @cached_property
    def folded(self) -> frozenset[str]:
        """The values, case-folded once."""
        return folded(self.values)

    def evaluate(self, snapshot: IssueSnapshot, ctx: TicketContext) -> Evidence:
        values = _field_values(snapshot.fields, self.field)
        ok = any(v.casefold() in self.folded for v in values)
        return evidence_of(self, ok, f"{self.field} is {', '.join(values) if values else 'empty'}")

    def fields_read(self) -> tuple[str, ...]:
        return (self.field,)

    def describe(self) -> str:
        return f"{self.field} is one of {', '.join(self.values)}"


def _field_values(fields: Mapping[str, str | tuple[str, ...] | None], name: str) -> list[str]:
    value = fields.get(name)
    if value is None:
        return []
    return [v for v in value if v] if isinstance(value, tuple) else ([value] if value else [])
