"""Promised dates hold: a date a comment announced binds later cycles, whatever the file says."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from policy_factories import DEALS, DIRECTORY, NOW, default_policies, snap

from worker.model.plan import ReassignAction
from worker.model.state import BotState, PolicyState, StepRecord
from worker.policy import plan, promise_words

P1 = "sales-deliverable-before-signature"
MON = NOW  # Monday 2 November 2026, 09:00 UTC (10:00 in Berlin)
TUE = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)
WED = datetime(2026, 11, 4, 9, 0, tzinfo=UTC)  # the file's date: 2 business days after MON
FRI = datetime(2026, 11, 6, 9, 0, tzinfo=UTC)


def _flagged(promised_at: datetime | None) -> BotState:
    return BotState(
        {
            P1: PolicyState(
                first_flagged_at=MON,
                steps=(StepRecord(0, MON, ("comment",)),),
                promised_step=None if promised_at is None else 1,
                promised_at=promised_at,
            )
        }
    )


def test_the_first_comment_records_its_promise() -> None:
    """Step 0's comment announces step 1's date; the same write stores it on the ticket."""
    result = plan([snap(issue_type="Statement of Work")], DIRECTORY, DEALS, default_policies(), MON)
    (write,) = result.writes
    state = write.state.for_policy(P1)
    assert (state.promised_step, state.promised_at) == (1, WED)
    (comment,) = write.actions
    assert "Wednesday 4 November" in comment.document.plain_text()  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("promised", "now", "acts", "promises"),
    [
        (None, TUE, False, {}),  # no promise: the file's date (Wednesday)
        (None, WED, True, {}),
        (FRI, WED, False, {"kept": 1}),  # file shortened to Wednesday: Friday was promised
        (FRI, datetime(2026, 11, 5, 9, 0, tzinfo=UTC), False, {"kept": 1}),
        (FRI, FRI, True, {"kept": 1}),
        (TUE, TUE, False, {"later": 1}),  # file lengthened to Wednesday: the later date applies
        (TUE, WED, True, {"later": 1}),
        (WED, WED, True, {}),  # promise and file agree
    ],
)
def test_promised_dates_table(
    promised: datetime | None, now: datetime, acts: bool, promises: dict[str, int]
) -> None:
    """Step 1 never runs before the promised date; a later file date wins, with no comment."""
    ticket = snap(issue_type="Statement of Work", state=_flagged(promised))
    result = plan([ticket], DIRECTORY, DEALS, default_policies(), now)
    assert dict(result.promises) == promises
    (decision,) = [d for d in result.decisions if d.policy == P1]
    if acts:
        assert decision.step == 1
        assert [a.kind for a in decision.actions] == ["reassign", "label"]
        assert isinstance(decision.actions[0], ReassignAction)
    else:
        assert decision.actions == ()
        assert decision.reason is not None
        assert decision.reason.startswith("step 2 (reassign it to Sam Ortiz")
        if promises == {"kept": 1}:
            assert decision.reason.endswith("(the date a comment promised)")


def test_promise_words() -> None:
    """plan and the hot reload say how many promises differ from the file, and what holds."""
    assert promise_words({}) == []
    kept, later = promise_words({"kept": 3, "later": 2})
    assert kept.startswith("3 ticket(s) were promised a later date than this file gives them")
    assert "their promises are kept" in kept
    assert later.startswith("2 ticket(s) were promised an earlier date than this file gives them")
    assert "no new comment" in later
