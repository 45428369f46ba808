"""A policy file's schedule as the scheduler's trigger, and the longest gap it leaves
between two cycles (what health calls stale)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from worker.policy.config import Schedule


def trigger_for(schedule: Schedule) -> BaseTrigger:
    """The APScheduler trigger for a policy file's schedule (interval wins over cron)."""
    tz = ZoneInfo(schedule.timezone)
    if schedule.interval_s is not None:
        return IntervalTrigger(seconds=schedule.interval_s, timezone=tz)
    if schedule.cron is None:
        raise ValueError("a schedule needs interval_s or cron")
    return CronTrigger.from_crontab(schedule.cron, timezone=tz)


def interval_of(schedule: Schedule, *, now: datetime | None = None) -> float:
    """The longest expected gap between two cycles (the health bound is twice this).

    For a cron it is the longest gap between its runs over the next week, so a
    "weekdays at 9" schedule is not reported stale over the weekend.
    """
    if schedule.interval_s is not None:
        return float(schedule.interval_s)
    trigger = trigger_for(schedule)
    start = now or datetime.now(ZoneInfo(schedule.timezone))
    horizon = start + timedelta(days=8)
    previous = trigger.get_next_fire_time(None, start)
    longest = 0.0
    for _ in range(2000):  # bounded: a per-minute cron has ~11,500 runs a week; this is enough
        if previous is None or previous > horizon:
            break
        following = trigger.get_next_fire_time(previous, previous + timedelta(microseconds=1))
        if following is None:
            break
        longest = max(longest, (following - previous).total_seconds())
        previous = following
    return longest or 86400.0
