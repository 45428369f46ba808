"""Confluence v1 under /wiki over real HTTP: CQL search (both endpoints, paging), pages with
their Page Properties macro, page creation and versioned update, labels."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from atlassian import ConfluenceServer
from lxml import etree

from worker.sandbox import Sandbox

DEALS = 'space = "SALES" and label = "deal"'


def _confluence(sb: Sandbox) -> ConfluenceServer:
    return ConfluenceServer(sb.url + "/wiki", username=sb.bot_email, password=sb.bot_token,
                            cloud=True, backoff_and_retry=False, retry_with_header=False)


def _get(sb: Sandbox, path: str, **params: Any) -> requests.Response:
    return requests.get(sb.url + "/wiki" + path, params=params,
                        auth=(sb.bot_email, sb.bot_token), timeout=10)


def _rows(storage: str) -> dict[str, str]:
    """Page Properties rows, key -> inner XML of the value cell (parsed, not regex)."""
    wrapped = ('<root xmlns:ac="http://atlassian.com/content" '
               'xmlns:ri="http://atlassian.com/resource">' + storage + "</root>")
    root = etree.fromstring(wrapped.encode())
    out = {}
    for row in root.iter("tr"):
        th, td = row.find("th"), row.find("td")
        assert th is not None
        assert td is not None
        out["".join(th.itertext())] = etree.tostring(td, encoding="unicode")
    return out


def test_content_search_pages_with_links_next(sandbox: Sandbox) -> None:
    """content/search returns pages directly and pages by start/limit and _links.next."""
    first = _get(sandbox, "/rest/api/content/search", cql=DEALS, limit=2).json()
    assert [p["title"] for p in first["results"]] == ["Deal: Acme Corp", "Deal: Globex"]
    assert first["_links"]["next"].startswith("/rest/api/content/search?")
    nxt = requests.get(first["_links"]["base"] + first["_links"]["next"],
                       auth=(sandbox.bot_email, sandbox.bot_token), timeout=10).json()
    assert [p["title"] for p in nxt["results"]] == ["Deal: Initech"]
    assert "next" not in nxt["_links"]


def test_site_search_wraps_content_and_expands_body(sandbox: Sandbox) -> None:
    """/search wraps each page in result.content; expand=content.body.storage gives the body."""
    body = _confluence(sandbox).cql(DEALS, expand="content.body.storage,content.version")
    content = body["results"][0]["content"]
    assert content["title"] == "Deal: Acme Corp"
    assert content["body"]["storage"]["representation"] == "storage"
    assert content["version"]["number"] == 1


def test_page_properties_macro_rendering_cloud(sandbox: Sandbox) -> None:
    """Page properties render as a details macro: users as ri:user account ids, dates as time."""
    page = _confluence(sandbox).get_page_by_id("100002", expand="body.storage,version")
    storage = page["body"]["storage"]["value"]
    assert storage.startswith('<ac:structured-macro ac:name="details" ac:schema-version="1">')
    rows = _rows(storage)
    assert list(rows) == ["Account", "Jira project", "Contract status", "Signed on",
                          "Account executive"]
    assert 'ri:account-id="712020:dana"' in rows["Account executive"]
    assert 'datetime="2026-10-15"' in rows["Signed on"]
    empty = _rows(_confluence(sandbox).get_page_by_id(
        "100001", expand="body.storage")["body"]["storage"]["value"])["Signed on"]
    assert "<p/>" in empty


def test_page_properties_escape_text_and_use_usernames_on_dc(small: Sandbox,
                                                             dc_sandbox: Sandbox) -> None:
    """Text is escaped; Data Center links users by Confluence's user key; the body follows."""
    storage = _get(small, "/rest/api/content/100001",
                   expand="body.storage").json()["body"]["storage"]["value"]
    assert "Acme &amp; Co &lt;x&gt;" in storage
    assert storage.endswith("<p>Body text.</p>")
    dc = requests.get(dc_sandbox.url + "/wiki/rest/api/content/100001",
                      params={"expand": "body.storage"},
                      headers={"Authorization": f"Bearer {dc_sandbox.bot_token}"},
                      timeout=10).json()
    assert 'ri:userkey="' in dc["body"]["storage"]["value"]
    assert 'ri:username="sam"' not in dc["body"]["storage"]["value"]


def test_create_update_and_label_a_page(sandbox: Sandbox) -> None:
    """Create a page, update it with version+1 (409 otherwise), add a label."""
    confluence = _confluence(sandbox)
    created = confluence.create_page("PS", "Handoff report", "<p>v1</p>")
    page_id = created["id"]
    assert created["version"]["number"] == 1
    auth = (sandbox.bot_email, sandbox.bot_token)
    url = f"{sandbox.url}/wiki/rest/api/content/{page_id}"
    stale = requests.put(url, auth=auth, timeout=10, json={
        "type": "page", "title": "Handoff report", "version": {"number": 1},
        "body": {"storage": {"value": "<p>v2</p>", "representation": "storage"}}})
    assert stale.status_code == 409
    ok = requests.put(url, auth=auth, timeout=10, json={
        "type": "page", "title": "Handoff report", "version": {"number": 2},
        "body": {"storage": {"value": "<p>v2</p>", "representation": "storage"}}})
    assert ok.status_code == 200
    assert ok.json()["version"]["number"] == 2
    confluence.set_page_label(page_id, "report")
    labels = _get(sandbox, f"/rest/api/content/{page_id}/label").json()["results"]
    assert [label["name"] for label in labels] == ["report"]
    found = _get(sandbox, "/rest/api/content/search", cql='label = "report"').json()
    assert [p["id"] for p in found["results"]] == [page_id]
    duplicate = requests.post(sandbox.url + "/wiki/rest/api/content", auth=auth, timeout=10,
                              json={"type": "page", "title": "Handoff report",
                                    "space": {"key": "PS"},
                                    "body": {"storage": {"value": "", "representation":
                                                         "storage"}}})
    assert duplicate.status_code == 400


@pytest.mark.parametrize("cql", ["space = ", "colour = red", ""])
def test_bad_cql_is_a_400(sandbox: Sandbox, cql: str) -> None:
    """Malformed CQL answers 400 in Confluence's body shape."""
    response = _get(sandbox, "/rest/api/content/search", cql=cql)
    assert response.status_code == 400
    assert response.json()["statusCode"] == 400


def test_unknown_page_is_404(sandbox: Sandbox) -> None:
    """An unknown page id is a 404."""
    assert _get(sandbox, "/rest/api/content/999").status_code == 404


@pytest.mark.parametrize(
    ("expand", "cap"),
    [("body.storage,version", 50), ("body", 50), ("version", 200), ("", 1000)],
)
def test_content_search_caps_limit_by_expansion(sandbox: Sandbox, expand: str, cap: int) -> None:
    """content/search caps ``limit`` by what it expands, as Confluence does: 50 with a body,
    200 with other expansions, 1000 with none (the answer's ``limit`` says which applied)."""
    params = {"cql": DEALS, "limit": 5000, **({"expand": expand} if expand else {})}
    answer = _get(sandbox, "/rest/api/content/search", **params).json()
    assert answer["limit"] == cap


def test_content_search_by_lastmodified(sandbox: Sandbox) -> None:
    """``lastmodified >=`` a minute in the searching user's time zone finds edited pages."""
    everything = _get(sandbox, "/rest/api/content/search", cql=DEALS).json()["results"]
    none = _get(sandbox, "/rest/api/content/search",
                cql=DEALS + ' and lastmodified >= "2999-01-01 00:00"').json()["results"]
    old = _get(sandbox, "/rest/api/content/search",
               cql=DEALS + ' and lastmodified >= "2000-01-01"').json()["results"]
    assert everything
    assert none == []
    assert len(old) == len(everything)
