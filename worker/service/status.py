"""The live status page on the probe port: what the bot is doing right now, for a person.

``GET /`` (alias ``/status``) on the health server answers one server-rendered HTML page
(no JavaScript, no external assets, inline CSS) with:

- the readiness verdict, leadership, the last cycle and the next one;
- the tickets currently matched, per policy (the newest decision for each ticket and policy
  since the last full read: a ticket that left the scope since shows until the next sweep);
- the promises falling due in the next 7 days (ticket, step, date);
- today's actions (in the policy file's time zone) with links to Jira;
- failures and skips with their reasons, and the contract statuses it could not read.

Everything shown comes from the state store and the health record, goes through
:func:`worker.logs.scrub` like the probes' bodies, and is HTML-escaped: ticket summaries and
reasons are written by other people and are hostile input. With ``HANDOFF_GUARD_STATUS_TOKEN``
set, the page asks for ``Authorization: Bearer <token>`` (the probes stay open: a kubelet
sends no token).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html import escape
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from werkzeug.wrappers import Request, Response

from worker.model.vocabulary import MATCHED_VERDICTS, step_number
from worker.state.records import CycleRecord
from worker.state.store import Store
from worker.state.tables import REVERT_RUN_PREFIX, cycles, decisions, outcomes
from worker.telemetry.health import HealthStatus
from worker.telemetry.logs import scrub

#: the paths the page answers on
STATUS_PATHS = frozenset({"/", "/status"})
#: how far ahead the "falling due" list looks
DUE_HORIZON = timedelta(days=7)
#: skip reasons that mean a value could not be read (three answers: not a known yes or no)
_UNREADABLE = ("contract unreadable", "contract conflicting", "unreadable", "malformed")


@dataclass(frozen=True, slots=True)
class Watched:
    """A ticket a policy matches now (its newest decision)."""

    issue: str
    policy: str
    mode: str
    verdict: str
    #: the ladder step taken, from 1 (``act``; None otherwise)
    step: int | None
    summary: str | None
    customer: str | None
    assignee: str | None
    reason: str | None
    at: datetime
    recheck_at: datetime | None
    #: a waiting ticket's next step, from 1, and when it falls due (None for other verdicts,
    #: and for decisions recorded before they were kept as data)
    due_step: int | None = None
    due_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class DueStep:
    """A promise falling due: the step a policy takes on a ticket, and when."""

    issue: str
    policy: str
    step: int | None
    due_at: datetime


@dataclass(frozen=True, slots=True)
class Done:
    """One outcome: what the executor did (or failed to do) to a ticket."""

    issue: str
    run_id: str
    at: datetime
    status: str
    actions: tuple[str, ...]
    detail: str


@dataclass(frozen=True, slots=True)
class SiteClock:
    """The clock the cycles plan by: the site's (Jira's ``Date``), which may run ahead of or
    behind this server's. Taken from the newest cycle (revert runs left out: an admin's
    laptop starts them): the site's time it read (``site_at``) and this server's when it
    started (``wall_at``), moved on by this server's clock since."""

    site_at: datetime | None = None
    wall_at: datetime | None = None

    def now(self, wall: datetime) -> datetime:
        """The site's time when this server's clock reads ``wall`` (``wall`` itself before
        any cycle; never earlier than the newest cycle's)."""
        if self.site_at is None or self.wall_at is None:
            return wall
        return self.site_at + max(timedelta(0), wall - self.wall_at)

    def at(self, moment: datetime, *, wall: datetime) -> datetime:
        """``moment`` on this server's clock (the scheduler's next run) on the site's clock."""
        return self.now(wall) + (moment - wall)


@dataclass(frozen=True, slots=True)
class StatusData:
    """Everything the page shows that the store knows (pure data; rendering is separate)."""

    #: the site's time the page is as of (``clock.now`` of the wall clock it was asked at)
    now: datetime
    last_cycle: CycleRecord | None
    watched: tuple[Watched, ...]
    due: tuple[DueStep, ...]
    today: tuple[Done, ...]
    skips: tuple[Watched, ...]
    unreadable: tuple[Watched, ...]
    clock: SiteClock = SiteClock()


def is_unreadable(reason: str | None) -> bool:
    """True for a skip whose reason says a value could not be read (vs a skip by choice)."""
    return reason is not None and reason.casefold().startswith(_UNREADABLE)


def load_status(store: Store, *, wall: datetime, tz: ZoneInfo) -> StatusData:
    """What the store says the bot is doing when this server's clock reads ``wall``, as of
    the site's time then (:class:`SiteClock`); "today" is that day in ``tz`` (the policy
    file's time zone)."""
    not_revert = sa.not_(cycles.c.run_id.startswith(REVERT_RUN_PREFIX))
    with store.engine.connect() as conn:
        last = conn.execute(
            sa.select(cycles).where(not_revert).order_by(cycles.c.started_at.desc()).limit(1)
        ).first()
        timed = conn.execute(
            sa.select(cycles.c.site_now, cycles.c.started_at)
            .where(not_revert, cycles.c.site_now.is_not(None))
            .order_by(cycles.c.started_at.desc()).limit(1)
        ).first()
        clock = SiteClock() if timed is None else SiteClock(timed.site_now, timed.started_at)
        now = clock.now(wall)
        full = conn.execute(
            sa.select(cycles.c.site_now)
            .where(not_revert, cycles.c.status == "ok", cycles.c.site_now.is_not(None),
                   sa.or_(cycles.c.read_full.is_(None), cycles.c.read_full.is_(True)))
            .order_by(cycles.c.started_at.desc()).limit(1)
        ).scalar()
        since = full if isinstance(full, datetime) else None
        query = sa.select(decisions).where(
            sa.not_(decisions.c.run_id.startswith(REVERT_RUN_PREFIX))
        ).order_by(decisions.c.id)
        if since is not None:
            query = query.where(decisions.c.at >= since)
        found = conn.execute(query).all()
        midnight = datetime.combine(now.astimezone(tz).date(), datetime.min.time(), tzinfo=tz)
        dry = sa.select(cycles.c.run_id).where(cycles.c.dry_run.is_(True))
        done = conn.execute(
            sa.select(outcomes)
            .where(outcomes.c.at >= midnight.astimezone(UTC), outcomes.c.run_id.not_in(dry))
            .order_by(outcomes.c.id)
        ).all()
    newest: dict[tuple[str, str], Watched] = {}
    for d in found:
        newest[(d.issue, d.policy)] = _watched(d)
    current = sorted(newest.values(), key=lambda w: (w.policy, w.issue))
    watched = tuple(w for w in current if w.verdict in MATCHED_VERDICTS)
    skips = tuple(w for w in current if w.verdict == "skip")
    horizon = now + DUE_HORIZON
    due = sorted(
        (DueStep(w.issue, w.policy, w.due_step, when)
         for w in watched
         if w.verdict == "waiting" and (when := _due(w)) is not None and when <= horizon),
        key=lambda s: (s.due_at, s.issue),
    )
    return StatusData(
        now=now,
        last_cycle=None if last is None else _cycle(last),
        watched=watched,
        due=tuple(due),
        today=tuple(Done(o.issue, o.run_id, o.at, o.status, tuple(str(a) for a in o.actions),
                         o.detail) for o in done),
        skips=tuple(w for w in skips if not is_unreadable(w.reason)),
        unreadable=tuple(w for w in skips if is_unreadable(w.reason)),
        clock=clock,
    )


def _cycle(row: sa.Row[Any]) -> CycleRecord:
    return CycleRecord(run_id=row.run_id, started_at=row.started_at, dry_run=row.dry_run,
                       status=row.status, finished_at=row.finished_at, site_now=row.site_now,
                       error=row.error, issues_read=row.issues_read or 0,
                       actions_applied=row.actions_applied or 0,
                       actions_failed=row.actions_failed or 0, duration_s=row.duration_s)


def _name(value: object) -> str | None:
    if isinstance(value, Mapping):
        name = value.get("name") or value.get("id")
        return str(name) if name else None
    return None


def _watched(d: sa.Row[Any]) -> Watched:
    subject = d.subject if isinstance(d.subject, Mapping) else {}
    summary = subject.get("summary")
    customer = subject.get("customer")
    return Watched(
        issue=d.issue, policy=d.policy, mode=d.mode, verdict=d.verdict,
        step=step_number(d.step),
        summary=summary if isinstance(summary, str) else None,
        customer=customer if isinstance(customer, str) else None,
        assignee=_name(subject.get("assignee")), reason=d.reason, at=d.at,
        recheck_at=d.recheck_at,
        due_step=step_number(d.due_step), due_at=d.due_at,
    )


#: what each matched verdict means to a reader (``act`` names its step)
_STATE_WORDS = {
    "act": "step {step} taken",
    "handled": "every step done",
    "deferred": "a step was due; the per-cycle budget moved it to the next cycle",
    "breaker": "held back: the policy's breaker tripped",
}


def state_words(w: Watched) -> str:
    """The ticket's state in words: the waiting reason ("step 2 ... is due ..."), or what
    the verdict means."""
    if w.verdict == "act" and w.mode == "dry-run":
        return "matched (dry run: nothing is written)"
    if w.verdict in _STATE_WORDS:
        return _STATE_WORDS[w.verdict].format(step=w.step or "?")
    return w.reason or w.verdict


def _due(w: Watched) -> datetime | None:
    """When the waiting ticket's next step falls due: as the decision recorded it; for one
    recorded before that was kept (until the next full read replaces it), the ticket's next
    recheck, which is never later."""
    return w.due_at if w.due_at is not None else w.recheck_at


# --------------------------------------------------------------------------- the page


@dataclass(frozen=True, slots=True)
class PageContext:
    """What the page shows besides the store: the verdict, the schedule, where Jira is."""

    health: HealthStatus
    next_cycle_at: datetime | None
    jira_url: str | None
    tz: ZoneInfo
    #: policy id -> its plain description (shown instead of the id where one exists)
    policy_names: Mapping[str, str]


_CSS = """
body{font-family:-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;color:#172b4d;
margin:24px;max-width:1100px;font-size:14px;line-height:1.45}
h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:24px 0 8px;
border-bottom:1px solid #dfe1e6;padding-bottom:4px}
table{border-collapse:collapse;width:100%;margin:4px 0 12px}
th,td{border:1px solid #dfe1e6;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f4f5f7;font-weight:600}
.badge{display:inline-block;padding:2px 8px;border-radius:3px;font-weight:600;color:#fff}
.ok{background:#36b37e}.bad{background:#de350b}.muted{color:#6b778c}
a{color:#0052cc}dl{display:grid;grid-template-columns:max-content auto;gap:2px 16px;margin:8px 0}
dt{color:#6b778c}dd{margin:0}
"""


def _t(value: object) -> str:
    """Scrubbed, then escaped: every piece of text on the page goes through here."""
    return escape(scrub("" if value is None else str(value)), quote=True)


def _when(moment: datetime | None, tz: ZoneInfo) -> str:
    if moment is None:
        return "-"
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M")


def _link(key: str, jira_url: str | None) -> str:
    if not jira_url:
        return _t(key)
    href = f"{jira_url.rstrip('/')}/browse/{key}"
    return f'<a href="{_t(href)}">{_t(key)}</a>'


def _table(head: Sequence[str], rows: Sequence[Sequence[str]], *, empty: str) -> str:
    if not rows:
        return f'<p class="muted">{_t(empty)}</p>'
    th = "".join(f"<th>{_t(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>"
                   for row in rows)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def render_status(data: StatusData, ctx: PageContext) -> str:
    """The page as HTML (every value escaped; cells built here are already markup)."""
    tz, jira = ctx.tz, ctx.jira_url
    verdict = ctx.health
    detail = verdict.detail

    def policy(pid: str) -> str:
        return _t(ctx.policy_names.get(pid) or pid)

    badge = ('<span class="badge ok">ready</span>' if verdict.ok
             else f'<span class="badge bad">not ready: {_t(verdict.reason)}</span>')
    last = data.last_cycle
    if "leader" in detail:
        role = "leader" if detail.get("leader") else f"standby (leader: {detail.get('holder')})"
    else:
        role = "acts alone (no lease)"
    facts = [
        ("Health", badge),
        ("Role", _t(role)),
        ("Last cycle", "none yet" if last is None else
         f"{_t(_when(last.site_now or last.started_at, tz))} &middot; {_t(last.status)}"
         f"{' (dry run)' if last.dry_run else ''} &middot; {_t(last.issues_read)} ticket(s) "
         f"read &middot; {_t(last.actions_applied)} action(s) applied, "
         f"{_t(last.actions_failed)} failed &middot; <span class=\"muted\">"
         f"{_t(last.run_id)}</span>"),
        ("Next cycle", _t(_when(ctx.next_cycle_at, tz))),
        ("Times in", _t(str(tz))),
    ]
    if last is not None and last.error:
        facts.append(("Last error", _t(last.error)))
    if verdict.reason and detail.get("error"):
        facts.append(("Problem", _t(detail.get("error"))))
    for problem in detail.get("problems") or ():
        facts.append(("Policy file", _t(problem)))
    parts = [
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">",
        "<meta http-equiv=\"refresh\" content=\"60\">",
        "<title>Handoff Guard status</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>Handoff Guard</h1>",
        f'<p class="muted">As of {_t(_when(data.now, tz))} ({_t(str(tz))}); '
        "this page refreshes every minute.</p>",
        "<dl>" + "".join(f"<dt>{_t(k)}</dt><dd>{v}</dd>" for k, v in facts) + "</dl>",
    ]
    by_policy: dict[str, list[Watched]] = {}
    for w in data.watched:
        by_policy.setdefault(w.policy, []).append(w)
    parts.append(f"<h2>Watching now ({len(data.watched)} ticket(s))</h2>")
    if not by_policy:
        parts.append('<p class="muted">No ticket matches a policy.</p>')
    for pid, items in by_policy.items():
        mode = " (dry run: nothing is written)" if items[0].mode == "dry-run" else ""
        parts.append(f"<h3>{policy(pid)}{_t(mode)}</h3>")
        parts.append(_table(
            ("Ticket", "Summary", "Customer", "Assignee", "State"),
            [(_link(w.issue, jira), _t(w.summary or ""), _t(w.customer or ""),
              _t(w.assignee or ""), _t(state_words(w))) for w in items],
            empty="none"))
    parts.append("<h2>Falling due in the next 7 days</h2>")
    parts.append(_table(
        ("Date", "Ticket", "Policy", "Step"),
        [(_t(_when(s.due_at, tz)), _link(s.issue, jira), policy(s.policy),
          _t("?" if s.step is None else s.step)) for s in data.due],
        empty="Nothing falls due in the next 7 days."))
    parts.append("<h2>Today</h2>")
    parts.append(_table(
        ("Time", "Ticket", "Did", "Outcome", "Detail"),
        [(_t(_when(d.at, tz)), _link(d.issue, jira),
          _t(", ".join(d.actions) + (" (revert)" if d.run_id.startswith(REVERT_RUN_PREFIX)
                                     else "")),
          _t(d.status), _t(d.detail)) for d in data.today],
        empty="Nothing written today."))
    failures = [d for d in data.today if d.status not in ("applied", "fallback")]
    parts.append("<h2>Failures and skips</h2>")
    parts.append(_table(
        ("Ticket", "Policy", "What", "Why"),
        [(_link(d.issue, jira), "", _t(d.status), _t(d.detail)) for d in failures]
        + [(_link(w.issue, jira), policy(w.policy), "skipped", _t(w.reason or ""))
           for w in data.skips],
        empty="No failure and no skip."))
    parts.append("<h2>Could not read</h2>")
    parts.append(_table(
        ("Ticket", "Policy", "What could not be read"),
        [(_link(w.issue, jira), policy(w.policy), _t(w.reason or "")) for w in data.unreadable],
        empty="Every status it needed was readable."))
    parts.append("</body></html>")
    return "".join(parts)


def authorized(request: Request, token: str | None) -> bool:
    """True without a token, or with ``Authorization: Bearer <token>`` (compared in constant
    time)."""
    if not token:
        return True
    given = request.headers.get("Authorization", "")
    scheme, _, value = given.partition(" ")
    return scheme.casefold() == "bearer" and hmac.compare_digest(value.strip().encode(),
                                                                 token.encode())


class StatusPage:
    """The page as a request handler for the probe server (:mod:`worker.service.probes`)."""

    def __init__(
        self,
        store: Store,
        health: Callable[[], HealthStatus],
        *,
        context: Callable[[], tuple[datetime | None, ZoneInfo, Mapping[str, str]]],
        jira_url: str | None,
        token: str | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._health = health
        self._context = context
        self._jira_url = jira_url
        self._token = token
        self._clock = clock

    def __call__(self, request: Request) -> Response:
        """200 with the page; 401 without the bearer token when one is configured."""
        if not authorized(request, self._token):
            return Response("a bearer token is required (HANDOFF_GUARD_STATUS_TOKEN)\n",
                            status=401, content_type="text/plain; charset=utf-8",
                            headers={"WWW-Authenticate": 'Bearer realm="handoff-guard"'})
        next_run, tz, names = self._context()
        wall = self._clock()
        data = load_status(self._store, wall=wall, tz=tz)
        # The scheduler counts on this server's clock; the page shows the site's, as cycles do.
        next_at = None if next_run is None else data.clock.at(next_run, wall=wall)
        page = render_status(data, PageContext(health=self._health(), next_cycle_at=next_at,
                                               jira_url=self._jira_url, tz=tz,
                                               policy_names=names))
        return Response(page, status=200, content_type="text/html; charset=utf-8",
                        headers={"Cache-Control": "no-store",
                                 "Content-Security-Policy": "default-src 'none'; "
                                 "style-src 'unsafe-inline'",
                                 "X-Content-Type-Options": "nosniff"})
