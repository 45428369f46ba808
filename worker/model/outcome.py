"""What happened to a write: the journal's record of it, its outcome for the cycle's
report, and what it changed on the ticket."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol, get_args

from worker.model.plan import CommentAction, FlagAction, IssueWrite, LabelAction, ReassignAction
from worker.model.state import BotState, iso_time


@dataclass(frozen=True, slots=True)
class RecordedWrite:
    """The local record of one edit the executor sent (or tried to send) to an issue.

    Search is eventually consistent, so for a while after a write a search may return the
    issue without our new property value. The journal lets the next cycle overlay what it
    knows it wrote, and name those issues in ``reconcileIssues``.
    """

    issue: str
    issue_id: str
    at: datetime  # site clock
    state: BotState
    #: "applied" (2xx seen) or "unknown" (sent; no answer)
    status: Literal["applied", "unknown"]



#: "unknown": sent, and the service stopped before an answer came (it may still land)
OutcomeStatus = Literal[
    "applied", "dry-run", "fallback", "failed", "skipped", "stopped", "unknown"
]



#: what ``history --outcome`` filters on: the executor's statuses, and ``none`` (no write)
OUTCOMES: tuple[str, ...] = (*get_args(OutcomeStatus), "none")



@dataclass(frozen=True, slots=True)
class Outcome:
    """What the executor did with one :class:`IssueWrite`."""

    issue: str
    status: OutcomeStatus
    actions: tuple[str, ...]
    detail: str = ""
    http_status: int | None = None
    #: True when the failure is worth retrying next cycle (409, 5xx after retries)
    retryable: bool = False
    #: what the write changed on the ticket (applied writes only; see ``write_changes``)
    changes: Mapping[str, Any] | None = None



def comment_stamp(write: IssueWrite, now: datetime) -> dict[str, Any]:
    """The comment property each comment of ``write`` carries: the cycle's site time (the
    ``at`` its outcome is recorded under), the policies and the templates. ``revert`` finds a
    run's comments by it (the edit request answers no comment id)."""
    templates = [a.template for a in write.actions if isinstance(a, CommentAction)]
    templates += ["note to the new owner" for a in write.actions
                  if isinstance(a, ReassignAction) and a.note is not None]
    return {"at": now.isoformat(), "policies": list(write.policies), "templates": templates}



def write_changes(write: IssueWrite) -> dict[str, Any]:
    """What one applied :class:`IssueWrite` changed, as JSON for the store's
    ``outcomes.changes``: enough for ``revert`` and the report to say what the bot did."""
    out: dict[str, Any] = {"policies": list(write.policies)}
    for action in write.actions:
        if isinstance(action, ReassignAction):
            out["previous_assignee"] = action.previous.id if action.previous else None
            out["new_assignee"] = action.to.id
            if action.note is not None:
                out.setdefault("comments", []).append("note to the new owner")
        elif isinstance(action, LabelAction):
            if action.add:
                out["labels_added"] = list(action.add)
            if action.remove:
                out["labels_removed"] = list(action.remove)
        elif isinstance(action, CommentAction):
            out.setdefault("comments", []).append(action.template)
        elif isinstance(action, FlagAction):
            out["flag"] = action.on
    promised = {
        pid: {"step": ps.promised_step, "at": iso_time(ps.promised_at)}
        for pid, ps in write.state.policies.items()
        if pid in write.policies and ps.promised_step is not None
    }
    if promised:
        out["promised"] = promised
    reverted = {
        pid: ps.reverted_by
        for pid, ps in write.state.policies.items()
        if pid in write.policies and ps.reverted_at is not None
    }
    if reverted:
        out["reverted"] = reverted
    return out



class WriteJournal(Protocol):
    """Where the executor records its writes (``worker.state.store.Store`` implements it)."""

    def record_write(self, write: RecordedWrite) -> None:
        """Remember one write: before sending ("unknown"), and after a 2xx ("applied")."""

    def recent_writes(self, *, since: datetime) -> Mapping[str, RecordedWrite]:
        """The latest write per issue key made at or after ``since`` (site clock)."""
