"""Which installation wrote a ticket, and what happens when another one writes to the same site.

The leader lease orders the processes that share a store. Installations with *separate* stores
(a second deployment, a copy started on a laptop with its own SQLite file, a store lost and
made anew) cannot see each other's lease, so each one stamps the bot's issue property with its
own id: ``"by": {"installation": ID, "at": TIME}`` (the id is kept in the store's ``meta`` as
``installation_id``, created when the store is first opened; ``at`` is the site's clock).

A cycle that finds a ticket last written, within the journal window, by an installation that
is neither itself nor confirmed by an operator (``HANDOFF_GUARD_TRUSTED_INSTALLATIONS``) logs
``another_actor`` as an error, says so in ``/readyz`` and the metrics, and starts no write. It
looks in what search returns and in every property it reads before a write. What it saw is
kept in the store (``meta`` ``another_actor``), so an incremental cycle that no longer reads
those tickets does not forget it: writing resumes when the other installation's last write
seen is older than the journal window (it was removed) or when its id is confirmed. Two actors
are loud, never silent.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from worker.model import BotState, WrittenBy
from worker.state.store import Store

log = structlog.get_logger(__name__)

#: ``meta``: what this worker saw other installations write (JSON, newest write per id)
SIGHTINGS_KEY = "another_actor"


@dataclass(frozen=True, slots=True)
class Sighting:
    """Another installation's write to one ticket, as the ticket's property tells it."""

    installation: str
    issue: str
    #: when it wrote (its site clock)
    at: datetime


def foreign(state: BotState, issue: str, *, own: str,
            trusted: frozenset[str]) -> Sighting | None:
    """The ticket's last writer when it is another installation, not a trusted one."""
    by = state.by
    if by is None or by.installation == own or by.installation in trusted:
        return None
    return Sighting(by.installation, issue, by.at)


def recent(sightings: Mapping[str, Sighting], *, trusted: frozenset[str],
           since: datetime) -> dict[str, Sighting]:
    """The sightings that still stop writes: not trusted, and at or after ``since``."""
    return {i: s for i, s in sightings.items() if i not in trusted and s.at >= since}


def describe(own: str, sightings: Mapping[str, Sighting]) -> str:
    """One line for the log, ``/readyz``, outcomes and the CLI."""
    others = "; ".join(
        f"installation {s.installation} wrote {s.issue} at {s.at:%Y-%m-%d %H:%M:%S}Z"
        for s in sorted(sightings.values(), key=lambda s: s.installation)
    )
    ids = ",".join(sorted(sightings))
    return (f"another Handoff Guard writes to this site ({others}); this installation "
            f"({own}) writes nothing until the other is removed or confirmed with "
            f"HANDOFF_GUARD_TRUSTED_INSTALLATIONS={ids}")


class Actors:
    """This installation's id and the other installations seen writing (thread-safe: the
    reader and every writer report what they see)."""

    def __init__(self, own: str, *, trusted: frozenset[str], window: timedelta,
                 sightings: Mapping[str, Sighting] | None = None) -> None:
        self.own = own
        self.trusted = trusted
        self.window = window
        self._lock = threading.Lock()
        self._sightings: dict[str, Sighting] = dict(sightings or {})
        #: set once another actor stops this cycle's writes: no write starts after it
        self.halted = threading.Event()
        #: why (the ``another_actor`` line), once halted
        self.reason: str | None = None

    @classmethod
    def load(cls, store: Store, *, trusted: frozenset[str], window: timedelta) -> Actors:
        """This store's installation and what it saw before (kept in ``meta``)."""
        return cls(store.installation_id, trusted=trusted, window=window,
                   sightings=_parse(store.get_meta(SIGHTINGS_KEY)))

    def stamp(self, at: datetime) -> WrittenBy:
        """What this installation writes into the property with a write made at ``at``."""
        return WrittenBy(self.own, at)

    def observe(self, issue: str, state: BotState) -> Sighting | None:
        """Note the ticket's last writer; the sighting when it is another installation
        (the caller decides whether it stops the writes)."""
        seen = foreign(state, issue, own=self.own, trusted=self.trusted)
        if seen is not None:
            with self._lock:
                known = self._sightings.get(seen.installation)
                if known is None or seen.at > known.at:
                    self._sightings[seen.installation] = seen
        return seen

    def active(self, now: datetime) -> dict[str, Sighting]:
        """The other installations whose writes stop ours now (``now``: the site clock);
        sets :attr:`halted` when there are any."""
        with self._lock:
            found = recent(self._sightings, trusted=self.trusted, since=now - self.window)
            if found:
                self.reason = describe(self.own, found)
        if found:
            self.halted.set()
        return found

    def save(self, store: Store, now: datetime) -> None:
        """Keep what is still recent for the next cycles (older sightings are dropped)."""
        with self._lock:
            kept = recent(self._sightings, trusted=frozenset(), since=now - self.window)
        store.set_meta(SIGHTINGS_KEY, json.dumps({
            i: {"issue": s.issue, "at": s.at.isoformat()} for i, s in sorted(kept.items())
        }))


def _parse(value: str | None) -> dict[str, Sighting]:
    """The kept sightings; an unreadable value is dropped (the site tells again)."""
    if not value:
        return {}
    try:
        raw = json.loads(value)
        return {str(i): Sighting(str(i), str(s["issue"]), datetime.fromisoformat(s["at"]))
                for i, s in raw.items()}
    except (ValueError, TypeError, KeyError, AttributeError):
        log.warning("another_actor.unreadable", key=SIGHTINGS_KEY)
        return {}
