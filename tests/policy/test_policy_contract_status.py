"""A contract status read three ways (signed, unsigned, neither), an account name folded, and
the deal index built on both: tables of what people type."""

from __future__ import annotations

import pytest

from worker.model.deals import Deal
from worker.policy.account_names import account_key
from worker.policy.contract_status import DEFAULT_UNSIGNED_VALUES, StatusVocabulary, status_core
from worker.policy.deal_index import DealIndex

VOCAB = StatusVocabulary.of(["Signed"], DEFAULT_UNSIGNED_VALUES)


@pytest.mark.parametrize(
    ("text", "state", "value", "rest"),
    [
        ("Signed", "signed", "Signed", ""),
        ("SIGNED", "signed", "SIGNED", ""),
        ("  signed  ", "signed", "signed", ""),
        ("Signed.", "signed", "Signed.", ""),
        ("Signed!!", "signed", "Signed!!", ""),
        ("Signed ✅", "signed", "Signed ✅", ""),
        ("Signed ✔️", "signed", "Signed ✔️", ""),
        ("Signed (DocuSign)", "signed", "Signed (DocuSign)", "DocuSign"),
        ("Signed\ncountersigned copy in DocuSign", "signed", "Signed",
         "countersigned copy in DocuSign"),
        ("Signed - see DocuSign", "signed", "Signed", "see DocuSign"),
        ("Signed: countersigned 12 Oct", "signed", "Signed", "countersigned 12 Oct"),
        ("In negotiation", "unsigned", "In negotiation", ""),
        ("in  NEGOTIATION.", "unsigned", "in NEGOTIATION.", ""),
        ("Draft (not signed yet)", "unsigned", "Draft (not signed yet)", "not signed yet"),
        ("Sent for signature", "unsigned", "Sent for signature", ""),
        ("Quote sent\nwaiting on procurement", "unsigned", "Quote sent",
         "waiting on procurement"),
        ("Closed won", "unreadable", "Closed won", ""),
        ("Lost", "unreadable", "Lost", ""),
        ("Signed?", "unreadable", "Signed?", ""),
        ("", "unreadable", "", ""),
        ("Signed\nawaiting countersignature", "conflicting", "Signed",
         "awaiting countersignature"),
        ("Signed - pending legal review", "conflicting", "Signed", "pending legal review"),
        ("Signed\nnot yet", "conflicting", "Signed", "not yet"),
        ("Signed\nunsigned copy only", "conflicting", "Signed", "unsigned copy only"),
        ("Signed\nstill in negotiation", "conflicting", "Signed", "still in negotiation"),
        ("In negotiation\nsigned copy expected Friday", "conflicting", "In negotiation",
         "signed copy expected Friday"),
        ("Draft\nnot signed", "unsigned", "Draft", "not signed"),
    ],
)
def test_status_reads_three_ways(text: str, state: str, value: str, rest: str) -> None:
    """The leading value decides against the two lists; the rest is evidence, and a
    contradiction in it makes the status conflicting."""
    reading = VOCAB.read_text(text)
    assert (reading.state, reading.value, reading.rest) == (state, value, rest)
    assert (reading.reason is None) == (state in ("signed", "unsigned"))


def test_a_status_in_neither_list_says_so_for_the_admin() -> None:
    """The reason names the value and both settings."""
    reading = VOCAB.read_text("Closed won")
    assert reading.reason == (
        "'Closed won' is in neither deals.signed_values nor deals.unsigned_values"
    )


@pytest.mark.parametrize(
    ("value", "core"),
    [("Signed (DocuSign) ✅.", "signed"), ("In  Negotiation", "innegotiation"),
     ("«Signed»", "signed"), ("🎉 Signed 🎉", "signed"), ("", "")],
)
def test_status_core(value: str, core: str) -> None:
    """What is compared: no parenthetical, emoji, surrounding punctuation, case or space."""
    assert status_core(value) == core


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("Globex Corporation", "globex"), ("GLOBEX, Inc.", "globex"), ("Globex", "globex"),
        ("Globex Co., Ltd", "globex"), ("Initech B.V.", "initech"), ("Umbrella S.A.", "umbrella"),
        ("Müller GmbH", "muller"), ("Acme Corp", "acme"), ("AG", "ag"),
        ("Smith & Sons LLC", "smith and sons"), ("Hooli-XYZ AG", "hooli xyz"),
    ],
)
def test_account_key_folds_legal_forms(name: str, key: str) -> None:
    """Case, accents, punctuation and trailing company suffixes do not count."""
    assert account_key(name) == key


def deal(page_id: str, account: str, status: str | None, *, project: str | None = None,
         rest: tuple[str, ...] = ()) -> Deal:
    """A deal page read from Confluence."""
    return Deal(account=account, jira_project=project, contract_status=status, signed_on=None,
                account_executive=None, source=f"the page Deal {page_id}", page_id=page_id,
                page_title=f"Deal: {account}", status_rest=rest)


def test_index_matches_a_legal_form_only_after_normalising_and_says_so() -> None:
    """"Globex" on the ticket finds "Globex Corporation"'s page; the evidence says how."""
    index = DealIndex([deal("1", "Globex Corporation", "Signed")], ["Signed"])
    found = index.find("GLOBEX", "Globex")
    assert found.state == "signed"
    assert "only after normalising company names" in (found.found_by or "")
    assert "only after normalising company names" in found.evidence


def test_index_two_normalised_pages_that_disagree_are_conflicting() -> None:
    """Two pages that match one ticket only after normalisation and disagree: skip."""
    index = DealIndex(
        [deal("1", "Globex Corporation", "Signed"), deal("2", "GLOBEX Inc.", "Draft")],
        ["Signed"],
    )
    assert index.find("GX", "Globex").state == "conflicting"


def test_index_reads_a_page_status_three_ways() -> None:
    """Neither list: unreadable, naming the page and the text; a note that negates: conflicting."""
    index = DealIndex(
        [deal("1", "Acme", "Closed won", project="ACME"),
         deal("2", "Hooli", "Signed", project="HOOLI", rest=("awaiting countersignature",))],
        ["Signed"],
    )
    acme = index.find("ACME", None)
    assert acme.state == "unreadable"
    assert "'Closed won' is in neither" in acme.evidence
    assert "Deal: Acme" in acme.evidence
    assert index.find("HOOLI", None).state == "conflicting"
    seen = {(s.value, s.state, s.pages) for s in index.statuses_seen()}
    assert seen == {("Closed won", "unreadable", 1), ("Signed", "conflicting", 1)}
