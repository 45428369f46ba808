"""The ids of the comments the bot's writes posted, as its outcome rows record them.

A landed write's outcome row holds ``outcomes.changes["comment_ids"]`` (a list, empty when
the write posted none), or, until a later cycle's search answer names them
(:mod:`worker.write.posted`), ``comments_posted``: how many it posted. ``revert`` reads the
comments by these ids; a write recorded without them (before ids were recorded, or never
named) sends ``revert`` back to finding the comments by their stamp in the issue's comment
list.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa

from worker.state.store import Store
from worker.state.tables import REVERT_RUN_PREFIX, cycles, outcomes

#: the key of ``outcomes.changes`` that holds the posted comments' ids
COMMENT_IDS = "comment_ids"
#: the key of ``outcomes.changes`` that holds how many comments a landed write posted, while
#: their ids are not known
COMMENTS_POSTED = "comments_posted"
#: keys per query (an IN list far below every backend's limit on bound parameters)
_CHUNK = 500


@dataclass(frozen=True, slots=True)
class WaitingWrite:
    """A landed write's outcome row whose comments have no ids yet."""

    row: int
    at: datetime
    posted: int


@dataclass(slots=True)
class TicketWrites:
    """One ticket's recorded writes within a window, as naming their comments needs them."""

    #: the landed writes whose comments wait for their ids, oldest first
    waiting: list[WaitingWrite] = field(default_factory=list)
    #: the ids its other writes hold already
    recorded: set[str] = field(default_factory=set)
    #: a write whose outcome is unknown: it may have posted comments nobody counted
    unsure: bool = False


def waiting_writes(
    store: Store, keys: Collection[str], *, since: datetime, before: datetime
) -> dict[str, TicketWrites]:
    """For each of ``keys`` with writes recorded at or after ``since``: those waiting for
    their comment ids (recorded before ``before``), the ids already recorded, and whether
    one write's outcome is unknown."""
    found: dict[str, TicketWrites] = {}
    wanted = sorted(keys)
    with store.engine.connect() as conn:
        for start in range(0, len(wanted), _CHUNK):
            rows = conn.execute(
                sa.select(outcomes.c.id, outcomes.c.issue, outcomes.c.at, outcomes.c.status,
                          outcomes.c.changes)
                .where(outcomes.c.issue.in_(wanted[start:start + _CHUNK]),
                       outcomes.c.at >= since)
                .order_by(outcomes.c.id)
            )
            for row in rows:
                ticket = found.setdefault(row.issue, TicketWrites())
                changes = row.changes if isinstance(row.changes, Mapping) else {}
                ids = changes.get(COMMENT_IDS)
                posted = changes.get(COMMENTS_POSTED)
                if row.status == "unknown":
                    ticket.unsure = True
                elif isinstance(ids, list):
                    ticket.recorded.update(str(i) for i in ids)
                elif (row.status in ("applied", "fallback") and row.at < before
                      and isinstance(posted, int) and not isinstance(posted, bool)
                      and posted > 0):
                    ticket.waiting.append(WaitingWrite(row.id, row.at, posted))
    return found


def record_comment_ids(store: Store, named: Mapping[int, Sequence[str]]) -> None:
    """Record the ids named for each outcome row (and drop its count), in one transaction."""
    wanted = sorted(named)
    with store.engine.begin() as conn:
        rows = [row for start in range(0, len(wanted), _CHUNK)
                for row in conn.execute(sa.select(outcomes.c.id, outcomes.c.changes).where(
                    outcomes.c.id.in_(wanted[start:start + _CHUNK])))]
        for row in rows:
            changes = {k: v for k, v in (row.changes or {}).items() if k != COMMENTS_POSTED}
            changes[COMMENT_IDS] = list(named[row.id])
            conn.execute(sa.update(outcomes).where(outcomes.c.id == row.id)
                         .values(changes=changes))


def recorded_comment_ids(
    store: Store, issue: str, *, run_id: str | None = None, since: datetime | None = None
) -> tuple[str, ...] | None:
    """The ids of the comments the bot's landed writes to ``issue`` posted, oldest first
    (revert runs' own never); None when only the comment list can tell them all.

    With ``run_id``, that run's writes only. Without it, every write to the ticket, and
    ``since`` is the first one (the oldest step its state records): the store must hold a
    cycle from then or before, else it has not seen every write (a newer store, or one that
    pruned them). None too when one of the writes was recorded without ids.
    """
    query = (
        sa.select(outcomes.c.changes)
        .where(
            sa.func.upper(outcomes.c.issue) == issue.upper(),
            outcomes.c.status.in_(("applied", "fallback")),
            sa.not_(outcomes.c.run_id.startswith(REVERT_RUN_PREFIX)),
        )
        .order_by(outcomes.c.id)
    )
    if run_id is not None:
        query = query.where(outcomes.c.run_id == run_id)
    with store.engine.connect() as conn:
        if run_id is None:
            if since is None:
                return None
            seen_from = conn.execute(
                sa.select(cycles.c.run_id).where(
                    sa.not_(cycles.c.run_id.startswith(REVERT_RUN_PREFIX)),
                    cycles.c.site_now <= since,
                ).limit(1)
            ).first()
            if seen_from is None:
                return None
        rows: list[object] = list(conn.execute(query).scalars().all())
    if not rows:
        return None
    found: list[str] = []
    for changes in rows:
        ids = changes.get(COMMENT_IDS) if isinstance(changes, Mapping) else None
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            return None
        found += ids
    return tuple(dict.fromkeys(found))
