"""Naming a landed write's comment ids from the next search answer (pure, a table): only when
the bot's comments newer than the waiting writes, and not recorded already, are exactly as
many as those writes posted; fewer waits (the answer lags), more names none (a comment the
count does not explain)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from worker.model.issue import Comment, IssueSnapshot
from worker.model.people import Person
from worker.state.comment_ids import WaitingWrite
from worker.write.posted import (
    CLOCK_MARGIN,
    Named,
    PostedComments,
    SeenComment,
    name_posted,
)

T0 = datetime(2026, 11, 2, 9, tzinfo=UTC)
S = timedelta(seconds=1)


def _seen(*items: tuple[str, int]) -> list[SeenComment]:
    """(id, seconds after T0) for each of the bot's comments as listed."""
    return [SeenComment(cid, T0 + secs * S) for cid, secs in items]


@pytest.mark.parametrize(
    ("waiting", "recorded", "seen", "expected"),
    [
        ([WaitingWrite(1, T0, 1)], set(), _seen(("501", 3)), Named({1: ("501",)})),
        # two comments of one write (to the PM and to the new owner), oldest first
        ([WaitingWrite(1, T0, 2)], set(), _seen(("502", 3), ("501", 3)),
         Named({1: ("501", "502")})),
        # two writes: the older write has the older comment
        ([WaitingWrite(2, T0 + 60 * S, 1), WaitingWrite(1, T0, 1)], set(),
         _seen(("601", 70), ("501", 3)), Named({1: ("501",), 2: ("601",)})),
        # a comment another write holds already is not this one's
        ([WaitingWrite(2, T0, 1)], {"501"}, _seen(("501", 2), ("502", 3)),
         Named({2: ("502",)})),
        # an older comment of the bot's (before the store knew it) is not counted...
        ([WaitingWrite(1, T0, 1)], set(),
         [SeenComment("400", T0 - CLOCK_MARGIN - S), *_seen(("501", 3))],
         Named({1: ("501",)})),
        # ...but one within the clock's margin is: two for one write
        ([WaitingWrite(1, T0, 1)], set(), _seen(("499", -30), ("501", 3)),
         Named({}, why="ambiguous")),
        # the answer does not list the comment yet (search lag): wait for a later read
        ([WaitingWrite(1, T0, 1)], set(), [], Named({}, why="not yet listed")),
        ([WaitingWrite(1, T0, 2)], set(), _seen(("501", 3)), Named({}, why="not yet listed")),
        # a comment someone posted with the bot's account: which is the write's is unknown
        ([WaitingWrite(1, T0, 1)], set(), _seen(("501", 3), ("502", 40)),
         Named({}, why="ambiguous")),
        ([], set(), _seen(("501", 3)), Named({})),
    ],
)
def test_name_posted(waiting: list[WaitingWrite], recorded: set[str],
                     seen: list[SeenComment], expected: Named) -> None:
    """Each case: the ids named per outcome row, or why none are."""
    assert name_posted(waiting, recorded, seen) == expected


BOT = Person("bot-1", "Handoff Guard")
PM = Person("pm-1", "Priya")


def _snapshot(key: str, *, complete: bool = True) -> IssueSnapshot:
    return IssueSnapshot(
        key=key, id="1", project="ACME", issue_type="Task", summary="SOW", description="",
        status="Open", status_category="new", assignee=PM, reporter=PM, labels=(),
        created=T0, updated=T0, comments_complete=complete,
        comments=(Comment("10", PM, T0, "hi"), Comment("11", BOT, T0 + S, "bot"),
                  Comment("12", None, T0 + S, "anonymous")))


@pytest.mark.parametrize(
    ("written", "comments_read", "complete", "expected"),
    [
        ({"ACME-1"}, True, True, {"ACME-1": (SeenComment("11", T0 + S),)}),
        (set(), True, True, {}),  # not written within the window: nothing kept
        ({"ACME-1"}, False, True, {}),  # the search does not ask for comments
        ({"ACME-1"}, True, False, {}),  # the answer lists only some of them
    ],
)
def test_posted_comments_keep_only_the_bots_on_written_tickets(
    written: set[str], comments_read: bool, complete: bool,
    expected: dict[str, tuple[SeenComment, ...]],
) -> None:
    """What a cycle keeps while it reads: the bot's comments, on tickets it wrote, from
    answers that list every comment."""
    posted = PostedComments(BOT.id, written=written, comments_read=comments_read)
    posted.observe(_snapshot("ACME-1", complete=complete))
    assert posted.seen == expected
