"""Honest wording: a comment links the deal page it used, or says none was found and where
one can be created (the space from the deal CQL in the policy file)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from policy_factories import ACME, DEALS, DIRECTORY, NOW, default_policies, snap

from worker.model import CommentAction, Link
from worker.policy import plan
from worker.policy.template_samples import deal_pages_where

P1 = "sales-deliverable-before-signature"
URL = "https://example.atlassian.net/wiki/spaces/SALES/pages/100001"


@pytest.mark.parametrize(
    ("cql", "expected"),
    [
        ('space = "SALES" and label = "deal"', {"space": "SALES", "label": "deal"}),
        ("space = DEALS AND label = customer", {"space": "DEALS", "label": "customer"}),
        ('space in ("SALES") and type = page', {"space": "SALES", "label": None}),
        ('label = "deal"', None),
        (None, None),
    ],
)
def test_where_deal_pages_live(cql: str | None, expected: object) -> None:
    """The space (and label) a comment names come from the deal CQL."""
    assert deal_pages_where(cql) == expected


def _comment(ticket_deals: tuple[object, ...], **changes: object) -> CommentAction:
    ticket = snap(issue_type="Statement of Work", **changes)
    result = plan([ticket], DIRECTORY, ticket_deals, default_policies(), NOW)  # type: ignore[arg-type]
    (decision,) = [d for d in result.decisions if d.policy == P1]
    (action,) = [a for a in decision.actions if isinstance(a, CommentAction)]
    return action


def test_no_deal_page_says_so_and_who_can_create_one() -> None:
    """No deal page: the comment says none was found, and where Sales can create one."""
    text = _comment(DEALS, key="UMB-1", fields={"Account": "Umbrella"}).document.plain_text()
    assert "I found no deal page for this customer." in text
    assert "Anyone in Sales can create one in the Confluence space SALES with the label deal." in (
        text
    )
    assert "name an account executive on the deal page" not in text


def test_a_deal_page_is_linked() -> None:
    """A deal page: the comment links to it."""
    deals = (replace(ACME, page_url=URL), *DEALS[1:])
    doc = _comment(deals).document
    links = [n for b in doc.blocks for n in getattr(b, "inlines", ()) if isinstance(n, Link)]
    assert links == [Link(text="Deal: Acme Corp", url=URL)]
    assert "no deal page" not in doc.plain_text()


def test_a_deal_page_without_an_executive_asks_for_one_there() -> None:
    """A deal page naming no active executive asks Sales to name one on that page."""
    deals = (replace(ACME, account_executive=None, page_url=URL), *DEALS[1:])
    text = _comment(deals).document.plain_text()
    assert "the deal page names no active account executive: please ask Sales to name one" in text
    assert f"Deal page: Deal: Acme Corp ({URL})." in text
