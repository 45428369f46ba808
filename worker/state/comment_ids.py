"""The ids of the comments the bot's writes posted, as recorded when each write landed.

The executor reads them right after an edit that posted comments lands and records them in
the write's outcome row (``outcomes.changes["comment_ids"]``: a list, empty when the write
posted none). ``revert`` reads the comments by these ids; a write recorded without them
(before ids were recorded, or when the read after it failed) sends ``revert`` back to finding
the comments by their stamp in the issue's comment list.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import sqlalchemy as sa

from worker.state.store import Store
from worker.state.tables import REVERT_RUN_PREFIX, cycles, outcomes

#: the key of ``outcomes.changes`` that holds the posted comments' ids
COMMENT_IDS = "comment_ids"


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
