"""Fail safe, never guess: deal pages that name a customer but cannot be trusted make every
contract-dependent policy skip the ticket with the reason and the page."""

from __future__ import annotations

from dataclasses import replace

import pytest
from policy_factories import DEALS, DIRECTORY, GLOBEX, NOW, default_policies, site_tickets, snap

from worker.model.deals import Deal, DealRead, DealSkip
from worker.model.plan import Decision, Plan
from worker.policy import explain, plan
from worker.policy.deal_index import DealIndex

P1, P2, P3 = "sales-deliverable-before-signature", "engaged-before-signature", "sales-directing-pm"
URL = "https://acme.atlassian.net/wiki/spaces/SALES/pages/100002"
SOW = snap(
    "GLOBEX-3",
    issue_type="Statement of Work",
    summary="SOW for the Globex extension",
    labels=("sow",),
    fields={"Account": "Globex"},
)


def decision(result: Plan, issue: str, policy: str) -> Decision:
    """The decision of ``policy`` on ``issue``."""
    return next(d for d in result.decisions if d.issue == issue and d.policy == policy)


def with_globex(*pages: Deal, skips: tuple[DealSkip, ...] = (), failed: str | None = None
                ) -> DealRead:
    """The example deals with Globex's page replaced by ``pages``."""
    others = tuple(d for d in DEALS if d.account != "Globex")
    return DealRead((*others, *pages), skips, failed=failed, pages=len(others) + len(pages))


UNREADABLE = replace(GLOBEX, contract_status=None, page_url=URL,
                     unreadable="'Contract status' is empty")


def test_unreadable_status_skips_with_the_reason_and_the_page() -> None:
    """A Globex page whose status cell is a placeholder: Globex's SOW is skipped, not acted on."""
    result = plan([SOW], DIRECTORY, with_globex(UNREADABLE), default_policies(), NOW)
    d = decision(result, "GLOBEX-3", P1)
    assert d.verdict == "skip"
    assert d.reason == (
        "contract unreadable: the contract status of Globex cannot be read from the page "
        f"Deal: Globex ({URL}): 'Contract status' is empty"
    )
    assert decision(result, "GLOBEX-3", P2).verdict == "skip"
    assert result.writes == ()


def test_before_the_fix_an_unreadable_page_was_a_comment() -> None:
    """The same ticket with no Globex page at all is unknown, and the policy acts: the
    difference between unreadable and unknown is what keeps the signed customer safe."""
    result = plan([SOW], DIRECTORY, with_globex(), default_policies(), NOW)
    assert decision(result, "GLOBEX-3", P1).verdict == "act"
    assert [w.issue for w in result.writes] == ["GLOBEX-3"]


def test_conflicting_pages_skip_and_name_both_pages() -> None:
    """Two Globex pages, one Signed and one Draft: conflicting, skipped."""
    draft = replace(GLOBEX, contract_status="Draft", page_id="100009", page_title="Globex (old)",
                    source="the page Globex (old)")
    result = plan([SOW], DIRECTORY, with_globex(GLOBEX, draft), default_policies(), NOW)
    d = decision(result, "GLOBEX-3", P1)
    assert d.verdict == "skip"
    assert d.reason is not None
    assert d.reason.startswith("contract conflicting: deal pages disagree on the contract of ")
    assert "the page Deal: Globex says Signed" in d.reason
    assert "the page Globex (old) says Draft" in d.reason
    assert result.writes == ()


def test_pages_that_agree_ignoring_case_and_spaces_do_not_conflict() -> None:
    """"SIGNED" and "Signed " are the same status; signed_values compare the same way."""
    loud = replace(GLOBEX, contract_status="SIGNED ", page_id="100009")
    result = plan([SOW], DIRECTORY, with_globex(GLOBEX, loud), default_policies(), NOW)
    assert {d.verdict for d in result.decisions if d.issue == "GLOBEX-3"} == {"no-match"}


def test_a_failed_read_skips_every_contract_dependent_policy() -> None:
    """An empty 200 from Confluence is a failed read: nothing contract-dependent acts."""
    read = DealRead(failed="Confluence answered a 2xx without a list of results")
    result = plan(site_tickets(), DIRECTORY, read, default_policies(), NOW)
    acme = decision(result, "ACME-1", P1)
    assert acme.verdict == "skip"
    assert acme.reason == (
        "contract unreadable: the deal pages could not be read this cycle: "
        "Confluence answered a 2xx without a list of results"
    )
    # SALES-3 carries its own Contract status field: the pages are not needed there.
    assert decision(result, "SALES-3", P1).verdict == "act"
    assert [w.issue for w in result.writes] == ["SALES-3"]


def test_tickets_that_do_not_match_anyway_stay_no_match() -> None:
    """A ticket assigned to Sales is no-match whatever the deal pages say (no skip noise)."""
    ticket = replace(SOW, assignee=GLOBEX.account_executive)
    result = plan([ticket], DIRECTORY, with_globex(UNREADABLE), default_policies(), NOW)
    assert decision(result, "GLOBEX-3", P1).verdict == "no-match"


def test_an_unreadable_page_found_by_title_holds_the_customer_back() -> None:
    """A page that cannot be parsed at all, titled with the customer's name, is unreadable."""
    skip = DealSkip("100002", "Deal: Globex", "no Page Properties table on the page", URL)
    result = plan([SOW], DIRECTORY, with_globex(skips=(skip,)), default_policies(), NOW)
    d = decision(result, "GLOBEX-3", P1)
    assert d.verdict == "skip"
    assert f"the page Deal: Globex ({URL}) looks like the deal page of GLOBEX" in (d.reason or "")


def test_explain_shows_why() -> None:
    """explain names the unreadable page for the contract-dependent policies."""
    found = explain(SOW, DIRECTORY, with_globex(UNREADABLE), default_policies(), NOW)
    p1 = next(d for d in found.decisions if d.policy == P1)
    assert p1.verdict == "skip"
    assert "'Contract status' is empty" in (p1.reason or "")
    assert found.contract_state == "unreadable"


@pytest.mark.parametrize(
    ("pages", "kinds"),
    [
        ((UNREADABLE,), [("unreadable", "100002")]),
        (
            (GLOBEX, replace(GLOBEX, contract_status="Draft", page_id="100009")),
            [("conflicting", "100002"), ("conflicting", "100009")],
        ),
        ((GLOBEX,), []),
    ],
)
def test_problems_are_listed_once_per_page(pages: tuple[Deal, ...],
                                           kinds: list[tuple[str, str]]) -> None:
    """The cycle logs deal.unreadable / deal.conflicting once per page from this list."""
    problems = DealIndex(with_globex(*pages), ["Signed"]).problems()
    assert [(p.kind, p.page_id) for p in problems] == kinds
