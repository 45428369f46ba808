"""One entry of a policy file's ``policies:`` list -> a :class:`Policy`: its conditions,
its steps and their actions, and the comment templates they name.

Every problem goes to the file's :class:`ProblemLog`; an entry with any problem gives None
(the file as a whole is refused with every problem listed).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from worker.policy.actions import ActionSpec, CommentSpec, ReassignSpec, actions
from worker.policy.checks import Loc
from worker.policy.conditions import Composite, Condition, conditions
from worker.policy.config import Breaker, Policy, Step
from worker.policy.problem_log import ProblemLog
from worker.policy.problem_words import show, suggest, unknown
from worker.policy.schema import COMPOSITES, UNLIMITED, BreakerModel, PolicyModel, StepModel
from worker.policy.scope import parse_scope
from worker.policy.templates import CommentTemplate, load_template


class EntryLoader:
    """Builds the file's policies one entry at a time, sharing its problems and templates."""

    def __init__(self, log: ProblemLog, *, people: frozenset[str], templates_dir: Path) -> None:
        self.log = log
        self.people = people  # the people sets the file defines (conditions name them)
        self.templates_dir = templates_dir
        self.templates: dict[str, CommentTemplate | None] = {}  # None: named, unreadable

    def policy(self, raw: Any, loc: Loc) -> Policy | None:
        """The policy at ``loc``, or None when it has a problem."""
        if not isinstance(raw, dict):
            self.log.problem(
                loc,
                f"expected a policy (a mapping with id, conditions, actions), found {show(raw)}",
            )
            return None
        model: PolicyModel | None = None
        try:
            model = PolicyModel.model_validate(raw)
        except ValidationError as exc:
            self.log.validation(exc, PolicyModel, loc, raw)
        conds = self.condition_list(raw.get("conditions"), (*loc, "conditions"))
        exempt = self.condition_list(raw.get("exempt"), (*loc, "exempt"))
        steps = self.steps(raw.get("actions"), (*loc, "actions"))
        query = None
        scope_groups: tuple[str, ...] = ()
        # The raw scope: a typo elsewhere in the policy does not hide a bad query.
        scope = raw.get("scope")
        if isinstance(scope, str):
            try:
                query, scope_groups = parse_scope(scope)
            except ValueError as exc:
                self.log.problem(
                    (*loc, "scope"), f"found {scope!r}: the scope is not valid JQL: {exc}"
                )
        if model is None or conds is None or exempt is None or steps is None:
            return None
        node = self.log.values.get(loc)
        return Policy(
            id=model.id,
            description=model.description,
            mode=model.mode,
            scope=model.scope,
            conditions=conds,
            exempt=exempt,
            steps=steps,
            continue_=model.continue_,
            ignore_opt_out=model.ignore_opt_out,
            max_actions_per_cycle=model.max_actions_per_cycle,
            breaker=breaker(model.breaker) if model.breaker else None,
            scope_query=query,
            scope_groups=scope_groups,
            line=node.start_mark.line + 1 if node else 0,
        )

    def condition_list(self, raw: Any, loc: Loc) -> tuple[Condition, ...] | None:
        """The conditions listed at ``loc`` (none when absent), or None on a problem."""
        if raw is None:
            return ()
        if not isinstance(raw, list):
            return None  # the policy model already reported it
        out = [self.condition(item, (*loc, i)) for i, item in enumerate(raw)]
        return None if any(c is None for c in out) else tuple(c for c in out if c is not None)

    def condition(self, raw: Any, loc: Loc) -> Condition | None:
        """One condition (``all``/``any``/``not`` with their children), or None on a problem."""
        if not isinstance(raw, dict) or len(raw) != 1:
            if isinstance(raw, dict):
                names = ", ".join(map(str, raw)) or "none"
                self.log.problem(
                    loc,
                    f"a condition has exactly one name, found {len(raw)} ({names}); "
                    "list them separately or combine them with `all:`/`any:`",
                )
            else:
                self.log.problem(
                    loc, f"expected a condition like `assignee_in: pm`, found {show(raw)}"
                )
            return None
        ((name, value),) = raw.items()
        name = str(name)
        cls = conditions.get(name)
        if cls is None:
            self.log.problem(
                (*loc, name), unknown("condition", name, conditions.names()), at_key=True
            )
            return None
        if name in COMPOSITES:
            if name == "not":
                items = value if isinstance(value, list) else [value]
                if len(items) != 1:
                    self.log.problem((*loc, name), "`not` takes exactly one condition")
                    return None
                child = self.condition(
                    items[0], (*loc, name, 0) if isinstance(value, list) else (*loc, name)
                )
                return None if child is None else _composite(cls).of((child,))
            if not isinstance(value, list) or not value:
                self.log.problem(
                    (*loc, name), f"`{name}` takes a list of conditions, found {show(value)}"
                )
                return None
            children = [self.condition(item, (*loc, name, i)) for i, item in enumerate(value)]
            if any(c is None for c in children):
                return None
            return _composite(cls).of(tuple(c for c in children if c is not None))
        try:
            cond = cls.model_validate(value)
        except ValidationError as exc:
            self.log.validation(exc, cls, (*loc, name), value)
            return None
        missing = [s for s in cond.people_sets() if s not in self.people]
        for s in missing:
            defined = ", ".join(sorted(self.people)) or "none"
            self.log.problem(
                (*loc, name),
                f"unknown people set '{s}' (defined: {defined})" + suggest(s, self.people),
            )
        return None if missing else cond

    def steps(self, raw: Any, loc: Loc) -> tuple[Step, ...] | None:
        """The policy's steps, or None on a problem (the model reported a missing list)."""
        if not isinstance(raw, list):
            return None
        out: list[Step | None] = []
        for i, item in enumerate(raw):
            out.append(self.step(item, (*loc, i), first=i == 0))
        return None if any(s is None for s in out) else tuple(s for s in out if s is not None)

    def step(self, raw: Any, loc: Loc, *, first: bool) -> Step | None:
        """One step: its ``after`` and its actions, or None on a problem."""
        if not isinstance(raw, dict):
            self.log.problem(
                loc,
                f"expected a step like `comment: sales-deliverable` (optionally "
                f"with `after: 2 business days`), found {show(raw)}",
            )
            return None
        ok = True
        after_raw = {"after": raw["after"]} if "after" in raw else {}
        step_model: StepModel | None = None
        try:
            step_model = StepModel.model_validate(after_raw)
        except ValidationError as exc:
            self.log.validation(exc, StepModel, loc, after_raw)
            ok = False
        specs: list[ActionSpec] = []
        for key, value in raw.items():
            if key == "after":
                continue
            cls = actions.get(str(key))
            if cls is None:
                self.log.problem(
                    (*loc, str(key)),
                    unknown("action", str(key), ("after", *actions.names())),
                    at_key=True,
                )
                ok = False
                continue
            try:
                spec = cls.model_validate(value)
            except ValidationError as exc:
                self.log.validation(exc, cls, (*loc, str(key)), value)
                ok = False
                continue
            if isinstance(spec, CommentSpec) and not self.template(
                spec.template, (*loc, str(key))
            ):
                ok = False
            if isinstance(spec, ReassignSpec) and not self.template(spec.note, (*loc, str(key))):
                ok = False
            specs.append(spec)
        if ok and not specs:
            self.log.problem(
                loc, "a step needs at least one action: " + ", ".join(actions.names())
            )
            ok = False
        if ok and step_model is not None and first and not step_model.after.is_zero:
            self.log.problem(
                (*loc, "after"),
                f"found {step_model.after.text!r}: the first step runs "
                "when a ticket is first flagged, so its `after` must be 0 (or omitted)",
            )
            ok = False
        if not ok or step_model is None:
            return None
        return Step(after=step_model.after, actions=tuple(specs))

    def template(self, name: str, loc: Loc) -> bool:
        """Whether the template ``name`` loads (read once however many steps name it)."""
        if name not in self.templates:
            try:
                self.templates[name] = load_template(self.templates_dir, name)
            except ValueError as exc:
                self.templates[name] = None
                self.log.problem(loc, str(exc))
                return False
        return self.templates[name] is not None


def breaker(model: BreakerModel) -> Breaker:
    """The breaker a file's (or a policy's) ``breaker:`` block describes."""
    return Breaker(
        max_matches=limit(model.max_matches), max_percent=model.max_percent,
        min_scope=model.min_scope,
    )


def limit(value: int | str) -> int | None:
    """A limit from the file: a number, or None for ``unlimited``."""
    return None if value == UNLIMITED else int(value)


def _composite(cls: type[Condition]) -> type[Composite]:
    assert issubclass(cls, Composite), cls
    return cls
