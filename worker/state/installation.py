"""Who wrote a ticket's state: this installation, its history, another actor, or nobody we can
show.

The leader lease orders the processes that share a store. Everything else that may write the
bot's issue property is told apart by what the property says and by what only a bot can
produce:

* **a signature** (:mod:`worker.state.signature`): a property without a valid one was not written
  by any installation that holds this one's key. It may be a person's edit (anyone who may
  edit the ticket may write the property), or an installation with a key of its own: either
  way nothing on the ticket can be trusted, so *that ticket* is skipped with the reason, a
  warning and a metric (``state_unverified``). It never stops the bot elsewhere, and never
  opts a ticket out silently. A property written before signatures existed counts as ours
  when this store's journal holds the same state.
* **the stamp** ``"by": {installation, store, holder, fencing, at}``: the installation's name
  (``HANDOFF_GUARD_INSTALLATION``, by default derived from the site and the bot account), the
  id of the store that journaled the write, and the lease grant (holder, fencing) it was
  made under. A signed stamp dated in the future is not believed either.

A signed property is then judged by its stamp (``at`` is the site's clock):

==============================================  =========================================
written by                                      verdict
==============================================  =========================================
this store, under a grant this store made        own
an earlier store of this installation, before    history: the state is read before any
this store first acted (a store lost, a          write, and the cycle goes on (one
container without a volume)                      warning that the store is new)
a holder this store never granted, before the    history (a restored backup: the original
grant this store made for that fencing number    stopped before the copy began)
another store of this installation, a copy of    another actor: no write starts anywhere
this store, or another installation, within      (exit 6, ``/readyz`` 503, a gauge) until
the journal window and after this store began    its writes age out of the window
another installation in                          history while its writes predate this
``HANDOFF_GUARD_TRUSTED_INSTALLATIONS``          store; one that still writes is another
                                                 actor all the same: trust is for a
                                                 retired installation, never a live one
anything older than the journal window           history
==============================================  =========================================

What was seen of other actors is kept in the store (``meta`` ``actors_seen``), so an
incremental cycle that no longer reads those tickets does not forget it. Two actors are loud,
never silent; a person's edit is a skipped ticket, never a stopped site.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

import structlog

from worker.model.issue import IssueSnapshot
from worker.model.state import BotState, WrittenBy
from worker.state.signature import Signer
from worker.state.store import Store

log = structlog.get_logger(__name__)

#: ``meta``: what this store saw other actors write (JSON, newest write per writer)
SIGHTINGS_KEY = "actors_seen"
#: ``meta``: the lease grants this store made (JSON list, newest last)
GRANTS_KEY = "lease_grants"
#: ``meta``: the site time at which this store first acted (its writes start here)
BORN_KEY = "store_born"
#: ``meta``: set once the "this store is new" warning was given
NEW_STORE_WARNED_KEY = "store_new_warned"
#: how many grants the store remembers (older ones: their writes are history)
GRANTS_KEPT = 200
#: how far in the future a stamp may lie (clocks of the site's nodes disagree a little)
CLOCK_SKEW = timedelta(minutes=10)

Kind = Literal["own", "history", "another", "unverified"]


def default_name(site_url: str, bot_id: str) -> str:
    """The installation's name when the operator sets none: the same for every deployment
    of one bot account on one site (two deployments meant to differ set their own)."""
    digest = hashlib.sha256(f"{site_url.rstrip('/')}|{bot_id}".encode()).hexdigest()
    return f"hg-{digest[:12]}"


@dataclass(frozen=True, slots=True)
class Grant:
    """A lease grant this store made: who held it, its fencing number, and when it first
    wrote (the site's clock)."""

    holder: str
    fencing: int
    at: datetime


@dataclass(frozen=True, slots=True)
class Identity:
    """Who this process writes as, and what its store knows of its own past."""

    name: str
    store: str
    #: when this store first acted (site clock)
    born: datetime
    grants: tuple[Grant, ...] = ()
    #: the grant this process writes under (None: no leader lease, e.g. a test runner)
    holder: str | None = None
    fencing: int | None = None

    def granted(self, holder: str | None, fencing: int | None) -> bool:
        """Whether this store made the grant a stamp names."""
        return any(g.holder == holder and g.fencing == fencing for g in self.grants) or (
            holder == self.holder and fencing == self.fencing)

    def granted_since(self, fencing: int | None) -> datetime | None:
        """When this store began to write under ``fencing`` or a later number (for a number
        past all of its own, its latest grant); None when it never granted one."""
        if not self.grants:
            return None
        later = [g.at for g in self.grants if fencing is None or g.fencing >= fencing]
        return min(later) if later else max(g.at for g in self.grants)


@dataclass(frozen=True, slots=True)
class Sighting:
    """Another actor's write to one ticket, as the ticket's (signed) property tells it."""

    #: who: an installation's name, ``name/store`` or ``name/store/holder``
    writer: str
    issue: str
    #: when it wrote (its site clock)
    at: datetime
    #: what it is, in words ("another installation", "a copy of this store"...)
    what: str
    #: the installation's name the stamp gives
    installation: str = ""


@dataclass(frozen=True, slots=True)
class Verdict:
    """What one property says about its writer."""

    kind: Kind
    #: why (for history, unverified and another: the words shown to the admin)
    detail: str = ""
    sighting: Sighting | None = None
    #: history written by this installation's earlier store or a copy of this one (the
    #: store is new or restored: one warning says what that costs)
    earlier_store: bool = False


def judge(state: BotState, issue: str, *, me: Identity, signer: Signer,
          trusted: frozenset[str], window: timedelta, now: datetime,
          journaled: Callable[[str, BotState], bool]) -> Verdict:
    """Who wrote ``state`` on ``issue`` (pure but for ``journaled``, asked only for an
    unsigned property: whether this store's journal holds that state for the issue)."""
    if state.by is None and state.sig is None and not state.policies:
        return Verdict("own")  # nothing written yet
    if state.sig is None:
        if journaled(issue, state):
            return Verdict("own")
        return Verdict("unverified", "it carries no signature of this installation (written "
                       "by hand, or by a version before signatures that this store did not "
                       "journal)")
    if not signer.verifies(state):
        return Verdict("unverified", "its signature was not made with this installation's "
                       "key (edited by hand, or written by an installation with a key of its "
                       "own: HANDOFF_GUARD_SIGNING_KEY)")
    by = state.by
    if by is None:
        return Verdict("unverified", "it is signed but names no writer")
    if by.at > now + CLOCK_SKEW:
        return Verdict("unverified", f"it is dated in the future ({_t(by.at)})")
    if by.at < now - window:
        return Verdict("history", "written before the journal window")
    return _by_stamp(by, issue, me=me, trusted=trusted)


def _by_stamp(by: WrittenBy, issue: str, *, me: Identity, trusted: frozenset[str]) -> Verdict:
    """A signed, recent stamp: whose is it?"""
    if by.installation != me.name:
        if by.installation in trusted and by.at <= me.born:
            return Verdict("history", f"written by trusted (retired) installation "
                           f"{by.installation}")
        what = ("a trusted installation that still writes (trust is for a retired one)"
                if by.installation in trusted else "another installation")
        return _another(by.installation, issue, by, what)
    if by.store is None or by.store == me.store:
        if by.holder is None or me.granted(by.holder, by.fencing):
            return Verdict("own")
        since = me.granted_since(by.fencing)
        if since is None or by.at <= since:
            return Verdict("history", "written by a copy of this store before this one "
                           "began to write (a restored backup)", earlier_store=True)
        return _another(f"{by.installation}/{by.store}/{by.holder}", issue, by,
                        f"a copy of this store (lease holder {by.holder}, fencing "
                        f"{by.fencing}, a grant this store never made)")
    if by.at <= me.born:  # the site's clock may not have moved between the two
        return Verdict("history", f"written by an earlier store ({by.store}) of this "
                       "installation", earlier_store=True)
    return _another(f"{by.installation}/{by.store}", issue, by,
                    f"another store ({by.store}) of this installation, writing since this "
                    "store began")


def _another(writer: str, issue: str, by: WrittenBy, what: str) -> Verdict:
    seen = Sighting(writer, issue, by.at, what, by.installation)
    return Verdict("another", what, seen)


def recent(sightings: Mapping[str, Sighting], *, since: datetime, until: datetime,
           retired: Callable[[Sighting], bool] = lambda _s: False) -> dict[str, Sighting]:
    """The sightings that still stop writes: between ``since`` and ``until``, and not of an
    installation since confirmed as ``retired``."""
    return {w: s for w, s in sightings.items() if since <= s.at <= until and not retired(s)}


def describe(me: Identity, sightings: Mapping[str, Sighting]) -> str:
    """One line for the log, ``/readyz``, outcomes and the CLI."""
    others = "; ".join(
        f"{s.what} ({s.writer}) wrote {s.issue} at {_t(s.at)}Z"
        for s in sorted(sightings.values(), key=lambda s: s.writer)
    )
    return (f"another Handoff Guard writes to this site ({others}); this installation "
            f"({me.name}, store {me.store}) writes nothing while it does: stop one of them. "
            "HANDOFF_GUARD_TRUSTED_INSTALLATIONS is for an installation that was retired, "
            "never for one that still writes")


class Actors:
    """This installation's identity and what the cycle saw of the tickets' writers
    (thread-safe: the reader and every writer report what they see)."""

    def __init__(self, me: Identity, *, signer: Signer, trusted: frozenset[str],
                 window: timedelta, now: datetime, journaled: Callable[[str, BotState], bool],
                 sightings: Mapping[str, Sighting] | None = None) -> None:
        self.me = me
        #: the cycle's time (site clock): what the tickets read are judged against
        self.now = now
        self.signer = signer
        self.trusted = trusted
        self.window = window
        self._journaled = journaled
        self._lock = threading.Lock()
        self._sightings: dict[str, Sighting] = dict(sightings or {})
        #: tickets whose state no installation of the bot can be shown to have written
        self.unverified: dict[str, str] = {}
        #: tickets last written by this installation's earlier store (or a restored copy)
        self.earlier: set[str] = set()
        #: set once another actor stops this cycle's writes: no write starts after it
        self.halted = threading.Event()
        #: why (the ``another_actor`` line), once halted
        self.reason: str | None = None

    @classmethod
    def load(cls, store: Store, *, name: str, signer: Signer, trusted: frozenset[str],
             window: timedelta, now: datetime, holder: str | None = None,
             fencing: int | None = None) -> Actors:
        """This store's identity (its birth and the grant this process writes under are
        recorded now, before any write) and what it saw before (kept in ``meta``)."""
        born = _parse_time(store.get_meta(BORN_KEY))
        if born is None:
            born = now
            store.set_meta(BORN_KEY, now.isoformat())
        grants = _parse_grants(store.get_meta(GRANTS_KEY))
        if holder is not None and fencing is not None and not any(
                g.holder == holder and g.fencing == fencing for g in grants):
            grants = (*grants, Grant(holder, fencing, now))[-GRANTS_KEPT:]
            store.set_meta(GRANTS_KEY, json.dumps([
                {"holder": g.holder, "fencing": g.fencing, "at": g.at.isoformat()}
                for g in grants]))
        me = Identity(name, store.installation_id, born, grants, holder, fencing)
        return cls(me, signer=signer, trusted=trusted, window=window, now=now,
                   journaled=lambda issue, state: _journaled(store, issue, state),
                   sightings=_parse_sightings(store.get_meta(SIGHTINGS_KEY)))

    def stamp(self, at: datetime) -> WrittenBy:
        """What this installation writes into the property with a write made at ``at``."""
        return WrittenBy(self.me.name, at, store=self.me.store, holder=self.me.holder,
                         fencing=self.me.fencing)

    def seal(self, state: BotState, at: datetime) -> BotState:
        """``state`` stamped with this writer and signed: the value to send."""
        stamped = replace(state, by=self.stamp(at), sig=None, digest=None)
        return replace(stamped, sig=self.signer.sign(stamped.to_json()))

    def judge(self, issue: str, state: BotState, now: datetime) -> Verdict:
        """Who wrote ``state`` on ``issue``; another actor's recent write halts every
        writer at once, an unverifiable one is noted for the warning and the metric."""
        verdict = judge(state, issue, me=self.me, signer=self.signer, trusted=self.trusted,
                        window=self.window, now=now, journaled=self._journaled)
        if verdict.kind == "another" and verdict.sighting is not None:
            with self._lock:
                seen = verdict.sighting
                known = self._sightings.get(seen.writer)
                if known is None or seen.at > known.at:
                    self._sightings[seen.writer] = seen
            self.active(now)
        elif verdict.kind == "unverified":
            self._unverified(issue, verdict.detail)
        elif verdict.earlier_store:
            with self._lock:
                self.earlier.add(issue)
        return verdict

    def _unverified(self, issue: str, detail: str) -> None:
        with self._lock:
            first = issue not in self.unverified
            self.unverified[issue] = detail
        if first:
            log.warning("issue.state_unverified", issue=issue, detail=detail)

    def review(self, snapshot: IssueSnapshot, verify: dict[str, str]) -> IssueSnapshot:
        """A ticket as read: one whose state cannot be trusted comes back with the reason
        (the planner skips it); one written by this installation's past is read again
        before any write (``verify``)."""
        if snapshot.state_doubt is not None:  # a shape the bot never writes
            self._unverified(snapshot.key, snapshot.state_doubt)
            return snapshot
        verdict = self.judge(snapshot.key, snapshot.state, self.now)
        if verdict.kind == "unverified" and snapshot.state_doubt is None:
            return replace(snapshot, state_doubt=f"the bot's state on the ticket cannot be "
                           f"trusted: {verdict.detail}")
        if verdict.kind == "history":
            verify.setdefault(snapshot.key, f"the state was {verdict.detail}")
        return snapshot

    def active(self, now: datetime) -> dict[str, Sighting]:
        """The other actors whose writes stop ours now (``now``: the site clock); sets
        :attr:`halted` when there are any."""
        with self._lock:
            found = recent(self._sightings, since=now - self.window, until=now + CLOCK_SKEW,
                           retired=self._retired)
            if found:
                self.reason = describe(self.me, found)
        if found:
            self.halted.set()
        return found

    def _retired(self, seen: Sighting) -> bool:
        """A kept sighting of an installation an operator has since trusted, made before
        this store began (one seen writing later stays: trust is not for a live one)."""
        return seen.installation in self.trusted and seen.at <= self.me.born

    def save(self, store: Store, now: datetime) -> None:
        """Keep what is still recent for the next cycles (older sightings are dropped), and
        give the new-store warning once."""
        with self._lock:
            kept = recent(self._sightings, since=now - self.window, until=now + CLOCK_SKEW)
            earlier = len(self.earlier)
        store.set_meta(SIGHTINGS_KEY, json.dumps({
            w: {"issue": s.issue, "at": s.at.isoformat(), "what": s.what,
                "installation": s.installation}
            for w, s in sorted(kept.items())
        }))
        if earlier and not store.get_meta(NEW_STORE_WARNED_KEY):
            log.warning("installation.store_new", installation=self.me.name,
                        store=self.me.store, born=self.me.born.isoformat(), tickets=earlier,
                        detail=NEW_STORE_WORDS)
            store.set_meta(NEW_STORE_WARNED_KEY, now.isoformat())


#: the one warning a new store gives (what it costs)
NEW_STORE_WORDS = (
    "this store is new (or restored from a copy): tickets were written by this "
    "installation's earlier store. Each such ticket's state is read from Jira before it is "
    "written again (one request per write) and the cycle goes on; the audit trail "
    "(history, report, revert's records) before this store began is in the earlier store "
    "only. Keep the store on a volume to avoid both.")


def _journaled(store: Store, issue: str, state: BotState) -> bool:
    """Whether this store's journal holds ``state`` (its policies) for ``issue``: a property
    written before signatures that this store wrote."""
    return any(s.policies == state.policies for s in store.journaled_states(issue))


def _t(at: datetime) -> str:
    return f"{at:%Y-%m-%d %H:%M:%S}"


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        log.warning("installation.meta_unreadable", key=BORN_KEY)
        return None
    return parsed if parsed.tzinfo is not None else None


def _parse_grants(value: str | None) -> tuple[Grant, ...]:
    """The grants kept; an unreadable value is dropped (their writes become history)."""
    if not value:
        return ()
    try:
        return tuple(Grant(str(g["holder"]), int(g["fencing"]),
                           datetime.fromisoformat(g["at"])) for g in json.loads(value))
    except (ValueError, TypeError, KeyError, AttributeError):
        log.warning("installation.meta_unreadable", key=GRANTS_KEY)
        return ()


def _parse_sightings(value: str | None) -> dict[str, Sighting]:
    """The kept sightings; an unreadable value is dropped (the site tells again)."""
    if not value:
        return {}
    try:
        raw = json.loads(value)
        return {str(w): Sighting(str(w), str(s["issue"]), datetime.fromisoformat(s["at"]),
                                 str(s.get("what", "another installation")),
                                 str(s.get("installation", "")))
                for w, s in raw.items()}
    except (ValueError, TypeError, KeyError, AttributeError):
        log.warning("installation.meta_unreadable", key=SIGHTINGS_KEY)
        return {}

