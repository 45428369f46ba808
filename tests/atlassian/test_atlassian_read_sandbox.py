"""The read path over real HTTP against the sandbox: clients, clock, directory, search, deals."""

from __future__ import annotations

import dataclasses
import logging
from datetime import UTC, datetime, timedelta

import pytest

from worker.atlassian.clients import connect
from worker.atlassian.transport import AtlassianHTTPError
from worker.model.deals import DealSource
from worker.model.issue import IssueSnapshot, MalformedIssue


def test_connect_detects_flavor_and_turns_library_retries_off(kit, flavor) -> None:
    """The flavor comes from /serverInfo; the library's retries are off; timeouts are ints."""
    with kit.open_site(kit.sitegen.make_site(3, flavor=flavor)) as (sb, atl):
        assert atl.flavor == flavor
        for client in (atl.jira.transport.client, atl.confluence.transport.client):
            assert client.backoff_and_retry is False
            assert client.retry_with_header is False
            assert client.timeout == 5
        assert logging.getLogger("atlassian.rest_client").getEffectiveLevel() >= logging.INFO
        ident = sb.bot_account_id if flavor == "cloud" else sb.bot_name
        assert atl.bot.id == ident
        sb.clear_requests()
        assert atl.bot.id == ident
        assert sb.requests() == []  # /myself is read once per process


def test_wrong_credentials_fail_at_once(kit, flavor, waits) -> None:
    """A 401 surfaces at once as an HTTP error with its status, without retries."""
    with kit.open_site(kit.sitegen.make_site(1, flavor=flavor)) as (sb, _atl):
        bad = (
            dataclasses.replace(
                kit.connection_for(sb, flavor=flavor),
                api_token="wrong",
                personal_token=None,
                username=sb.bot_email,
            )
            if flavor == "cloud"
            else dataclasses.replace(kit.connection_for(sb, flavor=flavor), personal_token="wrong")
        )
        atl = connect(bad)
        with pytest.raises(AtlassianHTTPError) as caught:
            atl.jira.server_now()
        assert caught.value.status == 401
        assert waits == []


def test_site_clock_is_the_cycle_clock(kit, flavor) -> None:
    """server_now follows the sandbox clock, not the worker machine's."""
    with kit.open_site(kit.sitegen.make_site(1, flavor=flavor)) as (sb, atl):
        assert atl.jira.server_now() == datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
        sb.advance("3d")
        assert atl.jira.server_now() == datetime(2026, 11, 5, 9, 0, tzinfo=UTC)


def test_directory_has_active_members_only(kit, flavor) -> None:
    """Group members are read page by page; Olga (inactive) is not a member."""
    with kit.open_site(kit.sitegen.make_site(1, flavor=flavor)) as (_sb, atl):
        directory = atl.jira.directory(["project-managers", "sales"])
        ids = {
            "cloud": ("712020:priya", "712020:marco", "712020:sam", "712020:dana"),
            "datacenter": ("priya", "marco", "sam", "dana"),
        }[flavor]
        assert directory.groups["project-managers"] == frozenset(ids[:2])
        assert directory.groups["sales"] == frozenset(ids[2:])
        assert directory.people[ids[2]].display_name == "Sam Ortiz"


def test_example_site_search_builds_snapshots(kit, flavor) -> None:
    """The example site's candidates come back with fields, comments and state inline."""
    site = kit.sitegen.example_site()
    site["site"]["flavor"] = flavor
    with kit.open_site(site) as (sb, atl):
        atl.jira.field_info()
        atl.bot  # noqa: B018 - warm the per-process constants
        sb.clear_requests()
        results = list(atl.jira.search(kit.spec))
        assert len(sb.requests()) == 1  # one page, no per-issue GET
        snaps = {s.key: s for s in results if isinstance(s, IssueSnapshot)}
        assert set(snaps) == {"ACME-1", "ACME-2", "GLOBEX-7", "SALES-3"}
        acme = snaps["ACME-1"]
        assert acme.summary == "Finalize SOW for Acme phase 2"
        assert acme.fields["Account"] == "Acme Corp"
        assert acme.status_category == "indeterminate"
        assert [c.text for c in acme.comments] == [
            "Priya, can you get this over the line today? I need an update by EOD."
        ]
        assert acme.last_human_activity == datetime(2026, 10, 30, 16, 20, tzinfo=UTC)
        assert snaps["SALES-3"].fields["Contract status"] == "Draft"
        assert snaps["SALES-3"].state.policies == {}
        query = sb.requests()[0]
        assert query["method"] == "POST"


def test_search_pages_and_reports_malformed_state(kit, flavor) -> None:
    """250 candidates take three pages; a bad stored property makes that ticket's state a
    doubt with the reason (anyone who may edit it may write the property)."""
    site = kit.sitegen.make_site(250, flavor=flavor)
    site["issues"][7]["properties"] = {"handoff-guard": {"policies": {"p": "not an object"}}}
    with kit.open_site(site) as (sb, atl):
        atl.jira.field_info()
        atl.bot  # noqa: B018
        sb.clear_requests()
        results = list(atl.jira.search(kit.spec))
        assert len(results) == 250
        assert not [r for r in results if isinstance(r, MalformedIssue)]
        bad = [r for r in results if r.state_doubt is not None]
        assert [b.key for b in bad] == [site["issues"][7]["key"]]
        assert "state for policy 'p'" in (bad[0].state_doubt or "")
        assert len(sb.requests()) == 3


def test_deals_from_example_pages(kit, flavor) -> None:
    """The example deal pages parse into deals with resolved account executives."""
    site = kit.sitegen.example_site()
    site["site"]["flavor"] = flavor
    with kit.open_site(site) as (sb, atl):
        directory = atl.jira.directory(["sales"])
        sb.clear_requests()
        read = atl.confluence.deals(DealSource(), directory=directory)
        deals = read.deals
        assert read.skips == ()
        assert read.failed is None
        by_account = {d.account: d for d in deals}
        assert set(by_account) == {"Acme Corp", "Globex", "Initech"}
        acme = by_account["Acme Corp"]
        assert acme.jira_project == "ACME"
        assert acme.contract_status == "In negotiation"
        assert acme.signed_on is None
        assert acme.account_executive is not None
        assert acme.account_executive.display_name == "Sam Ortiz"
        assert by_account["Globex"].signed_on == datetime(2026, 10, 15).date()
        assert by_account["Initech"].jira_project is None
        # One CQL page; executives came from the directory. On Data Center a mention is
        # Confluence's user key: one /rest/api/user?key= per distinct person (Sam, Dana).
        key_lookups = 0 if flavor == "cloud" else 2
        assert len(sb.requests()) == 1 + key_lookups
        sb.clear_requests()
        again = atl.confluence.deals(DealSource()).deals  # no directory: Jira's user cache
        assert [d.account_executive for d in again] == [d.account_executive for d in deals]
        assert len(sb.requests()) == 1 + key_lookups


def test_deals_paginate_and_skip_bad_pages(kit, flavor) -> None:
    """Sixty deal pages take two CQL pages; a page naming no customer is a skip."""
    site = kit.sitegen.example_site()
    site["site"]["flavor"] = flavor
    template = site["confluence"]["pages"][1]
    for i in range(57):
        page = {
            **template,
            "id": str(300000 + i),
            "title": f"Deal: Extra {i}",
            "properties": {**template["properties"], "Account": f"Extra {i}"},
        }
        site["confluence"]["pages"].append(page)
    site["confluence"]["pages"][0]["properties"]["Account"] = ""
    site["confluence"]["pages"][0]["properties"]["Jira project"] = ""
    with kit.open_site(site) as (sb, atl):
        directory = atl.jira.directory(["sales"])
        sb.clear_requests()
        read = atl.confluence.deals(DealSource(), directory=directory)
        assert len(read.deals) == 59
        assert read.pages == 60
        assert [s.title for s in read.skips] == ["Deal: Acme Corp"]
        # two CQL pages; on Data Center one user-key lookup for Dana, the only executive left
        assert len(sb.requests()) == (2 if flavor == "cloud" else 3)


def test_search_retries_503_and_latency(kit, flavor, waits) -> None:
    """Two 503s with Retry-After on search, plus latency, are absorbed by the retry policy."""
    with kit.open_site(kit.sitegen.make_site(5, flavor=flavor)) as (sb, atl):
        atl.jira.field_info()
        atl.bot  # noqa: B018
        sb.add_faults(
            [
                {"method": "POST", "path": "/search", "status": 503, "retry_after": 1, "times": 2},
                {"latency_ms": 20},
            ]
        )
        results = list(atl.jira.search(kit.spec))
        assert len(results) == 5
        assert len(waits) == 2
        assert all(1.0 <= w <= 1.1 for w in waits)
        assert atl.retries == 2


def test_reads_retry_500_but_give_up_within_bounds(kit, flavor, waits) -> None:
    """A search that keeps failing with 500 ends with an error after bounded attempts."""
    with kit.open_site(kit.sitegen.make_site(2, flavor=flavor)) as (sb, atl):
        atl.jira.field_info()
        atl.bot  # noqa: B018
        sb.add_faults([{"method": "POST", "path": "/search", "status": 500}])
        with pytest.raises(AtlassianHTTPError) as caught:
            list(atl.jira.search(kit.spec))
        assert caught.value.status == 500
        assert len(waits) == 5
        assert sum(waits) <= timedelta(minutes=2).total_seconds()


def test_explicit_flavor_skips_detection(kit, flavor) -> None:
    """With the flavor set in settings, connecting sends no request at all."""
    with kit.open_site(kit.sitegen.make_site(1, flavor=flavor)) as (sb, _atl):
        sb.clear_requests()
        atl = connect(kit.connection_for(sb, flavor=flavor))
        assert atl.flavor == flavor
        assert sb.requests() == []
        atl.close()


def test_confluence_retries_log_one_event_each(kit, flavor, waits) -> None:
    """A 503 on the CQL search is retried once with one confluence.retry event."""
    from structlog.testing import capture_logs

    site = kit.sitegen.example_site()
    site["site"]["flavor"] = flavor
    with kit.open_site(site) as (sb, atl):
        sb.add_faults([{"method": "GET", "path": "/wiki/", "status": 503, "times": 1}])
        with capture_logs() as logs:
            deals = atl.confluence.deals(DealSource()).deals
        assert len(deals) == 3
        [event] = [e for e in logs if e["event"] == "confluence.retry"]
        assert (event["status"], event["attempt"], event["method"]) == (503, 1, "GET")
        assert event["wait_s"] == pytest.approx(waits[0], abs=0.001)


def test_search_leaves_the_description_out_when_no_policy_reads_it(kit, flavor) -> None:
    """With ``description=False`` the page carries no description (fewer bytes to decode);
    everything else a snapshot holds is unchanged."""
    site = kit.sitegen.example_site()
    site["site"]["flavor"] = flavor
    with kit.open_site(site) as (_sb, atl):
        full = {s.key: s for s in atl.jira.search(kit.spec) if isinstance(s, IssueSnapshot)}
        lean_spec = dataclasses.replace(kit.spec, description=False)
        lean = {s.key: s for s in atl.jira.search(lean_spec) if isinstance(s, IssueSnapshot)}
        assert any(s.description for s in full.values())
        assert all(s.description == "" for s in lean.values())
        assert {k: dataclasses.replace(s, description="") for k, s in full.items()} == lean


def test_search_prefetch_keeps_page_order_under_latency(kit, flavor) -> None:
    """250 candidates over three pages, each answered late: same issues, same order, three
    requests (the next page is fetched while the current one is parsed)."""
    site = kit.sitegen.make_site(250, flavor=flavor)
    with kit.open_site(site) as (sb, atl):
        atl.jira.field_info()
        atl.bot  # noqa: B018
        quick = [r.key for r in atl.jira.search(kit.spec)]
        sb.add_faults([{"latency_ms": 30}])
        sb.clear_requests()
        slow = [r.key for r in atl.jira.search(kit.spec)]
        assert slow == quick
        assert len(slow) == 250
        assert len(sb.requests()) == 3


def test_sessions_keep_connections_and_read_proxy_settings_once(kit, flavor) -> None:
    """The clients' sessions do not consult the environment per request (trust_env off)."""
    with kit.open_site(kit.sitegen.make_site(1, flavor=flavor)) as (_sb, atl):
        for client in (atl.jira.transport.client, atl.confluence.transport.client):
            assert client._session.trust_env is False
