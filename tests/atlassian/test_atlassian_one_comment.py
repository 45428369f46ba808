"""One edit carries one comment per audience (issue 15, finding 1): a policy's words and the
note to the new owner go out together; a restricted comment stays apart from a public one."""

from __future__ import annotations

import pytest

from worker.atlassian.edit_body import edit_body
from worker.model.document import Document, Paragraph, Text
from worker.model.people import Person
from worker.model.plan import CommentAction, ReassignAction, Visibility
from worker.model.state import BotState

SAM = Person("712020:sam", "Sam Ortiz")


def _doc(text: str) -> Document:
    return Document((Paragraph((Text(text),)),))


@pytest.mark.parametrize(
    ("visibility", "comments"),
    [(None, 1), (Visibility("group", "services-leadership"), 2)],
)
def test_comment_and_reassign_note_share_one_comment_per_audience(
        visibility: Visibility | None, comments: int) -> None:
    """Same readers: one comment with both texts; different readers: one each."""
    actions = (
        CommentAction(_doc("Sales owns this before signature."), "t", visibility),
        ReassignAction(SAM, "sales_owner", note=_doc("Sam, this is yours now.")),
    )
    for flavor in ("cloud", "datacenter"):
        body = edit_body(actions, BotState(), flavor=flavor,  # type: ignore[arg-type]
                         property_key="handoff-guard", flagged_field_id=None)
        added = body["update"]["comment"]
        assert len(added) == comments
        text = str(added)
        assert "Sales owns this" in text
        assert "this is yours now" in text
