"""The audit trail's records: what the store keeps of a cycle, its decisions and outcomes.

The plain-JSON shapes of actions, subjects and decisions (the audit trail and
``plan --format json`` share them), and the records ``history`` and the reports read back.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from worker.model.people import Person
from worker.model.plan import (
    Action,
    CommentAction,
    Decision,
    FlagAction,
    LabelAction,
    ReassignAction,
    Subject,
)
from worker.telemetry.logs import scrub


def action_to_json(action: Action) -> dict[str, Any]:
    """One planned action as plain JSON (for the audit trail and ``plan --format json``)."""
    if isinstance(action, CommentAction):
        return {
            "kind": "comment",
            "template": action.template,
            "text": action.document.plain_text(),
            "visibility": None
            if action.visibility is None
            else {"type": action.visibility.type, "value": action.visibility.value},
        }
    if isinstance(action, ReassignAction):
        return {
            "kind": "reassign",
            "to": {"id": action.to.id, "name": action.to.display_name},
            "target": action.target,
            "fallback": None
            if action.fallback is None
            else {"id": action.fallback.id, "name": action.fallback.display_name},
        }
    if isinstance(action, LabelAction):
        return {"kind": "label", "add": list(action.add), "remove": list(action.remove)}
    if isinstance(action, FlagAction):
        return {"kind": "flag", "on": action.on}
    raise TypeError(f"unknown action {action!r}")  # pragma: no cover - the union is closed


def subject_to_json(subject: Subject | None) -> dict[str, Any] | None:
    """Who and what a decision was about, as stored in ``decisions.subject``."""
    if subject is None:
        return None

    def person(p: Person | None) -> dict[str, Any] | None:
        if p is None:
            return None
        # ``active`` only when false: the report shows people who left as such
        return {"id": p.id, "name": p.display_name} | ({} if p.active else {"active": False})

    return {
        "assignee": person(subject.assignee),
        "customer": subject.customer,
        "account_executive": person(subject.account_executive),
        "deal_page_id": subject.deal_page_id,
        "deal_page_url": subject.deal_page_url,
        "summary": subject.summary,
    }


def decision_to_json(decision: Decision) -> dict[str, Any]:
    """One decision in the shape ``plan --format json`` documents."""
    return {
        "issue": decision.issue,
        "policy": decision.policy,
        "mode": decision.mode,
        "verdict": decision.verdict,
        "actions": [action_to_json(a) for a in decision.actions],
        "evidence": [
            {"condition": e.condition, "result": e.result, "detail": e.detail}
            for e in decision.evidence
        ],
        "reason": decision.reason,
    }


@dataclass(frozen=True, slots=True)
class CycleRecord:
    """How one cycle ended, as the store keeps it."""

    run_id: str
    started_at: datetime
    dry_run: bool
    status: str  # running | ok | failed | stopped
    finished_at: datetime | None = None
    site_now: datetime | None = None
    error: str | None = None
    issues_read: int = 0
    actions_applied: int = 0
    actions_failed: int = 0
    requests: int = 0
    retries: int = 0
    duration_s: float | None = None
    #: policy id -> verdict -> number of decisions
    counts: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    config_sha256: str | None = None
    #: True: every ticket in scope was read; False: only ``read_keys`` were (an incremental
    #: read, or a cycle stopped before it planned); None: recorded before this was kept (a
    #: full read: cycles before incremental reads all were)
    read_full: bool | None = None
    #: the tickets a partial read looked at (None with a full read)
    read_keys: frozenset[str] | None = None


@dataclass(frozen=True, slots=True)
class OutcomeRow:
    """An outcome as recorded, with the reasons of the decisions behind it."""

    run_id: str
    at: datetime
    issue: str
    status: str
    actions: tuple[str, ...]
    detail: str
    http_status: int | None
    #: policy id -> the decision's reason / evidence, for "and why?"
    policies: Mapping[str, Sequence[Mapping[str, Any]]]
    #: what the write changed, as recorded with the outcome (None: not recorded)
    changes: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class CycleHistory:
    """One cycle and what it wrote (``history``)."""

    cycle: CycleRecord
    outcomes: tuple[OutcomeRow, ...]


def cycle_values(record: CycleRecord) -> dict[str, Any]:
    return {
        "run_id": record.run_id,
        "started_at": record.started_at,
        "finished_at": record.finished_at,
        "site_now": record.site_now,
        "dry_run": record.dry_run,
        "status": record.status,
        "error": None if record.error is None else scrub(record.error),
        "issues_read": record.issues_read,
        "actions_applied": record.actions_applied,
        "actions_failed": record.actions_failed,
        "requests": record.requests,
        "retries": record.retries,
        "duration_s": record.duration_s,
        "counts": json.loads(json.dumps({k: dict(v) for k, v in record.counts.items()})),
        "config_sha256": record.config_sha256,
        "read_full": record.read_full,
        "read_keys": None if record.read_keys is None else sorted(record.read_keys),
    }


def cycle_record(row: sa.Row[Any]) -> CycleRecord:
    return CycleRecord(
        run_id=row.run_id,
        started_at=row.started_at,
        finished_at=row.finished_at,
        site_now=row.site_now,
        dry_run=bool(row.dry_run),
        status=row.status,
        error=row.error,
        issues_read=row.issues_read,
        actions_applied=row.actions_applied,
        actions_failed=row.actions_failed,
        requests=row.requests,
        retries=row.retries,
        duration_s=row.duration_s,
        counts=row.counts or {},
        config_sha256=row.config_sha256,
        read_full=row.read_full,
        read_keys=None if row.read_keys is None else frozenset(row.read_keys),
    )
