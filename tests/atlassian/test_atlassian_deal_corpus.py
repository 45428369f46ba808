"""Deal pages as real Confluence sites store them (``deal_pages/*.xml``, one per shape,
written from Atlassian's storage-format documentation and what the Cloud and Server/DC
editors emit), each read the way a person reads it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

from worker.atlassian.deal_page import deal_from_page
from worker.atlassian.pageprops import CellValue, UserRef, read_date
from worker.model.deals import Deal, DealSource
from worker.model.people import Person

CORPUS = Path(__file__).resolve().parent / "deal_pages"
SAM = Person(id="sam", display_name="Sam Ortiz")
DANA = Person(id="dana", display_name="Dana Kim")
#: who each identity on the corpus pages is (Cloud account ids, DC user keys and usernames)
PEOPLE = {
    "712020:sam": SAM,
    "712020:dana": DANA,
    "8a7f3c2e9b1d4f6a0c5e7b9d2f4a6c8e": SAM,
    "1c9e5a7b3d2f4e6a8b0c1d3e5f7a9b2c": DANA,
    "dana": DANA,
}


def resolve(ref: UserRef) -> Person | None:
    """The site's people, by whichever identity the page carries."""
    return PEOPLE.get(ref.account_id or ref.username or ref.user_key or "")


@dataclass(frozen=True)
class Reading:
    """What a person reads on the page."""

    account: str
    project: str | None
    status: str | None
    signed_on: date | None
    executive: Person | None
    unreadable: str | None = None  # a phrase of the reason, when the status cannot be read
    note: str | None = None  # a phrase of a note, when a value could not be read


CASES: dict[str, Reading] = {
    "cloud-editor": Reading("Globex", "GLOBEX", "Signed", date(2026, 10, 15), DANA),
    "title-case-nbsp": Reading("Acme Corp", "ACME", "In Negotiation", None, SAM),
    "server-migrated": Reading("Globex", "GLOBEX", "SIGNED", date(2026, 10, 15), SAM),
    "header-row": Reading("Initech", "INIT", "Sent for signature", date(2026, 10, 15), DANA),
    "layout-panel-expand": Reading("Umbrella", "UMB", "signed", date(2026, 10, 15), DANA),
    "several-macros-id": Reading("Hooli", "HOOLI", "Signed", date(2026, 9, 30), SAM),
    "horizontal": Reading("Soylent", "SOY", "Signed", date(2026, 10, 15), DANA),
    "template-placeholders": Reading(
        "Acme Corp", "ACME", None, None, None, unreadable="'Contract status' is empty"
    ),
    "date-not-applicable": Reading("Globex", "GLOBEX", "Signed", None, SAM),
    "date-unreadable": Reading(
        "Globex", "GLOBEX", "Signed", None, DANA,
        note="the Signed on date could not be read: 'end of Q3 (see DocuSign)' is not a date",
    ),
    "two-lozenges": Reading(
        "Initech", "INIT", None, None, None,
        unreadable="'Contract status' holds several statuses: SENT FOR SIGNATURE, SIGNED",
    ),
    "header-column-and-row": Reading("Acme Corp", "ACME", "Draft", None, SAM),
    # issue 19: what people add around the values
    "status-note-paragraph": Reading("Acme Corp", "ACME", "Signed ✅", date(2026, 10, 15), SAM),
    "smart-link-project": Reading("Globex Corporation", "GLOBEX", "SIGNED", date(2026, 10, 15),
                                  DANA, note="the Jira project GLOBEX was read from the link"),
    "href-project-legal-name": Reading("Initech B.V.", "INIT", "In negotiation (redlines with "
                                       "legal)", None, DANA,
                                       note="the Jira project INIT was read from the link"),
}


def read(name: str, source: DealSource | None = None) -> Deal:
    """The corpus page ``name`` read as the worker reads it."""
    storage = (CORPUS / f"{name}.xml").read_text(encoding="utf-8")
    page = {
        "id": "1",
        "title": f"Deal: {name}",
        "body": {"storage": {"value": storage, "representation": "storage"}},
        "_links": {"webui": "/spaces/SALES/pages/1"},
    }
    deal = deal_from_page(page, source or DealSource(), resolve=resolve,
                          base_url="https://acme.atlassian.net/wiki")
    assert isinstance(deal, Deal), deal
    return deal


def test_the_corpus_has_one_case_per_file() -> None:
    """Every corpus page has its human reading below, and every reading has its page."""
    assert sorted(p.stem for p in CORPUS.glob("*.xml")) == sorted(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_corpus_page_reads_as_a_person_reads_it(name: str) -> None:
    """Account, project, status, date and account executive are what the page shows."""
    expected = CASES[name]
    source = DealSource(details_id="deal") if name == "several-macros-id" else None
    deal = read(name, source)
    assert (deal.account, deal.jira_project, deal.contract_status) == (
        expected.account, expected.project, expected.status,
    )  # fmt: skip
    assert deal.signed_on == expected.signed_on
    assert deal.account_executive == expected.executive
    if expected.unreadable is None:
        assert deal.unreadable is None
    else:
        assert deal.unreadable is not None
        assert expected.unreadable in deal.unreadable
    if expected.note is None:
        assert deal.notes == ()
    else:
        assert any(expected.note in n for n in deal.notes), deal.notes


def test_several_macros_without_an_id_read_the_one_with_most_keys() -> None:
    """Without a configured id, the macro holding most of the deal keys wins (the current
    one has five, the history one three)."""
    assert read("several-macros-id").contract_status == "Signed"
    assert read("several-macros-id", DealSource(details_id="history")).contract_status == "Lost"


def test_an_unresolvable_executive_is_a_note_not_an_error() -> None:
    """A user key nobody knows leaves the executive empty and says so."""
    storage = (CORPUS / "server-migrated.xml").read_text(encoding="utf-8")
    page = {"id": "1", "title": "Deal: Globex",
            "body": {"storage": {"value": storage, "representation": "storage"}}}
    deal = deal_from_page(page, DealSource(), resolve=lambda ref: None, base_url="http://x")
    assert isinstance(deal, Deal)
    assert deal.account_executive is None
    assert deal.contract_status == "SIGNED"
    assert deal.notes == (
        "the account executive (ri:userkey 8a7f3c2e9b1d4f6a0c5e7b9d2f4a6c8e) could not be found",
    )


@pytest.mark.parametrize(
    ("text", "order", "expected"),
    [
        ("2026-10-15", None, date(2026, 10, 15)),
        ("2026-10-15T00:00:00.000Z", None, date(2026, 10, 15)),
        ("15 Oct 2026", None, date(2026, 10, 15)),
        ("15 October 2026", None, date(2026, 10, 15)),
        ("15th Oct. 2026", None, date(2026, 10, 15)),
        ("October 15, 2026", None, date(2026, 10, 15)),
        ("Oct 15 2026", None, date(2026, 10, 15)),
        ("15.10.2026", None, date(2026, 10, 15)),
        ("15.10.2026", "mdy", date(2026, 10, 15)),
        ("2026/10/15", None, date(2026, 10, 15)),
        ("25/10/2026", None, date(2026, 10, 25)),
        ("10/25/2026", None, date(2026, 10, 25)),
        ("10/11/2026", "dmy", date(2026, 11, 10)),
        ("10/11/2026", "mdy", date(2026, 10, 11)),
        ("", None, None),
        ("n/a", None, None),
        ("N/A", None, None),
        ("TBD", None, None),
    ],
)
def test_dates_people_type(text: str, order: str | None, expected: date | None) -> None:
    """ISO, typed and dotted dates read; empty, n/a and TBD are no date."""
    reading = read_date(CellValue(text=text), order=order)  # type: ignore[arg-type]
    assert (reading.value, reading.problem) == (expected, None)


@pytest.mark.parametrize(
    ("text", "order", "problem"),
    [
        ("10/11/2026", None, "could be day/month or month/day (set deals.date_order"),
        ("25/10/2026", "mdy", "is not a valid date"),
        ("31.02.2026", None, "is not a valid date"),
        ("15 Okt 2026", None, "unknown month 'Okt'"),
        ("last Tuesday", None, "is not a date"),
    ],
)
def test_dates_that_cannot_be_read_say_why(text: str, order: str | None, problem: str) -> None:
    """An ambiguous or impossible date is a problem with a reason, never a guess."""
    reading = read_date(CellValue(text=text), order=order)  # type: ignore[arg-type]
    assert reading.value is None
    assert reading.problem is not None
    assert problem in reading.problem


def test_time_element_wins_over_text() -> None:
    """A picked date (<time datetime>) is read from its attribute."""
    cell = CellValue(text="Oct 15, 2026", dates=("2026-10-15",))
    assert read_date(cell).value == date(2026, 10, 15)


@pytest.mark.parametrize(
    ("name", "rest"),
    [("status-note-paragraph", ("countersigned copy in DocuSign",)),
     ("smart-link-project", ("(DocuSign)",)), ("cloud-editor", ())],
)
def test_what_surrounds_the_status_is_kept_as_evidence(name: str, rest: tuple[str, ...]) -> None:
    """The lines after a status, and text beside a lozenge, are kept (read for a
    contradiction by the deal index), never part of the status itself."""
    assert read(name).status_rest == rest
