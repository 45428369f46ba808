"""What the bot knows it wrote, laid over a search answer that may not show it yet.

Cloud search lags behind writes: the journal's "applied" rows are newer than what a search
returns for a while, so a cycle reads the ticket as the journal says it left it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from worker.model.issue import IssueSnapshot
from worker.model.outcome import RecordedWrite
from worker.model.state import PolicyState


def overlay_recent(snapshot: IssueSnapshot, recent: Mapping[str, RecordedWrite]) -> IssueSnapshot:
    """The snapshot with our journal's state where the journal knows a later step.

    Per policy, the state with the higher last ladder step wins: a search older than our own
    write shows a lower step. Only "applied" writes count; an "unknown" one may have failed,
    and the cycle names it in ``reconcileIssues`` so the search itself is fresh for it.
    """
    record = recent.get(snapshot.key)
    if record is None or record.status != "applied":
        return snapshot
    merged: dict[str, PolicyState] = dict(snapshot.state.policies)
    changed = False
    for policy_id, known in record.state.policies.items():
        seen = merged.get(policy_id)
        if seen is None or known.last_step > seen.last_step or marks_more(known, seen):
            merged[policy_id] = known
            changed = True
    # The writer's stamp and signature stay: they speak for the property as read.
    return replace(snapshot, state=replace(snapshot.state, policies=merged)) if changed \
        else snapshot


def marks_more(known: PolicyState, seen: PolicyState) -> bool:
    """A write that added no step but marked the ticket (a revert, an override, a step Jira
    refused) is newer than a search result without the mark."""
    return (
        (known.reverted_at is not None and seen.reverted_at is None)
        or (known.overridden_at is not None and seen.overridden_at is None)
        or (known.refused_at is not None
            and (seen.refused_at is None or known.refused_at > seen.refused_at))
    )
