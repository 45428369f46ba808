"""Snapshot, directory and deal factories shaped like the example site (keeps tests short)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from worker.model.deals import Deal
from worker.model.issue import Comment, IssueSnapshot
from worker.model.people import Directory, Person
from worker.model.state import BotState
from worker.policy import Policies, load_policies

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "config" / "policies.yaml"
NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # a Monday, the example site's clock

PRIYA = Person("712020:priya", "Priya Raman")
MARCO = Person("712020:marco", "Marco Bianchi")
SAM = Person("712020:sam", "Sam Ortiz")
DANA = Person("712020:dana", "Dana Kim")
LEE = Person("712020:lee", "Lee Okafor")
OLGA = Person("712020:olga", "Olga Petrova", active=False)
PEOPLE = {p.id: p for p in (PRIYA, MARCO, SAM, DANA, LEE, OLGA)}

DIRECTORY = Directory(
    groups={
        "project-managers": frozenset({PRIYA.id, MARCO.id}),  # olga is inactive: not listed
        "sales": frozenset({SAM.id, DANA.id}),
        "services-leadership": frozenset({LEE.id}),
    },
    people=PEOPLE,
)

ACME = Deal(
    "Acme Corp",
    "ACME",
    "In negotiation",
    None,
    SAM,
    "the page Deal: Acme Corp",
    page_id="100001",
    page_title="Deal: Acme Corp",
)
GLOBEX = Deal(
    "Globex",
    "GLOBEX",
    "Signed",
    date(2026, 10, 15),
    DANA,
    "the page Deal: Globex",
    page_id="100002",
    page_title="Deal: Globex",
)
INITECH = Deal(
    "Initech",
    None,
    "Sent for signature",
    None,
    DANA,
    "the page Deal: Initech",
    page_id="100003",
    page_title="Deal: Initech",
)
DEALS = (ACME, GLOBEX, INITECH)

_policies: Policies | None = None


def default_policies() -> Policies:
    """The shipped config/policies.yaml, loaded once."""
    global _policies
    if _policies is None:
        _policies = load_policies(CONFIG)
    return _policies


def snap(key: str = "ACME-1", **changes: Any) -> IssueSnapshot:
    """A PM's open ticket in ACME (override any field by keyword)."""
    base = IssueSnapshot(
        key=key,
        id=str(10000 + abs(hash(key)) % 10000),
        project=key.split("-")[0],
        issue_type="Task",
        summary="Plan kickoff workshop",
        description="",
        status="In Progress",
        status_category="indeterminate",
        assignee=PRIYA,
        reporter=PRIYA,
        labels=(),
        created=datetime(2026, 10, 27, 10, tzinfo=UTC),
        updated=datetime(2026, 10, 30, 16, 20, tzinfo=UTC),
        fields={},
        comments=(),
        state=BotState(),
        last_human_activity=datetime(2026, 10, 30, 16, 20, tzinfo=UTC),
    )
    return replace(base, **changes)


def site_tickets() -> list[IssueSnapshot]:
    """The example site's tickets as the reader would return them."""
    return [
        snap(
            "ACME-1",
            issue_type="Statement of Work",
            summary="Finalize SOW for Acme phase 2",
            reporter=SAM,
            labels=("sow",),
            fields={"Account": "Acme Corp"},
            comments=(
                Comment(
                    "1",
                    SAM,
                    datetime(2026, 10, 30, 16, 20, tzinfo=UTC),
                    "Priya, can you get this over the line today? I need an update by EOD.",
                ),
            ),
        ),
        snap(
            "ACME-2",
            summary="Follow up with Acme legal on MSA redlines",
            status="To Do",
            status_category="new",
            assignee=MARCO,
            reporter=DANA,
            labels=("redline", "msa"),
            fields={"Account": "Acme Corp"},
        ),
        snap(
            "GLOBEX-7",
            summary="Plan kickoff workshop",
            status="To Do",
            status_category="new",
            assignee=MARCO,
            reporter=MARCO,
            fields={"Account": "Globex"},
        ),
        snap(
            "GLOBEX-8",
            issue_type="Pricing adjustment",
            summary="Adjust day rate for extra workshop",
            status="To Do",
            status_category="new",
            assignee=DANA,
            reporter=MARCO,
            fields={"Account": "Globex"},
        ),
        snap(
            "SALES-3",
            issue_type="Proposal",
            summary="Initech proposal deck",
            reporter=DANA,
            labels=("proposal",),
            fields={"Account": "Initech", "Contract status": "Draft"},
        ),
    ]


def alias_bomb(levels: int = 9, *, key: str = "lol") -> str:
    """~600 bytes of YAML that stand for 9**levels strings once aliases are expanded."""
    lines = [f'{key}0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels):
        lines.append(f"{key}{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"
