"""Honest wording: a comment links the deal page it used, or says none was found and where
one can be created (the space from the deal CQL in the policy file)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from policy_factories import ACME, DEALS, DIRECTORY, NOW, default_policies, snap

from worker.atlassian.markup import to_wiki
from worker.model.document import Link
from worker.model.plan import CommentAction
from worker.policy import plan
from worker.policy.template_samples import deal_pages_where, labelled_samples
from worker.policy.templates import load_template

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
    """No deal page and no sales owner: the comment tells the PM whom to ask (the Sales lead)
    and what for (the deal page, in the space and with the label, naming the executive)."""
    text = _comment(DEALS, key="UMB-1", fields={"Account": "Umbrella"}).document.plain_text()
    assert "I found no sales owner for Umbrella." in text
    assert ("Ask your Sales lead to create its deal page in the Confluence space SALES with the "
            "label deal, naming the account executive.") in text
    assert "fill this ticket's Account field" not in text  # it is filled


def test_no_deal_page_and_no_account_asks_for_the_field_too() -> None:
    """Without an Account on the ticket, the PM is also asked to fill that field."""
    text = _comment(DEALS, key="UMB-1", fields={}).document.plain_text()
    assert "naming the account executive, and fill this ticket's Account field." in text


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
    assert "the deal page names no active account executive: ask Sales to name one there" in text
    assert f"Deal page: Deal: Acme Corp ({URL})." in text


TEMPLATES = sorted(
    (Path(__file__).resolve().parents[2] / "config" / "templates").glob("*.j2")
)
#: what a typical ticket's comment is read against: what a PM reads in one glance
LONGEST_COMMENT_CHARS = 600


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.stem)
@pytest.mark.parametrize("sample", [s for s in labelled_samples() if "255" not in s])
def test_every_shipped_template_stays_short(path: Path, sample: str) -> None:
    """Every shipped template renders under 600 characters for a typical ticket (the longest
    summary aside), as the PM reads it and as wiki markup sent to Jira."""
    document = load_template(path.parent, path.stem).render(labelled_samples()[sample])
    assert len(document.plain_text()) < LONGEST_COMMENT_CHARS, document.plain_text()
    assert len(to_wiki(document, mentions="accountid")) < LONGEST_COMMENT_CHARS


def test_a_planned_comment_stays_short() -> None:
    """The comment the default policy plans for a real-looking ticket is short too."""
    text = _comment(DEALS, key="UMB-1", fields={"Account": "Umbrella"}).document.plain_text()
    assert len(text) < LONGEST_COMMENT_CHARS, text
