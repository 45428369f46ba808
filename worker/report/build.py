"""From the store's history to the report's numbers (pure once the rows are loaded).

A *flagged ticket* is one ticket and one policy whose conditions matched it (verdicts
``act``, ``waiting``, ``handled``, ``deferred``, ``breaker``), counted once, in the week of its
first match. Enforcing policies' tickets are "flagged"; dry-run policies' are "would have":
what they would have acted on where they stand in the policy file (a ticket an earlier
enforcing policy takes is not evaluated by the policies after it, dry-run ones included).

What happened next, for each flagged ticket, from what later cycles recorded:

* ``reverted``: a person had the bot's change undone (``revert``);
* ``overridden``: a person took the ticket back after the bot reassigned it;
* ``opted-out``: the opt-out label exempts it;
* ``reassigned``: the bot handed it to Sales (its own write says so);
* ``moved``: it stopped matching without the bot moving it (the PM handed it on or closed
  it, or the deal got signed);
* ``open``: nothing since its last match says it stopped matching.

"Stopped matching" needs evidence: a later cycle that *read the ticket* and recorded no match
for the policy. A full read reads every ticket in scope; an incremental read (the default
between full sweeps, :mod:`worker.read.incremental`) reads only the tickets that can have changed,
so a ticket missing from it says nothing, unless it was one of the keys that read looked at
(``cycles.read_keys``): then it was read and no longer matched. A ticket that left the search's
scope is not returned by an incremental read either, so such a move is seen at the next full
read: its time is then that full read's, up to ``full_sweep`` late.

The open backlog at the end of a week counts the tickets flagged by then that had not yet
reached one of the closing outcomes above.
"""

from __future__ import annotations

import statistics
from bisect import bisect_right
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from worker.model.vocabulary import MATCHED_VERDICTS
from worker.report.context import HANDBACK, ReportContext
from worker.report.signs import SecondSign, second_sign, sign_comments
from worker.report.trend import trend_words
from worker.state.history import HistoryFilter, HistoryRow, load_rows
from worker.state.store import Store
from worker.state.tables import REVERT_RUN_PREFIX, cycles

#: what happened next, in the order the report lists it
FATES: tuple[str, ...] = ("moved", "reassigned", "opted-out", "overridden", "reverted", "open")
FATE_WORDS: Mapping[str, str] = {
    "moved": "moved by the PM",
    "reassigned": "reassigned by the bot",
    "opted-out": "opted out",
    "overridden": "overridden",
    "reverted": "reverted",
    "open": "still open",
}
NOBODY = "(none)"


@dataclass(frozen=True, slots=True)
class Story:
    """One flagged ticket for one policy, start to end."""

    issue: str
    policy: str
    mode: str  # enforce | dry-run
    flagged_at: datetime
    fate: str
    #: when it stopped being open (None while it is open)
    closed_at: datetime | None
    customer: str | None
    pm: str | None
    account_executive: str | None
    deal_page_url: str | None
    first_comment_at: datetime | None
    reassigned_at: datetime | None
    #: the ticket's summary as last recorded
    summary: str | None = None


@dataclass(frozen=True, slots=True)
class Week:
    """One week of the period (Monday to Monday in the policy file's time zone)."""

    start: date
    #: enforcing policies' tickets first flagged this week, by policy
    flagged: Mapping[str, int]
    #: dry-run policies' tickets first matched this week ("would have"), by policy
    would_have: Mapping[str, int]
    #: of this week's flagged tickets, what happened next
    fates: Mapping[str, int]
    comments: int  # comments the bot posted this week
    reassignments: int  # tickets the bot reassigned this week
    backlog: int  # flagged tickets still open at the end of the week

    @property
    def flagged_total(self) -> int:
        """All tickets flagged this week."""
        return sum(self.flagged.values())


@dataclass(frozen=True, slots=True)
class Breakdown:
    """Flagged tickets of the period by one dimension (customer, PM, account executive)."""

    name: str
    flagged: int
    open: int
    link: str | None = None


@dataclass(frozen=True, slots=True)
class Report:
    """Everything the report says, as numbers (renderers only format it)."""

    since: datetime
    until: datetime
    timezone: str
    generated_at: datetime
    cycles: int
    policies: tuple[str, ...]
    dry_run_policies: tuple[str, ...]
    weeks: tuple[Week, ...]
    stories: tuple[Story, ...] = field(repr=False)
    by_customer: tuple[Breakdown, ...]
    by_pm: tuple[Breakdown, ...]
    by_account_executive: tuple[Breakdown, ...]
    #: median hours from the first comment to the bot's reassignment to Sales
    median_to_sales_h: float | None
    to_sales_n: int
    #: median hours from the first comment to the ticket leaving the PM another way
    median_to_moved_h: float | None
    to_moved_n: int
    trend: str
    #: why the report is empty (None when it has something to say)
    empty_reason: str | None = None
    #: the first cycle the store knows (the report never starts before it)
    started_at: datetime | None = None
    #: people who have left (their account is deactivated): shown, never charged
    left: tuple[Breakdown, ...] = ()
    #: the second sign (Sales directing, chasing or approving PMs), from dry-run matches
    second_sign: SecondSign | None = None
    context: ReportContext = field(default_factory=ReportContext)

    def group_fates(self, group: str) -> dict[str, int]:
        """What happened next to the period's flagged tickets of one group."""
        total: Counter[str] = Counter(s.fate for s in self.stories
                                      if s.mode != "dry-run"
                                      and self.context.group(s.policy) == group)
        return {f: total.get(f, 0) for f in FATES}

    @property
    def flagged(self) -> int:
        """Enforcing policies' tickets flagged in the period."""
        return sum(w.flagged_total for w in self.weeks)

    @property
    def would_have(self) -> int:
        """Dry-run policies' tickets first matched in the period."""
        return sum(sum(w.would_have.values()) for w in self.weeks)

    def fates(self) -> dict[str, int]:
        """What happened next to the period's flagged tickets."""
        total: Counter[str] = Counter()
        for w in self.weeks:
            total.update(w.fates)
        return {f: total.get(f, 0) for f in FATES}


# --------------------------------------------------------------------------- loading


def load_report(
    store: Store,
    *,
    since: datetime,
    until: datetime,
    tz: ZoneInfo,
    generated_at: datetime | None = None,
    store_name: str = "the state store",
    context: ReportContext | None = None,
) -> Report:
    """Read what the report needs from ``store`` and build it."""
    rows = load_rows(store, HistoryFilter(until=until))
    query = (
        sa.select(cycles.c.run_id, cycles.c.site_now, cycles.c.status, cycles.c.read_full,
                  cycles.c.read_keys)
        .where(cycles.c.site_now.is_not(None))
        .order_by(cycles.c.site_now, cycles.c.started_at)
    )
    with store.engine.connect() as conn:
        runs = [_mark(r) for r in conn.execute(query)]
    return build_report(rows, runs, since=since, until=until, tz=tz,
                        generated_at=generated_at or datetime.now(UTC), store_name=store_name,
                        context=context or ReportContext())


# --------------------------------------------------------------------------- building


def week_start(moment: datetime, tz: ZoneInfo) -> date:
    """The Monday of ``moment``'s week in ``tz``."""
    day = moment.astimezone(tz).date()
    return day - timedelta(days=day.weekday())


def period_start(until: datetime, weeks: int, tz: ZoneInfo) -> datetime:
    """Monday 00:00 (in ``tz``) of the first of the ``weeks`` weeks that end with ``until``'s
    week, so "the last 12 weeks" is exactly 12 rows."""
    first = week_start(until - timedelta(microseconds=1), tz) - timedelta(weeks=weeks - 1)
    return datetime.combine(first, time(0), tzinfo=tz)


def _week_end(start: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(start + timedelta(days=7), time(0), tzinfo=tz)


@dataclass(frozen=True, slots=True)
class CycleMark:
    """One cycle as the report needs it: when it planned (site clock) and what it read."""

    run_id: str
    at: datetime
    #: True: every ticket in scope was read; False: only ``read_keys`` were
    read_full: bool = True
    read_keys: frozenset[str] = frozenset()
    #: it ended ``ok`` or ``stopped`` (counted in the report's cycles)
    completed: bool = True
    #: a ``revert`` run: recorded beside the cycles, never counted as one
    revert: bool = False

    def covers(self, issue: str) -> bool:
        """Did this cycle read ``issue``, so that its decisions say whether it matched?"""
        return self.read_full or issue in self.read_keys


def _mark(row: sa.Row[Any]) -> CycleMark:
    completed = row.status in ("ok", "stopped")
    full = bool(row.read_full)
    if row.read_full is None:
        # Recorded before revision 0005, when every cycle read everything: a cycle that did
        # not end ``ok`` may have stopped before it planned, and a revert plans nothing.
        full = row.status == "ok" and not str(row.run_id).startswith("revert-")
    return CycleMark(run_id=row.run_id, at=row.site_now, read_full=full,
                     read_keys=frozenset(row.read_keys or ()), completed=completed,
                     revert=str(row.run_id).startswith(REVERT_RUN_PREFIX))


def stories(rows: Sequence[HistoryRow], runs: Sequence[CycleMark]) -> list[Story]:
    """One :class:`Story` per ticket and policy that a policy's conditions matched."""
    by_key: dict[tuple[str, str], list[HistoryRow]] = defaultdict(list)
    for row in rows:
        by_key[(row.issue, row.policy)].append(row)
    cycles_in = _Cycles(runs)
    out: list[Story] = []
    for (issue, policy), items in by_key.items():
        # a revert run's decisions say what it undid (its changes), never that a policy matched
        matched = [r for r in items if r.verdict in MATCHED_VERDICTS
                   and not r.run_id.startswith(REVERT_RUN_PREFIX)]
        if not matched:
            continue  # exempt from the start: never flagged
        first = matched[0]
        after = [r for r in items if r.at >= first.at]
        last = after[-1]
        comment_at = next((r.at for r in after if r.wrote and "comment" in r.actions), None)
        reassigned_at = next((r.at for r in after if r.wrote and "reassign" in r.actions), None)
        fate, closed_at = _fate(after, last, cycles_in, reassigned_at)
        latest = matched[-1]
        out.append(Story(
            issue=issue,
            policy=policy,
            mode=first.mode,
            flagged_at=first.at,
            fate=fate,
            closed_at=closed_at,
            customer=latest.customer,
            pm=first.assignee.name if first.assignee else None,
            account_executive=latest.account_executive.name if latest.account_executive
            else None,
            deal_page_url=latest.deal_page_url,
            first_comment_at=comment_at,
            reassigned_at=reassigned_at,
            summary=next((r.summary for r in reversed(matched) if r.summary), None),
        ))
    out.sort(key=lambda s: (s.flagged_at, s.issue, s.policy))
    return out


def _exempt_kind(row: HistoryRow) -> str:
    reason = (row.reason or "").casefold()
    if reason.startswith("reverted"):
        return "reverted"
    if reason.startswith("human override"):
        return "overridden"
    return "opted-out"


class _Cycles:
    """The cycles in the order they ran, and where each run id is among them."""

    def __init__(self, runs: Sequence[CycleMark]) -> None:
        self.runs = runs
        self.times = [mark.at for mark in runs]
        self.index = {mark.run_id: i for i, mark in enumerate(runs)}

    def first_read_after(self, row: HistoryRow) -> datetime | None:
        """When the first cycle after ``row``'s that read its ticket planned (None: none did).

        Cycles are told apart by run id: two cycles can plan at the same site time.
        """
        found = self.index.get(row.run_id)
        start = found + 1 if found is not None else bisect_right(self.times, row.at)
        return next((m.at for m in self.runs[start:] if m.covers(row.issue)), None)


def _fate(
    after: Sequence[HistoryRow],
    last: HistoryRow,
    cycles_in: _Cycles,
    reassigned_at: datetime | None,
) -> tuple[str, datetime | None]:
    reverted = next((r.at for r in after if r.changes and r.changes.get("reverted")), None)
    if reverted is not None:
        return "reverted", reverted
    if last.verdict == "exempt":
        # Exempt after a match: the first exempt row of the final stretch is when it closed.
        closed = last.at
        for r in reversed(after):
            if r.verdict != "exempt":
                break
            closed = r.at
        return _exempt_kind(last), closed
    if reassigned_at is not None and last.at <= reassigned_at:
        # The bot's own write moved it to Sales (a person taking it back shows as exempt).
        return "reassigned", reassigned_at
    # It left when the first cycle after its last sighting that read it recorded nothing.
    left = cycles_in.first_read_after(last)
    if left is None:
        return "open", None
    if reassigned_at is not None:
        return "reassigned", reassigned_at
    return "moved", left


def build_report(
    rows: Sequence[HistoryRow],
    runs: Sequence[CycleMark],
    *,
    since: datetime,
    until: datetime,
    tz: ZoneInfo,
    generated_at: datetime,
    store_name: str = "the state store",
    context: ReportContext | None = None,
) -> Report:
    """The report for ``[since, until)`` from every recorded row before ``until``.

    ``runs`` are the store's cycles (any period, however they ended), in the order they ran.
    The period never starts before the first cycle the store knows: the weeks before it,
    when the bot was not running, are not shown (a revert run is not a cycle).
    """
    context = context or ReportContext()
    cycles_run = [r for r in runs if r.completed and not r.revert]
    recorded = bool(cycles_run)
    started_at = cycles_run[0].at if cycles_run else None
    if started_at is not None and since < started_at:
        since = started_at
    runs = [r for r in runs if r.at < until]
    rows = [r for r in rows if r.at < until]
    all_stories = stories(rows, runs)
    first_week = week_start(since, tz)
    last_week = week_start(until - timedelta(microseconds=1), tz)
    starts: list[date] = []
    day = first_week
    while day <= last_week:
        starts.append(day)
        day += timedelta(days=7)
    in_period = [s for s in all_stories if since <= s.flagged_at < until]
    enforce = [s for s in in_period if s.mode != "dry-run"]
    dry = [s for s in in_period if s.mode == "dry-run"]
    # the open backlog counts deliverables: a heads-up comment is never meant to move
    enforce_all = [s for s in all_stories
                   if s.mode != "dry-run" and context.group(s.policy) == HANDBACK]
    written = [r for r in rows if r.wrote and since <= r.at < until]
    weeks: list[Week] = []
    for start in starts:
        end = _week_end(start, tz)
        mine = [s for s in enforce if week_start(s.flagged_at, tz) == start]
        weeks.append(Week(
            start=start,
            flagged=dict(Counter(s.policy for s in mine)),
            would_have=dict(Counter(s.policy for s in dry if week_start(s.flagged_at, tz)
                                    == start)),
            fates=dict(Counter(s.fate for s in mine)),
            comments=_count_writes(written, "comment", start, tz),
            reassignments=_count_writes(written, "reassign", start, tz),
            backlog=sum(1 for s in enforce_all if s.flagged_at < min(end, until)
                        and (s.closed_at is None or s.closed_at >= min(end, until))),
        ))
    to_sales = [_hours(s.reassigned_at - s.first_comment_at) for s in enforce
                if s.first_comment_at and s.reassigned_at and s.fate == "reassigned"]
    to_moved = [_hours(s.closed_at - s.first_comment_at) for s in enforce
                if s.first_comment_at and s.closed_at and s.fate == "moved"]
    ran = sum(1 for r in cycles_run if since <= r.at < until)
    left = _left(rows)
    empty = None
    if not recorded:
        empty = f"No cycles recorded yet in {store_name}: nothing to report."
    elif started_at is not None and until <= started_at:
        empty = (f"Handoff Guard's first cycle ran on {started_at.astimezone(tz):%d %b %Y}, "
                 "after this period: nothing to report.")
    elif not ran:
        empty = "No cycle ran in this period (the store's cycles are outside it)."
    elif not in_period:
        empty = "No ticket was flagged in this period."
    return Report(
        since=since,
        until=until,
        timezone=tz.key,
        generated_at=generated_at,
        cycles=ran,
        policies=tuple(sorted({s.policy for s in enforce})),
        dry_run_policies=tuple(sorted({s.policy for s in dry})),
        weeks=tuple(weeks),
        stories=tuple(in_period),
        by_customer=_breakdown(enforce, lambda s: s.customer, link=lambda s: s.deal_page_url,
                               context=context),
        by_pm=_breakdown([s for s in enforce if s.pm not in left], lambda s: s.pm,
                         context=context),
        by_account_executive=_breakdown([s for s in enforce
                                         if s.account_executive not in left],
                                        lambda s: s.account_executive, context=context),
        median_to_sales_h=statistics.median(to_sales) if to_sales else None,
        to_sales_n=len(to_sales),
        median_to_moved_h=statistics.median(to_moved) if to_moved else None,
        to_moved_n=len(to_moved),
        trend=trend_words([w.flagged_total for w in weeks], [w.backlog for w in weeks]),
        empty_reason=empty,
        started_at=started_at,
        left=_breakdown([s for s in enforce if s.pm in left or s.account_executive in left],
                        lambda s: s.pm if s.pm in left else s.account_executive,
                        context=context),
        second_sign=second_sign(sign_comments(rows, since=since, until=until), starts, tz),
        context=context,
    )


def _left(rows: Sequence[HistoryRow]) -> frozenset[str]:
    """The names of people whose newest record says their account is deactivated."""
    newest: dict[str, bool] = {}
    for row in rows:  # oldest first: later records win
        for person in (row.assignee, row.account_executive):
            if person is not None:
                newest[person.name] = person.active
    return frozenset(name for name, active in newest.items() if not active)


def _count_writes(rows: Iterable[HistoryRow], kind: str, start: date, tz: ZoneInfo) -> int:
    # One ticket's write carries every policy's actions: count tickets, not decisions.
    seen = {(r.run_id, r.issue) for r in rows
            if kind in r.actions and r.mode == "enforce" and week_start(r.at, tz) == start}
    return len(seen)


def _hours(delta: timedelta) -> float:
    return delta.total_seconds() / 3600


def _breakdown(
    items: Sequence[Story],
    key: Any,
    *,
    link: Any = None,
    context: ReportContext,
) -> tuple[Breakdown, ...]:
    """Flagged tickets by ``key``; "open" counts deliverables only (a heads-up comment is
    never meant to move)."""
    flagged: Counter[str] = Counter()
    still: Counter[str] = Counter()
    links: dict[str, str] = {}
    for s in items:
        name = key(s) or NOBODY
        flagged[name] += 1
        if s.fate == "open" and context.group(s.policy) == HANDBACK:
            still[name] += 1
        url = link(s) if link is not None else None
        if url:
            links.setdefault(name, url)
    ordered = sorted(flagged.items(), key=lambda kv: (-kv[1], kv[0].casefold()))
    return tuple(Breakdown(name, n, still[name], links.get(name)) for name, n in ordered)
