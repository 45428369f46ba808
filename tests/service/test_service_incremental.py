"""Incremental cycles, one closure at a time: each way a ticket's writes can change is read.

Every test runs an incremental worker and a full-read worker on two copies of the same site
(:class:`Pair` asserts they plan the same writes), then checks that the incremental one read
only what the closure names and still acted. The pure decision (full or incremental, why) is
table-tested at the end.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo

import pytest
import yaml

from tests.service.incremental_support import (
    IDLE_POLICY,
    LADDER_STEP,
    Pair,
    advance,
    edit_page,
    iso,
    move_issue,
    now_of,
    pin_ids,
)
from worker.atlassian import retry
from worker.cycle.report import CycleReport
from worker.read.incremental import (
    META_WATERMARK,
    DealPrint,
    IncrementalSettings,
    ReadPlan,
    ReadState,
    decide,
    jql_minute,
    restrictions,
)
from worker.sandbox import Sandbox
from worker.sandbox.generate import generate_site

PM_GROUP = "project-managers"
CONTRACT_FIELD = "customfield_10051"


@pytest.fixture(autouse=True)
def _no_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(retry, "sleep", lambda _s: None)


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[Pair]:
    """60 generated tickets (seed 3: one unsigned customer, two signed), both workers'
    first full cycle done, then two more a quarter of an hour apart: the bot's own writes
    are read back until the margin has passed."""
    site = generate_site(60, seed=3)
    site["site"]["search_lag_s"] = 0
    p = Pair(tmp_path, site)
    first, _ = p.cycle()
    assert first.read_full is True
    assert first.read_reason == "first read: no successful cycle recorded"
    for _ in range(2):
        advance(p.site, timedelta(minutes=15))
        p.cycle()
    yield p
    p.close()


def _writes(report: CycleReport) -> dict[str, tuple[str, ...]]:
    assert report.plan is not None
    return {w.issue: tuple(a.kind for a in w.actions) for w in report.plan.writes}


def _deal(site: dict[str, Any], *, signed: bool) -> dict[str, Any]:
    return next(
        p for p in site["confluence"]["pages"]
        if "properties" in p and (p["properties"]["Contract status"] == "Signed") == signed
    )  # fmt: skip


def _open_tickets(site: dict[str, Any], project: str) -> list[dict[str, Any]]:
    return [
        i for i in site["issues"]
        if i["key"].startswith(project + "-") and i["status"] != "Done"
        and i.get("assignee") in _members(site, PM_GROUP)
    ]  # fmt: skip


def _members(site: dict[str, Any], group: str) -> list[str]:
    return next(g["members"] for g in site["groups"] if g["name"] == group)


def _searches(pair: Pair) -> list[dict[str, Any]]:
    return [r for r in pair.requests if r["path"].startswith("/rest/api/")
            and r["path"].endswith(("/search/jql", "/search"))]  # fmt: skip


def _cql(pair: Pair) -> list[dict[str, Any]]:
    return [r for r in pair.requests if r["path"].endswith("/content/search")]


def _cql_kind(request: dict[str, Any]) -> str:
    """ids (no bodies), modified (bodies modified since), by id (bodies), or all (bodies)."""
    query = parse_qs(request["query"])
    cql = query["cql"][0]
    if "expand" not in query:
        return "ids"
    if "lastmodified >=" in cql:
        return "modified"
    return "by id" if " id in (" in cql else "all"


def _draft_contract(site: dict[str, Any], ticket: dict[str, Any]) -> None:
    """A person sets the ticket's own Contract status field to Draft (the field wins over the
    deal page): the customer counts as unsigned for this ticket."""
    ticket.setdefault("fields", {})[CONTRACT_FIELD] = "Draft"
    ticket["updated"] = iso(now_of(site))


def test_an_unchanged_cycle_reads_no_ticket(pair: Pair) -> None:
    """Nothing changed: one search that finds nothing, besides the clock, groups and deals."""
    advance(pair.site, timedelta(minutes=15))
    inc, full = pair.cycle()
    assert inc.read_full is False
    assert inc.issues_read == 0
    assert full.issues_read > 50
    assert len(_searches(pair)) == 1
    # Per cycle: the clock, two groups, the deal page ids, the deal pages modified since,
    # one search. (The harness connects afresh each step, so the per-process /field and
    # /myself show up too.)
    per_cycle = [r["path"] for r in pair.requests
                 if not r["path"].endswith(("/field", "/myself"))]  # fmt: skip
    assert len(per_cycle) == 6, per_cycle
    assert [_cql_kind(r) for r in _cql(pair)] == ["ids", "modified"]


def test_a_human_edit_is_read_through_updated(pair: Pair) -> None:
    """A person marks a signed customer's ticket as still in draft: it is read (updated >=)
    and gets the heads-up; nothing else is read."""
    signed = _deal(pair.site, signed=True)["properties"]["Jira project"]
    ticket = _open_tickets(pair.site, signed)[0]
    _draft_contract(pair.site, ticket)
    advance(pair.site, timedelta(minutes=15))
    inc, _ = pair.cycle()
    assert inc.read_full is False
    assert inc.issues_read == 1
    assert "comment" in _writes(inc)[ticket["key"]]


def test_a_ladder_step_coming_due_is_read_by_key(pair: Pair) -> None:
    """Nobody touches the commented tickets; when the next step falls due they are read by
    key and reassigned."""
    commented = [k for k, t in ReadState.load(pair.incremental.store).rechecks.items()]
    assert commented, "the first cycle commented on deliverables: their next step is pending"
    hours = int(LADDER_STEP.rstrip("h")) + 1
    advance(pair.site, timedelta(hours=hours))
    inc, _ = pair.cycle()
    assert inc.read_full is False
    writes = _writes(inc)
    assert any("reassign" in kinds for kinds in writes.values())
    assert set(writes) <= set(commented)
    assert inc.issues_read <= len(commented)


def test_an_idle_window_ending_is_read_by_key(pair: Pair) -> None:
    """A ticket touched by a person is not idle; six hours later (idle_for: 6h) it is,
    without any change to it, and gets its label."""
    ticket = _touched(pair.site)
    for step in (timedelta(minutes=5), timedelta(hours=1)):
        advance(pair.site, step)
        inc, _ = pair.cycle()
        assert ticket["key"] not in _writes(inc) or "label" not in _writes(inc)[ticket["key"]]
    # The last cycle started past the margin after the PM's comment: from here on, the ticket
    # comes back only through its recheck time, not through `updated`.
    advance(pair.site, timedelta(hours=5, minutes=5))
    inc, _ = pair.cycle()
    assert inc.read_full is False
    assert "label" in _writes(inc)[ticket["key"]]


def _touched(site: dict[str, Any]) -> dict[str, Any]:
    """An unsigned customer's open ticket, just commented on by its PM (not idle)."""
    unsigned = _deal(site, signed=False)["properties"]["Jira project"]
    ticket = _open_tickets(site, unsigned)[0]
    ticket["labels"] = [x for x in ticket.get("labels") or [] if x != "idle-pre-signature"]
    ticket["updated"] = iso(now_of(site))
    ticket.setdefault("comments", []).append(
        {"author": _members(site, PM_GROUP)[0], "created": iso(now_of(site)),
         "body": "Working on it."}
    )  # fmt: skip
    return ticket


def test_a_dry_run_policy_s_idle_window_is_read_by_key(tmp_path: Path) -> None:
    """A dry-run policy's time-based condition is rechecked like an enforcing one's: when the
    ticket turns idle, untouched, the incremental cycle reads it by key and records the
    dry-run match, as the full read does (the report's "would have" counts it then)."""
    site = generate_site(60, seed=3)
    site["site"]["search_lag_s"] = 0
    pair = Pair(tmp_path, site)
    policies = yaml.safe_load(pair.policies.read_text(encoding="utf-8"))
    idle = next(p for p in policies["policies"] if p["id"] == IDLE_POLICY["id"])
    idle["mode"] = "dry-run"
    pair.policies.write_text(yaml.safe_dump(policies, sort_keys=False), encoding="utf-8")
    try:
        pair.cycle()
        ticket = _touched(pair.site)
        # Not a Sales deliverable: the first policy would claim it, and no later one would
        # be evaluated (dry-run or not).
        ticket.update(type="Task", summary="Kickoff workshop notes", labels=[])
        # Past the margin, so that the PM's comment is no longer read through `updated`.
        for step in (timedelta(minutes=5), timedelta(hours=1), timedelta(hours=1)):
            advance(pair.site, step)
            pair.cycle()
        advance(pair.site, timedelta(hours=4, minutes=10))  # idle for 6 h 10 min now
        inc, full = pair.cycle()
        assert inc.read_full is False
        assert inc.read_keys is not None
        assert ticket["key"] in inc.read_keys

        def would_have(report: CycleReport) -> set[str]:
            assert report.plan is not None
            return {d.issue for d in report.plan.decisions if d.policy == IDLE_POLICY["id"]
                    and d.mode == "dry-run" and d.verdict == "act"}

        assert ticket["key"] in would_have(full)
        assert ticket["key"] in would_have(inc)
    finally:
        pair.close()


def test_a_deal_page_changing_reads_that_customers_tickets(pair: Pair) -> None:
    """A signed deal goes back to negotiation: its customer's tickets are read and get the
    heads-up; no other customer's ticket is read."""
    page = _deal(pair.site, signed=True)
    project = page["properties"]["Jira project"]
    page["properties"]["Contract status"] = "In negotiation"
    edit_page(pair.site, page)
    advance(pair.site, timedelta(minutes=15))
    inc, full = pair.cycle()
    assert inc.read_full is False
    tickets = {t["key"] for t in _open_tickets(pair.site, project)}
    assert set(_writes(inc)) == tickets
    assert inc.issues_read < full.issues_read
    assert [_cql_kind(r) for r in _cql(pair)] == ["ids", "modified"]  # one body read


def test_a_deleted_deal_page_is_noticed(pair: Pair) -> None:
    """A signed customer's deal page disappears: its deliverables lose their signed deal and
    are read again (and commented: no deal found is not signed)."""
    page = _deal(pair.site, signed=True)
    project = page["properties"]["Jira project"]
    ticket = _open_tickets(pair.site, project)[0]
    ticket["summary"] = "Draft the SOW for the extension"
    ticket["updated"] = iso(now_of(pair.site))
    advance(pair.site, timedelta(minutes=15))
    inc, _ = pair.cycle()
    assert ticket["key"] not in _writes(inc)  # signed: nothing to do
    pair.site["confluence"]["pages"].remove(
        next(p for p in pair.site["confluence"]["pages"] if p["id"] == page["id"])
    )
    advance(pair.site, timedelta(minutes=15))
    inc, _ = pair.cycle()
    assert inc.read_full is False
    assert "comment" in _writes(inc)[ticket["key"]]


def test_a_new_project_manager_s_tickets_are_read(pair: Pair) -> None:
    """Someone joins the PM group: their tickets enter the scope and are read by assignee."""
    signed = _deal(pair.site, signed=True)["properties"]["Jira project"]
    newcomer = next(u["name"] for u in pair.site["users"] if u["name"].startswith("eng"))
    ticket = _open_tickets(pair.site, signed)[0]
    ticket["assignee"] = newcomer
    _draft_contract(pair.site, ticket)
    advance(pair.site, timedelta(minutes=15))
    inc, _ = pair.cycle()
    assert ticket["key"] not in _writes(inc)  # not a PM's ticket: out of scope
    advance(pair.site, timedelta(hours=2))  # long after the edit: updated >= misses it
    _members(pair.site, PM_GROUP).append(newcomer)
    inc, _ = pair.cycle()
    assert inc.read_full is False
    assert ticket["key"] in _writes(inc)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ("sales", "people set membership changed: sales"),
        ("policy", "the policy file, its templates or the search changed"),
        ("downtime", "the last successful cycle is older than the journal window"),
    ],
)
def test_changes_that_force_a_full_read(pair: Pair, change: str, reason: str) -> None:
    """A Sales change (a condition reads it), a policy edit, or a long downtime: all is read."""
    if change == "sales":
        _members(pair.site, "sales").pop()
    elif change == "policy":
        text = pair.policies.read_text(encoding="utf-8")
        pair.policies.write_text(text + "\n# edited\n", encoding="utf-8")
    else:
        advance(pair.site, timedelta(hours=25))
    inc, full = pair.cycle()
    assert inc.read_full is True
    assert inc.read_reason == reason
    assert inc.issues_read == full.issues_read


def test_the_full_sweep_comes_back_on_time(tmp_path: Path) -> None:
    """With ``full_sweep`` one hour, the first cycle after an hour reads everything."""
    site = generate_site(30, seed=3)
    pair = Pair(tmp_path, site, full_sweep_s=3600)
    try:
        pair.cycle()
        advance(pair.site, timedelta(minutes=30))
        inc, _ = pair.cycle()
        assert inc.read_full is False
        advance(pair.site, timedelta(minutes=31))
        inc, _ = pair.cycle()
        assert inc.read_full is True
        assert inc.read_reason == "the periodic full sweep is due"
    finally:
        pair.close()


def test_the_watermark_moves_only_after_a_successful_cycle(pair: Pair) -> None:
    """A cycle that fails leaves the watermark where it was: the edit made before it is read
    by the next successful cycle even though more time than the margin has passed."""
    before = pair.incremental.store.get_meta(META_WATERMARK)
    signed = _deal(pair.site, signed=True)["properties"]["Jira project"]
    ticket = _open_tickets(pair.site, signed)[0]
    _draft_contract(pair.site, ticket)
    advance(pair.site, timedelta(minutes=30))
    with Sandbox.start(pair.site, port=pair.ports[0]) as sandbox:
        sandbox.add_faults([{"path": "search/jql", "status": 500}])
        failed = pair.incremental.cycle(sandbox, expect_ok=False)
    assert failed.status == "failed"
    assert pair.incremental.store.get_meta(META_WATERMARK) == before
    advance(pair.site, timedelta(minutes=30))
    inc, _ = pair.cycle()
    assert inc.read_full is False
    assert "comment" in _writes(inc)[ticket["key"]]


# --------------------------------------------------------------------------- pure parts

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
CONFIG = "c0ffee"
SETTINGS = IncrementalSettings(margin=timedelta(minutes=10), full_sweep=timedelta(hours=24),
                               journal_window=timedelta(hours=24))  # fmt: skip
PEOPLE = {"project-managers": frozenset({"pm1"}), "sales": frozenset({"s1"})}
DEALS = {"p1": DealPrint("d1", "ACME", "Acme Corp")}
STATE = ReadState(watermark=T0, last_full_sweep=T0, config=CONFIG, people=PEOPLE, deals=DEALS,
                  rechecks={"ACME-1": T0 + timedelta(hours=1), "ACME-2": T0 + timedelta(days=2)})


def _decide(state: ReadState = STATE, *, now: datetime = T0 + timedelta(minutes=15),
            **over: Any) -> ReadPlan:  # fmt: skip
    args: dict[str, Any] = {
        "now": now, "config": CONFIG, "settings": SETTINGS, "time_dependent_scope": False,
        "people": PEOPLE, "pm_groups": ("project-managers",), "deals": DEALS,
    }  # fmt: skip
    args.update(over)
    return decide(state, **args)


@pytest.mark.parametrize(
    ("plan", "full", "reason"),
    [
        (lambda: _decide(ReadState()), True, "first read: no successful cycle recorded"),
        (lambda: _decide(config="other"), True,
         "the policy file, its templates or the search changed"),
        (lambda: _decide(time_dependent_scope=True), True,
         "a policy scope depends on the time itself"),
        (lambda: _decide(now=T0 + timedelta(hours=25)), True,
         "the last successful cycle is older than the journal window"),
        (lambda: _decide(now=T0 - timedelta(minutes=1)), True, "the site clock went back"),
        (lambda: _decide(people={**PEOPLE, "sales": frozenset()}), True,
         "people set membership changed: sales"),
        (lambda: _decide(settings=IncrementalSettings(enabled=False)), True,
         "incremental reads are switched off"),
        (lambda: _decide(), False, "incremental"),
        (lambda: _decide(people={**PEOPLE, "project-managers": frozenset({"pm1", "pm2"})}),
         False, "incremental"),
    ],
)
def test_full_or_incremental(plan: Any, full: bool, reason: str) -> None:
    """Why a cycle reads everything, or only what changed."""
    decided = plan()
    assert (decided.full, decided.reason) == (full, reason)


def test_the_full_sweep_is_due_after_its_period() -> None:
    """24 hours after the last full read (and within the journal window), a full sweep."""
    state = ReadState(watermark=T0 + timedelta(hours=23), last_full_sweep=T0, config=CONFIG,
                      people=PEOPLE, deals=DEALS)  # fmt: skip
    assert _decide(state, now=T0 + timedelta(hours=24)).reason == "the periodic full sweep is due"


def test_an_incremental_read_names_what_changed() -> None:
    """Since the watermark minus the margin; due keys; the changed deal's project and
    account (old and new versions); new PMs."""
    moved = {"p1": DealPrint("d2", "GLOBEX", "Globex"), "p2": DealPrint("d3", None, "Initech")}
    plan = _decide(
        now=T0 + timedelta(hours=1),
        deals=moved,
        people={**PEOPLE, "project-managers": frozenset({"pm1", "pm2"})},
    )
    assert plan.since == T0 - timedelta(minutes=10)
    assert plan.due == ("ACME-1",)
    assert plan.changes.projects == frozenset({"ACME", "GLOBEX"})
    assert plan.changes.accounts == frozenset({"Acme Corp", "Globex", "Initech"})
    assert plan.changes.new_pms == frozenset({"pm2"})
    clauses = restrictions(plan, tz=ZoneInfo("Europe/Berlin"), account_field="Account")
    assert clauses == [
        '(updated >= "2026-11-02 09:50" OR project in ("ACME", "GLOBEX") OR '
        '"Account" ~ "\\"Acme Corp\\"" OR "Account" ~ "\\"Globex\\"" OR '
        '"Account" ~ "\\"Initech\\"" OR assignee in ("pm2"))',
        'key in ("ACME-1")',
    ]


@pytest.mark.parametrize(
    ("at", "tz", "literal"),
    [
        (datetime(2026, 11, 2, 8, 50, 59, tzinfo=UTC), "Europe/Berlin", '"2026-11-02 09:50"'),
        (datetime(2026, 7, 2, 8, 50, tzinfo=UTC), "Europe/Berlin", '"2026-07-02 10:50"'),
        (datetime(2026, 11, 2, 3, 5, tzinfo=UTC), "America/New_York", '"2026-11-01 22:05"'),
        (datetime(2026, 11, 2, 3, 5, tzinfo=UTC), "UTC", '"2026-11-02 03:05"'),
    ],
)
def test_jql_dates_are_minutes_in_the_bots_time_zone(at: datetime, tz: str, literal: str) -> None:
    """JQL reads date literals in the searching user's zone, to the minute: rounded down."""
    assert jql_minute(at, ZoneInfo(tz)) == literal


def test_unreadable_state_means_a_full_read(pair: Pair) -> None:
    """A corrupted value in the store is treated as no state at all (a full read)."""
    pair.incremental.store.set_meta("rechecks", "not json")
    assert ReadState.load(pair.incremental.store) == ReadState()
    inc, _ = pair.cycle()
    assert inc.read_full is True


def test_a_write_that_did_not_land_is_read_again_by_key(pair: Pair) -> None:
    """A planned write Jira refused changed nothing on the ticket (its `updated` did not move):
    the next cycle still reads it, by key, and writes it."""
    signed = _deal(pair.site, signed=True)["properties"]["Jira project"]
    ticket = _open_tickets(pair.site, signed)[0]
    _draft_contract(pair.site, ticket)
    advance(pair.site, timedelta(minutes=15))
    with Sandbox.start(pair.site, port=pair.ports[0]) as sandbox:
        sandbox.add_faults([{"method": "PUT", "path": f"/issue/{ticket['key']}$",
                             "status": 409}])  # fmt: skip
        refused = pair.incremental.cycle(sandbox)
        assert refused.outcomes == {"failed": 1}
        pair.site = sandbox.site()
    assert ReadState.load(pair.incremental.store).rechecks[ticket["key"]] <= now_of(pair.site)
    advance(pair.site, timedelta(hours=1))  # long after the edit: updated >= misses it
    inc, _ = pair.cycle()
    assert inc.read_full is False
    assert "comment" in _writes(inc)[ticket["key"]]


def _due_ticket(pair: Pair) -> dict[str, Any]:
    """A commented ticket whose next ladder step comes due after LADDER_STEP (+1 h)."""
    rechecks = ReadState.load(pair.incremental.store).rechecks
    first = min(rechecks, key=lambda k: (rechecks[k], k))
    due = now_of(pair.site) + timedelta(hours=int(LADDER_STEP.rstrip("h")) + 1)
    assert rechecks[first] <= due
    return next(i for i in pair.site["issues"] if i["key"] == first)


def _calls(pair: Pair, method: str, suffix: str) -> list[dict[str, Any]]:
    return [r for r in pair.requests if r["method"] == method and r["path"].endswith(suffix)]


@pytest.mark.parametrize("fate", ["deleted", "hidden", "moved"])
def test_a_due_key_that_is_gone_or_moved(pair: Pair, fate: str) -> None:
    """A due ticket deleted, hidden from the bot, or moved to another project (its old key
    answered under the new one) while nobody touched it: bulkfetch reads the rest, one GET
    tells a move from a real absence, the cycle stays incremental (no refused ``key in``
    search, no full read), and both workers plan the same writes."""
    ticket = _due_ticket(pair)
    old = ticket["key"]
    if fate == "deleted":
        pin_ids(pair.site)
        pair.site["issues"].remove(ticket)
    elif fate == "hidden":
        ticket["hidden"] = True
    else:
        other = next(p["key"] for p in pair.site["projects"]
                     if p["key"] not in (old.rsplit("-", 1)[0], "SALES"))
        new = move_issue(pair.site, ticket, other)
    advance(pair.site, timedelta(hours=int(LADDER_STEP.rstrip("h")) + 1))
    inc, full = pair.cycle()
    assert inc.read_full is False
    assert _calls(pair, "POST", "/issue/bulkfetch")
    assert not [r for r in _searches(pair) if "key in" in r.get("query", "")]
    assert _calls(pair, "GET", f"/issue/{old}")  # what became of the key
    assert old not in _writes(inc)
    rechecks = ReadState.load(pair.incremental.store).rechecks
    assert old not in rechecks
    assert inc.plan is not None
    assert full.plan is not None
    decided = {d.issue for d in inc.plan.decisions}
    assert decided == {d.issue for d in full.plan.decisions}
    if fate == "moved":
        assert new in rechecks  # read and planned under its new key


def test_an_issue_bulkfetch_could_not_return_is_searched(pair: Pair) -> None:
    """Jira lists a due ticket in ``issueErrors``: it exists, so a full read would see it;
    it is read through the search and gets its step."""
    ticket = _due_ticket(pair)
    advance(pair.site, timedelta(hours=int(LADDER_STEP.rstrip("h")) + 1))
    inc, full = pair.cycle(faults=[{"path": "bulkfetch", "issue_errors": [ticket["key"]]}])
    assert inc.read_full is False
    assert ticket["key"] in _writes(full)
    assert _writes(inc)[ticket["key"]] == _writes(full)[ticket["key"]]
    assert len(_searches(pair)) == 2  # what changed, then the one bulkfetch could not return


def test_a_deal_label_removed_or_given_back_is_noticed(pair: Pair) -> None:
    """Labels do not move a page's ``lastmodified``: a signed deal page losing its label is
    noticed by the ids (its customer's tickets lose their deal and are read), and the label
    given back brings the page in again, its body read by id."""
    page = _deal(pair.site, signed=True)
    project = page["properties"]["Jira project"]
    ticket = _open_tickets(pair.site, project)[0]
    ticket["summary"] = "Draft the SOW for the extension"
    ticket["updated"] = iso(now_of(pair.site))
    advance(pair.site, timedelta(minutes=15))
    inc, _ = pair.cycle()
    assert ticket["key"] not in _writes(inc)  # signed: nothing to do

    def the_page() -> dict[str, Any]:  # the site document is a new one after each cycle
        return next(p for p in pair.site["confluence"]["pages"] if p["id"] == page["id"])

    the_page()["labels"] = [x for x in page["labels"] if x != "deal"]
    advance(pair.site, timedelta(hours=1))
    inc, _ = pair.cycle()
    assert inc.read_full is False
    assert "comment" in _writes(inc)[ticket["key"]]
    assert [_cql_kind(r) for r in _cql(pair)] == ["ids", "modified"]
    the_page().setdefault("labels", []).append("deal")
    advance(pair.site, timedelta(hours=1))
    inc, full = pair.cycle()
    assert inc.read_full is False
    assert [_cql_kind(r) for r in _cql(pair)] == ["ids", "modified", "by id"]
    assert inc.deals == full.deals


def test_fewer_deal_pages_than_the_share_fails_the_incremental_read_too(pair: Pair) -> None:
    """Most deal pages vanish from the ids: the read is failed (as a full read's would be),
    every contract-dependent verdict is unreadable, and the facts kept are not replaced."""
    before = pair.incremental.store.get_meta("deal_page_facts")
    pages = pair.site["confluence"]["pages"]
    pair.site["confluence"]["pages"] = [p for p in pages if "properties" not in p]
    advance(pair.site, timedelta(minutes=15))
    inc, full = pair.cycle()
    assert inc.read_full is False
    assert inc.deals == full.deals == 0
    assert pair.incremental.store.get_meta("deal_page_facts") == before


def test_a_due_ticket_that_left_the_search_is_not_read(pair: Pair) -> None:
    """bulkfetch ignores the JQL: a due ticket closed since (``statusCategory != Done`` no
    longer holds) comes back from it, and is left out as a full read leaves it out."""
    ticket = _due_ticket(pair)
    advance(pair.site, timedelta(hours=int(LADDER_STEP.rstrip("h")) + 1))
    due = [k for k, t in ReadState.load(pair.incremental.store).rechecks.items()
           if t <= now_of(pair.site)]
    assert ticket["key"] in due
    ticket["status"] = "Done"
    ticket["updated"] = iso(now_of(pair.site))
    inc, _ = pair.cycle()
    assert inc.read_full is False
    assert _calls(pair, "POST", "/issue/bulkfetch")
    assert inc.issues_read == len(due) - 1
    assert ticket["key"] not in ReadState.load(pair.incremental.store).rechecks
