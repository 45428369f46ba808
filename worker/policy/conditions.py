"""Conditions: the registered, composable tests a policy applies to a ticket.

Each condition is one pydantic model (its schema) registered under the name admins write,
with a docstring for admins that ends in a YAML example (tests validate every example).
``evaluate`` is pure: it reads the snapshot and the ticket context, never the clock.
"""

from __future__ import annotations

import typing
from collections.abc import Hashable, Mapping
from datetime import datetime
from functools import cached_property
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    WithJsonSchema,
    model_validator,
)

from worker.model import Evidence, IssueSnapshot, Person
from worker.policy.context import TicketContext
from worker.policy.durations import DURATION_HINT, Duration, parse_duration
from worker.policy.linear_regex import LinearRegex, compile_regex, keyword_regex
from worker.policy.registry import Registry


def _regex(value: object) -> LinearRegex:
    if isinstance(value, LinearRegex):
        return value
    if not isinstance(value, str):
        raise ValueError("expected a regular expression (a string)")
    return compile_regex(value)


def _duration(value: object) -> Duration:
    return parse_duration(value)


Regex = Annotated[
    LinearRegex,
    PlainValidator(_regex),
    WithJsonSchema({"type": "string", "format": "regex"}),
]
DurationField = Annotated[
    Duration,
    PlainValidator(_duration),
    WithJsonSchema({"type": ["string", "integer"], "description": DURATION_HINT}),
]
NonEmptyList = Annotated[list[str], Field(min_length=1)]


def _is_list(annotation: Any) -> bool:
    while typing.get_origin(annotation) is Annotated:
        annotation = typing.get_args(annotation)[0]
    return typing.get_origin(annotation) is list


def expand_shorthand(cls: type[BaseModel], value: Any) -> Any:
    """Accept the short forms admins write: a bare value fills ``cls.shorthand``, and a
    single string where a list is expected becomes a one-item list."""
    short = getattr(cls, "shorthand", None)
    if short is not None and not isinstance(value, dict):
        value = {short: value}
    if isinstance(value, dict):
        fields = cls.model_fields
        return {
            k: [v] if isinstance(v, str) and k in fields and _is_list(fields[k].annotation) else v
            for k, v in value.items()
        }
    return value


class Condition(BaseModel):
    """Base of every condition; subclasses register with ``@conditions.register(name)``."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    name: ClassVar[str] = ""
    #: the field a bare (non-mapping) value fills, e.g. ``issue_type_in: [Contract]``
    shorthand: ClassVar[str | None] = None

    @model_validator(mode="before")
    @classmethod
    def _expand_shorthand(cls, value: Any) -> Any:
        return expand_shorthand(cls, value)

    def evaluate(self, snapshot: IssueSnapshot, ctx: TicketContext) -> Evidence:
        """This condition's verdict on ``snapshot`` with the value that decided it."""
        raise NotImplementedError

    def test(self, snapshot: IssueSnapshot, ctx: TicketContext) -> bool:
        """The verdict alone, without building evidence (the planner's fast path)."""
        return self.evidence(snapshot, ctx).result

    def memo_key(self, snapshot: IssueSnapshot, ctx: TicketContext) -> Hashable | None:
        """What the evidence depends on, when that is small and often repeated (else None).

        Tickets share assignees, types and deals: one plan call builds each distinct
        piece of evidence once.
        """
        return None

    def evidence(self, snapshot: IssueSnapshot, ctx: TicketContext) -> Evidence:
        """``evaluate``, memoized per plan call by ``memo_key``."""
        key = self.memo_key(snapshot, ctx)
        if key is None:
            return self.evaluate(snapshot, ctx)
        memo = ctx.plan.memo
        full = (id(self), key)
        ev = memo.get(full)
        if ev is None:
            ev = memo[full] = self.evaluate(snapshot, ctx)
        return ev

    def describe(self) -> str:
        """What the condition checks, in words (for ``validate``'s summary)."""
        raise NotImplementedError

    def people_sets(self) -> tuple[str, ...]:
        """People sets this condition names (checked at load)."""
        return ()

    def fields_read(self) -> tuple[str, ...]:
        """Jira fields (by display name) this condition reads."""
        return ()

    def needs(self) -> frozenset[str]:
        """What the read must include: "comments", "changelog", "deals"."""
        return frozenset()

    def children(self) -> tuple[Condition, ...]:
        """Nested conditions (for ``all``/``any``/``not``)."""
        return ()

    def changes_at(self, snapshot: IssueSnapshot, ctx: TicketContext) -> datetime | None:
        """The earliest moment this condition's result on ``snapshot`` can change with time
        alone (nothing else about the ticket, the people or the deals changing); None when
        time alone never changes it. Incremental cycles read the ticket again then.
        """
        return None


conditions: Registry[Condition] = Registry("condition")


def _ev(cond: Condition, result: bool, detail: str) -> Evidence:
    return Evidence(condition=cond.name, result=result, detail=detail)


def _patterns(keywords: list[str], regex: LinearRegex | None) -> tuple[LinearRegex, ...]:
    out = []
    if keywords:
        out.append(keyword_regex(keywords))
    if regex is not None:
        out.append(regex)
    return tuple(out)


def _fold(values: list[str]) -> frozenset[str]:
    return frozenset(v.casefold() for v in values)


# --------------------------------------------------------------------------- composition


class Composite(Condition):
    """Shared by ``all``, ``any`` and ``not``: children are built by the loader."""

    items: tuple[Condition, ...] = ()

    @classmethod
    def of(cls, items: tuple[Condition, ...]) -> Composite:
        """A composite over already-validated conditions."""
        return cls.model_construct(items=items)

    def children(self) -> tuple[Condition, ...]:
        return self.items

    def memo_key(self, snapshot: IssueSnapshot, ctx: TicketContext) -> Hashable | None:
        keys = tuple(c.memo_key(snapshot, ctx) for c in self.items)
        return None if None in keys else keys

    def people_sets(self) -> tuple[str, ...]:
        return tuple(s for c in self.items for s in c.people_sets())

    def fields_read(self) -> tuple[str, ...]:
        return tuple(f for c in self.items for f in c.fields_read())

    def needs(self) -> frozenset[str]:
        return frozenset().union(*(c.needs() for c in self.items))


@conditions.register("all")
class AllOf(Composite):
    """Every listed condition holds.

    ```yaml
    all:
      - issue_type_in: [Contract]
      - labels_any: [msa]
    ```
    """

    def test(self, snapshot: IssueSnapshot, ctx: TicketContext) -> bool:
        return all(c.test(snapshot, ctx) for c in self.items)

    def evaluate(self, snapshot: IssueSnapshot, ctx: TicketContext) -> Evidence:
        details: list[str] = []
        for cond in self.items:
            ev = cond.evidence(snapshot, ctx)
            if not ev.result:
                return _ev(self, False, ev.detail)
            details.append(ev.detail)
        return _ev(self, True, "; ".join(details))

    def describe(self) -> str:
        return "all of (" + "; ".join(c.describe() for c in self.items) + ")"


@conditions.register("any")
class AnyOf(Composite):
    """At least one listed condition holds.

    ```yaml
    any:
      - issue_type_in: [Statement of Work, Contract]
      - labels_any: [sow, contract]
    ```
    """

    def test(self, snapshot: IssueSnapshot, ctx: TicketContext) -> bool:
        return any(c.test(snapshot, ctx) for c in self.items)

    def evaluate(self, snapshot: IssueSnapshot, ctx: TicketContext) -> Evidence:
        misses: list[str] = []
        for cond in self.items:
            ev = cond.evidence(snapshot, ctx)
            if ev.result:
                return _ev(self, True, ev.detail)
            misses.append(ev.detail)
        return _ev(self, False, "; ".join(misses))

    def describe(self) -> str:
        return "any of (" + "; ".join(c.describe() for c in self.items) + ")"


@conditions.register("not")
class Not(Composite):
    """The nested condition does not hold.

    ```yaml
    not:
      status_category_in: [done]
    ```
    """

    def test(self, snapshot: IssueSnapshot, ctx: TicketContext) -> bool:
        return not self.items[0].test(snapshot, ctx)

    def evaluate(self, snapshot: IssueSnapshot, ctx: TicketContext) -> Evidence:
        ev = self.items[0].evidence(snapshot, ctx)
        return _ev(self, not ev.result, f"not: {ev.detail}")

    def describe(self) -> str:
        return f"not ({self.items[0].describe()})"


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
            return _ev(self, False, f"the ticket has no {self.role}")
        for name in self.sets:
            if ctx.plan.is_member(name, person):
                return _ev(self, True, f"{self.role} {person.display_name} is in {name}")
        if person.active and person.id in self.users:
            return _ev(self, True, f"{self.role} {person.display_name} is a listed user")
        inactive = "" if person.active else " (inactive)"
        wanted = " or ".join([*self.sets, *(["the listed users"] if self.users else [])])
        return _ev(self, False, f"{self.role} {person.display_name}{inactive} is not in {wanted}")

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
        return _fold(self.values)

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
            return _ev(self, True, f"{self.label} is {value}")
        return _ev(self, False, f"{self.label} is {value}, not one of {self.listed}")

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
        return _ev(self, ok, f"status {snapshot.status} is in category {snapshot.status_category}")

    def describe(self) -> str:
        return "status category is " + " or ".join(self.categories)


class _Labels(Condition):
    shorthand: ClassVar[str | None] = "labels"
    labels: NonEmptyList

    @cached_property
    def folded(self) -> frozenset[str]:
        """The values, case-folded once."""
        return _fold(self.labels)

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
            return _ev(self, True, f"labelled {', '.join(hits)}")
        return _ev(self, False, f"none of the labels {self.listed}")

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
            return _ev(self, False, f"missing the label(s) {', '.join(missing)}")
        return _ev(self, True, f"labelled {', '.join(self.labels)}")

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
        return _patterns(self.keywords, self.regex)

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
                    return _ev(self, True, f"the {name} says “{found}”")
        return _ev(self, False, self.miss)

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
        return _ev(self, ok, f"{self.field} is {shown}")

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
        return _fold(self.values)

    def evaluate(self, snapshot: IssueSnapshot, ctx: TicketContext) -> Evidence:
        values = _field_values(snapshot.fields, self.field)
        ok = any(v.casefold() in self.folded for v in values)
        return _ev(self, ok, f"{self.field} is {', '.join(values) if values else 'empty'}")

    def fields_read(self) -> tuple[str, ...]:
        return (self.field,)

    def describe(self) -> str:
        return f"{self.field} is one of {', '.join(self.values)}"


def _field_values(fields: Mapping[str, str | tuple[str, ...] | None], name: str) -> list[str]:
    value = fields.get(name)
    if value is None:
        return []
    return [v for v in value if v] if isinstance(value, tuple) else ([value] if value else [])


# --------------------------------------------------------------------------- deals and time


@conditions.register("contract")
class Contract(Condition):
    """The ticket's contract state: ``signed``, ``unsigned``, ``unknown`` (no deal page at
    all) or ``not_signed`` (unsigned or unknown). The status comes from the ticket's field
    first, then from the deal page found by project key or account. When deal pages name the
    customer but cannot be trusted (the status cannot be read, two pages disagree, or the
    read of deal pages failed this cycle), a policy using this condition gives the ticket
    ``skip`` with the reason and the page: the bot never acts on a guess.

    ```yaml
    contract: not_signed
    ```
    """

    shorthand: ClassVar[str | None] = "state"
    state: Literal["signed", "unsigned", "unknown", "not_signed"]

    def memo_key(self, snapshot: IssueSnapshot, ctx: TicketContext) -> Hashable | None:
        return id(ctx.deal())  # findings are shared and kept alive by the plan context

    def test(self, snapshot: IssueSnapshot, ctx: TicketContext) -> bool:
        state = ctx.deal().state
        return state != "signed" if self.state == "not_signed" else state == self.state

    def evaluate(self, snapshot: IssueSnapshot, ctx: TicketContext) -> Evidence:
        finding = ctx.deal()
        if self.state == "not_signed":
            ok = finding.state != "signed"
        else:
            ok = finding.state == self.state
        return _ev(self, ok, finding.evidence)

    def needs(self) -> frozenset[str]:
        return frozenset({"deals"})

    def describe(self) -> str:
        return {
            "signed": "the contract is signed",
            "unsigned": "a deal is known and not signed",
            "unknown": "no deal is found",
            "not_signed": "the contract is not signed (or no deal is found)",
        }[self.state]


@conditions.register("idle_for")
class IdleFor(Condition):
    """No human activity (edits, comments, creation) for at least this long; the bot's own
    changes never count.

    ```yaml
    idle_for: 5 business days
    ```
    """

    shorthand: ClassVar[str | None] = "duration"
    duration: DurationField

    def evaluate(self, snapshot: IssueSnapshot, ctx: TicketContext) -> Evidence:
        last = snapshot.last_human_activity or snapshot.created
        plan = ctx.plan
        due = self.duration.add_to(last, tz=plan.tz, holidays=plan.policies.holidays)
        ok = due <= ctx.now
        day = last.astimezone(plan.tz).strftime("%Y-%m-%d %H:%M")
        verb = "idle" if ok else "not idle"
        return _ev(self, ok, f"{verb} for {self.duration.words()}: last human activity {day}")

    def needs(self) -> frozenset[str]:
        # Human comments are activity as much as edits are.
        return frozenset({"changelog", "comments"})

    def changes_at(self, snapshot: IssueSnapshot, ctx: TicketContext) -> datetime | None:
        # Not idle yet: it becomes idle when the duration has passed. Idle: only new
        # activity ends that, and activity changes the ticket.
        last = snapshot.last_human_activity or snapshot.created
        plan = ctx.plan
        due = self.duration.add_to(last, tz=plan.tz, holidays=plan.policies.holidays)
        return due if due > ctx.now else None

    def describe(self) -> str:
        return f"no human activity for {self.duration.words()}"


@conditions.register("comments_by")
class CommentsBy(Condition):
    """A comment by a member of a people set, within a window before now, that matches a
    regular expression or names one of the keyword phrases (whole words, case-insensitive).

    ```yaml
    comments_by:
      people: sales
      keywords: [what's the status, any update]
      regex: "\\bby (EOD|end of day)\\b"
      within: 14d
    ```
    """

    people: Annotated[str, Field(min_length=1)]
    keywords: list[Annotated[str, Field(min_length=1)]] = Field(default_factory=list)
    regex: Regex | None = None
    within: DurationField = Field(default_factory=lambda: parse_duration("14d"))

    @model_validator(mode="after")
    def _compile(self) -> CommentsBy:
        if not self.keywords and self.regex is None:
            raise ValueError("give `keywords`, `regex` or both")
        return self

    @cached_property
    def patterns(self) -> tuple[LinearRegex, ...]:
        """The keyword pattern (whole words) and the regex, compiled once."""
        return _patterns(self.keywords, self.regex)

    def evaluate(self, snapshot: IssueSnapshot, ctx: TicketContext) -> Evidence:
        plan = ctx.plan
        # The window is measured back from now: `start + within > now` means "recent".
        for comment in sorted(snapshot.comments, key=lambda c: c.created, reverse=True):
            recent = self.within.add_to(
                comment.created, tz=plan.tz, holidays=plan.policies.holidays
            )
            if recent < ctx.now:
                break
            if not plan.is_member(self.people, comment.author):
                continue
            for pattern in self.patterns:
                found = pattern.find(comment.text)
                if found is not None:
                    who = comment.author.display_name if comment.author else "someone"
                    day = comment.created.astimezone(plan.tz).strftime("%Y-%m-%d")
                    return _ev(self, True, f"{who} ({self.people}) wrote “{found}” on {day}")
        return _ev(
            self,
            False,
            f"no comment by {self.people} in the last {self.within.words()} gives orders or chases",
        )

    def people_sets(self) -> tuple[str, ...]:
        return (self.people,)

    def needs(self) -> frozenset[str]:
        return frozenset({"comments"})

    def changes_at(self, snapshot: IssueSnapshot, ctx: TicketContext) -> datetime | None:
        # Comments only age: the result can only turn false, when the last comment inside
        # the window leaves it. Any comment inside counts (cheaper than matching them all,
        # and a recheck too many is only a read).
        plan = ctx.plan
        latest: datetime | None = None
        for comment in snapshot.comments:
            ends = self.within.add_to(comment.created, tz=plan.tz, holidays=plan.policies.holidays)
            if ends >= ctx.now and (latest is None or ends > latest):
                latest = ends
        return latest

    def describe(self) -> str:
        return f"a comment by {self.people} in the last {self.within.words()} gives orders"
