"""Jira issues over real HTTP: GET, the atomic edit, comments, assignee, properties,
transitions, with the atlassian-python-api clients the worker uses."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from atlassian import Jira, JiraCloud

from worker.sandbox import Sandbox

NOT_FOUND = "Issue does not exist or you do not have permission to see it."
ADF_ERROR = "Operation value must be an Atlassian Document (see the Atlassian Document Format)"


def _adf(text: str) -> dict[str, Any]:
    return {"type": "doc", "version": 1,
            "content": [{"type": "paragraph", "content": [{"type": "text", "text": text}]}]}


def _jira(sb: Sandbox) -> Jira:
    return Jira(sb.url, username=sb.bot_email, password=sb.bot_token, cloud=True,
                backoff_and_retry=False, retry_with_header=False)


def _call(sb: Sandbox, method: str, path: str, **kwargs: Any) -> requests.Response:
    return requests.request(method, sb.url + path, auth=(sb.bot_email, sb.bot_token),
                            timeout=10, **kwargs)


def _issue(sb: Sandbox, key: str, api: int = 3, **params: Any) -> dict[str, Any]:
    response = _call(sb, "GET", f"/rest/api/{api}/issue/{key}", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_get_issue_v3_has_adf_and_cloud_users(small: Sandbox) -> None:
    """v3 renders description and comments as ADF, users by accountId, Jira timestamps."""
    issue = _jira(small).get_issue("ACME-1", update_history=False)
    fields = issue["fields"]
    assert issue["key"] == "ACME-1"
    assert fields["assignee"]["accountId"] == "712020:ann"
    assert "name" not in fields["assignee"]
    assert fields["created"] == "2026-10-27T10:00:00.000+0000"
    assert fields["status"]["statusCategory"]["key"] == "indeterminate"
    assert fields["customfield_10051"]["value"] == "Draft"
    assert fields["customfield_10050"] == "Acme"
    assert fields["project"]["key"] == "ACME"
    assert fields["issuetype"]["name"] == "Proposal"
    assert fields["labels"] == ["sow"]
    v3 = _issue(small, "ACME-1")["fields"]
    assert v3["description"]["type"] == "doc"
    assert v3["comment"]["comments"][0]["body"]["type"] == "doc"
    assert v3["comment"]["total"] == 1


def test_get_issue_v2_has_wiki_strings(small: Sandbox) -> None:
    """v2 renders description and comment bodies as wiki strings."""
    fields = _issue(small, "ACME-1", api=2)["fields"]
    assert fields["description"] == "Please draft it."
    assert fields["comment"]["comments"][0]["body"] == "Ann, any news?"


def test_get_issue_fields_properties_and_changelog(small: Sandbox) -> None:
    """GET issue honours fields, properties and expand=changelog."""
    _call(small, "PUT", "/rest/api/3/issue/ACME-1/properties/hg", json={"v": 1})
    issue = _issue(small, "ACME-1", fields="summary", properties="hg", expand="changelog")
    assert set(issue["fields"]) == {"summary"}
    assert issue["properties"] == {"hg": {"v": 1}}
    assert issue["changelog"]["histories"] == []


@pytest.mark.parametrize("key", ["NOPE-1", "ACME-3", "ACME-99"])
def test_unknown_or_hidden_issue_is_404(small: Sandbox, key: str) -> None:
    """Unknown and invisible issues answer 404 with Jira's message, for reads and writes."""
    for method, path in (("GET", ""), ("PUT", ""), ("GET", "/comment")):
        response = _call(small, method, f"/rest/api/3/issue/{key}{path}", json={})
        assert response.status_code == 404
        assert response.json() == {"errorMessages": [NOT_FOUND], "errors": {}}


def test_atomic_edit_applies_everything_in_one_request(small: Sandbox) -> None:
    """One PUT posts a comment, reassigns, labels and stores the property together."""
    small.advance("1h")
    body = {
        "fields": {"assignee": {"accountId": "712020:bob"}},
        "update": {"comment": [{"add": {"body": _adf("Sales owns this."),
                                        "visibility": {"type": "group", "value": "pms"}}}],
                   "labels": [{"add": "handoff"}, {"remove": "sow"}]},
        "properties": [{"key": "handoff-guard", "value": {"v": 1}}],
    }
    response = _call(small, "PUT", "/rest/api/3/issue/ACME-1", json=body,
                     params={"notifyUsers": "false"})
    assert response.status_code == 204
    issue = _issue(small, "ACME-1", properties="handoff-guard", expand="changelog")
    fields = issue["fields"]
    assert fields["assignee"]["accountId"] == "712020:bob"
    assert fields["labels"] == ["handoff"]
    assert fields["updated"] == "2026-11-02T10:00:00.000+0000"
    comment = fields["comment"]["comments"][-1]
    assert comment["author"]["accountId"] == small.bot_account_id
    assert comment["visibility"]["value"] == "pms"
    assert issue["properties"] == {"handoff-guard": {"v": 1}}
    items = {i["field"]: i for i in issue["changelog"]["histories"][0]["items"]}
    assert items["assignee"]["to"] == "712020:bob"
    assert items["labels"]["toString"] == "handoff"


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"fields": {"assignee": {"accountId": "712020:nobody"}}}, "assignee",
         "User '712020:nobody' cannot be assigned issues."),
        ({"fields": {"assignee": {"accountId": "712020:cat"}}}, "assignee",
         "User '712020:cat' cannot be assigned issues."),
        ({"fields": {"priority": {"name": "High"}}}, "priority",
         "Field 'priority' cannot be set. It is not on the appropriate screen, or unknown."),
        ({"update": {"comment": [{"add": {"body": "plain text"}}]}}, "comment", ADF_ERROR),
        ({"update": {"labels": [{"add": "two words"}]}}, "labels",
         "The label 'two words' contains spaces which is invalid."),
        ({"fields": {"customfield_10051": {"value": "Maybe"}}}, "customfield_10051",
         "Specify a valid value for Contract status"),
        ({"properties": [{"key": "k" * 256, "value": {"a": 1}}]}, "properties",
         "The property key cannot be longer than 255 characters."),
        ({"fields": {"summary": ""}}, "summary", "You must specify a summary of the issue."),
    ],
)
def test_rejected_edit_changes_nothing(
    small: Sandbox, body: dict[str, Any], field: str, message: str
) -> None:
    """A bad part makes the whole edit a 400 naming the field, and nothing is applied."""
    full = {
        "fields": {"summary": "Changed", **body.get("fields", {})},
        "update": {"comment": [{"add": {"body": _adf("ok")}}], **body.get("update", {})},
        "properties": [{"key": "handoff-guard", "value": {"v": 1}},
                       *body.get("properties", [])],
    }
    before = _issue(small, "ACME-1", properties="handoff-guard")
    small.advance("1h")
    response = _call(small, "PUT", "/rest/api/3/issue/ACME-1", json=full)
    assert response.status_code == 400
    assert response.json()["errors"][field] == message
    assert _issue(small, "ACME-1", properties="handoff-guard") == before


def test_assignee_off_the_edit_screen_falls_back_to_assign_endpoint(small: Sandbox) -> None:
    """A project without assignee on its edit screen refuses it in the edit, not in PUT assignee."""
    edit = _call(small, "PUT", "/rest/api/3/issue/LOCK-1",
                 json={"fields": {"assignee": {"accountId": "712020:bob"}}})
    assert edit.status_code == 400
    assert "assignee" in edit.json()["errors"]
    _jira(small).assign_issue("LOCK-1", "712020:bob")
    assert _issue(small, "LOCK-1")["fields"]["assignee"]["accountId"] == "712020:bob"


@pytest.mark.parametrize(("account", "status"), [("712020:bob", 204), (None, 204),
                                                 ("712020:cat", 400), ("712020:ghost", 400)])
def test_put_assignee(small: Sandbox, account: str | None, status: int) -> None:
    """PUT .../assignee takes an accountId (null unassigns); unknown or inactive is 400."""
    response = _call(small, "PUT", "/rest/api/3/issue/ACME-1/assignee",
                     json={"accountId": account})
    assert response.status_code == status
    if status == 400:
        assert response.json()["errors"]["assignee"].startswith("User '")
    else:
        assignee = _issue(small, "ACME-1")["fields"]["assignee"]
        assert (assignee or {}).get("accountId") == account


def test_data_center_assign_and_edit_by_name(dc_sandbox: Sandbox) -> None:
    """Data Center identifies users by name, in edits and in PUT .../assignee."""
    jira = Jira(dc_sandbox.url, token=dc_sandbox.bot_token, cloud=False)
    jira.assign_issue("ACME-2", "sam")
    # edit_issue() wraps its argument in "update"; the worker uses a raw PUT like this one
    comment = {"add": {"body": "Hi [~sam]"}}
    jira.put("rest/api/2/issue/ACME-2", data={"update": {"comment": [comment]},
                                              "fields": {"labels": ["x"]}})
    issue = jira.get_issue("ACME-2", update_history=False)
    assert issue["fields"]["assignee"]["name"] == "sam"
    assert issue["fields"]["comment"]["comments"][-1]["body"] == "Hi [~sam]"
    assert issue["fields"]["comment"]["comments"][-1]["author"]["name"] == dc_sandbox.bot_name
    with pytest.raises(requests.HTTPError) as info:
        jira.assign_issue("ACME-2", "olga")
    assert info.value.response.status_code == 400


def test_comments_v3_need_adf_and_v2_need_strings(small: Sandbox) -> None:
    """Posting a comment in the other API version's format is a 400 naming the comment."""
    wrong_v3 = _call(small, "POST", "/rest/api/3/issue/ACME-1/comment", json={"body": "text"})
    assert wrong_v3.status_code == 400
    assert wrong_v3.json()["errors"]["comment"] == ADF_ERROR
    wrong_v2 = _call(small, "POST", "/rest/api/2/issue/ACME-1/comment", json={"body": _adf("x")})
    assert wrong_v2.status_code == 400
    ok_v2 = _jira(small).issue_add_comment("ACME-1", "Hello [~accountid:712020:ann]",
                                           visibility={"type": "role", "value": "Developers"})
    assert ok_v2["body"] == "Hello [~accountid:712020:ann]"
    v3 = _call(small, "GET", f"/rest/api/3/issue/ACME-1/comment/{ok_v2['id']}").json()
    assert v3["body"]["content"][0]["content"][1] == {
        "type": "mention", "attrs": {"id": "712020:ann", "text": "@712020:ann"}}
    assert v3["visibility"] == {"type": "role", "value": "Developers"}


def test_comments_are_oldest_first_and_paginated(small: Sandbox) -> None:
    """GET comments lists oldest first with startAt/maxResults/total; properties on expand."""
    for n in range(4):
        small.advance("1m")
        _call(small, "POST", "/rest/api/3/issue/ACME-1/comment",
              json={"body": _adf(f"c{n}"), "properties": [{"key": "p", "value": {"n": n}}]})
    page = _call(small, "GET", "/rest/api/2/issue/ACME-1/comment",
                 params={"startAt": 1, "maxResults": 2, "expand": "properties"}).json()
    assert (page["startAt"], page["maxResults"], page["total"]) == (1, 2, 5)
    assert [c["body"] for c in page["comments"]] == ["c0", "c1"]
    assert page["comments"][0]["properties"] == [{"key": "p", "value": {"n": 0}}]
    assert _issue(small, "ACME-1")["fields"]["updated"] == "2026-11-02T09:04:00.000+0000"


def test_issue_properties_crud_and_limits(small: Sandbox) -> None:
    """Issue properties: PUT creates (201) then updates (200), GET, list, DELETE; limits."""
    jira = JiraCloud(small.url, username=small.bot_email, password=small.bot_token)
    base = "/rest/api/3/issue/ACME-1/properties"
    assert _call(small, "PUT", f"{base}/hg", json={"a": 1}).status_code == 201
    assert _call(small, "PUT", f"{base}/hg", json={"a": 2}).status_code == 200
    assert jira.get_issue_property("ACME-1", "hg") == {"key": "hg", "value": {"a": 2}}
    keys = _call(small, "GET", base).json()["keys"]
    assert [k["key"] for k in keys] == ["hg"]
    assert _call(small, "PUT", f"{base}/{'k' * 256}", json={"a": 1}).status_code == 400
    big = {"a": "x" * 32_800}
    assert _call(small, "PUT", f"{base}/big", json=big).status_code == 400
    assert _call(small, "PUT", f"{base}/list", json=[1, 2]).status_code == 400
    assert _call(small, "DELETE", f"{base}/hg").status_code == 204
    assert _call(small, "GET", f"{base}/hg").status_code == 404


def test_transitions_reach_every_status(small: Sandbox) -> None:
    """Every status is a transition with a stable id; POST moves and logs the change."""
    jira = _jira(small)
    transitions = jira.get_issue_transitions("ACME-2")
    assert [t["name"] for t in transitions] == ["To Do", "In Progress", "Done"]
    done = next(t for t in transitions if t["name"] == "Done")
    response = _call(small, "POST", "/rest/api/3/issue/ACME-2/transitions",
                     json={"transition": {"id": str(done["id"])}})
    assert response.status_code == 204
    issue = _issue(small, "ACME-2", expand="changelog")
    assert issue["fields"]["status"]["statusCategory"]["key"] == "done"
    assert issue["changelog"]["histories"][-1]["items"][0]["toString"] == "Done"
    bad = _call(small, "POST", "/rest/api/3/issue/ACME-2/transitions",
                json={"transition": {"id": "999"}})
    assert bad.status_code == 400


def test_flagged_field_is_settable(small: Sandbox) -> None:
    """Jira Software's Flagged checkbox field can be set to Impediment and cleared."""
    flagged = next(f for f in _call(small, "GET", "/rest/api/3/field").json()
                   if f["name"] == "Flagged")
    fid = flagged["id"]
    response = _call(small, "PUT", "/rest/api/3/issue/ACME-2",
                     json={"fields": {fid: [{"value": "Impediment"}]}})
    assert response.status_code == 204
    assert _issue(small, "ACME-2", fields=fid)["fields"][fid][0]["value"] == "Impediment"
    _call(small, "PUT", "/rest/api/3/issue/ACME-2", json={"fields": {fid: None}})
    assert _issue(small, "ACME-2", fields=fid)["fields"][fid] is None


def test_description_v3_requires_adf(small: Sandbox) -> None:
    """A v3 description must be ADF; a v2 one a string."""
    bad = _call(small, "PUT", "/rest/api/3/issue/ACME-2", json={"fields": {"description": "x"}})
    assert bad.json()["errors"]["description"] == ADF_ERROR
    ok = _call(small, "PUT", "/rest/api/3/issue/ACME-2",
               json={"fields": {"description": _adf("New text")}})
    assert ok.status_code == 204
    assert _issue(small, "ACME-2", api=2)["fields"]["description"] == "New text"


def test_concurrent_writes_are_all_applied(small: Sandbox) -> None:
    """Comments posted from many threads at once all land (the site lock serializes them)."""
    from concurrent.futures import ThreadPoolExecutor

    def post(n: int) -> int:
        return _call(small, "POST", "/rest/api/3/issue/ACME-2/comment",
                     json={"body": _adf(f"c{n}")}).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(post, range(40)))
    assert statuses == [201] * 40
    comments = _call(small, "GET", "/rest/api/3/issue/ACME-2/comment").json()
    assert comments["total"] == 40
    assert len({c["id"] for c in comments["comments"]}) == 40
