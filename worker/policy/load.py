"""YAML -> validated :class:`Policies`, or a :class:`PolicyError` listing every problem.

Every problem names file:line:column (from the YAML node it is about), the path
(``policies[2].actions[0].after``), what was found and what was expected. Unknown keys
suggest the closest valid one.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Union

import yaml
from pydantic import BaseModel, ValidationError

from worker.model import DealSource, Person
from worker.policy import field_conditions  # noqa: F401  (registers its kinds)
from worker.policy.actions import ActionSpec, CommentSpec, ReassignSpec, actions
from worker.policy.bounded_yaml import YamlLimitError, YamlLimits, compose
from worker.policy.checks import Loc, run_file_checks
from worker.policy.conditions import Composite, Condition, conditions
from worker.policy.config import Breaker, Policies, Policy, ReportConfig, Safety, Schedule, Step
from worker.policy.errors import PolicyError, Problem
from worker.policy.schema import (
    COMPOSITES,
    UNLIMITED,
    BreakerModel,
    FileModel,
    PolicyModel,
    StepModel,
)
from worker.policy.scope import parse_scope
from worker.policy.sections import DealsConfig, PeopleSet
from worker.policy.templates import CommentTemplate, load_template

#: a policy file is a few KB; the bound keeps a mistaken or hostile file from costing memory
POLICY_YAML_LIMITS = YamlLimits(
    max_bytes=1 << 20, max_depth=64, max_alias_nodes=None, document="a policy file"
)


def load_policies(path: Path) -> Policies:
    """Load and validate a policy file; raises :class:`PolicyError` with every problem."""
    limit = POLICY_YAML_LIMITS.max_bytes
    try:
        size = path.stat().st_size
        if size > limit:  # refused before reading a byte of it
            msg = f"file is {size} bytes; a policy file is at most {limit} bytes"
            raise PolicyError((Problem(str(path), 1, 1, "", msg),))
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError((Problem(str(path), 1, 1, "", f"cannot read: {exc.strerror}"),)) from None
    except UnicodeDecodeError as exc:
        msg = f"not UTF-8 text (byte {exc.start}: {exc.reason})"
        raise PolicyError((Problem(str(path), 1, 1, "", msg),)) from None
    return load_policies_text(text, filename=str(path), base_dir=path.parent, source=path)


def load_policies_text(
    text: str,
    *,
    filename: str = "<string>",
    base_dir: Path | None = None,
    source: Path | None = None,
) -> Policies:
    """Validate policy YAML given as text; templates are found relative to ``base_dir``
    (default: the current directory)."""
    return _Loader(text, filename, base_dir or Path.cwd(), source).load()


def templates_folder(text: str, base_dir: Path) -> Path | None:
    """The comment templates' folder a policy file's text names (``templates:``, relative to
    ``base_dir``; ``templates`` when it names none), or None when the text does not parse.

    The service watches this folder, so it must be the one the loader reads, even for a
    file that is otherwise invalid (its templates may be what is being fixed).
    """
    try:
        _root, raw = compose(text, POLICY_YAML_LIMITS)
    except Exception:  # any parse failure: the caller keeps the folder it knew
        return None
    return _templates_folder(raw, base_dir)


def _templates_folder(raw: Any, base_dir: Path) -> Path:
    named = raw.get("templates", "templates") if isinstance(raw, dict) else "templates"
    return base_dir / str(named)


def path_text(loc: Loc) -> str:
    """``("policies", 2, "after")`` -> ``policies[2].after``."""
    out = ""
    for el in loc:
        out += f"[{el}]" if isinstance(el, int) else (f".{el}" if out else str(el))
    return out


def _show(value: object) -> str:
    if isinstance(value, str):
        return repr(value)
    if value is None:
        return "nothing"
    return repr(value) if isinstance(value, int | float | bool) else type(value).__name__


class _Loader:
    def __init__(self, text: str, filename: str, base_dir: Path, source: Path | None) -> None:
        self.text = text
        self.filename = filename
        self.base_dir = base_dir
        self.source = source
        self.problems: list[Problem] = []
        self.values: dict[Loc, yaml.Node] = {}
        self.keys: dict[Loc, yaml.Node] = {}
        self.templates: dict[str, CommentTemplate | None] = {}
        self.people: frozenset[str] = frozenset()

    # ------------------------------------------------------------------ problems and marks

    def problem(self, loc: Loc, message: str, *, at_key: bool = False) -> None:
        node = None
        probe = loc
        while node is None and probe:
            node = (self.keys.get(probe) if at_key else None) or self.values.get(probe)
            probe = probe[:-1]
            at_key = False
        node = node or self.values.get(())
        line, col = (node.start_mark.line + 1, node.start_mark.column + 1) if node else (1, 1)
        self.problems.append(Problem(self.filename, line, col, path_text(loc), message))

    def _index(self, node: yaml.Node, loc: Loc) -> None:
        self.values[loc] = node
        if isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for key, value in node.value:
                name = str(key.value)
                if name in seen:
                    self.keys[(*loc, name)] = key
                    self.problem((*loc, name), f"duplicate key '{name}'", at_key=True)
                seen.add(name)
                self.keys[(*loc, name)] = key
                self._index(value, (*loc, name))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self._index(item, (*loc, i))

    def validation(
        self, exc: ValidationError, model: type[BaseModel], prefix: Loc, raw: Any
    ) -> None:
        for err in exc.errors():
            real: list[str | int] = list(prefix)
            cur = raw
            for el in err["loc"]:
                in_dict = isinstance(cur, dict) and el in cur
                in_list = isinstance(cur, list) and isinstance(el, int) and 0 <= el < len(cur)
                if in_dict or in_list:
                    cur = cur[el]
                    real.append(el)
            loc = tuple(real)
            kind = err["type"]
            if kind == "missing":
                self.problem(loc, f"missing required key '{err['loc'][-1]}'")
            elif kind == "extra_forbidden":
                valid = _keys_at(model, err["loc"][:-1])
                self.problem(loc, _unknown("key", str(err["loc"][-1]), valid), at_key=True)
            else:
                msg = _message(err["msg"])
                found = err.get("input")
                if isinstance(found, dict | list) or kind in ("union_tag_invalid",):
                    self.problem(loc, msg)
                else:
                    sep = ", " if msg.startswith("expected") else ": "
                    self.problem(loc, f"found {_show(found)}{sep}{msg}")

    # ------------------------------------------------------------------ the file

    def load(self) -> Policies:
        try:
            root, raw = compose(self.text, POLICY_YAML_LIMITS)
        except YamlLimitError as exc:
            over = Problem(self.filename, exc.line, exc.column, "", exc.message)
            raise PolicyError((over,)) from None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
            problem = getattr(exc, "problem", None) or str(exc)
            context = getattr(exc, "context", None)
            msg = f"YAML syntax error: {problem}" + (f" ({context})" if context else "")
            raise PolicyError((Problem(self.filename, line, col, "", msg),)) from None
        if root is not None:
            self._index(root, ())
        if not isinstance(raw, dict):
            self.problem(
                (), f"expected a mapping with `version: 1` and `policies`, found {_show(raw)}"
            )
            raise PolicyError(tuple(self.problems))
        top: FileModel | None = None  # None: the file's shape has problems (reported)
        try:
            top = FileModel.model_validate(raw)
        except ValidationError as exc:
            self.validation(exc, FileModel, (), raw)
        people = top.people if top else raw.get("people")
        self.people = frozenset(people) if isinstance(people, dict) else frozenset({"pm", "sales"})
        # Whole-file checks read the raw data: a typo elsewhere does not hide their problems.
        run_file_checks(raw, self)
        templates_dir = self.base_dir / top.templates if top else _templates_folder(
            raw, self.base_dir
        )
        raw_policies = raw.get("policies")
        built: list[Policy] = []
        seen_ids: dict[str, int] = {}
        if isinstance(raw_policies, list):
            for i, item in enumerate(raw_policies):
                policy = self.policy(item, ("policies", i), templates_dir)
                if policy is None:
                    continue
                if policy.id in seen_ids:
                    self.problem(
                        ("policies", i, "id"),
                        f"duplicate policy id '{policy.id}' (also policies[{seen_ids[policy.id]}])",
                    )
                seen_ids.setdefault(policy.id, i)
                built.append(policy)
        if self.problems or top is None:
            raise PolicyError(tuple(sorted(self.problems, key=lambda p: (p.line, p.column))))
        return self.assemble(top, tuple(built))

    def assemble(self, top: FileModel, built: tuple[Policy, ...]) -> Policies:
        sched = top.schedule
        interval_s = None if sched.cron else int(sched.every.seconds if sched.every else 900)
        pages = top.deals.pages
        fallback = top.sales_owner.fallback
        return Policies(
            version=top.version,
            source=self.source,
            schedule=Schedule(
                interval_s=interval_s,
                cron=sched.cron,
                timezone=sched.timezone,
                misfire_grace_s=int(sched.misfire_grace.seconds),
            ),
            safety=Safety(
                max_actions_per_cycle=_limit(top.safety.max_actions_per_cycle),
                breaker=_breaker(top.safety.breaker),
            ),
            property_key=top.state.property_key,
            people={
                name: PeopleSet(name, tuple(p.groups), tuple(p.users))
                for name, p in top.people.items()
            },
            deals=DealsConfig(
                status_field=top.deals.status_field,
                account_field=top.deals.account_field,
                pages=DealSource(**pages.model_dump(), date_order=top.deals.date_order)
                if pages
                else None,
                signed_values=tuple(top.deals.signed_values),
                unsigned_values=tuple(top.deals.unsigned_values),
            ),
            sales_owner_fallback=Person(id=fallback.id, display_name=fallback.display_name)
            if fallback
            else None,
            holidays=frozenset(top.calendar.holidays),
            templates={k: v for k, v in self.templates.items() if v is not None},
            policies=built,
            opt_out_labels=tuple(top.opt_out.labels),
            report=ReportConfig(**top.report.model_dump()) if top.report else None,
        )

    def problem_in(self, loc: Loc, message: str, *, offset: int) -> None:
        """A problem ``offset`` characters into the scalar at ``loc`` (a cron field)."""
        node = self.values.get(loc)
        if node is None:
            self.problem(loc, message)
            return
        # The offset counts inside the value; a quoted scalar starts one column later.
        quote = 1 if getattr(node, "style", None) in ('"', "'") else 0
        col = node.start_mark.column + 1 + quote + offset
        self.problems.append(
            Problem(self.filename, node.start_mark.line + 1, col, path_text(loc), message)
        )

    # ------------------------------------------------------------------ one policy

    def policy(self, raw: Any, loc: Loc, templates_dir: Path) -> Policy | None:
        if not isinstance(raw, dict):
            self.problem(
                loc,
                f"expected a policy (a mapping with id, conditions, actions), found {_show(raw)}",
            )
            return None
        model: PolicyModel | None = None
        try:
            model = PolicyModel.model_validate(raw)
        except ValidationError as exc:
            self.validation(exc, PolicyModel, loc, raw)
        conds = self.condition_list(raw.get("conditions"), (*loc, "conditions"))
        exempt = self.condition_list(raw.get("exempt"), (*loc, "exempt"))
        steps = self.steps(raw.get("actions"), (*loc, "actions"), templates_dir)
        query = None
        scope_groups: tuple[str, ...] = ()
        # The raw scope: a typo elsewhere in the policy does not hide a bad query.
        scope = raw.get("scope")
        if isinstance(scope, str):
            try:
                query, scope_groups = parse_scope(scope)
            except ValueError as exc:
                self.problem(
                    (*loc, "scope"), f"found {scope!r}: the scope is not valid JQL: {exc}"
                )
        if model is None or conds is None or exempt is None or steps is None:
            return None
        node = self.values.get(loc)
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
            breaker=_breaker(model.breaker) if model.breaker else None,
            scope_query=query,
            scope_groups=scope_groups,
            line=node.start_mark.line + 1 if node else 0,
        )

    def condition_list(self, raw: Any, loc: Loc) -> tuple[Condition, ...] | None:
        if raw is None:
            return ()
        if not isinstance(raw, list):
            return None  # the policy model already reported it
        out = [self.condition(item, (*loc, i)) for i, item in enumerate(raw)]
        return None if any(c is None for c in out) else tuple(c for c in out if c is not None)

    def condition(self, raw: Any, loc: Loc) -> Condition | None:
        if not isinstance(raw, dict) or len(raw) != 1:
            if isinstance(raw, dict):
                names = ", ".join(map(str, raw)) or "none"
                self.problem(
                    loc,
                    f"a condition has exactly one name, found {len(raw)} ({names}); "
                    "list them separately or combine them with `all:`/`any:`",
                )
            else:
                self.problem(
                    loc, f"expected a condition like `assignee_in: pm`, found {_show(raw)}"
                )
            return None
        ((name, value),) = raw.items()
        name = str(name)
        cls = conditions.get(name)
        if cls is None:
            self.problem((*loc, name), _unknown("condition", name, conditions.names()), at_key=True)
            return None
        if name in COMPOSITES:
            if name == "not":
                items = value if isinstance(value, list) else [value]
                if len(items) != 1:
                    self.problem((*loc, name), "`not` takes exactly one condition")
                    return None
                child = self.condition(
                    items[0], (*loc, name, 0) if isinstance(value, list) else (*loc, name)
                )
                return None if child is None else _composite(cls).of((child,))
            if not isinstance(value, list) or not value:
                self.problem(
                    (*loc, name), f"`{name}` takes a list of conditions, found {_show(value)}"
                )
                return None
            children = [self.condition(item, (*loc, name, i)) for i, item in enumerate(value)]
            if any(c is None for c in children):
                return None
            return _composite(cls).of(tuple(c for c in children if c is not None))
        try:
            cond = cls.model_validate(value)
        except ValidationError as exc:
            self.validation(exc, cls, (*loc, name), value)
            return None
        missing = [s for s in cond.people_sets() if s not in self.people]
        for s in missing:
            defined = ", ".join(sorted(self.people)) or "none"
            self.problem(
                (*loc, name),
                f"unknown people set '{s}' (defined: {defined})" + _suggest(s, self.people),
            )
        return None if missing else cond

    def steps(self, raw: Any, loc: Loc, templates_dir: Path) -> tuple[Step, ...] | None:
        if not isinstance(raw, list):
            return None
        out: list[Step | None] = []
        for i, item in enumerate(raw):
            out.append(self.step(item, (*loc, i), templates_dir, first=i == 0))
        return None if any(s is None for s in out) else tuple(s for s in out if s is not None)

    def step(self, raw: Any, loc: Loc, templates_dir: Path, *, first: bool) -> Step | None:
        if not isinstance(raw, dict):
            self.problem(
                loc,
                f"expected a step like `comment: sales-deliverable` (optionally "
                f"with `after: 2 business days`), found {_show(raw)}",
            )
            return None
        ok = True
        after_raw = {"after": raw["after"]} if "after" in raw else {}
        step_model: StepModel | None = None
        try:
            step_model = StepModel.model_validate(after_raw)
        except ValidationError as exc:
            self.validation(exc, StepModel, loc, after_raw)
            ok = False
        specs: list[ActionSpec] = []
        for key, value in raw.items():
            if key == "after":
                continue
            cls = actions.get(str(key))
            if cls is None:
                self.problem(
                    (*loc, str(key)),
                    _unknown("action", str(key), ("after", *actions.names())),
                    at_key=True,
                )
                ok = False
                continue
            try:
                spec = cls.model_validate(value)
            except ValidationError as exc:
                self.validation(exc, cls, (*loc, str(key)), value)
                ok = False
                continue
            if isinstance(spec, CommentSpec) and not self.template(
                spec.template, templates_dir, (*loc, str(key))
            ):
                ok = False
            if isinstance(spec, ReassignSpec) and not self.template(
                spec.note, templates_dir, (*loc, str(key))
            ):
                ok = False
            specs.append(spec)
        if ok and not specs:
            self.problem(loc, "a step needs at least one action: " + ", ".join(actions.names()))
            ok = False
        if ok and step_model is not None and first and not step_model.after.is_zero:
            self.problem(
                (*loc, "after"),
                f"found {step_model.after.text!r}: the first step runs "
                "when a ticket is first flagged, so its `after` must be 0 (or omitted)",
            )
            ok = False
        if not ok or step_model is None:
            return None
        return Step(after=step_model.after, actions=tuple(specs))

    def template(self, name: str, directory: Path, loc: Loc) -> bool:
        if name not in self.templates:
            try:
                self.templates[name] = load_template(directory, name)
            except ValueError as exc:
                self.templates[name] = None
                self.problem(loc, str(exc))
                return False
        return self.templates[name] is not None


def _composite(cls: type[Condition]) -> type[Composite]:
    assert issubclass(cls, Composite), cls
    return cls


def _breaker(model: BreakerModel) -> Breaker:
    return Breaker(
        max_matches=_limit(model.max_matches), max_percent=model.max_percent,
        min_scope=model.min_scope,
    )


def _limit(value: int | str) -> int | None:
    """A limit from the file: a number, or None for ``unlimited``."""
    return None if value == UNLIMITED else int(value)


def _suggest(name: str, valid: typing.Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(valid), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def _unknown(what: str, name: str, valid: typing.Iterable[str]) -> str:
    valid = tuple(valid)
    hint = _suggest(name, valid)
    return f"unknown {what} '{name}'" + (hint or f"; expected one of: {', '.join(valid)}")


def _message(msg: str) -> str:
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            return msg[len(prefix) :]
    if msg.startswith("Input should be "):
        return "expected " + msg[len("Input should be ") :]
    if msg.startswith("String should match pattern "):
        return "expected text matching " + msg[len("String should match pattern ") :]
    return msg[:1].lower() + msg[1:]


def _keys_at(model: type[BaseModel], loc: tuple[Any, ...]) -> tuple[str, ...]:
    tp: Any = model
    for el in loc:
        tp = _unwrap(tp, el)
        if tp is None:
            return ()
    inner = _unwrap(tp, None)
    if isinstance(inner, type) and issubclass(inner, BaseModel):
        return tuple(f.alias or n for n, f in inner.model_fields.items())
    return ()


def _unwrap(tp: Any, el: Any) -> Any:
    """One step down a type along a validation location (None when lost)."""
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (Union, types.UnionType):
            members = [a for a in typing.get_args(tp) if a is not type(None)]
            models = [m for m in members if isinstance(m, type) and issubclass(m, BaseModel)]
            tp = models[0] if models else members[0]
        else:
            break
    if el is None:
        return tp
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        for name, info in tp.model_fields.items():
            if el in (name, info.alias):
                return info.annotation
        return None
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (list, tuple) and isinstance(el, int):
        return args[0] if args else None
    if origin in (dict, Mapping) and isinstance(el, str):
        return args[1] if len(args) > 1 else None
    return None
