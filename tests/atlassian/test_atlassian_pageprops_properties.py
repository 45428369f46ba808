"""Property test: the same deal written with other whitespace, case, wrapping, cell kinds,
containers and date formats reads as the same deal."""

from __future__ import annotations

import html
from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st

from worker.atlassian.deal_page import deal_from_page
from worker.atlassian.pageprops import UserRef
from worker.model.deals import Deal, DealSource, status_key
from worker.model.people import Person

SAM = Person(id="712020:sam", display_name="Sam Ortiz")
KEYS = ("Account", "Jira project", "Contract status", "Signed on", "Account executive")
STATUSES = ("Signed", "In negotiation", "Sent for signature", "Draft")


def resolve(ref: UserRef) -> Person | None:
    """Sam, by account id."""
    return SAM if ref.account_id == SAM.id else None


def _case(draw: st.DrawFn, text: str) -> str:
    return draw(st.sampled_from((text, text.upper(), text.lower(), text.title())))


def _pad(draw: st.DrawFn) -> str:
    return draw(st.sampled_from(("", " ", "&nbsp;", "\u00a0", "  \n ", "\u200b")))


@st.composite
def key_cell(draw: st.DrawFn, key: str) -> str:
    """A key as people write it: case, padding, a trailing colon, p/strong/span wrapping."""
    text = _pad(draw) + _case(draw, key) + draw(st.sampled_from(("", ":", " :"))) + _pad(draw)
    for wrapper in draw(st.lists(st.sampled_from(("p", "strong", "span", "em")), max_size=3)):
        text = f"<{wrapper}>{text}</{wrapper}>"
    return text


@st.composite
def status_cell(draw: st.DrawFn, status: str) -> str:
    """A status as plain text or as a lozenge, in any case."""
    shown = _case(draw, status)
    if draw(st.booleans()):
        return (
            '<p><ac:structured-macro ac:name="status" ac:schema-version="1">'
            f'<ac:parameter ac:name="title">{shown}</ac:parameter>'
            "</ac:structured-macro></p>"
        )
    return f"<p>{_pad(draw)}{shown}{_pad(draw)}</p>"


@st.composite
def date_cell(draw: st.DrawFn, day: date) -> str:
    """A date picked (<time>) or typed in one of the common forms."""
    forms = (
        f'<time datetime="{day.isoformat()}" />',
        day.isoformat(),
        f"{day.day} {day:%b %Y}",
        f"{day.day} {day:%B %Y}",
        f"{day:%B} {day.day}, {day.year}",
        f"{day:%d.%m.%Y}",
        f"{day:%Y/%m/%d}",
    )
    return f"<p>{draw(st.sampled_from(forms))}</p>"


@st.composite
def deal_pages(draw: st.DrawFn) -> tuple[str, str, str, date]:
    """A deal page storage body and the deal it holds (account, status, date)."""
    account = draw(st.sampled_from(("Acme Corp", "Globex", "Initech & Sons")))
    status = draw(st.sampled_from(STATUSES))
    day = draw(st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 12, 31)))
    values = {
        "Account": f"<p>{_pad(draw)}{html.escape(account)}{_pad(draw)}</p>",
        "Jira project": "<p>ACME</p>",
        "Contract status": draw(status_cell(status)),
        "Signed on": draw(date_cell(day)),
        "Account executive": '<p><ac:link><ri:user ri:account-id="712020:sam" /></ac:link></p>',
    }
    order = draw(st.permutations(KEYS))
    key_tag = draw(st.sampled_from(("th", "td")))
    layout = draw(st.sampled_from(("vertical", "header-row", "horizontal")))
    keys = [draw(key_cell(k)) for k in order]
    if layout == "horizontal":
        head = "".join(f"<th>{k}</th>" for k in keys)
        body = "".join(f"<td>{values[k]}</td>" for k in order)
        table = f"<table><tbody><tr>{head}</tr><tr>{body}</tr></tbody></table>"
    else:
        rows = [
            f"<tr><{key_tag}>{k}</{key_tag}><td>{values[name]}</td></tr>"
            for k, name in zip(keys, order, strict=True)
        ]
        if layout == "header-row":
            rows[0] = f"<tr><th>{keys[0]}</th><th>{values[order[0]]}</th></tr>"
            table = f"<table><thead>{rows[0]}</thead><tbody>{''.join(rows[1:])}</tbody></table>"
        else:
            table = f"<table><tbody>{''.join(rows)}</tbody></table>"
    macro = (
        '<ac:structured-macro ac:name="details" ac:schema-version="1">'
        f"<ac:rich-text-body>{table}</ac:rich-text-body></ac:structured-macro>"
    )
    container = draw(st.sampled_from(("none", "panel", "expand", "layout")))
    if container in ("panel", "expand"):
        macro = (
            f'<ac:structured-macro ac:name="{container}"><ac:rich-text-body>{macro}'
            "</ac:rich-text-body></ac:structured-macro>"
        )
    elif container == "layout":
        macro = (
            '<ac:layout><ac:layout-section ac:type="single"><ac:layout-cell>'
            f"{macro}</ac:layout-cell></ac:layout-section></ac:layout>"
        )
    return macro, account, status, day


@settings(max_examples=300, deadline=None)
@given(deal_pages())
def test_variations_read_as_the_same_deal(case: tuple[str, str, str, date]) -> None:
    """Whatever the whitespace, case, wrapping, cell kinds, container and date format, the
    deal is the same: account, project, status (ignoring case and spaces), date, executive."""
    storage, account, status, day = case
    page = {"id": "1", "title": "Deal", "body": {"storage": {"value": storage}}}
    deal = deal_from_page(page, DealSource(), resolve=resolve, base_url="http://x")
    assert isinstance(deal, Deal), deal
    assert deal.account == account
    assert deal.jira_project == "ACME"
    assert deal.contract_status is not None
    assert status_key(deal.contract_status) == status_key(status)
    assert deal.signed_on == day
    assert deal.account_executive == SAM
    assert deal.unreadable is None
    assert deal.notes == ()
