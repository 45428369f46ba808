"""Durations as admins write them ("2 business days", "36h", "1 week") and how to add them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

DURATION_HINT = "expected a duration like '2 business days' or '36h'"

_UNITS_S: dict[str, int] = {
    "s": 1,
    "sec": 1,
    "second": 1,
    "seconds": 1,
    "m": 60,
    "min": 60,
    "minute": 60,
    "minutes": 60,
    "h": 3600,
    "hour": 3600,
    "hours": 3600,
    "d": 86400,
    "day": 86400,
    "days": 86400,
    "w": 604800,
    "week": 604800,
    "weeks": 604800,
}
_BUSINESS = {"bd", "business day", "business days", "working day", "working days"}
_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]+(?:\s+[a-z]+)?)\s*$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Duration:
    """A length of time; business days count Monday to Friday, minus holidays."""

    text: str
    seconds: float = 0.0
    business_days: int = 0

    @property
    def is_zero(self) -> bool:
        """True for "now" (a step that runs as soon as the ticket is flagged)."""
        return self.seconds == 0 and self.business_days == 0

    def add_to(self, start: datetime, *, tz: ZoneInfo, holidays: frozenset[date]) -> datetime:
        """``start`` plus this duration; business days keep the local time of day."""
        if self.business_days == 0:
            return start + timedelta(seconds=self.seconds)
        local = start.astimezone(tz)
        day = local.date()
        left = self.business_days
        while left > 0:
            day += timedelta(days=1)
            if day.weekday() < 5 and day not in holidays:
                left -= 1
        return datetime.combine(day, local.timetz()).astimezone(start.tzinfo)

    def words(self) -> str:
        """The duration as a phrase ("2 business days", "36 hours")."""
        if self.is_zero:
            return "immediately"
        if self.business_days:
            return f"{self.business_days} business day{'s' if self.business_days != 1 else ''}"
        for unit, size in (("week", 604800), ("day", 86400), ("hour", 3600), ("minute", 60)):
            if self.seconds % size == 0:
                n = int(self.seconds // size)
                return f"{n} {unit}{'s' if n != 1 else ''}"
        return f"{self.seconds:g} seconds"


def parse_duration(value: object, *, allow_business: bool = True) -> Duration:
    """Parse an admin's duration; raises ``ValueError`` with the expected form."""
    if isinstance(value, bool):
        raise ValueError(DURATION_HINT)
    if isinstance(value, int | float):
        if value == 0:
            return Duration(text=str(value))
        raise ValueError(f"{DURATION_HINT} (a bare number has no unit)")
    if not isinstance(value, str):
        raise ValueError(DURATION_HINT)
    text = value.strip()
    if text.lower() in {"0", "now", "immediately"}:
        return Duration(text=text)
    m = _RE.match(text)
    if m is None:
        raise ValueError(DURATION_HINT)
    amount = float(m.group(1))
    unit = " ".join(m.group(2).lower().split())
    if unit in _BUSINESS:
        if not allow_business:
            raise ValueError("business days are not allowed here; expected e.g. '15m' or '1h'")
        if amount != int(amount):
            raise ValueError("business days must be a whole number, e.g. '2 business days'")
        return Duration(text=text, business_days=int(amount))
    size = _UNITS_S.get(unit)
    if size is None:
        raise ValueError(DURATION_HINT)
    return Duration(text=text, seconds=amount * size)
