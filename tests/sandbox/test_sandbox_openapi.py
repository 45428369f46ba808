"""The sandbox's Jira v3 and Confluence v1 responses validated against Atlassian's published
OpenAPI documents with openapi-core: the copies in ``tests/specs/``, trimmed by
``scripts/trim_specs.py`` to the endpoints called here and everything they reference."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests
from openapi_core import Config, OpenAPI
from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse

from tests.conftest import SPECS
from worker.sandbox import Sandbox

SPEC_HOST = "your-domain.atlassian.net"
JIRA_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}[+-]\d{4}$")
ADF = {"type": "doc", "version": 1,
       "content": [{"type": "paragraph", "content": [{"type": "text", "text": "hi"}]}]}


def _load(name: str) -> OpenAPI:
    spec = json.loads((SPECS / name).read_text(encoding="utf-8"))
    spec["servers"] = [{"url": f"https://{SPEC_HOST}"}]
    # Atlassian's documents break a few of their own enum defaults; we check our responses
    # against them, not the documents themselves.
    config = Config(spec_validator_cls=None,
                    extra_format_validators={"date-time": _is_date_time})
    return OpenAPI.from_dict(spec, config=config)


def _is_date_time(value: object) -> bool:
    """RFC 3339, and Jira's own ``2026-11-02T09:00:00.000+0000`` (no colon in the offset),
    which real Jira sends although its document says ``date-time``."""
    if not isinstance(value, str):
        return True
    if JIRA_TIME.match(value):
        return True
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return "T" in value


@pytest.fixture(scope="session")
def jira_spec() -> OpenAPI:
    """Jira Cloud platform v3 (loaded once per session)."""
    return _load("jira-cloud-platform.swagger-v3.v3.json")


@pytest.fixture(scope="session")
def confluence_spec() -> OpenAPI:
    """Confluence Cloud v1 (loaded once per session)."""
    return _load("confluence-cloud-v1.swagger.v3.json")


def _validate(spec: OpenAPI, response: requests.Response) -> None:
    if response.status_code == 204:
        # Jira documents an empty JSON schema for 204 but (like real Jira) sends no body;
        # the status must still be one the operation documents.
        path = urlsplit(str(response.request.url)).path
        assert _documents_204(spec, str(response.request.method), path)
        return
    prepared = response.request.copy()
    parts = urlsplit(str(prepared.url))
    prepared.url = urlunsplit(("https", SPEC_HOST, parts.path, parts.query, ""))
    spec.validate_response(RequestsOpenAPIRequest(prepared), RequestsOpenAPIResponse(response))


def _documents_204(spec: OpenAPI, method: str, path: str) -> bool:
    paths = spec.spec / "paths"
    for template in paths.keys():  # noqa: SIM118 - a SchemaPath, not a dict
        pattern = "^" + re.sub(r"\{[^}]+\}", "[^/]+", str(template)) + "$"
        if re.match(pattern, path):
            operation = paths / template / method.lower()
            return "204" in (operation / "responses").keys()  # noqa: SIM118 - a SchemaPath
    return False


Call = Callable[[Sandbox], requests.Response]


def _get(path: str, **params: Any) -> Call:
    def call(sb: Sandbox) -> requests.Response:
        return requests.get(sb.url + path, params=params, auth=(sb.bot_email, sb.bot_token),
                            timeout=10)
    return call


def _send(method: str, path: str, body: Any) -> Call:
    def call(sb: Sandbox) -> requests.Response:
        return requests.request(method, sb.url + path, json=body,
                                auth=(sb.bot_email, sb.bot_token), timeout=10)
    return call


def _upload(method: str, path: str) -> Call:
    def call(sb: Sandbox) -> requests.Response:
        return requests.request(method, sb.url + path,
                                files={"file": ("chart.png", b"png", "image/png")},
                                data={"minorEdit": "true"},
                                headers={"X-Atlassian-Token": "no-check"},
                                auth=(sb.bot_email, sb.bot_token), timeout=10)
    return call


JIRA_CALLS: dict[str, Call] = {
    "search/jql ids": _get("/rest/api/3/search/jql", jql="project = ACME"),
    "search/jql all": _get("/rest/api/3/search/jql", jql="project = ACME", fields="*all",
                           properties="com.example.other-app", expand="changelog,names",
                           maxResults=2),
    "search/jql post": _send("POST", "/rest/api/3/search/jql",
                             {"jql": "key = SALES-3", "fields": ["*all"]}),
    "search/jql 400": _get("/rest/api/3/search/jql", jql=""),
    "approximate-count": _send("POST", "/rest/api/3/search/approximate-count",
                               {"jql": "project = ACME"}),
    "issue": _get("/rest/api/3/issue/ACME-1", expand="changelog"),
    "issue 404": _get("/rest/api/3/issue/NOPE-1"),
    "create issue": _send("POST", "/rest/api/3/issue",
                          {"fields": {"project": {"key": "ACME"}, "issuetype": {"name": "Task"},
                                      "summary": "Made by a test", "description": ADF}}),
    "create issue 400": _send("POST", "/rest/api/3/issue", {"fields": {"summary": "x"}}),
    "changelog": _get("/rest/api/3/issue/ACME-1/changelog", maxResults=1),
    "bulkfetch": _send("POST", "/rest/api/3/issue/bulkfetch",
                       {"issueIdsOrKeys": ["ACME-1", "acme-2", "NOPE-9"],
                        "fields": ["summary", "labels", "comment"],
                        "properties": ["com.example.other-app"], "expand": ["changelog"],
                        "fieldsByKeys": False}),
    "bulkfetch 400": _send("POST", "/rest/api/3/issue/bulkfetch",
                           {"issueIdsOrKeys": [f"ACME-{n}" for n in range(1, 102)]}),
    "comments": _get("/rest/api/3/issue/ACME-1/comment"),
    "add comment": _send("POST", "/rest/api/3/issue/ACME-1/comment", {"body": ADF}),
    "comment 400": _send("POST", "/rest/api/3/issue/ACME-1/comment", {"body": "x"}),
    "edit": _send("PUT", "/rest/api/3/issue/ACME-1",
                  {"update": {"labels": [{"add": "x"}]}}),
    "edit 400": _send("PUT", "/rest/api/3/issue/ACME-1", {"fields": {"nope": 1}}),
    "assignee": _send("PUT", "/rest/api/3/issue/ACME-1/assignee",
                      {"accountId": "712020:marco"}),
    "property keys": _get("/rest/api/3/issue/SALES-3/properties"),
    "property": _get("/rest/api/3/issue/SALES-3/properties/com.example.other-app"),
    "transitions": _get("/rest/api/3/issue/ACME-1/transitions"),
    "myself": _get("/rest/api/3/myself"),
    "serverInfo": _get("/rest/api/3/serverInfo"),
    "field": _get("/rest/api/3/field"),
    "user": _get("/rest/api/3/user", accountId="712020:priya"),
    "user search": _get("/rest/api/3/user/search", query="pri"),
    "group member": _get("/rest/api/3/group/member", groupId="grp-0001", maxResults=1),
}

CONFLUENCE_CALLS: dict[str, Call] = {
    "content search": _get("/wiki/rest/api/content/search", cql='label = "deal"', limit=2,
                           expand="body.storage,version"),
    "content search ids": _get("/wiki/rest/api/content/search",
                               cql='label = "deal" and lastmodified >= "2020-01-01 00:00"',
                               limit=1000),
    "search": _get("/wiki/rest/api/search", cql='label = "deal"',
                   expand="content.body.storage"),
    "content": _get("/wiki/rest/api/content/100001", expand="body.storage,version,space"),
    "create": _send("POST", "/wiki/rest/api/content",
                    {"type": "page", "title": "New", "space": {"key": "PS"},
                     "body": {"storage": {"value": "<p>x</p>", "representation": "storage"}}}),
    "update": _send("PUT", "/wiki/rest/api/content/200001",
                    {"type": "page", "title": "Policy", "version": {"number": 2},
                     "body": {"storage": {"value": "<p>x</p>", "representation": "storage"}}}),
    "label": _send("POST", "/wiki/rest/api/content/100001/label",
                   [{"prefix": "global", "name": "checked"}]),
    "user": _get("/wiki/rest/api/user", accountId="712020:sam"),
    "content by title": _get("/wiki/rest/api/content", spaceKey="SALES",
                             title="Deal: Acme Corp", expand="version"),
    "attachments": _get("/wiki/rest/api/content/100001/child/attachment"),
    "attach": _upload("POST", "/wiki/rest/api/content/100001/child/attachment"),
    "attach put": _upload("PUT", "/wiki/rest/api/content/100001/child/attachment"),
}


@pytest.mark.parametrize("name", list(JIRA_CALLS))
def test_jira_v3_responses_match_the_spec(jira_spec: OpenAPI, sandbox: Sandbox,
                                          name: str) -> None:
    """Each Jira v3 operation the sandbox serves answers as the published spec describes."""
    response = JIRA_CALLS[name](sandbox)
    assert response.status_code < 500
    _validate(jira_spec, response)


@pytest.mark.parametrize("name", list(CONFLUENCE_CALLS))
def test_confluence_v1_responses_match_the_spec(confluence_spec: OpenAPI, sandbox: Sandbox,
                                                name: str) -> None:
    """Each Confluence v1 operation the sandbox serves answers as the published spec says."""
    response = CONFLUENCE_CALLS[name](sandbox)
    assert response.status_code < 300, response.text
    _validate(confluence_spec, response)
