"""Page Properties parsing: storage format -> key/values -> deals or skips with reasons."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from worker.atlassian.deal_page import deal_from_page
from worker.atlassian.pageprops import CellValue, UserRef, page_properties
from worker.model.deals import Deal, DealSkip, DealSource
from worker.model.people import Person


def details(rows: str, *, macro_id: str = "1") -> str:
    """A Page Properties macro around a table body."""
    return (
        f'<ac:structured-macro ac:name="details" ac:schema-version="1" ac:macro-id="{macro_id}">'
        f"<ac:rich-text-body><table><tbody>{rows}</tbody></table></ac:rich-text-body>"
        "</ac:structured-macro>"
    )


def row(key: str, value: str) -> str:
    """One vertical row: a th key and a td value."""
    return f"<tr><th><p>{key}</p></th><td>{value}</td></tr>"


ACME = (
    details(
        row("Account", "<p>Acme&nbsp;Corp</p>")
        + row("Jira project", "<p><span>ACME</span></p>")
        + row(
            "Contract status",
            '<p><ac:structured-macro ac:name="status" ac:schema-version="1">'
            '<ac:parameter ac:name="colour">Yellow</ac:parameter>'
            '<ac:parameter ac:name="title">In negotiation</ac:parameter>'
            "</ac:structured-macro></p>",
        )
        + row("Signed on", "<p><br/></p>")
        + row(
            "Account executive", '<p><ac:link><ri:user ri:account-id="712020:sam"/></ac:link></p>'
        )
    )
    + "<p>Phase 2 scope under negotiation.</p>"
)


@pytest.mark.parametrize(
    ("storage", "expected"),
    [
        (
            ACME,
            {
                "Account": CellValue(text="Acme\u00a0Corp".replace("\u00a0", " ")),
                "Jira project": CellValue(text="ACME"),
                "Contract status": CellValue(text="In negotiation", status="In negotiation"),
                "Signed on": CellValue(text=""),
                "Account executive": CellValue(text="", users=(UserRef(account_id="712020:sam"),)),
            },
        ),
        (
            details(row("Signed on", '<p><time datetime="2026-10-15"/></p>')),
            {"Signed on": CellValue(text="2026-10-15", dates=("2026-10-15",))},
        ),
        (
            details(
                row("Account executive", '<ac:link><ri:user ri:username="dana"/></ac:link>')
                + row("Backup", '<ac:link><ri:user ri:userkey="ff80abc"/></ac:link>')
            ),
            {
                "Account executive": CellValue(text="", users=(UserRef(username="dana"),)),
                "Backup": CellValue(text="", users=(UserRef(user_key="ff80abc"),)),
            },
        ),
        (
            details(
                "<tr><th>Account</th><th>Contract status</th></tr>"
                "<tr><td><p>Globex</p></td><td><p>Signed</p></td></tr>"
            ),
            {"Account": CellValue(text="Globex"), "Contract status": CellValue(text="Signed")},
        ),
        (
            details(row("Account", "Initech"), macro_id="a")
            + "<p>between</p>"
            + details(row("Contract status", "Draft") + row("Account", "Other"), macro_id="b"),
            {"Account": CellValue(text="Initech"), "Contract status": CellValue(text="Draft")},
        ),
        (
            '<ac:structured-macro ac:name="info"><ac:rich-text-body><table><tbody>'
            + row("Account", "Not a deal table")
            + "</tbody></table></ac:rich-text-body></ac:structured-macro>",
            {},
        ),
    ],
    ids=["vertical-acme", "time", "dc-users", "horizontal", "two-macros", "other-macro"],
)
def test_page_properties(storage: str, expected: dict[str, CellValue]) -> None:
    """Vertical and horizontal tables, users, lozenges, dates, nesting and several macros."""
    assert page_properties(storage) == expected


SAM = Person(id="712020:sam", display_name="Sam Ortiz")


def page(
    storage: Any, *, page_id: str = "100001", title: str = "Deal: Acme Corp"
) -> dict[str, Any]:
    """A v1 content JSON with its storage body."""
    return {
        "id": page_id,
        "title": title,
        "body": {"storage": {"value": storage, "representation": "storage"}},
        "_links": {"webui": f"/spaces/SALES/pages/{page_id}"},
    }


def resolve(ref: UserRef) -> Person | None:
    """The directory: only Sam is known."""
    return SAM if ref.account_id == SAM.id else None


def test_deal_from_acme_page() -> None:
    """The example deal page becomes a deal with its lozenge status and resolved executive."""
    deal = deal_from_page(page(ACME), DealSource(), resolve=resolve, base_url="http://x/wiki")
    assert deal == Deal(
        account="Acme Corp",
        jira_project="ACME",
        contract_status="In negotiation",
        signed_on=None,
        account_executive=SAM,
        source="the page Deal: Acme Corp",
        page_id="100001",
        page_title="Deal: Acme Corp",
        page_url="http://x/wiki/spaces/SALES/pages/100001",
    )


@pytest.mark.parametrize(
    ("storage", "reason"),
    [
        (None, "page has no storage-format body"),
        ("<p>No table here</p>", "no Page Properties table on the page"),
        (
            details(row("Contract status", "Signed")),
            "Page Properties have no 'Account' or 'Jira project' value",
        ),
        (
            details(row("Account", "") + row("Jira project", "<p><ac:placeholder>KEY"
                                                              "</ac:placeholder></p>")),
            "Page Properties have no 'Account' or 'Jira project' value",
        ),
    ],
)
def test_unusable_pages_are_skips(storage: Any, reason: str) -> None:
    """A page that names no customer is a skip with a reason, never an exception."""
    result = deal_from_page(page(storage), DealSource(), resolve=resolve, base_url="http://x")
    assert isinstance(result, DealSkip)
    assert result.reason == reason


def test_signed_date_and_plain_status() -> None:
    """A time element gives the signature date; a plain-text status is kept as written."""
    storage = details(
        row("Account", "Globex")
        + row("Contract status", "<p>Signed</p>")
        + row("Signed on", '<time datetime="2026-10-15"/>')
        + row("Account executive", '<ac:link><ri:user ri:account-id="712020:ghost"/></ac:link>')
    )
    deal = deal_from_page(page(storage), DealSource(), resolve=resolve, base_url="http://x")
    assert isinstance(deal, Deal)
    assert (deal.contract_status, deal.signed_on, deal.account_executive) == (
        "Signed",
        date(2026, 10, 15),
        None,
    )


def test_broken_markup_is_recovered_not_fatal() -> None:
    """Unclosed tags and unknown entities still parse (recover mode) or skip, never raise."""
    storage = details(row("Account", "<p>Acme &hellip; &bogus; <b>bold")) + "<p>unclosed"
    result = deal_from_page(page(storage), DealSource(), resolve=resolve, base_url="http://x")
    assert isinstance(result, Deal | DealSkip)


@pytest.mark.parametrize(
    ("cell", "text"),
    [
        ("<p>Acme <strong>Corp</strong>oration</p>", "Acme Corporation"),
        ("<p>one</p><p>two</p>", "one two"),
        ("<p><span>  spaced\n out </span></p>", "spaced out"),
    ],
)
def test_cell_text_keeps_inline_words_together(cell: str, text: str) -> None:
    """Inline markup does not split words; paragraphs are separated by a space."""
    assert page_properties(details(row("Account", cell)))["Account"].text == text
