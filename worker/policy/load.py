"""YAML -> validated :class:`Policies`, or a :class:`PolicyError` listing every problem.

Every problem names file:line:column (from the YAML node it is about), the path
(``policies[2].actions[0].after``), what was found and what was expected. Unknown keys
suggest the closest valid one. This module reads the file as a whole (its shape, the
whole-file checks, the sections); :mod:`worker.policy.load_entry` builds each policy and
:mod:`worker.policy.problem_log` places the problems.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from worker.model.deals import DealSource
from worker.model.people import Person
from worker.policy import field_conditions  # noqa: F401  (registers its kinds)
from worker.policy.bounded_yaml import YamlLimitError, YamlLimits, compose
from worker.policy.checks import run_file_checks
from worker.policy.config import Policies, Policy, ReportConfig, Safety, Schedule
from worker.policy.errors import PolicyError, Problem
from worker.policy.load_entry import EntryLoader, breaker, limit
from worker.policy.problem_log import ProblemLog
from worker.policy.problem_words import show
from worker.policy.schema import FileModel
from worker.policy.sections import DealsConfig, PeopleSet
from worker.policy.templates import CommentTemplate

#: a policy file is a few KB; the bound keeps a mistaken or hostile file from costing memory
POLICY_YAML_LIMITS = YamlLimits(
    max_bytes=1 << 20, max_depth=64, max_alias_nodes=None, document="a policy file"
)


def load_policies(path: Path) -> Policies:
    """Load and validate a policy file; raises :class:`PolicyError` with every problem."""
    max_bytes = POLICY_YAML_LIMITS.max_bytes
    try:
        size = path.stat().st_size
        if size > max_bytes:  # refused before reading a byte of it
            msg = f"file is {size} bytes; a policy file is at most {max_bytes} bytes"
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
    return _load(text, filename, base_dir or Path.cwd(), source)


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


def _load(text: str, filename: str, base_dir: Path, source: Path | None) -> Policies:
    """The file's policies, or a :class:`PolicyError` with every problem in it."""
    log = ProblemLog(filename)
    try:
        root, raw = compose(text, POLICY_YAML_LIMITS)
    except YamlLimitError as exc:
        over = Problem(filename, exc.line, exc.column, "", exc.message)
        raise PolicyError((over,)) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = getattr(exc, "problem", None) or str(exc)
        context = getattr(exc, "context", None)
        msg = f"YAML syntax error: {problem}" + (f" ({context})" if context else "")
        raise PolicyError((Problem(filename, line, col, "", msg),)) from None
    if root is not None:
        log.index(root, ())
    if not isinstance(raw, dict):
        log.problem((), f"expected a mapping with `version: 1` and `policies`, found {show(raw)}")
        raise PolicyError(tuple(log.problems))
    top: FileModel | None = None  # None: the file's shape has problems (reported)
    try:
        top = FileModel.model_validate(raw)
    except ValidationError as exc:
        log.validation(exc, FileModel, (), raw)
    people = top.people if top else raw.get("people")
    # Whole-file checks read the raw data: a typo elsewhere does not hide their problems.
    run_file_checks(raw, log)
    entries = EntryLoader(
        log,
        people=frozenset(people) if isinstance(people, dict) else frozenset({"pm", "sales"}),
        templates_dir=base_dir / top.templates if top else _templates_folder(raw, base_dir),
    )
    raw_policies = raw.get("policies")
    built: list[Policy] = []
    seen_ids: dict[str, int] = {}
    if isinstance(raw_policies, list):
        for i, item in enumerate(raw_policies):
            policy = entries.policy(item, ("policies", i))
            if policy is None:
                continue
            if policy.id in seen_ids:
                log.problem(
                    ("policies", i, "id"),
                    f"duplicate policy id '{policy.id}' (also policies[{seen_ids[policy.id]}])",
                )
            seen_ids.setdefault(policy.id, i)
            built.append(policy)
    if log.problems or top is None:
        raise PolicyError(tuple(sorted(log.problems, key=lambda p: (p.line, p.column))))
    templates = {k: v for k, v in entries.templates.items() if v is not None}
    return _assemble(top, tuple(built), source=source, templates=templates)


def _assemble(
    top: FileModel,
    built: tuple[Policy, ...],
    *,
    source: Path | None,
    templates: dict[str, CommentTemplate],
) -> Policies:
    sched = top.schedule
    interval_s = None if sched.cron else int(sched.every.seconds if sched.every else 900)
    pages = top.deals.pages
    fallback = top.sales_owner.fallback
    return Policies(
        version=top.version,
        source=source,
        schedule=Schedule(
            interval_s=interval_s,
            cron=sched.cron,
            timezone=sched.timezone,
            misfire_grace_s=int(sched.misfire_grace.seconds),
        ),
        safety=Safety(
            max_actions_per_cycle=limit(top.safety.max_actions_per_cycle),
            breaker=breaker(top.safety.breaker),
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
        templates=templates,
        policies=built,
        opt_out_labels=tuple(top.opt_out.labels),
        report=ReportConfig(**top.report.model_dump()) if top.report else None,
    )
