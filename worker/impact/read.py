"""One read for two policy files: the union of what both need, then :func:`compare`."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import TYPE_CHECKING

import structlog

from worker.impact.diff import Impact, combined_spec, compare, in_read
from worker.model.issue import IssueSnapshot, MalformedIssue
from worker.policy import search_spec
from worker.read.site import read_site

if TYPE_CHECKING:
    from worker.atlassian.clients import Atlassian
    from worker.policy import Policies
    from worker.state.store import Store

log = structlog.get_logger(__name__)

#: at most this many ticket lines in the reload log event (the counts cover the rest)
LOG_LINES = 50


def impact_on_site(
    atlassian: Atlassian,
    current: Policies,
    new: Policies,
    *,
    journal: Store | None,
    only: Iterable[str] = (),
) -> Impact:
    """Read once what either file needs (as a cycle reads), plan both, compare.

    Each file plans the tickets its own search returns (its JQL re-checked locally on the
    combined read), with the deals its own deal source finds.
    """
    spec_a, spec_b = search_spec(current), search_spec(new)
    spec = combined_spec(spec_a, spec_b)
    # Comments or changelog entries search left out are read where either file's verdict
    # depends on them: the completeness check sees both files' policies.
    either = replace(new, policies=(*current.policies, *new.policies),
                     people={**current.people, **new.people})
    reading = read_site(atlassian, spec, journal=journal, only=only, policies=either)
    deals_a = deals_b = reading.deal_read
    if spec_a.deals is not None and spec_b.deals is not None and spec_a.deals != spec_b.deals:
        deals_b = atlassian.confluence.deals(spec_b.deals, directory=reading.directory)
    snapshots = list(reading.snapshots)
    malformed: list[IssueSnapshot | MalformedIssue] = list(reading.malformed)
    read_a = in_read(spec_a, snapshots, directory=reading.directory, now=reading.now,
                     policies=current)
    read_b = in_read(spec_b, snapshots, directory=reading.directory, now=reading.now,
                     policies=new)
    return compare(
        [*snapshots, *malformed], reading.directory, (current, new), (deals_a, deals_b),
        reading.now, reads=([*read_a, *malformed], [*read_b, *malformed]),
    )


def log_reload_impact(
    atlassian: Atlassian, old: Policies, new: Policies, *, journal: Store | None
) -> Impact | None:
    """On a hot reload: the same summary ``plan --against`` prints, as ``config.impact``.

    It costs one more read in the cycle that picks the new file up. A failure is logged and
    swallowed: the cycle goes on with the new file either way.
    """
    try:
        impact = impact_on_site(atlassian, old, new, journal=journal)
    except Exception as exc:  # the summary is advice; it must never stop the cycle
        log.warning("config.impact_failed", error=f"{type(exc).__name__}: {exc}")
        return None
    lines = impact.lines()
    log.info(
        "config.impact",
        differs=impact.differs,
        tickets_read=impact.tickets,
        summary=impact.counts(),
        changes=lines[:LOG_LINES],
        more=max(0, len(lines) - LOG_LINES),
    )
    return impact
