"""Data Center as real 8+ sites answer it: user keys that differ from usernames
(``JIRAUSER10615`` for ``larry.cheng``) and Confluence times in the server's zone with an
offset (``+01:00``), not ``Z``. The worker keeps working by username, over HTTP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

POLICIES = Path(__file__).resolve().parents[2] / "config" / "policies.yaml"


def dc_site(kit: Any) -> dict[str, Any]:
    """The example site on Data Center, with users made since Jira 8 (keys unlike names)."""
    site = kit.sitegen.example_site()
    site["site"]["flavor"] = "datacenter"
    site["users"].append({"account_id": "712020:larry", "name": "larry.cheng",
                          "display_name": "Larry Cheng", "jira_key": "JIRAUSER10615"})
    for user in site["users"]:
        if user["name"] in ("priya", "sam"):
            user["jira_key"] = f"JIRAUSER1{len(user['name']):04d}"
    return site


def test_dc_user_keys_differ_from_usernames(kit) -> None:
    """``/user`` answers ``key: JIRAUSER10615`` for larry.cheng, finds him by key and by
    username, and an assignee named by that key is larry.cheng."""
    with kit.open_site(dc_site(kit)) as (sb, atl):
        jira = atl.jira.transport
        by_name = jira.call("GET", "rest/api/2/user", params={"username": "larry.cheng"})
        assert (by_name["name"], by_name["key"]) == ("larry.cheng", "JIRAUSER10615")
        by_key = jira.call("GET", "rest/api/2/user", params={"key": "JIRAUSER10615"})
        assert by_key["name"] == "larry.cheng"
        jira.call("PUT", "rest/api/2/issue/ACME-1", body={"fields": {"assignee": {
            "key": "JIRAUSER10615"}}})
        issue = next(i for i in sb.site()["issues"] if i["key"] == "ACME-1")
        assert issue["assignee"] == "larry.cheng"


def test_dc_confluence_times_carry_the_server_offset(kit) -> None:
    """``version.when`` on Data Center is local time with an offset (Europe/Berlin: +01:00
    in December), on Cloud UTC with ``Z``."""
    with kit.open_site(dc_site(kit)) as (_sb, atl):
        page = atl.confluence.transport.call(
            "GET", "rest/api/content/search",
            params={"cql": 'label = "deal"', "expand": "version"},
        )["results"][0]
        assert page["version"]["when"].endswith("+01:00"), page["version"]["when"]


def test_policy_cycle_on_dc_with_user_keys(kit) -> None:
    """A whole policy cycle on such a site: the PM is found by username, the comment names
    the account executive by username, never by key."""
    policies = pytest.importorskip("worker.policy").load_policies(POLICIES)
    with kit.open_site(dc_site(kit)) as (sb, atl):
        cycle = kit.run_policy_cycle(sb, atl, kit.journal(), policies)
        assert cycle.outcomes, "the default policies act on the example site"
        assert all(o.status == "applied" for o in cycle.outcomes), cycle.outcomes
        bodies = [c["body"] for i in sb.site()["issues"] for c in i.get("comments", [])
                  if c["author"] == sb.bot_name]
        assert bodies
        assert not any("JIRAUSER" in body for body in bodies)
