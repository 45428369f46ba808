"""``POST /rest/api/3/issue/bulkfetch`` over real HTTP with atlassian-python-api's generic
``post``: up to 100 ids or keys, old keys of moved issues, absent issues, ``issueErrors``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from atlassian import Jira

from worker.sandbox import Sandbox

SMALL_SITE = Path(__file__).resolve().parent / "fixtures" / "site-small.yaml"
PATH = "rest/api/3/issue/bulkfetch"


def _jira(sb: Sandbox) -> Jira:
    return Jira(sb.url, username=sb.bot_email, password=sb.bot_token, cloud=True,
                backoff_and_retry=False, retry_with_header=False)


def _fetch(sb: Sandbox, body: dict[str, Any]) -> requests.Response:
    response = _jira(sb).post(PATH, data=body, advanced_mode=True)
    assert isinstance(response, requests.Response)
    return response


def test_keys_ids_and_absent_issues(small: Sandbox) -> None:
    """Keys (any case) and ids each name an issue once; unknown and hidden issues are simply
    absent (the OpenAPI document: not in ``issueErrors`` either)."""
    answer = _fetch(small, {"issueIdsOrKeys": ["acme-2", "ACME-1", "NOPE-1", "ACME-3",
                                               "ACME-1", "10002"],
                            "fields": ["summary", "labels"],
                            "properties": ["com.example.other-app"]}).json()
    assert [i["key"] for i in answer["issues"]] == ["ACME-1", "ACME-2"]  # ascending id
    assert set(answer["issues"][0]["fields"]) == {"summary", "labels"}
    assert "properties" in answer["issues"][0]
    assert answer["issueErrors"] == []


def test_a_moved_issue_answers_under_its_new_key() -> None:
    """An old key finds the issue that was moved to another project, under its new key."""
    site = yaml.safe_load(SMALL_SITE.read_text(encoding="utf-8"))
    moved = next(i for i in site["issues"] if i["key"] == "ACME-2")
    moved.update(key="LOCK-7", moved_from=["ACME-2"])
    with Sandbox.start(site) as sb:
        answer = _fetch(sb, {"issueIdsOrKeys": ["ACME-2", "LOCK-7"], "fields": ["summary"]})
        assert [i["key"] for i in answer.json()["issues"]] == ["LOCK-7"]
        assert _jira(sb).get("rest/api/3/issue/ACME-2")["key"] == "LOCK-7"
        assert sb.site()["issues"][1]["moved_from"] == ["ACME-2"]  # the site file keeps it


def test_issue_errors_fault(small: Sandbox) -> None:
    """An ``issue_errors`` fault answers the named issues in ``issueErrors`` (id, message)."""
    small.add_faults([{"path": "bulkfetch", "issue_errors": ["ACME-1"]}])
    answer = _fetch(small, {"issueIdsOrKeys": ["ACME-1", "ACME-2"]}).json()
    assert [i["key"] for i in answer["issues"]] == ["ACME-2"]
    assert [e["id"] for e in answer["issueErrors"]] == ["10001"]
    assert answer["issueErrors"][0]["errorMessage"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"issueIdsOrKeys": [f"ACME-{n}" for n in range(1, 102)]}, "exceeds the limit (100)"),
        ({"issueIdsOrKeys": []}, "must not be empty"),
        ({"fields": ["summary"]}, "issueIdsOrKeys"),
        ({"issueIdsOrKeys": ["ACME-1"], "properties": list("abcdef")}, "exceeds the limit (5)"),
    ],
)
def test_refusals(small: Sandbox, body: dict[str, Any], message: str) -> None:
    """More than 100 ids or keys, none, or more than 5 properties: 400 with Jira's shape."""
    response = _fetch(small, body)
    assert response.status_code == 400
    assert message in " ".join(response.json()["errorMessages"])


def test_cloud_only() -> None:
    """Data Center has no bulkfetch (404): the worker searches ``key in (...)`` there."""
    site = yaml.safe_load(SMALL_SITE.read_text(encoding="utf-8"))
    site["site"]["flavor"] = "datacenter"
    with Sandbox.start(site) as sb:
        response = requests.post(sb.url + "/rest/api/2/issue/bulkfetch",
                                 json={"issueIdsOrKeys": ["ACME-1"]},
                                 headers={"Authorization": f"Bearer {sb.bot_token}"}, timeout=10)
        assert response.status_code == 404
