"""Actions: what a ladder step does, turned into ``worker.model`` actions (no I/O here).

Each action kind is one pydantic model registered under the name admins write, with a
docstring for admins that ends in a YAML example. ``plan`` returns the action to take,
``None`` when there is nothing to do (the label is already there), or :class:`Blocked` when
the step cannot run (nobody to reassign to) — then the whole step waits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from worker.model.document import Document
from worker.model.people import Person
from worker.model.plan import (
    Action,
    CommentAction,
    FlagAction,
    LabelAction,
    ReassignAction,
    Visibility,
)
from worker.policy.conditions import expand_shorthand
from worker.policy.context import StepContext, TicketContext
from worker.policy.registry import Registry
from worker.policy.template_vars import template_vars

TEMPLATE_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


@dataclass(frozen=True, slots=True)
class Blocked:
    """A step that cannot run now, and why (in words for the decision's reason)."""

    reason: str


class ActionSpec(BaseModel):
    """Base of every action kind; subclasses register with ``@actions.register(name)``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: ClassVar[str] = ""
    shorthand: ClassVar[str | None] = None

    @model_validator(mode="before")
    @classmethod
    def _expand_shorthand(cls, value: Any) -> Any:
        return {} if value is None else expand_shorthand(cls, value)

    def plan(self, ctx: TicketContext, step: StepContext) -> Action | Blocked | None:
        """The concrete action for this ticket, None when already done, or Blocked."""
        raise NotImplementedError

    def words(self, ctx: TicketContext | None) -> str:
        """What the action does, as a phrase ("reassign it to Sam Ortiz")."""
        raise NotImplementedError

    def needs_deals(self) -> bool:
        """True when planning this action needs the ticket's deal."""
        return False


actions: Registry[ActionSpec] = Registry("action")


class VisibilitySpec(BaseModel):
    """Restrict a comment to a Jira group or a project role (give one)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    group: Annotated[str, Field(min_length=1)] | None = None
    role: Annotated[str, Field(min_length=1)] | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> VisibilitySpec:
        if (self.group is None) == (self.role is None):
            raise ValueError("give exactly one of `group` or `role`")
        return self

    def to_model(self) -> Visibility:
        """The ``worker.model`` value."""
        if self.group is not None:
            return Visibility(type="group", value=self.group)
        return Visibility(type="role", value=self.role or "")


@actions.register("comment")
class CommentSpec(ActionSpec):
    """Post a comment rendered from a template in ``config/templates/<template>.j2``,
    optionally visible only to a group or a project role.

    ```yaml
    comment:
      template: sales-deliverable
      visibility: {role: Developers}
    ```
    """

    shorthand: ClassVar[str | None] = "template"
    template: Annotated[str, Field(pattern=TEMPLATE_NAME)]
    visibility: VisibilitySpec | None = None

    def plan(self, ctx: TicketContext, step: StepContext) -> Action | Blocked | None:
        return self.render(ctx, step)

    def render(self, ctx: TicketContext, step: StepContext) -> CommentAction:
        """The comment for this ticket, rendered from the template."""
        template = ctx.plan.policies.templates[self.template]
        document = template.render(template_vars(ctx, step))
        vis = self.visibility.to_model() if self.visibility else None
        return CommentAction(document=document, template=self.template, visibility=vis)

    def words(self, ctx: TicketContext | None) -> str:
        return f"comment ({self.template})"

    def needs_deals(self) -> bool:
        return True


@actions.register("flag")
class FlagSpec(ActionSpec):
    """Set (or with ``false`` clear) Jira's Flagged field, shown on boards.

    ```yaml
    flag: true
    ```
    """

    shorthand: ClassVar[str | None] = "on"
    on: bool = True

    def plan(self, ctx: TicketContext, step: StepContext) -> Action | Blocked | None:
        return None if ctx.snapshot.flagged == self.on else FlagAction(on=self.on)

    def words(self, ctx: TicketContext | None) -> str:
        return "flag it" if self.on else "clear its flag"


@actions.register("reassign")
class ReassignSpec(ActionSpec):
    """Assign the ticket to ``sales_owner`` (the deal's account executive, else a reporter
    in Sales, else the configured fallback), ``reporter``, or a user id. ``fallback`` (a user
    id) is used when the target resolves to nobody or Jira refuses the assignment.

    The same edit posts a short comment to the new owner, rendered from the template
    ``note`` (default ``reassign-note``): why the ticket came to them, who had it, and how
    to hand it back.

    ```yaml
    reassign: {to: sales_owner, fallback: "712020:dana", note: reassign-note}
    ```
    """

    shorthand: ClassVar[str | None] = "to"
    to: Annotated[str, Field(min_length=1)] = "sales_owner"
    fallback: Annotated[str, Field(min_length=1)] | None = None
    note: Annotated[str, Field(pattern=TEMPLATE_NAME)] = "reassign-note"

    def _target(self, ctx: TicketContext) -> tuple[Person | None, str, str]:
        if self.to == "sales_owner":
            owner = ctx.sales_owner()
            return owner.person, "sales_owner", owner.why
        if self.to == "reporter":
            rep = ctx.snapshot.reporter
            if rep is None or not rep.active:
                return None, "reporter", "the ticket has no active reporter"
            return rep, "reporter", "the ticket's reporter"
        person = ctx.plan.person(self.to)
        if not person.active:
            return None, "user", f"{person.display_name} is inactive"
        return person, "user", "the person this policy names"

    def plan(self, ctx: TicketContext, step: StepContext) -> Action | Blocked | None:
        target, kind, why = self._target(ctx)
        fallback = ctx.plan.person(self.fallback) if self.fallback else None
        if fallback is not None and not fallback.active:
            fallback = None
        if target is None:
            if fallback is None:
                return Blocked(why)
            target, fallback = fallback, None
        assignee = ctx.snapshot.assignee
        if assignee is not None and assignee.id == target.id:
            return None
        if fallback is not None and fallback.id == target.id:
            fallback = None
        return ReassignAction(
            to=target,
            target=kind,
            fallback=fallback,
            note=self._note(ctx, step, target, why),
            fallback_note=None
            if fallback is None
            else self._note(ctx, step, fallback, "the fallback owner this policy names"),
            previous=assignee,
        )

    def _note(self, ctx: TicketContext, step: StepContext, owner: Person, why: str) -> Document:
        template = ctx.plan.policies.templates[self.note]
        return template.render(template_vars(ctx, step, new_owner=owner, new_owner_why=why))

    def words(self, ctx: TicketContext | None) -> str:
        if self.to == "sales_owner":
            owner = ctx.sales_owner().person if ctx else None
            return (
                f"reassign it to {owner.display_name}"
                if owner
                else "reassign it to the sales owner"
            )
        if self.to == "reporter":
            return "reassign it to the reporter"
        name = ctx.plan.person(self.to).display_name if ctx else self.to
        return f"reassign it to {name}"

    def needs_deals(self) -> bool:
        return self.to == "sales_owner"


@actions.register("label")
class LabelSpec(ActionSpec):
    """Add and/or remove labels (labels already present or absent are left alone).

    ```yaml
    label: {add: [sales-owned], remove: [needs-pm]}
    ```
    """

    shorthand: ClassVar[str | None] = "add"
    add: list[Annotated[str, Field(pattern=r"^\S+$")]] = Field(default_factory=list)
    remove: list[Annotated[str, Field(pattern=r"^\S+$")]] = Field(default_factory=list)

    @model_validator(mode="after")
    def _something(self) -> LabelSpec:
        if not self.add and not self.remove:
            raise ValueError("give labels to `add` and/or `remove`")
        return self

    def plan(self, ctx: TicketContext, step: StepContext) -> Action | Blocked | None:
        have = {lab.casefold() for lab in ctx.snapshot.labels}
        add = tuple(lab for lab in self.add if lab.casefold() not in have)
        remove = tuple(lab for lab in self.remove if lab.casefold() in have)
        return LabelAction(add=add, remove=remove) if add or remove else None

    def words(self, ctx: TicketContext | None) -> str:
        parts = []
        if self.add:
            parts.append(f"add the label{'s' if len(self.add) > 1 else ''} {', '.join(self.add)}")
        if self.remove:
            parts.append(f"remove {', '.join(self.remove)}")
        return " and ".join(parts)
