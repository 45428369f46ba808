"""The audit trail as rows you can ask questions of (``history``): filters, formats, a story.

One row is one decision a cycle recorded (a policy on a ticket), joined with what the
executor did with that ticket in the same cycle. Every matching row is there, dry-run
matches included and marked, so ``--issue KEY`` tells a ticket's whole story: every
decision, comment and reassignment, with run ids and site times.

The store records site time (the Atlassian site's clock), so relative windows (``7d``) are
measured back from the newest cycle the store holds, or from the wall clock when it is empty.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TextIO

import sqlalchemy as sa

from worker.model.vocabulary import step_number
from worker.state.store import Store
from worker.state.tables import cycles, decisions, outcomes

_RELATIVE = re.compile(r"^\s*(\d+)\s*([hdw])\s*$")
_UNIT = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}


@dataclass(frozen=True, slots=True)
class PersonRef:
    """A person as the store recorded them (``id``: accountId or username)."""

    id: str
    name: str
    #: False when the record says the account is deactivated (the person left)
    active: bool = True

    def matches(self, needle: str) -> bool:
        """Same id, or ``needle`` is part of the display name (both case-insensitive)."""
        folded = needle.casefold()
        return self.id.casefold() == folded or folded in self.name.casefold()


@dataclass(frozen=True, slots=True)
class HistoryRow:
    """One recorded decision and what was done about it in the same cycle."""

    id: int
    run_id: str
    at: datetime  # site clock
    issue: str
    policy: str
    mode: str  # enforce | dry-run
    verdict: str
    step: int | None
    reason: str | None
    actions: tuple[str, ...]  # planned action kinds
    #: the executor's status for this ticket in this cycle (None: nothing was written);
    #: ``dry-run`` for a dry-run policy's match or a ``run --dry-run`` cycle
    outcome: str | None = None
    outcome_detail: str = ""
    http_status: int | None = None
    assignee: PersonRef | None = None
    reassigned_to: PersonRef | None = None
    customer: str | None = None
    account_executive: PersonRef | None = None
    deal_page_url: str | None = None
    changes: Mapping[str, Any] | None = None
    #: the ticket's summary when decided (hostile text: escape it wherever it is shown)
    summary: str | None = None
    #: what decided it, in words (the conditions that tell, not "assigned to a PM")
    evidence: tuple[str, ...] = ()
    #: the comments the evidence quotes (``comments_by``): author, comment_id, created,
    #: matched, excerpt
    quotes: tuple[Mapping[str, str], ...] = ()
    # ``step`` is the index the store keeps (from 0); outputs show step_number(step)

    @property
    def why(self) -> str:
        """The reason, or for a match the evidence that tells ("deal Acme is Draft...")."""
        return self.reason or "; ".join(self.evidence[-2:]) or "-"

    @property
    def dry_run(self) -> bool:
        """True when nothing was written because of a dry run ("would have")."""
        return self.mode == "dry-run" or self.outcome == "dry-run"

    @property
    def wrote(self) -> bool:
        """True when the executor's write for this row landed."""
        return self.outcome in ("applied", "fallback")


@dataclass(frozen=True, slots=True)
class HistoryFilter:
    """What ``history`` asks for; every field left empty matches everything."""

    issue: str | None = None
    policy: str | None = None
    person: str | None = None
    customer: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    verdicts: frozenset[str] = field(default_factory=frozenset)
    outcomes: frozenset[str] = field(default_factory=frozenset)

    def matches(self, row: HistoryRow) -> bool:
        """True when ``row`` passes every filter (pure; SQL narrows first, this decides)."""
        if self.issue is not None and row.issue.upper() != self.issue.upper():
            return False
        if self.policy is not None and row.policy != self.policy:
            return False
        if self.since is not None and row.at < self.since:
            return False
        if self.until is not None and row.at >= self.until:
            return False
        if self.verdicts and row.verdict not in self.verdicts:
            return False
        if self.outcomes and (row.outcome or "none") not in self.outcomes:
            return False
        if self.customer is not None and (
            row.customer is None or self.customer.casefold() not in row.customer.casefold()
        ):
            return False
        return self.person is None or _person_matches(row, self.person)

    def as_json(self) -> dict[str, Any]:
        """The filters as given (for the JSON output's ``filters``)."""
        return {
            "issue": self.issue,
            "policy": self.policy,
            "person": self.person,
            "customer": self.customer,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "verdicts": sorted(self.verdicts),
            "outcomes": sorted(self.outcomes),
        }


def _person_matches(row: HistoryRow, needle: str) -> bool:
    people = [p for p in (row.assignee, row.reassigned_to) if p is not None]
    if any(p.matches(needle) for p in people):
        return True
    changes = row.changes or {}
    ids = [changes.get("previous_assignee"), changes.get("new_assignee")]
    return any(isinstance(i, str) and i.casefold() == needle.casefold() for i in ids)


# --------------------------------------------------------------------------- time windows


def parse_when(text: str, *, now: datetime, end: bool = False) -> datetime:
    """``7d``, ``12w``, ``24h`` (back from ``now``), a date ``2026-11-02`` (its midnight UTC;
    with ``end``, the midnight after it so the day is included) or an ISO timestamp.

    Raises ``ValueError`` with the accepted forms.
    """
    match = _RELATIVE.match(text)
    if match is not None:
        return now - int(match.group(1)) * _UNIT[match.group(2)]
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        pass
    else:
        start = datetime.combine(day, time(0), tzinfo=UTC)
        return start + timedelta(days=1) if end else start
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"expected a date (2026-11-02), a timestamp (2026-11-02T09:00Z) or a span back "
            f"from now (24h, 7d, 12w), got {text!r}"
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def store_now(store: Store) -> datetime:
    """The newest site time the store recorded (the wall clock when it holds no cycle)."""
    with store.engine.connect() as conn:
        newest = conn.execute(sa.select(sa.func.max(cycles.c.site_now))).scalar()
    if isinstance(newest, str):  # aggregate results skip the column type's conversion
        return datetime.fromisoformat(newest)
    return newest if isinstance(newest, datetime) else datetime.now(UTC)


# --------------------------------------------------------------------------- loading


def load_rows(store: Store, filt: HistoryFilter | None = None) -> list[HistoryRow]:
    """The recorded decisions passing ``filt``, oldest first, each with its cycle's outcome."""
    filt = filt or HistoryFilter()
    query = sa.select(decisions)
    if filt.issue is not None:
        query = query.where(sa.func.upper(decisions.c.issue) == filt.issue.upper())
    if filt.policy is not None:
        query = query.where(decisions.c.policy == filt.policy)
    if filt.since is not None:
        query = query.where(decisions.c.at >= filt.since)
    if filt.until is not None:
        query = query.where(decisions.c.at < filt.until)
    if filt.verdicts:
        query = query.where(decisions.c.verdict.in_(sorted(filt.verdicts)))
    query = query.order_by(decisions.c.at, decisions.c.id)
    has_subject = "subject" in decisions.c
    has_changes = "changes" in outcomes.c
    with store.engine.connect() as conn:
        found = conn.execute(query).all()
        runs = sorted({r.run_id for r in found})
        written: dict[tuple[str, str], sa.Row[Any]] = {}
        dry_cycles: set[str] = set()
        for chunk in _chunks(runs, 500):
            for o in conn.execute(sa.select(outcomes).where(outcomes.c.run_id.in_(chunk))):
                written[(o.run_id, o.issue)] = o
            dry_cycles.update(
                conn.execute(
                    sa.select(cycles.c.run_id).where(cycles.c.run_id.in_(chunk),
                                                     cycles.c.dry_run.is_(True))
                ).scalars()
            )
    rows: list[HistoryRow] = []
    for d in found:
        subject = (d.subject if has_subject else None) or {}
        actions = [a for a in (d.actions or []) if isinstance(a, dict)]
        out = written.get((d.run_id, d.issue)) if _carried(d, actions) else None
        outcome: str | None = out.status if out is not None else None
        if outcome is None and d.verdict == "act" and (d.mode == "dry-run"
                                                       or d.run_id in dry_cycles):
            outcome = "dry-run"
        row = HistoryRow(
            id=d.id,
            run_id=d.run_id,
            at=d.at,
            issue=d.issue,
            policy=d.policy,
            mode=d.mode,
            verdict=d.verdict,
            step=d.step,
            reason=d.reason,
            actions=tuple(str(a.get("kind")) for a in actions),
            outcome=outcome,
            outcome_detail=out.detail if out is not None else "",
            http_status=out.http_status if out is not None else None,
            assignee=_person(subject.get("assignee")),
            reassigned_to=_reassigned(actions),
            customer=subject.get("customer") if isinstance(subject.get("customer"), str) else None,
            account_executive=_person(subject.get("account_executive")),
            deal_page_url=_str(subject.get("deal_page_url")),
            changes=(out.changes if has_changes and out is not None else None),
            summary=_str(subject.get("summary")),
            evidence=_telling(d.evidence),
            quotes=_quotes(d.evidence),
        )
        if filt.matches(row):
            rows.append(row)
    return rows


def _carried(d: sa.Row[Any], actions: Sequence[Mapping[str, Any]]) -> bool:
    """Did this decision ride on its ticket's write? (planned enforce actions, or the override
    record an exempt-by-override decision writes)."""
    if d.mode != "enforce":
        return False
    if d.verdict == "act" and actions:
        return True
    return d.verdict == "exempt" and (d.reason or "").startswith("human override")


#: conditions true of every match: a reader learns nothing from them
_ROUTINE = frozenset({"assignee_in", "not", "status_category_in"})


def _telling(evidence: object) -> tuple[str, ...]:
    if not isinstance(evidence, list):
        return ()
    return tuple(str(e.get("detail", "")) for e in evidence
                 if isinstance(e, dict) and e.get("result") and e.get("condition") not in _ROUTINE)


def _quotes(evidence: object) -> tuple[Mapping[str, str], ...]:
    if not isinstance(evidence, list):
        return ()
    return tuple(
        {k: str(v) for k, v in e["quote"].items()} for e in evidence
        if isinstance(e, dict) and e.get("result") and isinstance(e.get("quote"), dict)
    )


def _chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _person(value: object) -> PersonRef | None:
    if not isinstance(value, Mapping) or not isinstance(value.get("id"), str):
        return None
    return PersonRef(id=value["id"], name=str(value.get("name") or value["id"]),
                     active=value.get("active") is not False)


def _reassigned(actions: Sequence[Mapping[str, Any]]) -> PersonRef | None:
    for action in actions:
        if action.get("kind") == "reassign":
            return _person(action.get("to"))
    return None


# --------------------------------------------------------------------------- output


def row_json(row: HistoryRow) -> dict[str, Any]:
    """One row in the documented JSON shape (see docs/history.md, ``history --format json``)."""

    def person(p: PersonRef | None) -> dict[str, str] | None:
        return None if p is None else {"id": p.id, "name": p.name}

    return {
        "run_id": row.run_id,
        "at": row.at.isoformat(),
        "issue": row.issue,
        "policy": row.policy,
        "mode": row.mode,
        "dry_run": row.dry_run,
        "verdict": row.verdict,
        "step": step_number(row.step),
        "actions": list(row.actions),
        "outcome": row.outcome,
        "outcome_detail": row.outcome_detail,
        "http_status": row.http_status,
        "assignee": person(row.assignee),
        "reassigned_to": person(row.reassigned_to),
        "customer": row.customer,
        "account_executive": person(row.account_executive),
        "reason": row.reason,
        "evidence": list(row.evidence),
        "changes": dict(row.changes) if row.changes is not None else None,
    }


def rows_json(rows: Sequence[HistoryRow], filt: HistoryFilter, *, store: str) -> dict[str, Any]:
    """The one JSON object ``history --format json`` prints."""
    return {
        "store": store,
        "filters": filt.as_json(),
        "count": len(rows),
        "rows": [row_json(r) for r in rows],
    }


#: the CSV header, in column order
CSV_COLUMNS: tuple[str, ...] = (
    "run_id", "at", "issue", "policy", "mode", "dry_run", "verdict", "step", "actions",
    "outcome", "outcome_detail", "http_status", "assignee_id", "assignee_name",
    "reassigned_to_id", "reassigned_to_name", "customer", "account_executive_id",
    "account_executive_name", "reason", "evidence",
)


def write_csv(rows: Iterable[HistoryRow], stream: TextIO) -> None:
    """``history --format csv``: a header row, then one row per decision."""
    writer = csv.writer(stream)
    writer.writerow(CSV_COLUMNS)
    for r in rows:
        writer.writerow([
            r.run_id, r.at.isoformat(), r.issue, r.policy, r.mode, str(r.dry_run).lower(),
            r.verdict, "" if r.step is None else step_number(r.step), " ".join(r.actions),
            r.outcome or "", r.outcome_detail, r.http_status or "",
            r.assignee.id if r.assignee else "", r.assignee.name if r.assignee else "",
            r.reassigned_to.id if r.reassigned_to else "",
            r.reassigned_to.name if r.reassigned_to else "",
            r.customer or "",
            r.account_executive.id if r.account_executive else "",
            r.account_executive.name if r.account_executive else "",
            r.reason or "",
            "; ".join(r.evidence),
        ])


@dataclass(frozen=True, slots=True)
class Run:
    """Consecutive rows of one ticket and policy that say the same thing (tables show one)."""

    first: HistoryRow
    last: HistoryRow
    count: int


def collapse(rows: Sequence[HistoryRow]) -> list[Run]:
    """Fold repeats: a ticket waiting for its next step is recorded every cycle, but a reader
    wants one line "waiting, 96 cycles, from ... to ..."; anything written is never folded."""
    runs: list[Run] = []
    open_runs: dict[tuple[str, str], int] = {}
    for row in rows:
        key = (row.issue, row.policy)
        at = open_runs.get(key)
        if at is not None:
            run = runs[at]
            same = (run.last.verdict, run.last.reason, run.last.outcome) == (
                row.verdict, row.reason, row.outcome)
            if same and row.outcome is None:
                runs[at] = Run(run.first, row, run.count + 1)
                continue
        open_runs[key] = len(runs)
        runs.append(Run(row, row, 1))
    return runs


def did_words(row: HistoryRow) -> str:
    """What the row did, in words: "commented, reassigned -> Sam" or "would comment"."""
    if not row.actions:
        return "-"
    words = []
    for kind in row.actions:
        if kind == "reassign" and row.reassigned_to is not None:
            words.append(f"reassign -> {row.reassigned_to.name}")
        else:
            words.append(kind)
    text = ", ".join(words)
    return f"would {text}" if row.dry_run else text
