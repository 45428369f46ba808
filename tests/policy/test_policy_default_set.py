"""The shipped default policy set on tickets shaped like the example site's."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from policy_factories import (
    DEALS,
    DIRECTORY,
    NOW,
    OLGA,
    SAM,
    default_policies,
    site_tickets,
    snap,
)

from tests.conftest import EXAMPLE_SITE
from worker.model.issue import IssueSnapshot
from worker.model.plan import CommentAction, Decision, LabelAction, Plan, ReassignAction
from worker.policy import explain, plan, search_spec

P1, P2, P3 = "sales-deliverable-before-signature", "engaged-before-signature", "sales-directing-pm"


def _decision(result: Plan, issue: str, policy: str) -> Decision:
    return next(d for d in result.decisions if d.issue == issue and d.policy == policy)


def _apply(result: Plan, tickets: list[IssueSnapshot]) -> list[IssueSnapshot]:
    states = {w.issue: w.state for w in result.writes}
    return [replace(t, state=states.get(t.key, t.state)) for t in tickets]


def test_default_set_matches_site_example_conventions() -> None:
    """The default set names the example site's groups, fields, deal space and signed value."""
    import yaml

    site = yaml.safe_load(EXAMPLE_SITE.read_text())
    policies = default_policies()
    groups = {g["name"] for g in site["groups"]}
    fields = {f["name"] for f in site["fields"]}
    assert {g for s in policies.people.values() for g in s.groups} <= groups
    assert {policies.deals.status_field, policies.deals.account_field} <= fields
    assert policies.deals.pages is not None
    assert '"SALES"' in policies.deals.pages.cql


def test_order_modes_and_ids() -> None:
    """Exactly the three policies of the issue, in order, with their modes."""
    policies = default_policies().policies
    assert [(p.id, p.mode) for p in policies] == [(P1, "enforce"), (P2, "enforce"), (P3, "dry-run")]


def test_acme_1_gets_a_comment_now_naming_sam() -> None:
    """ACME-1 (a SOW, deal In negotiation) gets the sales-deliverable comment at once."""
    result = plan(site_tickets(), DIRECTORY, DEALS, default_policies(), NOW)
    decision = _decision(result, "ACME-1", P1)
    assert decision.verdict == "act"
    assert decision.step == 0
    (action,) = decision.actions
    assert isinstance(action, CommentAction)
    text = action.document.plain_text()
    assert "@Sam Ortiz" in text
    assert "handoff-exception" in text
    assert "deal Acme Corp is In negotiation, from the page Deal: Acme Corp" in text
    assert len(text.split()) < 120
    assert _decision(result, "ACME-1", P2).reason == f"already handled by policy {P1}"


def test_acme_1_reassigned_to_sam_after_two_business_days() -> None:
    """Two business days after the comment ACME-1 goes to Sam with the label sales-owned."""
    policies = default_policies()
    tickets = site_tickets()
    first = plan(tickets, DIRECTORY, DEALS, policies, NOW)
    tickets = _apply(first, tickets)
    early = plan(tickets, DIRECTORY, DEALS, policies, NOW + timedelta(days=1, hours=23))
    assert "ACME-1" not in {w.issue for w in early.writes}
    waiting = _decision(early, "ACME-1", P1)
    assert "step 2 (" in (waiting.reason or "")
    assert "is due 2026-11-04 10:00" in (waiting.reason or "")
    # the same as data, for the status page: the step (from 0) and the moment
    assert (waiting.verdict, waiting.due_step) == ("waiting", 1)
    assert waiting.due_at is not None
    assert f"{waiting.due_at.astimezone(policies.tz):%Y-%m-%d %H:%M}" == "2026-11-04 10:00"
    assert _decision(first, "ACME-1", P1).due_step is None  # acting, not waiting
    later = plan(tickets, DIRECTORY, DEALS, policies, NOW + timedelta(days=2))
    decision = _decision(later, "ACME-1", P1)
    assert decision.step == 1
    reassign = next(a for a in decision.actions if isinstance(a, ReassignAction))
    label = next(a for a in decision.actions if isinstance(a, LabelAction))
    assert reassign.to == SAM
    assert reassign.target == "sales_owner"
    assert label.add == ("sales-owned",)
    write = next(w for w in later.writes if w.issue == "ACME-1")
    assert write.state.for_policy(P1).reassigned_to == SAM.id


def test_reassign_step_waits_when_nobody_owns_the_deal() -> None:
    """With no active account executive and no reporter in Sales the ticket stays at the comment,
    as a skip that says why (a row reading ``act`` would promise a write that never comes)."""
    deals = (replace(DEALS[0], account_executive=OLGA), *DEALS[1:])
    tickets = [replace(site_tickets()[0], reporter=OLGA)]
    first = plan(tickets, DIRECTORY, deals, default_policies(), NOW)
    later = plan(
        _apply(first, tickets), DIRECTORY, deals, default_policies(), NOW + timedelta(days=3)
    )
    decision = _decision(later, "ACME-1", P1)
    assert decision.verdict == "skip"
    assert decision.actions == ()
    assert later.writes == ()
    assert "no sales owner: deal has no active account executive" in (decision.reason or "")


@pytest.mark.parametrize("key", ["GLOBEX-7", "GLOBEX-8"])
def test_globex_tickets_get_nothing(key: str) -> None:
    """Signed Globex tickets (a PM's delivery task, Sales used after signature) get nothing."""
    result = plan(site_tickets(), DIRECTORY, DEALS, default_policies(), NOW)
    assert {d.verdict for d in result.decisions if d.issue == key} == {"no-match"}
    assert key not in {w.issue for w in result.writes}


def test_sales_3_comment_uses_the_ticket_field() -> None:
    """SALES-3 (Proposal, field Draft, Initech page Sent for signature) gets a comment."""
    result = plan(site_tickets(), DIRECTORY, DEALS, default_policies(), NOW)
    decision = _decision(result, "SALES-3", P1)
    assert [a.kind for a in decision.actions] == ["comment"]
    assert any(
        e.detail == "contract status Draft, from the ticket's field Contract status"
        for e in decision.evidence
    )


def test_contractor_onboarding_is_not_a_contract() -> None:
    """A "Contractor onboarding" task on an unsigned deal is not a Sales deliverable."""
    ticket = snap("ACME-9", summary="Contractor onboarding", fields={"Account": "Acme Corp"})
    result = plan([ticket], DIRECTORY, DEALS, default_policies(), NOW)
    assert _decision(result, "ACME-9", P1).verdict == "no-match"
    assert _decision(result, "ACME-9", P2).verdict == "act"  # the heads-up still applies


def test_sales_directing_pm_is_dry_run_only() -> None:
    """Sales chasing a PM on an unsigned deal is reported by the dry-run policy, never written."""
    ticket = replace(
        site_tickets()[0],
        issue_type="Task",
        summary="Kickoff prep",
        labels=(),
        key="SALES-4",
        project="SALES",
        fields={"Account": "Initech"},
    )
    policies = default_policies()
    result = plan(
        [ticket], DIRECTORY, DEALS, replace(policies, policies=policies.policies[2:]), NOW
    )
    decision = _decision(result, "SALES-4", P3)
    assert decision.verdict == "act"
    assert decision.mode == "dry-run"
    assert decision.actions
    assert "Sam Ortiz (sales) wrote" in decision.evidence[-1].detail
    assert result.writes == ()


def test_exception_label_exempts() -> None:
    """The handoff-exception label exempts a ticket from every default policy."""
    ticket = replace(site_tickets()[0], labels=("sow", "handoff-exception"))
    result = plan([ticket], DIRECTORY, DEALS, default_policies(), NOW)
    assert _decision(result, "ACME-1", P1).verdict == "exempt"
    assert result.writes == ()


def test_search_spec_of_default_set() -> None:
    """The default set reads PM tickets not done, Account and Contract status, comments, deals."""
    spec = search_spec(default_policies())
    assert spec.jql == 'assignee in membersOf("project-managers") AND statusCategory != Done'
    assert set(spec.field_names) == {"Account", "Contract status"}
    assert spec.comments
    assert not spec.changelog
    assert spec.groups == ("project-managers", "sales")
    assert spec.deals is not None


def test_explain_acme_1() -> None:
    """explain names the deal, the sales owner and the next step with its due time."""
    ticket = site_tickets()[0]
    result = explain(ticket, DIRECTORY, DEALS, default_policies(), NOW)
    assert result.sales_owner == SAM
    assert result.contract_state == "unsigned"
    assert result.deal_found_by == "project ACME"
    assert result.next_steps[0].words.startswith("comment (sales-deliverable) now")
    assert len(result.decisions) == 3
