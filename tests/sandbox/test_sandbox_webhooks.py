"""The sandbox registers admin webhooks as Jira does and sends each REST change, signed."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
import yaml
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from tests.humans import Human, with_logins
from tests.sandbox.conftest import SMALL_SITE
from worker.sandbox import Sandbox

SECRET = "s3cret-webhook-value"


@dataclass
class Receiver:
    """A plain HTTP endpoint that keeps what it receives."""

    url: str = ""
    got: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    arrived: threading.Event = field(default_factory=threading.Event)

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _h, body in self.got]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()

    @Request.application
    def app(request: Request) -> Response:
        found.got.append((dict(request.headers), request.get_data()))
        found.arrived.set()
        return Response(status=202)

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    found.url = f"http://127.0.0.1:{server.port}/webhooks/jira"
    yield found
    server.shutdown()
    thread.join(timeout=5)


def _site(flavor: str) -> dict[str, Any]:
    site = copy.deepcopy(yaml.safe_load(SMALL_SITE.read_text()))
    site["site"]["flavor"] = flavor
    return dict(with_logins(site))


@pytest.fixture(params=["cloud", "datacenter"])
def sandbox(request: pytest.FixtureRequest) -> Iterator[Sandbox]:
    with Sandbox.start(_site(request.param)) as sb:
        yield sb


def _bot(sandbox: Sandbox) -> requests.Session:
    http = requests.Session()
    if sandbox.flavor == "cloud":
        http.auth = (sandbox.bot_email, sandbox.bot_token)
    else:
        http.headers["Authorization"] = f"Bearer {sandbox.bot_token}"
    return http


def test_registered_through_the_admin_rest_api_and_signed(sandbox: Sandbox,
                                                          receiver: Receiver) -> None:
    """A webhook registered with POST /rest/webhooks/1.0/webhook gets a comment's events,
    signed with HMAC-SHA256 of the raw body (X-Hub-Signature: sha256=...)."""
    answer = _bot(sandbox).post(f"{sandbox.url}/rest/webhooks/1.0/webhook", json={
        "name": "hg", "url": receiver.url, "secret": SECRET,
        "events": ["jira:issue_updated", "comment_created"],
        "filters": {"issue-related-events-section": "project = ACME"}, "excludeBody": False,
    }, timeout=10)
    assert answer.status_code == 201, answer.text
    assert "secret" not in answer.json()
    assert answer.json()["self"].endswith("/rest/webhooks/1.0/webhook/1")
    Human.named(sandbox, "bob").comment("ACME-1", "Any news?")
    assert sandbox.wait_webhooks(10)
    names = [e["webhookEvent"] for e in receiver.events()]
    assert names == ["jira:issue_updated", "comment_created"]
    for headers, body in receiver.got:
        expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert headers["X-Hub-Signature"] == expected
        assert headers["Content-Type"].startswith("application/json")
        assert headers["X-Atlassian-Webhook-Identifier"]
    update = receiver.events()[0]
    assert update["issue"]["key"] == "ACME-1"
    assert update["issue_event_type_name"] == "issue_commented"
    assert isinstance(update["timestamp"], int)
    assert [d["status"] for d in sandbox.webhook_deliveries()] == [202, 202]


def test_jql_filter_and_subscribed_events_only(sandbox: Sandbox, receiver: Receiver) -> None:
    """Only issues the JQL filter takes and only subscribed events are sent; a property
    alone sends no issue event."""
    sandbox.register_webhook(receiver.url, secret=SECRET, jql="project = \"LOCK\"",
                             events=("jira:issue_updated",))
    bob = Human.named(sandbox, "bob")
    bob.comment("ACME-1", "not in the filter")
    bob.comment("LOCK-1", "in the filter")
    _bot(sandbox).put(f"{sandbox.url}/rest/api/2/issue/LOCK-1/properties/x", json={"a": 1},
                      timeout=10).raise_for_status()
    assert sandbox.wait_webhooks(10)
    assert [(e["webhookEvent"], e["issue"]["key"]) for e in receiver.events()] == [
        ("jira:issue_updated", "LOCK-1")]


def test_created_assigned_and_unsigned(sandbox: Sandbox, receiver: Receiver) -> None:
    """A new issue sends jira:issue_created, an assignment issue_assigned; a webhook saved
    without a secret sends no signature."""
    sandbox.register_webhook(receiver.url, secret=None)
    ann = Human.named(sandbox, "ann")
    key = ann.create("ACME", "New deliverable")
    ann.assign(key, Human.named(sandbox, "bob").ident)
    assert sandbox.wait_webhooks(10)
    events = receiver.events()
    assert [(e["webhookEvent"], e.get("issue_event_type_name")) for e in events] == [
        ("jira:issue_created", "issue_created"), ("jira:issue_updated", "issue_assigned")]
    assert all("X-Hub-Signature" not in h for h, _b in receiver.got)


def test_dynamic_webhooks_are_for_apps(sandbox: Sandbox) -> None:
    """Cloud's /rest/api/3/webhook refuses an API-token caller (403; apps only); Data
    Center has no such endpoint (404)."""
    answer = _bot(sandbox).post(f"{sandbox.url}/rest/api/2/webhook", json={
        "url": "http://127.0.0.1:1/x", "webhooks": []}, timeout=10)
    assert answer.status_code == (403 if sandbox.flavor == "cloud" else 404)


def test_bad_registration_refused(sandbox: Sandbox) -> None:
    """A filter that is not JQL, or an event the sandbox does not send, is refused (400)."""
    http = _bot(sandbox)
    for body in (
        {"url": "http://127.0.0.1:1/x", "events": ["jira:issue_updated"],
         "filters": {"issue-related-events-section": "project = = ACME"}},
        {"url": "http://127.0.0.1:1/x", "events": ["sprint_started"]},
        {"url": "ftp://x", "events": ["jira:issue_updated"]},
    ):
        answer = http.post(f"{sandbox.url}/rest/webhooks/1.0/webhook", json=body, timeout=10)
        assert answer.status_code == 400, body
    assert http.get(f"{sandbox.url}/rest/webhooks/1.0/webhook", timeout=10).json() == []
