"""The revert plan (pure), table-driven: what is put back, what is left, and what is said."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from worker.model.issue import IssueSnapshot
from worker.model.outcome import RecordedWrite, write_changes
from worker.model.people import Person
from worker.model.plan import CommentAction, IssueWrite, LabelAction, ReassignAction
from worker.model.state import BotState, PolicyState, StepRecord
from worker.state.recent import overlay_recent
from worker.write.revert import plan_revert
from worker.write.steps import step_landed

P1 = "sales-deliverable-before-signature"
MON = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
WED = datetime(2026, 11, 4, 9, 0, tzinfo=UTC)
THU = datetime(2026, 11, 5, 9, 0, tzinfo=UTC)
PRIYA = Person("712020:priya", "Priya Raman")
SAM = Person("712020:sam", "Sam Ortiz")
DANA = Person("712020:dana", "Dana Kim")
PEOPLE = {p.id: p for p in (PRIYA, SAM, DANA)}


def _state(*, reverted: bool = False, labels: tuple[str, ...] = ("sales-owned",)) -> BotState:
    return BotState({
        P1: PolicyState(
            first_flagged_at=MON,
            steps=(
                StepRecord(0, MON, ("comment",)),
                StepRecord(1, WED, ("reassign", "label"), previous_assignee=PRIYA.id,
                           labels_added=labels),
            ),
            reassigned_to=SAM.id,
            reverted_at=THU if reverted else None,
            reverted_by="Lee" if reverted else None,
        )
    })


def _ticket(assignee: Person | None, labels: tuple[str, ...], state: BotState) -> IssueSnapshot:
    return IssueSnapshot(
        key="ACME-1", id="10001", project="ACME", issue_type="Statement of Work",
        summary="SOW", description="", status="In Progress", status_category="indeterminate",
        assignee=assignee, reporter=SAM, labels=labels, created=MON, updated=WED, state=state,
    )


@pytest.mark.parametrize(
    ("assignee", "labels", "state", "kinds", "notes"),
    [
        (SAM, ("sow", "sales-owned"), _state(), ("comment", "reassign", "label"),
         ("assignee Sam Ortiz -> Priya Raman", "label sales-owned removed")),
        (DANA, ("sow", "sales-owned"), _state(), ("comment", "label"),
         ("assignee left as is: the ticket is now with Dana Kim, not with Sam Ortiz to whom "
          "the bot gave it", "label sales-owned removed")),
        (SAM, ("sow",), _state(), ("comment", "reassign"),
         ("assignee Sam Ortiz -> Priya Raman", "label(s) sales-owned already gone")),
        (SAM, ("sow", "Sales-Owned"), _state(), ("comment", "reassign", "label"),
         ("assignee Sam Ortiz -> Priya Raman", "label Sales-Owned removed")),
        (SAM, ("sales-owned",), _state(reverted=True), None,
         ("nothing to undo: sales-deliverable-before-signature was reverted on 2026-11-05 at "
          "the request of Lee",)),
        (PRIYA, (), BotState({P1: PolicyState(MON, (StepRecord(0, MON, ("comment",)),))}), None,
         ("nothing to undo: the bot recorded no assignee or label change here",)),
    ],
)
def test_revert_table(
    assignee: Person, labels: tuple[str, ...], state: BotState,
    kinds: tuple[str, ...] | None, notes: tuple[str, ...],
) -> None:
    """Each situation gives the expected write (or none) and the expected words."""
    found = plan_revert(_ticket(assignee, labels, state), now=THU, reason="Lee Okafor",
                        people=PEOPLE)
    assert found.notes == notes
    if kinds is None:
        assert found.write is None
        return
    assert found.write is not None
    assert tuple(a.kind for a in found.write.actions) == kinds
    reverted = found.write.state.for_policy(P1)
    assert (reverted.reverted_at, reverted.reverted_by) == (THU, "Lee Okafor")
    assert reverted.steps == state.for_policy(P1).steps  # the record of what was done stays
    comment = found.write.actions[0]
    assert isinstance(comment, CommentAction)
    text = comment.document.plain_text()
    assert text.startswith("Handoff Guard's change on ACME-1 was undone at the request of "
                           "Lee Okafor")
    assert text.endswith("I will leave this ticket alone for the policy "
                         "sales-deliverable-before-signature.")


def test_revert_write_records_what_it_changes() -> None:
    """The revert's changes say who had the ticket, who has it now, and what was removed."""
    found = plan_revert(_ticket(SAM, ("sales-owned",), _state()), now=THU, reason="Lee",
                        people=PEOPLE)
    assert found.write is not None
    reassign = next(a for a in found.write.actions if isinstance(a, ReassignAction))
    assert (reassign.to, reassign.previous) == (PRIYA, SAM)
    assert LabelAction(remove=("sales-owned",)) in found.write.actions
    assert write_changes(found.write) == {
        "policies": [P1],
        "comments": ["revert"],
        "previous_assignee": SAM.id,
        "new_assignee": PRIYA.id,
        "labels_removed": ["sales-owned"],
        "reverted": {P1: "Lee"},
    }


def test_a_revert_is_exactly_once_against_a_stale_read() -> None:
    """The journal's revert outranks a stale search without the mark, and a re-read that
    shows the mark counts as landed (never sent twice)."""
    found = plan_revert(_ticket(SAM, ("sales-owned",), _state()), now=THU, reason="Lee",
                        people=PEOPLE)
    write = found.write
    assert isinstance(write, IssueWrite)
    stale = _ticket(SAM, ("sales-owned",), _state())
    record = RecordedWrite("ACME-1", "10001", THU, write.state, "applied")
    merged = overlay_recent(stale, {"ACME-1": record})
    assert merged.state.for_policy(P1).reverted_at == THU
    assert not step_landed(_state().to_json(), write)
    assert step_landed(write.state.to_json(), write)
