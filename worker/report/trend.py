"""The period's direction in one sentence (pure): the first half of the weeks against the
second, once there are enough weeks on each side to say anything."""

from __future__ import annotations

from collections.abc import Sequence

#: weeks of data a trend needs on each side of the comparison
TREND_MIN_WEEKS = 4


def trend_words(flagged: Sequence[int], backlog: Sequence[int]) -> str:
    """The period's direction in one sentence: the first half of the weeks against the second
    half, and the backlog at the start against the end; with fewer than
    :data:`TREND_MIN_WEEKS` weeks on each side, "not enough history yet"."""
    if not flagged or sum(flagged) == 0:
        return "No ticket was flagged in the period: nothing to compare."
    if len(flagged) < 2 * TREND_MIN_WEEKS:
        return (f"Trend: not enough history yet ({len(flagged)} week(s); a trend compares at "
                f"least {TREND_MIN_WEEKS} weeks with the {TREND_MIN_WEEKS} before them).")
    half = len(flagged) // 2
    early = sum(flagged[:half]) / half
    late = sum(flagged[-half:]) / half
    if early == late:
        words = f"flat at {late:.1f} flagged per week"
    else:
        change = "down" if late < early else "up"
        pct = f" ({abs(late - early) / early:.0%})" if early else ""
        words = f"{change}{pct}: {early:.1f} flagged per week in the first {half} week(s), " \
                f"{late:.1f} in the last {half}"
    return f"Trend {words}; open backlog {backlog[0]} at the end of the first week, " \
           f"{backlog[-1]} now."
