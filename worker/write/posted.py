"""The ids of the comments the bot's landed writes posted: counted when a write lands, named
from the next cycle's search answer, at no request of their own.

The edit request that posts the bot's comments (with its state, in one request: exactly once)
answers 204 without their ids. The outcome of a landed write that posted comments records how
many (``changes["comments_posted"]``); one that posted none records ``comment_ids: []`` at
once. The bot's own write changes the ticket, so the next cycle reads it again, and the search
answer lists its comments with their ids, authors and times (when the policies read comments,
as the shipped ones do). For each ticket the bot wrote within the journal's window,
:class:`PostedComments` keeps the bot's comments as read; after the cycle,
:func:`name_posted` gives each waiting outcome its ids when the answer tells them without
doubt: exactly as many comments of the bot's, newer than the oldest waiting write and not
recorded already, as the waiting writes posted. Fewer (the search answer lags behind the
write, or lists only the oldest comments) waits for a later read; more (a write whose
outcome was unknown, another installation on the same account) records none. A write left
without ids sends ``revert`` to the comment list, where each comment's stamp tells the bot's
(:mod:`worker.atlassian.comments`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import structlog

from worker.atlassian.edit_body import comment_count
from worker.model.issue import IssueSnapshot
from worker.model.outcome import Outcome
from worker.model.plan import IssueWrite
from worker.state.comment_ids import (
    COMMENT_IDS,
    COMMENTS_POSTED,
    WaitingWrite,
    record_comment_ids,
    waiting_writes,
)
from worker.state.store import Store

log = structlog.get_logger(__name__)

#: a comment's ``created`` against the cycle's site time its write records: the site clock
#: read at the start of the cycle is never later than the comment, but it is read to the
#: second, and a long cycle writes minutes after it
CLOCK_MARGIN = timedelta(minutes=1)


def with_comments_posted(write: IssueWrite, outcome: Outcome) -> Outcome:
    """``outcome`` with how many comments ``write`` posted (only for a write that landed:
    ``applied`` or ``fallback``): ``comment_ids: []`` when none, else ``comments_posted``."""
    if outcome.status not in ("applied", "fallback"):
        return outcome
    count = comment_count(write.actions)
    extra: dict[str, object] = {COMMENTS_POSTED: count} if count else {COMMENT_IDS: []}
    return replace(outcome, changes={**(outcome.changes or {}), **extra})


@dataclass(frozen=True, slots=True)
class SeenComment:
    """One of the bot's comments as a search answer listed it."""

    id: str
    created: datetime


@dataclass(slots=True)
class PostedComments:
    """Keeps, while a cycle reads, the bot's comments on the tickets it wrote recently (only
    from answers that list every comment; nothing else is kept)."""

    bot_id: str
    #: the tickets the journal holds a write for within its window
    written: Collection[str]
    #: whether the search asks for comments at all (no answer lists them otherwise)
    comments_read: bool
    seen: dict[str, tuple[SeenComment, ...]] = field(default_factory=dict)

    def observe(self, snapshot: IssueSnapshot) -> None:
        """Called for each ticket read."""
        if not self.comments_read or not snapshot.comments_complete:
            return
        if snapshot.key not in self.written:
            return
        self.seen[snapshot.key] = tuple(
            SeenComment(c.id, c.created) for c in snapshot.comments
            if c.author is not None and c.author.id == self.bot_id)


@dataclass(frozen=True, slots=True)
class Named:
    """What one ticket's answer told: ids per outcome row, or why none were named."""

    ids: Mapping[int, tuple[str, ...]]
    #: None when named; else "not yet listed" (wait for a later read) or "ambiguous"
    why: str | None = None


def name_posted(
    waiting: Sequence[WaitingWrite], recorded: Collection[str], seen: Sequence[SeenComment]
) -> Named:
    """The ids of the comments ``waiting`` (one ticket's writes, oldest first) posted, from
    the bot's comments ``seen`` in one answer, ``recorded`` being the ids its other writes
    already hold (pure)."""
    if not waiting:
        return Named({})
    since = min(w.at for w in waiting) - CLOCK_MARGIN
    fresh = sorted((c for c in seen if c.id not in recorded and c.created >= since),
                   key=lambda c: (c.created, _numeric(c.id)))
    wanted = sum(w.posted for w in waiting)
    if len(fresh) < wanted:
        return Named({}, why="not yet listed")
    if len(fresh) > wanted:
        return Named({}, why="ambiguous")
    ids: dict[int, tuple[str, ...]] = {}
    start = 0
    for write in sorted(waiting, key=lambda w: (w.at, w.row)):
        ids[write.row] = tuple(c.id for c in fresh[start:start + write.posted])
        start += write.posted
    return Named(ids)


def _numeric(comment_id: str) -> int:
    """Comment ids are numbers that grow; order by them within one second."""
    return int(comment_id) if comment_id.isdigit() else 0


def record_posted(store: Store, posted: PostedComments, *, since: datetime,
                  before: datetime) -> int:
    """Name the ids of the comments of the writes recorded from ``since`` until ``before``
    (this cycle's own writes came after its read) on the tickets ``posted`` saw; returns
    how many outcomes gained their ids."""
    if not posted.seen:
        return 0
    found = waiting_writes(store, posted.seen, since=since, before=before)
    named: dict[int, tuple[str, ...]] = {}
    for key, ticket in found.items():
        if not ticket.waiting:
            continue
        result = (Named({}, why="a write's outcome is unknown") if ticket.unsure
                  else name_posted(ticket.waiting, ticket.recorded, posted.seen[key]))
        if result.why is not None:
            log.info("comment_ids.unnamed", issue=key, why=result.why,
                     writes=len(ticket.waiting))
        named.update(result.ids)
    if named:
        record_comment_ids(store, named)
        log.info("comment_ids.recorded", outcomes=len(named))
    return len(named)
