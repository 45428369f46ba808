"""Who-is-who endpoints over real HTTP: myself, serverInfo, fields, users and group members,
on the example site as Jira Cloud and as Data Center."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from atlassian import Jira

from worker.sandbox import Sandbox


def _cloud(sb: Sandbox) -> Jira:
    return Jira(sb.url, username=sb.bot_email, password=sb.bot_token, cloud=True,
                backoff_and_retry=False, retry_with_header=False)


def _dc(sb: Sandbox) -> Jira:
    return Jira(sb.url, token=sb.bot_token, cloud=False, backoff_and_retry=False,
                retry_with_header=False)


def _get(sb: Sandbox, path: str, **params: Any) -> requests.Response:
    return requests.get(sb.url + path, params=params, auth=(sb.bot_email, sb.bot_token),
                        timeout=10)


def test_myself_and_server_info_cloud(sandbox: Sandbox) -> None:
    """Cloud: myself is the bot by accountId; serverInfo says Cloud and the site time."""
    jira = _cloud(sandbox)
    me = jira.myself()
    assert me["accountId"] == sandbox.bot_account_id
    assert me["displayName"] == "Handoff Guard"
    info = jira.get_server_info()
    assert info["deploymentType"] == "Cloud"
    assert info["serverTime"] == "2026-11-02T09:00:00.000+0000"
    assert info["baseUrl"] == sandbox.url


def test_myself_and_server_info_data_center(dc_sandbox: Sandbox) -> None:
    """Data Center: myself is the bot by name; serverInfo says Server."""
    jira = _dc(dc_sandbox)
    me = jira.myself()
    assert (me["name"], me["key"]) == ("handoff-bot", "handoff-bot")
    assert "accountId" not in me
    assert jira.get_server_info()["deploymentType"] == "Server"


def test_field_list_has_system_custom_and_flagged(sandbox: Sandbox) -> None:
    """GET /field lists system and custom fields with schemas, Flagged included."""
    fields = {f["name"]: f for f in _cloud(sandbox).get_all_fields()}
    assert fields["Summary"]["custom"] is False
    assert fields["Contract status"]["id"] == "customfield_10051"
    assert fields["Contract status"]["schema"]["type"] == "option"
    assert fields["Contract status"]["schema"]["customId"] == 10051
    assert fields["Account"]["schema"]["type"] == "string"
    assert fields["Flagged"]["schema"]["items"] == "option"


@pytest.mark.parametrize(("params", "status", "name"), [
    ({"accountId": "712020:priya"}, 200, "Priya Raman"),
    ({"accountId": "712020:olga"}, 200, "Olga Petrova"),
    ({"accountId": "712020:nobody"}, 404, None),
    ({"accountId": "priya"}, 404, None),
])
def test_user_by_account_id(sandbox: Sandbox, params: dict[str, str], status: int,
                            name: str | None) -> None:
    """Cloud finds users by accountId only."""
    response = _get(sandbox, "/rest/api/3/user", **params)
    assert response.status_code == status
    if name:
        assert response.json()["displayName"] == name


def test_user_by_username_on_data_center(dc_sandbox: Sandbox) -> None:
    """Data Center finds users by username."""
    assert _dc(dc_sandbox).user("priya")["displayName"] == "Priya Raman"


def test_user_search(sandbox: Sandbox) -> None:
    """/user/search matches display name, name and e-mail prefixes."""
    found = _get(sandbox, "/rest/api/3/user/search", query="pri").json()
    assert [u["accountId"] for u in found] == ["712020:priya"]
    by_last_name = _get(sandbox, "/rest/api/3/user/search", query="okafor").json()
    assert [u["displayName"] for u in by_last_name] == ["Lee Okafor"]


def test_group_members_by_id_paged_and_inactive_only_when_asked(sandbox: Sandbox) -> None:
    """group/member by groupId pages with isLast and hides inactive users unless asked."""
    active = _get(sandbox, "/rest/api/3/group/member", groupId="grp-0001").json()
    assert [u["accountId"] for u in active["values"]] == ["712020:priya", "712020:marco"]
    assert active["isLast"] is True
    first = _get(sandbox, "/rest/api/3/group/member", groupId="grp-0001", maxResults=1,
                 includeInactiveUsers="true").json()
    assert (len(first["values"]), first["isLast"], first["total"]) == (1, False, 3)
    last = _get(sandbox, "/rest/api/3/group/member", groupId="grp-0001", maxResults=1,
                startAt=2, includeInactiveUsers="true").json()
    assert last["values"][0]["active"] is False
    assert last["isLast"] is True


def test_group_members_by_name_with_the_library(dc_sandbox: Sandbox) -> None:
    """The library's get_all_users_from_group (groupname) works on Data Center."""
    members = _dc(dc_sandbox).get_all_users_from_group("sales")
    assert [u["name"] for u in members["values"]] == ["sam", "dana"]


@pytest.mark.parametrize(("params", "status"), [({"groupname": "nope"}, 404), ({}, 400)])
def test_group_member_errors(sandbox: Sandbox, params: dict[str, str], status: int) -> None:
    """Unknown groups are 404; no group at all is 400."""
    assert _get(sandbox, "/rest/api/3/group/member", **params).status_code == status
