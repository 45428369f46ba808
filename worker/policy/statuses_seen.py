"""Which contract statuses the deal pages use, in words an admin going live reads once.

``plan``, ``validate --site`` and the log of each full read list every status value seen on
deal pages with its count, and loudly the ones the bot will not be able to read ("'Closed
won' on 3 pages: add it to deals.signed_values or deals.unsigned_values"). Pure text.
"""

from __future__ import annotations

from collections.abc import Sequence

from worker.policy.deal_index import StatusSeen

#: how many distinct unreadable values a metric labels at most (admins type free text)
MAX_LABELLED_VALUES = 20


def seen_line(seen: Sequence[StatusSeen]) -> str:
    """One line: every status with its count and reading ("Signed 3 (signed), ...")."""
    if not seen:
        return "Statuses on deal pages: none (no deal page was read)"
    parts = [f"{s.value} {s.pages} ({s.state})" for s in seen]
    return "Statuses on deal pages: " + ", ".join(parts)


def unreadable_line(s: StatusSeen) -> str | None:
    """The loud line for a status the bot cannot read, and what to do; None when it can."""
    pages = f"{s.pages} page{'s' if s.pages != 1 else ''}"
    if s.state == "unreadable" and s.value != "(empty)" and s.reason and "neither" in s.reason:
        return (f"'{s.value}' on {pages}: add it to deals.signed_values or "
                "deals.unsigned_values (until then those customers' tickets are skipped)")
    if s.state in ("unreadable", "conflicting"):
        return f"'{s.value}' on {pages} cannot be read ({s.state}): {s.reason}"
    return None


def unreadable_lines(seen: Sequence[StatusSeen]) -> list[str]:
    """One loud line per status the bot cannot read, and what to do about it."""
    return [line for s in seen if (line := unreadable_line(s)) is not None]
