"""Schedules as the scheduler will read them: cron checked by APScheduler's own parser.

``validate`` and a hot reload must refuse exactly what the scheduler would refuse, so the cron
check builds the same :class:`~apscheduler.triggers.cron.CronTrigger` the service builds, field
by field, to say which field is wrong and where it starts in the expression. A schedule that
parses but never fires (``0 0 31 2 *``) is refused too: the service would never run a cycle.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from apscheduler.triggers.cron import CronTrigger

from worker.policy.durations import Duration

#: the shortest ``every``: a cycle reads every candidate ticket, so seconds make no sense
MIN_INTERVAL_S = 60

#: crontab's five fields, in order, as CronTrigger names them and as admins read them
CRON_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("minute", "minute", "0-59"),
    ("hour", "hour", "0-23"),
    ("day", "day of month", "1-31"),
    ("month", "month", "1-12 or jan-dec"),
    ("day_of_week", "day of week", "0-6 or mon-sun"),
)
CRON_HINT = "expected 5 fields like '*/15 7-19 * * mon-fri' (minute hour day month weekday)"
# A fixed "now" keeps validation deterministic; four years cover every leap day.
_PROBE_FROM = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class CronProblem:
    """Why a cron expression is refused, and the character offset where the fault starts."""

    offset: int
    message: str


def cron_problem(expression: str) -> CronProblem | None:
    """None when APScheduler accepts ``expression`` and it fires at least once; else why."""
    starts: list[int] = []
    parts: list[str] = []
    pos = 0
    for part in expression.split():
        pos = expression.index(part, pos)
        starts.append(pos)
        parts.append(part)
        pos += len(part)
    if len(parts) != len(CRON_FIELDS):
        return CronProblem(0, f"found {len(parts)} field(s), {CRON_HINT}")
    for (name, words, allowed), part, start in zip(CRON_FIELDS, parts, starts, strict=True):
        try:
            CronTrigger(**{name: part}, timezone=UTC)
        except ValueError as exc:
            return CronProblem(
                start, f"{words} field {part!r}: {_lower(str(exc))} (allowed: {allowed})"
            )
    try:
        trigger = CronTrigger.from_crontab(expression, timezone=UTC)
    except ValueError as exc:  # a combination the per-field check does not see
        return CronProblem(0, f"{_lower(str(exc))}; {CRON_HINT}")
    if trigger.get_next_fire_time(None, _PROBE_FROM) is None:
        return CronProblem(0, f"{expression!r} never fires (no such date)")
    return None


def interval_problem(duration: Duration) -> str | None:
    """None when ``every`` is at least :data:`MIN_INTERVAL_S`; else why, in the admin's words."""
    if duration.business_days or duration.seconds >= MIN_INTERVAL_S:
        return None
    return "`every` must be at least 1 minute (each cycle reads every candidate ticket)"


def schedule_words(*, interval_s: int | None, cron: str | None) -> str:
    """The schedule as a phrase with its real interval ("every 90 seconds", "cron '...'")."""
    if interval_s is None:
        return f"cron '{cron}'"
    return "every " + Duration(text=f"{interval_s}s", seconds=float(interval_s)).words()


def _lower(message: str) -> str:
    # APScheduler repeats the field's text ("Error validating expression '61': ..."); we
    # already name the field and quote it.
    if message.startswith("Error validating expression") and "': " in message:
        message = message.split("': ", 1)[1]
    return message[:1].lower() + message[1:]
