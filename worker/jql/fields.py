"""The fields a query may name: which kind each is, the operators it supports, and how its
value is read from the sandbox's issue mapping (as Jira compares it: folded, upper-cased or
exact)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from worker.jql.context import Issue, JqlContext, JqlError

FieldKind = Literal[
    "project", "issuetype", "status", "statusCategory", "user", "labels", "text", "comment",
    "alltext", "date", "key", "custom",
]
_EQUALITY: frozenset[str] = frozenset({"=", "!=", "in", "not in", "is", "is not"})
ORDERING: frozenset[str] = frozenset({"<", "<=", ">", ">="})
SUPPORTED: dict[FieldKind, frozenset[str]] = {
    "project": _EQUALITY,
    "issuetype": _EQUALITY,
    "status": _EQUALITY,
    "statusCategory": _EQUALITY,
    "user": _EQUALITY,
    "labels": _EQUALITY,
    "text": frozenset({"~", "!~", "is", "is not"}),
    "comment": frozenset({"~", "!~"}),
    "alltext": frozenset({"~"}),
    "date": _EQUALITY | ORDERING,
    "key": (_EQUALITY - {"is", "is not"}) | ORDERING,
    "custom": _EQUALITY | {"~", "!~"},
}


@dataclass(frozen=True, slots=True)
class Field:
    """A resolved field: its kind and where its value lives in the issue mapping."""

    name: str  # as typed, for messages
    kind: FieldKind
    slot: str  # issue mapping key, or the custom field id


SYSTEM_FIELDS: dict[str, tuple[FieldKind, str]] = {
    "project": ("project", "project"),
    "issuetype": ("issuetype", "issuetype"),
    "type": ("issuetype", "issuetype"),
    "status": ("status", "status"),
    "statuscategory": ("statusCategory", "statusCategory"),
    "assignee": ("user", "assignee"),
    "reporter": ("user", "reporter"),
    "labels": ("labels", "labels"),
    "summary": ("text", "summary"),
    "description": ("text", "description"),
    "comment": ("comment", "comment"),
    "text": ("alltext", "text"),
    "created": ("date", "created"),
    "createddate": ("date", "created"),
    "updated": ("date", "updated"),
    "updateddate": ("date", "updated"),
    "key": ("key", "key"),
    "issue": ("key", "key"),
    "issuekey": ("key", "key"),
    "id": ("key", "key"),
}
CUSTOM_FIELD_RE = re.compile(r"^cf\[(\d+)\]$", re.IGNORECASE)


def resolve_field(name: str, ctx: JqlContext) -> Field:
    low = name.strip().lower()
    system = SYSTEM_FIELDS.get(low)
    if system is not None:
        return Field(name, system[0], system[1])
    cf = CUSTOM_FIELD_RE.match(low)
    if cf is not None:
        field_id = f"customfield_{cf.group(1)}"
        if field_id in ctx.fields_by_name.values():
            return Field(name, "custom", field_id)
    else:
        field_id_by_name = ctx.fields_by_name.get(low)
        if field_id_by_name is not None:
            return Field(name, "custom", field_id_by_name)
    raise JqlError(f"Field '{name}' does not exist or you do not have permission to view it.")


CATEGORY_BY_VALUE = {
    "to do": "new", "new": "new", "2": "new",
    "in progress": "indeterminate", "indeterminate": "indeterminate", "4": "indeterminate",
    "done": "done", "complete": "done", "3": "done",
    "no category": "undefined", "undefined": "undefined", "1": "undefined",
}
CATEGORY_ORDER = {"undefined": 0, "new": 1, "indeterminate": 2, "done": 3}


# Extractors: issue -> normalized scalar (None when empty) or tuple (empty when empty).
Scalar = Callable[[Issue], Any]
Multi = Callable[[Issue], tuple[Any, ...]]


def _upper_of(slot: str) -> Scalar:
    def get(issue: Issue) -> Any:
        v = issue.get(slot)
        return v.upper() if v else None
    return get


def fold_of(slot: str) -> Scalar:
    def get(issue: Issue) -> Any:
        v = issue.get(slot)
        return v.casefold() if v else None
    return get


def _raw_of(slot: str) -> Scalar:
    def get(issue: Issue) -> Any:
        return issue.get(slot) or None
    return get


def _as_utc(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _date_of(slot: str) -> Scalar:
    def get(issue: Issue) -> Any:
        return _as_utc(issue.get(slot))
    return get


KEY_RE = re.compile(r"^([A-Za-z][A-Za-z0-9_]*)-([0-9]{1,18})$")
ID_RE = re.compile(r"^[0-9]{1,18}$")


def key_of(issue: Issue) -> Any:
    m = KEY_RE.match(issue.get("key") or "")
    return (m.group(1).upper(), int(m.group(2))) if m else None


def id_of(issue: Issue) -> Any:
    v = issue.get("id")
    return int(v) if v is not None and ID_RE.match(str(v)) else None


def labels_of(issue: Issue) -> tuple[Any, ...]:
    return tuple(issue.get("labels") or ())


def _plain(value: Any) -> str:
    # Option fields may arrive in REST shape ({"value": "Signed"}) rather than as text.
    if isinstance(value, Mapping):
        return str(value.get("value") or value.get("name") or "")
    return str(value)


def _custom_values(issue: Issue, slot: str) -> tuple[str, ...]:
    v = (issue.get("custom") or {}).get(slot)
    if v is None or v == "":
        return ()
    if isinstance(v, list | tuple):
        return tuple(t for t in (_plain(x) for x in v if x is not None) if t)
    t = _plain(v)
    return (t,) if t else ()


def custom_of(slot: str) -> Multi:
    def get(issue: Issue) -> tuple[Any, ...]:
        return tuple(x.casefold() for x in _custom_values(issue, slot))
    return get


def texts_of(f: Field) -> Callable[[Issue], list[str]]:
    """The texts a ``~`` clause searches for this field."""
    if f.kind == "text":
        slot = f.slot

        def one(issue: Issue) -> list[str]:
            v = issue.get(slot)
            return [v] if v else []
        return one
    if f.kind == "comment":
        return lambda issue: [c for c in issue.get("comment") or () if c]
    if f.kind == "custom":
        slot = f.slot
        return lambda issue: list(_custom_values(issue, slot))

    def everything(issue: Issue) -> list[str]:
        out = [t for t in (issue.get("summary"), issue.get("description")) if t]
        out.extend(c for c in issue.get("comment") or () if c)
        for v in (issue.get("custom") or {}).values():
            # Plain strings only: REST-shaped option values ({"value": ...}) are not free text.
            if isinstance(v, str) and v:
                out.append(v)
            elif isinstance(v, list | tuple):
                out.extend(x for x in v if isinstance(x, str) and x)
        return out
    return everything


def scalar_of(f: Field, cloud: bool) -> Scalar:
    kind = f.kind
    if kind == "project":
        return _upper_of("project")
    if kind in ("issuetype", "status"):
        return fold_of(f.slot)
    if kind == "statusCategory":
        return fold_of("statusCategory")
    if kind == "user":
        return _raw_of(f.slot) if cloud else fold_of(f.slot)
    if kind == "date":
        return _date_of(f.slot)
    if kind == "key":
        return key_of
    return fold_of(f.slot)


def multi_of(f: Field) -> Multi | None:
    if f.kind == "labels":
        return labels_of
    if f.kind == "custom":
        return custom_of(f.slot)
    return None
