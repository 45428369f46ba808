"""The ids of the comments a landed write posted, recorded with its outcome.

The edit request that posts the bot's comments (with its state, in one request: exactly once)
answers 204 without their ids. Right after it lands, one read of the ticket's newest comments
finds them by the stamp each carries (:func:`worker.model.outcome.comment_stamp`: the cycle's site
time, the policies, the templates; the newest with it are this write's), and the outcome
records them (``changes["comment_ids"]``; ``[]`` when the write posted
none) for ``revert``, which then reads those comments by id. When that read fails or does not
show them all, the write stands and its outcome has no ids: ``revert`` finds its comments by
their stamp in the comment list, as for writes recorded before ids were.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import requests
import structlog

from worker.atlassian.comments import posted_comment_ids
from worker.atlassian.edit_body import comment_count
from worker.atlassian.jira import JiraGateway
from worker.atlassian.transport import (
    AtlassianHTTPError,
    OutcomeUnknownError,
    TransportFailedError,
    UnexpectedBodyError,
    WriteAbandonedError,
)
from worker.model.outcome import Outcome, comment_stamp
from worker.model.plan import IssueWrite
from worker.state.comment_ids import COMMENT_IDS

log = structlog.get_logger(__name__)

#: the read failed, or answered nothing usable (the write stands either way)
_UNREAD: tuple[type[Exception], ...] = (
    AtlassianHTTPError, OutcomeUnknownError, TransportFailedError, UnexpectedBodyError,
    WriteAbandonedError, requests.RequestException,
)


def with_comment_ids(
    jira: JiraGateway, write: IssueWrite, outcome: Outcome, *, property_key: str, now: datetime
) -> Outcome:
    """``outcome`` with the ids of the comments ``write`` posted (only for a write that
    landed: ``applied`` or ``fallback``); unchanged when they cannot be read."""
    if outcome.status not in ("applied", "fallback"):
        return outcome
    count = comment_count(write.actions)
    ids: tuple[str, ...] | None = ()
    if count:
        try:
            ids = posted_comment_ids(jira, write.issue, property_key=property_key,
                                     bot_id=jira.myself().id,
                                     stamp=comment_stamp(write, now), count=count)
        except _UNREAD as exc:
            log.warning("write.comment_ids_unread", error=str(exc), comments=count)
            return outcome
    if ids is None:
        log.warning("write.comment_ids_unread", comments=count,
                    error="the newest comments do not show every comment this write posted")
        return outcome
    return replace(outcome, changes={**(outcome.changes or {}), COMMENT_IDS: list(ids)})
