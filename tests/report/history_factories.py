"""A small recorded history, written through the real store: three cycles on two tickets;
and the shipped policies for tests that run real cycles."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.service.service_support import POLICIES, TEMPLATES
from worker.model.document import Document, Paragraph, Text
from worker.model.outcome import Outcome
from worker.model.people import Person
from worker.model.plan import CommentAction, Decision, ReassignAction, Subject
from worker.state.records import CycleRecord
from worker.state.store import Store

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # a Monday
PRIYA = Person("pm-priya", "Priya Patel")
SAM = Person("ae-sam", "Sam Ortiz")
DANA = Person("ae-dana", "Dana Kim")
P1 = "sales-deliverable-before-signature"
P3 = "sales-directing-pm"
ACME = Subject(assignee=PRIYA, customer="Acme Corp", account_executive=SAM,
               deal_page_id="2001", deal_page_url="https://example.test/wiki/x/2001")
INITECH = Subject(assignee=PRIYA, customer="Initech", account_executive=DANA)
COMMENT = CommentAction(Document((Paragraph((Text("hello"),)),)), template="sales-deliverable")


def _cycle(store: Store, run_id: str, at: datetime, *, dry_run: bool = False) -> None:
    store.start_cycle(CycleRecord(run_id=run_id, started_at=at, dry_run=dry_run,
                                  status="running"))
    store.finish_cycle(CycleRecord(run_id=run_id, started_at=at, dry_run=dry_run, status="ok",
                                   finished_at=at, site_now=at))


def recorded(target: Path | str) -> Store:
    """r1 comments on ACME-1 (and a dry-run match on INI-2); r2 waits; r3 reassigns ACME-1.

    ``target``: a folder (a SQLite file goes in it) or a database URL.
    """
    store = Store.open(target / "history.db" if isinstance(target, Path) else target)
    at1, at2, at3 = T0, T0 + timedelta(days=1), T0 + timedelta(days=3)
    _cycle(store, "r1", at1)
    store.record_decisions("r1", at1, [
        Decision("ACME-1", P1, "enforce", "act", (COMMENT,), reason=None, step=0, subject=ACME),
        Decision("INI-2", P3, "dry-run", "act", (COMMENT,), step=0, subject=INITECH),
        Decision("INI-3", P1, "enforce", "exempt", reason="exempt: label handoff-exception",
                 subject=INITECH),
    ])
    store.record_outcomes("r1", at1, [Outcome("ACME-1", "applied", ("comment",))])
    _cycle(store, "r2", at2)
    store.record_decisions("r2", at2, [
        Decision("ACME-1", P1, "enforce", "waiting", reason="step 2 is due 2026-11-04",
                 subject=ACME),
    ])
    _cycle(store, "r3", at3)
    reassign = ReassignAction(to=SAM, target="sales_owner")
    store.record_decisions("r3", at3, [
        Decision("ACME-1", P1, "enforce", "act", (reassign,), step=1, subject=ACME),
    ])
    store.record_outcomes("r3", at3, [
        Outcome("ACME-1", "failed", ("reassign",), detail="PUT -> 400", http_status=400)
    ])
    return store


def shipped_policies(tmp: Path) -> Path:
    """The shipped policy file and templates in ``tmp/config``, breaker and budget raised so
    that a generated site's matches are all acted on; returns the policy file."""
    config = tmp / "config"
    config.mkdir()
    text = POLICIES.read_text(encoding="utf-8")
    text = text.replace("max_matches: 25", "max_matches: 500").replace(
        "max_actions_per_cycle: 50", "max_actions_per_cycle: 500")
    (config / "policies.yaml").write_text(text, encoding="utf-8")
    shutil.copytree(TEMPLATES, config / "templates")
    return config / "policies.yaml"
