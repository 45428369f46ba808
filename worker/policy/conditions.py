"""Conditions: the registered, composable tests a policy applies to a ticket.

Each condition is one pydantic model (its schema) registered under the name admins write,
with a docstring for admins that ends in a YAML example (tests validate every example).
``evaluate`` is pure: it reads the snapshot and the ticket context, never the clock.
"""

from __future__ import annotations

import typing
from collections.abc import Hashable
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

from worker.model.issue import IssueSnapshot
from worker.model.plan import CommentQuote, Evidence
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


def evidence_of(cond: Condition, result: bool, detail: str) -> Evidence:
    return Evidence(condition=cond.name, result=result, detail=detail)


#: how much of a matched comment the evidence keeps around the words that matched
EXCERPT_CHARS = 160


def excerpt_around(text: str, found: str) -> str:
    """At most :data:`EXCERPT_CHARS` of ``text`` on one line, around the first ``found``."""
    flat = " ".join(text.split())
    if len(flat) <= EXCERPT_CHARS:
        return flat
    at = max(0, flat.casefold().find(found.casefold()))
    start = max(0, min(at - EXCERPT_CHARS // 3, len(flat) - EXCERPT_CHARS))
    piece = flat[start:start + EXCERPT_CHARS].strip()
    return ("…" if start else "") + piece + ("…" if start + EXCERPT_CHARS < len(flat) else "")


def patterns_for(keywords: list[str], regex: LinearRegex | None) -> tuple[LinearRegex, ...]:
    out = []
    if keywords:
        out.append(keyword_regex(keywords))
    if regex is not None:
        out.append(regex)
    return tuple(out)


def folded(values: list[str]) -> frozenset[str]:
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
                return evidence_of(self, False, ev.detail)
            details.append(ev.detail)
        return evidence_of(self, True, "; ".join(details))

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
                return evidence_of(self, True, ev.detail)
            misses.append(ev.detail)
        return evidence_of(self, False, "; ".join(misses))

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
        return evidence_of(self, not ev.result, f"not: {ev.detail}")

    def describe(self) -> str:
        return f"not ({self.items[0].describe()})"


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
        return evidence_of(self, ok, finding.evidence)

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
        return evidence_of(
            self, ok, f"{verb} for {self.duration.words()}: last human activity {day}")

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
        return patterns_for(self.keywords, self.regex)

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
                    quote = CommentQuote(comment.id, who, comment.created, found,
                                         excerpt_around(comment.text, found))
                    return Evidence(self.name, True,
                                    f"{who} ({self.people}) wrote “{found}” on {day}", quote)
        return evidence_of(
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
