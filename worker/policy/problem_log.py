"""The problems found in one policy file, each placed at file:line:column of the YAML node
it is about, with its path (``policies[2].actions[0].after``).

The loader indexes the composed YAML once; a problem at a path that has no node of its own
(a missing key) is placed at the nearest node above it.
"""

from __future__ import annotations

from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from worker.policy.checks import Loc
from worker.policy.errors import Problem
from worker.policy.problem_words import keys_at, message, show, unknown


def path_text(loc: Loc) -> str:
    """``("policies", 2, "after")`` -> ``policies[2].after``."""
    out = ""
    for el in loc:
        out += f"[{el}]" if isinstance(el, int) else (f".{el}" if out else str(el))
    return out


class ProblemLog:
    """Every problem found in one file so far, and the YAML nodes that place them."""

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.problems: list[Problem] = []
        self.values: dict[Loc, yaml.Node] = {}
        self.keys: dict[Loc, yaml.Node] = {}

    def problem(self, loc: Loc, message: str, *, at_key: bool = False) -> None:
        """A problem at the value of ``loc`` (at its key with ``at_key``)."""
        node = None
        probe = loc
        while node is None and probe:
            node = (self.keys.get(probe) if at_key else None) or self.values.get(probe)
            probe = probe[:-1]
            at_key = False
        node = node or self.values.get(())
        line, col = (node.start_mark.line + 1, node.start_mark.column + 1) if node else (1, 1)
        self.problems.append(Problem(self.filename, line, col, path_text(loc), message))

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

    def index(self, node: yaml.Node, loc: Loc) -> None:
        """Remember where every key and value under ``node`` is; a duplicate key is a problem."""
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
                self.index(value, (*loc, name))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self.index(item, (*loc, i))

    def validation(
        self, exc: ValidationError, model: type[BaseModel], prefix: Loc, raw: Any
    ) -> None:
        """One problem per error of ``model`` validating ``raw`` (found at ``prefix``)."""
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
                valid = keys_at(model, err["loc"][:-1])
                self.problem(loc, unknown("key", str(err["loc"][-1]), valid), at_key=True)
            else:
                msg = message(err["msg"])
                found = err.get("input")
                if isinstance(found, dict | list) or kind in ("union_tag_invalid",):
                    self.problem(loc, msg)
                else:
                    sep = ", " if msg.startswith("expected") else ": "
                    self.problem(loc, f"found {show(found)}{sep}{msg}")
