"""The second sign of the handoff problem, from the dry-run policy's matches: Sales directing
or chasing a PM, or "approving" a PM's work, before signature (pure).

The evidence of a ``comments_by`` condition quotes the comment it matched (author, id, date,
the words that matched, an excerpt: :class:`worker.model.plan.CommentQuote`). Each quoted comment
counts once, in the week it was written, for its author; a comment whose matched words are
an approval phrase (:data:`worker.report.context.APPROVAL_PHRASES`) is an approval, any other
a chase or an order.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from worker.model.vocabulary import MATCHED_VERDICTS
from worker.report.context import APPROVAL_PHRASES
from worker.state.history import HistoryRow

#: how many comments the section quotes
QUOTES_SHOWN = 3


@dataclass(frozen=True, slots=True)
class SignComment:
    """One Sales comment a dry-run policy matched."""

    issue: str
    comment_id: str
    author: str
    written_at: datetime
    matched: str
    excerpt: str

    @property
    def approval(self) -> bool:
        """True when the words that matched approve the PM's work ("great job")."""
        return self.matched.casefold().strip() in APPROVAL_PHRASES


@dataclass(frozen=True, slots=True)
class SecondSign:
    """Counts per week and per Sales person, and a few quoted comments."""

    #: week start -> (chasing or directing, approving)
    weeks: Mapping[date, tuple[int, int]]
    #: Sales person -> (chasing or directing, approving), most first
    people: tuple[tuple[str, int, int], ...]
    quotes: tuple[SignComment, ...]
    total: int


def sign_comments(rows: Sequence[HistoryRow], *, since: datetime,
                  until: datetime) -> list[SignComment]:
    """Every distinct Sales comment a dry-run policy matched in ``[since, until)``. A comment
    written before the period (before the bot's first cycle, say) counts when it was first
    seen: at the period's start."""
    seen: dict[tuple[str, str], SignComment] = {}
    for row in rows:
        if (row.mode != "dry-run" or row.verdict not in MATCHED_VERDICTS
                or not since <= row.at < until):
            continue
        for q in row.quotes:
            try:
                written = datetime.fromisoformat(q.get("created", ""))
            except ValueError:
                continue  # unreadable: left out, never guessed
            written = max(written, since)
            key = (row.issue, q.get("comment_id", ""))
            seen.setdefault(key, SignComment(row.issue, key[1], q.get("author", "someone"),
                                             written, q.get("matched", ""),
                                             q.get("excerpt", "")))
    return sorted(seen.values(), key=lambda c: (c.written_at, c.issue))


def second_sign(comments: Sequence[SignComment], weeks: Sequence[date],
                tz: ZoneInfo) -> SecondSign | None:
    """The section's numbers (None when no dry-run policy quoted a comment in the period)."""
    if not comments:
        return None
    per_week: dict[date, list[int]] = {w: [0, 0] for w in weeks}
    chase: Counter[str] = Counter()
    approve: Counter[str] = Counter()
    for c in comments:
        day = c.written_at.astimezone(tz).date()
        monday = date.fromordinal(day.toordinal() - day.weekday())
        if monday in per_week:
            per_week[monday][1 if c.approval else 0] += 1
        (approve if c.approval else chase)[c.author] += 1
    authors = sorted(set(chase) | set(approve),
                     key=lambda a: (-(chase[a] + approve[a]), a.casefold()))
    # the newest comments, at most one per ticket, approvals given a place when there are any
    newest = sorted(comments, key=lambda c: c.written_at, reverse=True)
    picked: list[SignComment] = []
    for wanted in (True, False):
        for c in newest:
            if len(picked) >= QUOTES_SHOWN:
                break
            if c.approval is wanted and all(p.issue != c.issue for p in picked):
                picked.append(c)
                break
    for c in newest:
        if len(picked) >= QUOTES_SHOWN:
            break
        if c not in picked and all(p.issue != c.issue for p in picked):
            picked.append(c)
    return SecondSign(
        weeks={w: (v[0], v[1]) for w, v in per_week.items()},
        people=tuple((a, chase[a], approve[a]) for a in authors),
        quotes=tuple(sorted(picked, key=lambda c: c.written_at, reverse=True)),
        total=len(comments),
    )
