"""Humans log in as themselves, create and edit issues; Jira's ``latest`` API, Cloud's caps
and orders in search, Data Center's ``warningMessages`` and persistent connections."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.humans import Human, with_logins
from worker.sandbox import Sandbox


def _site(data: dict[str, Any], flavor: str) -> dict[str, Any]:
    site = copy.deepcopy(data)
    site["site"]["flavor"] = flavor
    with_logins(site)
    return site


@pytest.fixture(params=["cloud", "datacenter"])
def human_site(request: pytest.FixtureRequest, example_site_dict: dict[str, Any]
               ) -> Iterator[Sandbox]:
    """The example site (each flavor) where every user has an API token."""
    with Sandbox.start(_site(example_site_dict, request.param)) as sandbox:
        yield sandbox


def _bot(sb: Sandbox) -> requests.Session:
    session = requests.Session()
    if sb.flavor == "cloud":
        session.auth = (sb.bot_email, sb.bot_token)
    else:
        session.headers["Authorization"] = f"Bearer {sb.bot_token}"
    return session


def test_a_human_logs_in_as_themselves_and_comments_under_their_name(human_site: Sandbox
                                                                     ) -> None:
    """Basic (Cloud) or Bearer (DC) with a user's own token acts as that user, not the bot."""
    sam = Human.named(human_site, "sam")
    me = sam.jira.myself()
    assert (me.get("accountId") if sam.cloud else me.get("name")) == sam.ident
    sam.comment("ACME-2", "Marco, please send the redlines today.")
    comments = _bot(human_site).get(f"{human_site.url}/rest/api/2/issue/ACME-2/comment",
                                    timeout=10).json()["comments"]
    author = comments[-1]["author"]
    assert (author.get("accountId") if sam.cloud else author.get("name")) == sam.ident
    bot_me = _bot(human_site).get(f"{human_site.url}/rest/api/2/myself", timeout=10).json()
    assert bot_me["displayName"] == "Handoff Guard"


def test_a_wrong_token_or_an_inactive_user_cannot_log_in(example_site_dict: dict[str, Any]
                                                        ) -> None:
    """Someone else's token, or the token of a user who left, answers 401."""
    site = _site(example_site_dict, "cloud")
    with Sandbox.start(site) as sb:
        for email, token in (("sam@example.com", "human-token-dana"),
                             ("olga@example.com", "human-token-olga")):
            r = requests.get(f"{sb.url}/rest/api/3/myself", auth=(email, token), timeout=10)
            assert r.status_code == 401, (email, r.text)


def test_a_human_creates_an_issue_that_search_finds_after_the_lag(
        example_site_dict: dict[str, Any]) -> None:
    """``POST /rest/api/latest/issue`` makes a ticket reported by its author; under search
    lag it shows in search only once the lag has passed (a GET sees it at once)."""
    site = _site(example_site_dict, "cloud")
    site["site"]["search_lag_s"] = 60
    with Sandbox.start(site) as sb:
        dana = Human.named(sb, "dana")
        key = dana.create("ACME", "Countersign the order form", issue_type="Contract",
                          assignee="712020:priya", labels=("contract",))
        assert key == "ACME-3"
        bot = _bot(sb)
        issue = bot.get(f"{sb.url}/rest/api/3/issue/{key}", timeout=10).json()
        assert issue["fields"]["reporter"]["accountId"] == "712020:dana"
        assert issue["fields"]["assignee"]["accountId"] == "712020:priya"
        assert issue["fields"]["issuetype"]["name"] == "Contract"
        query = {"jql": f"key = {key}", "fields": ["summary"]}
        found = bot.post(f"{sb.url}/rest/api/3/search/jql", json=query, timeout=10).json()
        assert found["issues"] == []
        sb.advance("61s")
        found = bot.post(f"{sb.url}/rest/api/3/search/jql", json=query, timeout=10).json()
        assert [i["key"] for i in found["issues"]] == [key]


def test_create_issue_refuses_what_jira_refuses(sandbox: Sandbox) -> None:
    """No project, no issue type, no summary: 400 naming each field."""
    bot = _bot(sandbox)
    r = bot.post(f"{sandbox.url}/rest/api/2/issue", json={"fields": {"summary": "x"}},
                 timeout=10)
    assert r.status_code == 400
    assert set(r.json()["errors"]) == {"project", "issuetype"}
    r = bot.post(f"{sandbox.url}/rest/api/2/issue", timeout=10,
                 json={"fields": {"project": {"key": "ACME"}, "issuetype": {"name": "Task"}}})
    assert r.status_code == 400
    assert "summary" in r.json()["errors"]


def test_a_human_edit_is_in_the_changelog_under_their_name(human_site: Sandbox) -> None:
    """An edit by a human is attributed to them (the bot tells human changes apart this way)."""
    marco = Human.named(human_site, "marco")
    marco.edit("ACME-2", update={"labels": [{"add": "waiting"}]})
    issue = _bot(human_site).get(f"{human_site.url}/rest/api/2/issue/ACME-2",
                                 params={"expand": "changelog"}, timeout=10).json()
    last = issue["changelog"]["histories"][-1]
    assert (last["author"].get("accountId") if marco.cloud
            else last["author"].get("name")) == marco.ident


def test_latest_is_served_as_version_2(sandbox: Sandbox) -> None:
    """``/rest/api/latest`` answers like v2: wiki strings, not ADF."""
    r = _bot(sandbox).get(f"{sandbox.url}/rest/api/latest/issue/ACME-1",
                          params={"fields": "comment"}, timeout=10)
    assert r.status_code == 200
    assert isinstance(r.json()["fields"]["comment"]["comments"][0]["body"], str)


def _many(sandbox: Sandbox, *, comments: int, edits: int) -> None:
    """Give ACME-2 many human comments and changelog entries."""
    sam = Human.named(sandbox, "sam")
    for n in range(comments):
        sam.comment("ACME-2", f"chasing {n}")
    for n in range(edits):
        sam.edit("ACME-2", fields={"summary": f"Follow up with Acme legal ({n})"})


def test_cloud_search_caps_comments_and_lists_the_changelog_newest_first(
        example_site_dict: dict[str, Any]) -> None:
    """Cloud ``search/jql``: 100 comments, the oldest, with the real total; the changelog
    newest first, capped, with the real total; ``/issue/{key}/changelog`` has all of it."""
    with Sandbox.start(_site(example_site_dict, "cloud")) as sb:
        _many(sb, comments=105, edits=45)
        bot = _bot(sb)
        page = bot.post(f"{sb.url}/rest/api/3/search/jql", timeout=30,
                        json={"jql": "key = ACME-2", "fields": ["comment"],
                              "expand": "changelog"}).json()
        issue = page["issues"][0]
        field = issue["fields"]["comment"]
        assert (len(field["comments"]), field["total"]) == (100, 105)
        assert field["comments"][0]["id"] < field["comments"][-1]["id"]
        log = issue["changelog"]
        assert (log["total"], len(log["histories"])) == (45, 40)
        assert log["histories"][0]["created"] >= log["histories"][-1]["created"]
        assert log["histories"][0]["items"][0]["toString"].endswith("(44)")
        full = bot.get(f"{sb.url}/rest/api/3/issue/ACME-2/changelog", timeout=10).json()
        assert (full["total"], full["isLast"]) == (45, True)
        assert full["values"][0]["items"][0]["toString"].endswith("(0)")
        # GET issue is not capped this way
        one = bot.get(f"{sb.url}/rest/api/3/issue/ACME-2", params={"fields": "comment"},
                      timeout=10).json()
        assert len(one["fields"]["comment"]["comments"]) == 105


def test_data_center_search_carries_warning_messages_and_no_changelog_endpoint(
        dc_sandbox: Sandbox) -> None:
    """DC ``/search`` answers carry ``warningMessages``; ``/issue/{key}/changelog`` is Cloud's."""
    bot = _bot(dc_sandbox)
    page = bot.post(f"{dc_sandbox.url}/rest/api/2/search", json={"jql": "project = ACME"},
                    timeout=10).json()
    assert page["warningMessages"] == []
    r = bot.get(f"{dc_sandbox.url}/rest/api/2/issue/ACME-1/changelog", timeout=10)
    assert r.status_code == 404


def test_connections_are_kept_alive(sandbox: Sandbox) -> None:
    """HTTP/1.1 with ``Connection: keep-alive``: a session reuses one connection, even after
    a fault answer and a request with a body."""
    bot = _bot(sandbox)
    sandbox.add_faults([{"path": "/serverInfo", "status": 503, "times": 1}])
    for call in (lambda: bot.get(f"{sandbox.url}/rest/api/3/serverInfo", timeout=10),
                 lambda: bot.put(f"{sandbox.url}/rest/api/3/issue/ACME-1",
                                 json={"update": {"labels": [{"add": "x"}]}}, timeout=10),
                 lambda: bot.get(f"{sandbox.url}/rest/api/3/myself", timeout=10)):
        r = call()
        assert r.raw.version == 11
        assert r.headers["Connection"] == "keep-alive"
    pools = bot.get_adapter(sandbox.url).poolmanager.pools
    # urllib3's pool container refuses iteration; keys() is its supported way
    assert sum(pools[key].num_connections for key in pools.keys()) == 1  # noqa: SIM118
