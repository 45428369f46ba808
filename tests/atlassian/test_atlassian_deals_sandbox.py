"""Reading deal pages over HTTP against the sandbox: people on Data Center and legacy pages,
reads that fail behind a 2xx, and ``_links.next`` that leaves the site."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from structlog.testing import capture_logs

from worker.model.deals import DealSource

SAM_KEY = "8a7f3c2e9b1d4f6a0c5e7b9d2f4a6c8e"
GHOST_KEY = "0123456789abcdef0123456789abcdef"


def deal_storage(mention: str, status: str = "Signed") -> str:
    """A deal page body (the shape a migrated Server page has) mentioning someone."""
    return (
        '<ac:structured-macro ac:name="details"><ac:rich-text-body><table><tbody>'
        "<tr><th>Account:</th><td>Hooli</td></tr><tr><th>Jira project:</th><td>HOOLI</td></tr>"
        f"<tr><th>Contract status:</th><td>{status}</td></tr>"
        f"<tr><th>Account executive:</th><td><ac:link>{mention}</ac:link></td></tr>"
        "</tbody></table></ac:rich-text-body></ac:structured-macro>"
    )


def site_with(kit: Any, flavor: str, *pages: dict[str, Any]) -> dict[str, Any]:
    """The example site in ``flavor``; Sam carries a Confluence key; extra pages added."""
    site = kit.sitegen.example_site()
    site["site"]["flavor"] = flavor
    sam = next(u for u in site["users"] if u["name"] == "sam")
    sam["confluence_key"] = SAM_KEY
    site["confluence"]["pages"].extend(pages)
    return site


def hooli(page_id: str, storage: str) -> dict[str, Any]:
    """A verbatim deal page in SALES."""
    return {"id": page_id, "space": "SALES", "title": f"Deal: Hooli {page_id}",
            "labels": ["deal"], "storage": storage}


def test_dc_user_key_resolves_through_confluence_then_jira(kit) -> None:
    """ri:userkey (Confluence's 32-hex key) -> /wiki/rest/api/user?key= -> username -> Jira;
    looked up once per cycle however many pages name the person."""
    site = site_with(kit, "datacenter",
                     hooli("400001", deal_storage(f'<ri:user ri:userkey="{SAM_KEY}" />')))
    with kit.open_site(site) as (sb, atl):
        sb.clear_requests()
        read = atl.confluence.deals(DealSource())
        by_account = {d.account: d for d in read.deals}
        assert by_account["Hooli"].account_executive is not None
        assert by_account["Hooli"].account_executive.id == "sam"
        assert by_account["Acme Corp"].account_executive is not None
        assert by_account["Acme Corp"].account_executive.id == "sam"
        lookups = [r["query"] for r in sb.requests() if r["path"] == "/wiki/rest/api/user"]
        assert lookups.count(f"key={SAM_KEY}") == 1  # two pages name Sam: one lookup
        jira_users = [r for r in sb.requests() if r["path"] == "/rest/api/2/user"]
        assert {r["query"] for r in jira_users} >= {"username=sam"}


def test_legacy_cloud_user_key_resolves_to_the_account(kit) -> None:
    """A page migrated from Server to Cloud still carries ri:userkey: Confluence Cloud
    answers the accountId, and the executive is found."""
    site = site_with(kit, "cloud",
                     hooli("400001", deal_storage(f'<ri:user ri:userkey="{SAM_KEY}" />')))
    with kit.open_site(site) as (_sb, atl):
        directory = atl.jira.directory(["sales"])
        read = atl.confluence.deals(DealSource(), directory=directory)
        hooli_deal = next(d for d in read.deals if d.account == "Hooli")
        assert hooli_deal.account_executive is not None
        assert hooli_deal.account_executive.id == "712020:sam"


def test_an_unknown_user_key_is_evidence_not_an_exception(kit, flavor) -> None:
    """A user key nobody knows leaves the executive empty, says so, and the deal stays."""
    site = site_with(kit, flavor,
                     hooli("400001", deal_storage(f'<ri:user ri:userkey="{GHOST_KEY}" />')))
    with kit.open_site(site) as (_sb, atl), capture_logs() as logs:
        read = atl.confluence.deals(DealSource())
    deal = next(d for d in read.deals if d.account == "Hooli")
    assert deal.contract_status == "Signed"
    assert deal.account_executive is None
    assert deal.notes == (f"the account executive (ri:userkey {GHOST_KEY}) could not be found",)
    assert any(e["event"] == "confluence.user_unresolved" for e in logs)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("", "Confluence answered a 2xx without a list of results (an empty body)"),
        ("<html><body>Log in to continue</body></html>", "Confluence answered something else"),
        ({"message": "ok"}, "Confluence answered a 2xx without a list of results (dict)"),
    ],
)
def test_a_2xx_that_is_not_a_cql_answer_is_a_failed_read(kit, flavor, body: Any,
                                                        reason: str) -> None:
    """An empty 200, an HTML page or an object without results is a failed read."""
    with kit.open_site(site_with(kit, flavor)) as (sb, atl):
        sb.add_faults([{"method": "GET", "path": "/wiki/rest/api/content/search",
                        "status": 200, "body": body}])
        read = atl.confluence.deals(DealSource())
    assert read.deals == ()
    assert read.failed is not None
    assert read.failed.startswith(reason)


def test_far_fewer_pages_than_last_time_is_a_failed_read(kit, flavor) -> None:
    """Three deal pages after a read that found ten: under half, so the read failed."""
    with kit.open_site(site_with(kit, flavor)) as (_sb, atl):
        assert atl.confluence.deals(DealSource(), last_pages=6).failed is None
        read = atl.confluence.deals(DealSource(), last_pages=10)
        assert len(read.deals) == 3
        assert read.failed is not None
        assert read.failed.startswith(
            "found 3 deal page(s), under 50% of the 10 the last successful read found"
        )
        assert atl.confluence.deals(DealSource(min_pages_share=0.2), last_pages=10).failed is None


@contextmanager
def recording_listener() -> Iterator[tuple[str, list[dict[str, str]]]]:
    """A second local server (another port) that records the headers it receives and
    answers like a Confluence results page."""
    seen: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append({k.lower(): v for k, v in self.headers.items()})
            body = json.dumps({"results": [], "size": 0, "_links": {}}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.mark.parametrize("form", ["absolute", "base"])
def test_links_next_off_the_site_is_refused_and_gets_no_credentials(kit, flavor,
                                                                    form: str) -> None:
    """A _links.next (or _links.base) pointing at another host:port stops paging with an
    error; the other server receives nothing, so no Authorization header leaves the site."""
    with recording_listener() as (elsewhere, seen), kit.open_site(site_with(kit, flavor)) as (
        sb, atl
    ):
        first = atl.confluence.transport.call(
            "GET", "rest/api/content/search",
            params={"cql": 'label = "deal"', "expand": "body.storage", "limit": 2},
        )
        links = {"next": f"{elsewhere}/wiki/rest/api/content/search?cursor=abc"}
        if form == "base":
            links = {"base": f"{elsewhere}/wiki", "next": "/rest/api/content/search?cursor=abc"}
        sb.add_faults([{"method": "GET", "path": "/wiki/rest/api/content/search",
                        "status": 200, "times": 1,
                        "body": {**first, "_links": {**first["_links"], **links}}}])
        with capture_logs() as logs:
            read = atl.confluence.deals(DealSource())
    assert seen == []
    assert read.failed is not None
    assert "_links.next points off the site (http://127.0.0.1:" in read.failed
    assert "no credentials were sent there" in read.failed
    assert [e["event"] for e in logs if e["event"] == "confluence.link_refused"] == [
        "confluence.link_refused"
    ]


def test_links_next_on_the_site_is_followed(kit, flavor) -> None:
    """An absolute next link on the configured site (same scheme, host and port) is fine."""
    with kit.open_site(site_with(kit, flavor)) as (sb, atl):
        first = atl.confluence.transport.call(
            "GET", "rest/api/content/search",
            params={"cql": 'space = "SALES" and label = "deal"',
                    "expand": "body.storage,version", "limit": 2},
        )
        absolute = first["_links"]["base"] + first["_links"]["next"]
        sb.add_faults([{"method": "GET", "path": "/wiki/rest/api/content/search",
                        "status": 200, "times": 1,
                        "body": {**first, "_links": {**first["_links"], "next": absolute}}}])
        read = atl.confluence.deals(DealSource())
    assert read.failed is None
    assert len(read.deals) == 3
