"""Jira search over real HTTP: enhanced search (Cloud), the removed and the DC search, paging,
fields, properties, expand, and eventual consistency with and without reconcileIssues."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from atlassian import Jira, JiraCloud

from worker.sandbox import Sandbox

SMALL_SITE = Path(__file__).resolve().parent / "fixtures" / "site-small.yaml"
BULK = 250


def _bulk_site(*, flavor: str = "cloud", lag_s: int = 0) -> dict[str, Any]:
    data = yaml.safe_load(SMALL_SITE.read_text(encoding="utf-8"))
    data["site"].update(flavor=flavor, search_lag_s=lag_s)
    data["projects"].append({"key": "BULK", "name": "Bulk", "lead": "ann"})
    data["issues"] += [
        {"key": f"BULK-{n}", "type": "Task", "summary": f"Bulk issue {n}",
         "status": "To Do" if n % 2 else "Done", "assignee": "ann",
         "created": f"2026-10-01T{n % 24:02d}:00:00Z",
         "properties": {"handoff-guard": {"n": n}}}
        for n in range(1, BULK + 1)
    ]
    return data


@pytest.fixture(scope="module")
def _bulk() -> Iterator[Sandbox]:
    with Sandbox.start(_bulk_site()) as sandbox:
        yield sandbox


@pytest.fixture
def bulk(_bulk: Sandbox) -> Sandbox:
    """A Cloud site with 250 BULK issues, reset."""
    _bulk.reset()
    return _bulk


@pytest.fixture(scope="module")
def _lagging() -> Iterator[Sandbox]:
    with Sandbox.start(_bulk_site(lag_s=30)) as sandbox:
        yield sandbox


@pytest.fixture
def lagging(_lagging: Sandbox) -> Sandbox:
    """The bulk site with ``search_lag_s: 30``, reset."""
    _lagging.reset()
    return _lagging


@pytest.fixture(scope="module")
def _bulk_dc() -> Iterator[Sandbox]:
    with Sandbox.start(_bulk_site(flavor="datacenter")) as sandbox:
        yield sandbox


@pytest.fixture
def bulk_dc(_bulk_dc: Sandbox) -> Sandbox:
    """The bulk site as Data Center, reset."""
    _bulk_dc.reset()
    return _bulk_dc


def _jira(sb: Sandbox) -> Jira:
    return Jira(sb.url, username=sb.bot_email, password=sb.bot_token, cloud=True,
                backoff_and_retry=False, retry_with_header=False)


def _get(sb: Sandbox, path: str, params: Any = None) -> requests.Response:
    return requests.get(sb.url + path, params=params, auth=(sb.bot_email, sb.bot_token),
                        timeout=10)


def test_pages_through_three_pages_with_next_page_token(bulk: Sandbox) -> None:
    """125 matches at 50 a page: three pages, tokens until isLast, no total, no duplicates."""
    jira = _jira(bulk)
    keys: list[str] = []
    token = None
    pages = 0
    while True:
        page = jira.enhanced_jql('project = BULK AND status = "To Do" ORDER BY key ASC',
                                 fields=["summary"], nextPageToken=token)
        pages += 1
        assert "total" not in page
        keys += [i["key"] for i in page["issues"]]
        token = page.get("nextPageToken")
        if page["isLast"]:
            assert token is None
            break
    assert pages == 3
    assert len(keys) == len(set(keys)) == 125
    search_calls = [r for r in bulk.requests() if r["path"].endswith("/search/jql")]
    assert len(search_calls) == 3


def test_library_helper_collects_every_page(bulk: Sandbox) -> None:
    """atlassian-python-api's enhanced_jql_get_list_of_tickets follows the tokens to the end."""
    jc = JiraCloud(bulk.url, username=bulk.bot_email, password=bulk.bot_token,
                   backoff_and_retry=False, retry_with_header=False)
    issues = jc.enhanced_jql_get_list_of_tickets("project = BULK", fields=["summary"])
    assert len(issues) == BULK


@pytest.mark.parametrize(("asked", "served"), [(None, 50), (7, 7), (100, 100), (500, 100)])
def test_max_results_defaults_to_50_and_caps_at_100(
    bulk: Sandbox, asked: int | None, served: int
) -> None:
    """maxResults defaults to 50 and the server never returns more than 100."""
    params: dict[str, Any] = {"jql": "project = BULK"}
    if asked is not None:
        params["maxResults"] = asked
    body = _get(bulk, "/rest/api/3/search/jql", params).json()
    assert len(body["issues"]) == served


@pytest.mark.parametrize(
    ("fields", "present", "absent"),
    [
        (None, set(), {"fields", "key"}),
        ("summary,assignee", {"summary", "assignee"}, {"status", "comment"}),
        ("*all", {"summary", "comment", "customfield_10051", "status"}, set()),
        ("*navigable", {"summary", "status", "labels"}, {"comment"}),
        ("*all,-comment,-description", {"summary"}, {"comment", "description"}),
    ],
)
def test_fields_parameter(
    small: Sandbox, fields: str | None, present: set[str], absent: set[str]
) -> None:
    """``fields`` defaults to id only and supports lists, *all, *navigable and -exclusions."""
    params = {"jql": "key = ACME-1"}
    if fields is not None:
        params["fields"] = fields
    issue = _get(small, "/rest/api/3/search/jql", params).json()["issues"][0]
    if fields is None:
        assert issue == {"id": "10001"}
        return
    assert present <= set(issue["fields"])
    assert not absent & set(issue["fields"])


def test_properties_inline_and_limited_to_five(bulk: Sandbox) -> None:
    """Requested issue properties come back inline; more than five keys is a 400."""
    body = _get(bulk, "/rest/api/3/search/jql",
                {"jql": "key = BULK-3", "properties": "handoff-guard,other"}).json()
    assert body["issues"][0]["properties"] == {"handoff-guard": {"n": 3}}
    too_many = _get(bulk, "/rest/api/3/search/jql",
                    {"jql": "key = BULK-3", "properties": "a,b,c,d,e,f"})
    assert too_many.status_code == 400
    assert too_many.json()["errorMessages"]


def test_post_search_with_expand_names_and_changelog(small: Sandbox) -> None:
    """POST search/jql takes a JSON body; expand=names,changelog adds both."""
    requests.put(small.url + "/rest/api/2/issue/ACME-1", auth=(small.bot_email, small.bot_token),
                 json={"fields": {"summary": "Renamed"}}, timeout=10)
    response = requests.post(small.url + "/rest/api/3/search/jql",
                             auth=(small.bot_email, small.bot_token), timeout=10,
                             json={"jql": "key = ACME-1", "fields": ["summary",
                                                                      "customfield_10051"],
                                   "expand": "names,changelog", "maxResults": 10})
    body = response.json()
    assert body["names"] == {"summary": "Summary", "customfield_10051": "Contract status"}
    history = body["issues"][0]["changelog"]["histories"][0]
    assert history["author"]["accountId"] == small.bot_account_id
    assert history["items"][0]["toString"] == "Renamed"


@pytest.mark.parametrize("jql", ["", "ORDER BY created DESC", "   "])
def test_unbounded_jql_is_refused(small: Sandbox, jql: str) -> None:
    """Cloud's enhanced search refuses empty and ORDER-BY-only JQL with Atlassian's message."""
    response = _get(small, "/rest/api/3/search/jql", {"jql": jql})
    assert response.status_code == 400
    assert response.json()["errorMessages"] == [
        "Unbounded JQL queries are not allowed here. Please add a search restriction to your "
        "query."]


@pytest.mark.parametrize("jql", ['project = "ACME" AND', "assignee = nosuchuser",
                                 "foo = bar", "project in membersOf(\"nosuchgroup\")"])
def test_bad_jql_is_a_400_with_a_reason(small: Sandbox, jql: str) -> None:
    """Malformed or unsupported JQL is a 400 with an error message, never match-all."""
    response = _get(small, "/rest/api/3/search/jql", {"jql": jql})
    assert response.status_code == 400
    assert response.json()["errorMessages"][0]


@pytest.mark.parametrize(
    ("jql", "keys"),
    [
        ("assignee in membersOf(\"pms\") ORDER BY key", ["ACME-1", "LOCK-1"]),
        ("assignee = currentUser()", []),
        ("\"Contract status\" = Draft", ["ACME-1"]),
        ("labels is EMPTY AND project = ACME", ["ACME-2"]),
        ("updated >= \"2026-10-30\" ORDER BY key", ["ACME-1"]),
    ],
)
def test_basic_jql_through_search(small: Sandbox, jql: str, keys: list[str]) -> None:
    """A few JQL queries select the expected visible issues (ACME-3 is hidden)."""
    body = _get(small, "/rest/api/3/search/jql", {"jql": jql, "fields": "summary"}).json()
    assert [i["key"] for i in body["issues"]] == keys


def test_hidden_issue_is_not_searchable(small: Sandbox) -> None:
    """An issue the bot may not see never shows in search."""
    body = _get(small, "/rest/api/3/search/jql", {"jql": "project = ACME",
                                                   "fields": "summary"}).json()
    assert "ACME-3" not in {i["key"] for i in body["issues"]}


def test_approximate_count(bulk: Sandbox) -> None:
    """POST search/approximate-count answers {count}; unbounded is refused."""
    url = bulk.url + "/rest/api/3/search/approximate-count"
    auth = (bulk.bot_email, bulk.bot_token)
    ok = requests.post(url, auth=auth, json={"jql": "project = BULK AND status = Done"},
                       timeout=10)
    assert ok.json() == {"count": 125}
    assert requests.post(url, auth=auth, json={"jql": ""}, timeout=10).status_code == 400


@pytest.mark.parametrize("path", ["/rest/api/3/search", "/rest/api/2/search"])
def test_old_search_is_gone_on_cloud(small: Sandbox, path: str) -> None:
    """Cloud's removed /search answers 410 with the migration message."""
    response = _get(small, path, {"jql": "project = ACME"})
    assert response.status_code == 410
    assert "/rest/api/3/search/jql" in response.json()["errorMessages"][0]


def test_data_center_search_pages_with_start_at_and_total(bulk_dc: Sandbox) -> None:
    """DC /rest/api/2/search pages with startAt/maxResults and reports total."""
    jira = Jira(bulk_dc.url, token=bulk_dc.bot_token, cloud=False)
    first = jira.jql("project = BULK ORDER BY key", start=0, limit=100)
    last = jira.jql("project = BULK ORDER BY key", start=200, limit=100)
    assert first["total"] == BULK
    assert len(first["issues"]) == 100
    assert len(last["issues"]) == 50
    assert first["issues"][0]["fields"]["assignee"]["name"] == "ann"


@pytest.mark.parametrize("path", ["/rest/api/2/search/jql", "/rest/api/3/myself",
                                  "/rest/api/3/search/jql"])
def test_data_center_has_no_v3_and_no_enhanced_search(bulk_dc: Sandbox, path: str) -> None:
    """Data Center serves REST v2 only and has no enhanced search."""
    response = requests.get(bulk_dc.url + path, params={"jql": "project = BULK"},
                            headers={"Authorization": f"Bearer {bulk_dc.bot_token}"},
                            timeout=10)
    assert response.status_code == 404


def _edit(sb: Sandbox, key: str, body: dict[str, Any]) -> None:
    response = requests.put(sb.url + f"/rest/api/3/issue/{key}",
                            auth=(sb.bot_email, sb.bot_token), json=body, timeout=10)
    assert response.status_code == 204, response.text


def _prop(sb: Sandbox, key: str, *, reconcile: list[str] | None = None) -> Any:
    params: dict[str, Any] = {"jql": f"key = {key}", "properties": "handoff-guard",
                              "fields": "labels"}
    if reconcile:
        params["reconcileIssues"] = reconcile
    issue = _get(sb, "/rest/api/3/search/jql", params).json()["issues"][0]
    return issue["properties"].get("handoff-guard"), issue["fields"]["labels"]


def test_search_is_stale_until_the_lag_has_passed(lagging: Sandbox) -> None:
    """With search_lag_s 30, search shows the old version until 30 s of site clock pass."""
    _edit(lagging, "BULK-1", {"properties": [{"key": "handoff-guard", "value": {"n": 99}}],
                              "update": {"labels": [{"add": "flagged-by-bot"}]}})
    assert _prop(lagging, "BULK-1") == ({"n": 1}, [])
    lagging.advance("29s")
    assert _prop(lagging, "BULK-1") == ({"n": 1}, [])
    lagging.advance("1s")
    assert _prop(lagging, "BULK-1") == ({"n": 99}, ["flagged-by-bot"])


def test_reconcile_issues_reads_its_own_writes(lagging: Sandbox) -> None:
    """Issues named in reconcileIssues are returned as last written, others stay stale."""
    _edit(lagging, "BULK-1", {"properties": [{"key": "handoff-guard", "value": {"n": 99}}]})
    _edit(lagging, "BULK-2", {"properties": [{"key": "handoff-guard", "value": {"n": 98}}]})
    issue_id = lagging_id = _get(lagging, "/rest/api/3/issue/BULK-1").json()["id"]
    assert lagging_id == issue_id
    assert _prop(lagging, "BULK-1", reconcile=[issue_id]) == ({"n": 99}, [])
    assert _prop(lagging, "BULK-2", reconcile=[issue_id]) == ({"n": 2}, [])
    too_many = _get(lagging, "/rest/api/3/search/jql",
                    {"jql": "project = BULK", "reconcileIssues": [str(n) for n in range(51)]})
    assert too_many.status_code == 400


def test_stale_search_still_matches_the_old_version(lagging: Sandbox) -> None:
    """A query is evaluated against the lagged version, so a just-added label is not found."""
    _edit(lagging, "BULK-3", {"update": {"labels": [{"add": "fresh"}]}})
    params = {"jql": "labels = fresh", "fields": "labels"}
    assert _get(lagging, "/rest/api/3/search/jql", params).json()["issues"] == []
    lagging.advance("1m")
    assert len(_get(lagging, "/rest/api/3/search/jql", params).json()["issues"]) == 1


def test_invalid_page_token_is_a_400(small: Sandbox) -> None:
    """A made-up nextPageToken is refused."""
    response = _get(small, "/rest/api/3/search/jql", {"jql": "project = ACME",
                                                       "nextPageToken": "garbage"})
    assert response.status_code == 400


def test_fifty_thousand_issues_page_fast() -> None:
    """A 50,000-issue site is paged to the end at 100 per request, every issue exactly once.

    How fast is the benchmark's business (``make bench``), not a wall-clock assertion here.
    """
    data = _bulk_site()
    data["issues"] += [{"key": f"BULK-{n}", "type": "Task", "summary": f"Bulk issue {n}",
                        "status": "To Do", "assignee": "ann", "created": "2026-10-01T10:00:00Z"}
                       for n in range(BULK + 1, 50_001)]
    with Sandbox.start(data) as sb:
        token = None
        seen = 0
        http = requests.Session()
        http.auth = (sb.bot_email, sb.bot_token)
        while True:
            params: dict[str, Any] = {"jql": "project = BULK", "maxResults": 100,
                                      "fields": "summary"}
            if token:
                params["nextPageToken"] = token
            body = http.get(sb.url + "/rest/api/3/search/jql", params=params, timeout=30).json()
            seen += len(body["issues"])
            token = body.get("nextPageToken")
            if body["isLast"]:
                break
    assert seen == 50_000


def test_v2_twin_of_enhanced_search_returns_wiki_markup(small: Sandbox) -> None:
    """Cloud's /rest/api/2/search/jql serves the same search with v2 (wiki) bodies."""
    body = _get(small, "/rest/api/2/search/jql",
                {"jql": "key = ACME-1", "fields": "description,comment"}).json()
    fields = body["issues"][0]["fields"]
    assert fields["description"] == "Please draft it."
    assert fields["comment"]["comments"][0]["body"] == "Ann, any news?"
    assert body["isLast"] is True


def test_the_request_log_says_what_each_search_asked_for(bulk: Sandbox, bulk_dc: Sandbox) -> None:
    """Each issue search is logged with its JQL and how many fields and ids to reconcile it
    named, sent in a POST body or in the query (Cloud and Data Center); other requests carry
    no such summary."""
    auth = (bulk.bot_email, bulk.bot_token)
    requests.post(bulk.url + "/rest/api/3/search/jql", auth=auth, timeout=10, json={
        "jql": 'key in ("BULK-1", "BULK-2")', "properties": ["handoff-guard"],
        "reconcileIssues": [10001, 10002]}).raise_for_status()
    _get(bulk, "/rest/api/3/search/jql",
         {"jql": "project = BULK", "fields": "summary,status"}).raise_for_status()
    _get(bulk, "/rest/api/3/myself").raise_for_status()
    logged = bulk.requests()
    assert [r.get("search") for r in logged] == [
        {"jql": 'key in ("BULK-1", "BULK-2")', "fields": 0, "reconcile": 2},
        {"jql": "project = BULK", "fields": 2, "reconcile": 0},
        None,
    ]
    requests.post(bulk_dc.url + "/rest/api/2/search", timeout=10,
                  headers={"Authorization": f"Bearer {bulk_dc.bot_token}"},
                  json={"jql": "project = BULK", "fields": ["summary"]}).raise_for_status()
    (dc,) = bulk_dc.requests()
    assert dc["search"] == {"jql": "project = BULK", "fields": 1, "reconcile": 0}
