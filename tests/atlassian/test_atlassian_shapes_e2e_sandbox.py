"""End to end over HTTP with the default policies: signed customers whose deal pages use each
real shape get nothing; unsigned ones get the comment, naming the account executive resolved
from ri:account-id (Cloud) or ri:userkey (Data Center)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from worker.sandbox.site import PAGE_SHAPES

POLICIES = Path(__file__).resolve().parents[2] / "config" / "policies.yaml"
SAM_KEY = "8a7f3c2e9b1d4f6a0c5e7b9d2f4a6c8e"
P1 = "sales-deliverable-before-signature"


@pytest.fixture
def policies() -> Any:
    """The default policy set shipped in config/."""
    return pytest.importorskip("worker.policy").load_policies(POLICIES)


def customer(site: dict[str, Any], key: str, account: str, shape: str,
             properties: dict[str, str]) -> None:
    """Add a customer: a Jira project, a PM's SOW ticket and a deal page in ``shape``."""
    site["projects"].append({"key": key, "name": f"{account} - Implementation", "lead": "priya"})
    site["issues"].append({
        "key": f"{key}-1", "type": "Statement of Work", "summary": f"SOW for {account}",
        "status": "In Progress", "assignee": "priya", "reporter": "priya", "labels": ["sow"],
        "created": "2026-10-27T10:00:00Z", "updated": "2026-10-30T16:20:00Z",
        "fields": {"customfield_10050": account},
    })
    site["confluence"]["pages"].append({
        "id": str(500000 + len(site["confluence"]["pages"])), "space": "SALES",
        "title": f"Deal: {account}", "labels": ["deal"], "created_by": "sam", "shape": shape,
        "properties": {"Account": account, "Jira project": key, **properties},
    })


def shaped_site(kit: Any, flavor: str) -> dict[str, Any]:
    """The example site plus, per shape, a signed and an unsigned customer, and a signed
    customer whose template was left with the status empty."""
    site = kit.sitegen.example_site()
    site["site"]["flavor"] = flavor
    next(u for u in site["users"] if u["name"] == "sam")["confluence_key"] = SAM_KEY
    for n, shape in enumerate(PAGE_SHAPES):
        letter = chr(ord("A") + n)
        name = shape.replace("-", " ")  # wiki markup escapes hyphens: keep names plain
        customer(site, f"S{letter}", f"Signed {name}", shape,
                 {"Contract status": "Signed", "Signed on": "2026-10-15",
                  "Account executive": "@dana"})
        customer(site, f"U{letter}", f"Open {name}", shape,
                 {"Contract status": "In negotiation", "Signed on": "",
                  "Account executive": "@sam"})
    customer(site, "HALF", "Half filled", "template",
             {"Contract status": "", "Signed on": "", "Account executive": "@dana"})
    return site


def bot_comments(sb: Any, key: str) -> list[dict[str, Any]]:
    """The bot's comments on one issue."""
    issue = next(i for i in sb.site()["issues"] if i["key"] == key)
    return [c for c in issue.get("comments", []) if c["author"] in (sb.bot_account_id,
                                                                     sb.bot_name)]


def test_each_shape_signed_gets_nothing_unsigned_gets_the_ae(kit, flavor, policies) -> None:
    """Signed customers' SOWs get no comment in any shape; unsigned ones get one naming Sam,
    resolved from ri:account-id on Cloud and ri:userkey on Data Center."""
    with kit.open_site(shaped_site(kit, flavor)) as (sb, atl):
        storage = atl.confluence.transport.call(
            "GET", "rest/api/content/search",
            params={"cql": 'title = "Deal: Open tidy"', "expand": "body.storage"},
        )["results"][0]["body"]["storage"]["value"]
        assert ('ri:account-id="712020:sam"' if flavor == "cloud"
                else f'ri:userkey="{SAM_KEY}"') in storage
        cycle = kit.run_policy_cycle(sb, atl, kit.journal(), policies)
        decisions = {(d.issue, d.policy): d for d in cycle.plan.decisions}
        mention = "[~accountid:712020:sam]" if flavor == "cloud" else "[~sam]"
        for n, shape in enumerate(PAGE_SHAPES):
            letter = chr(ord("A") + n)
            assert bot_comments(sb, f"S{letter}-1") == [], shape
            assert decisions[(f"S{letter}-1", P1)].verdict == "no-match", shape
            [comment] = bot_comments(sb, f"U{letter}-1")
            assert mention in comment["body"], shape
            # as written on the page: the title-case shape's lozenge says IN NEGOTIATION
            name = shape.replace("-", " ")
            assert f"deal Open {name} is In negotiation".casefold() in (
                comment["body"].casefold()
            ), shape
        half = decisions[("HALF-1", P1)]
        assert half.verdict == "skip"
        assert "'Contract status' is empty" in (half.reason or "")
        assert bot_comments(sb, "HALF-1") == []
