"""Auth, faults, the request log, the clock and the control API, over real HTTP."""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime
from typing import Any

import pytest
import requests
from atlassian import Jira

from worker.sandbox import Sandbox

ADF = {"type": "doc", "version": 1,
       "content": [{"type": "paragraph", "content": [{"type": "text", "text": "hi"}]}]}


def _get(sb: Sandbox, path: str, **kwargs: Any) -> requests.Response:
    return requests.get(sb.url + path, auth=(sb.bot_email, sb.bot_token), timeout=10, **kwargs)


def _jira(sb: Sandbox) -> Jira:
    return Jira(sb.url, username=sb.bot_email, password=sb.bot_token, cloud=True,
                backoff_and_retry=False, retry_with_header=False)


@pytest.mark.parametrize(
    ("headers", "auth"),
    [
        ({}, None),
        ({}, ("bot@example.com", "wrong")),
        ({}, ("someone@example.com", "tok")),
        ({"Authorization": "Bearer tok"}, None),
        ({"Authorization": "Basic !!!notbase64"}, None),
    ],
)
def test_cloud_rejects_bad_credentials_with_401(
    small: Sandbox, headers: dict[str, str], auth: tuple[str, str] | None
) -> None:
    """Anything but Basic email:api_token of the bot is a 401 with Atlassian's body."""
    response = requests.get(small.url + "/rest/api/3/myself", headers=headers, auth=auth,
                            timeout=10)
    assert response.status_code == 401
    assert response.json()["errorMessages"] == [
        "You are not authenticated. Authentication required to perform this operation."]
    assert small.requests()[-1]["status"] == 401


def test_confluence_401_has_confluence_body(small: Sandbox) -> None:
    """Confluence answers 401 with its own statusCode/message body."""
    response = requests.get(small.url + "/wiki/rest/api/content/100001", timeout=10)
    assert response.status_code == 401
    assert response.json()["statusCode"] == 401


def test_data_center_takes_bearer_token_only(dc_sandbox: Sandbox) -> None:
    """Data Center accepts ``Authorization: Bearer <token>`` and refuses Basic."""
    url = dc_sandbox.url + "/rest/api/2/myself"
    ok = requests.get(url, headers={"Authorization": f"Bearer {dc_sandbox.bot_token}"},
                      timeout=10)
    assert ok.status_code == 200
    assert ok.json()["name"] == dc_sandbox.bot_name
    basic = requests.get(url, auth=(dc_sandbox.bot_email, dc_sandbox.bot_token), timeout=10)
    assert basic.status_code == 401


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [(7, "7"), ("Mon, 02 Nov 2026 09:00:30 GMT", "Mon, 02 Nov 2026 09:00:30 GMT"), (None, None)],
)
@pytest.mark.parametrize("status", [429, 503])
def test_status_fault_with_and_without_retry_after(
    small: Sandbox, status: int, retry_after: int | str | None, expected: str | None
) -> None:
    """A status rule answers its status, Retry-After as given (seconds or HTTP date), once."""
    rule: dict[str, Any] = {"method": "GET", "path": "/myself$", "status": status, "times": 1}
    if retry_after is not None:
        rule["retry_after"] = retry_after
    small.add_faults([rule])
    first = _get(small, "/rest/api/3/myself")
    assert first.status_code == status
    assert first.headers.get("Retry-After") == expected
    assert first.json()["errorMessages"]
    assert _get(small, "/rest/api/3/myself").status_code == 200
    log = small.requests()
    assert [e["status"] for e in log] == [status, 200]
    assert log[0]["fault"] == "status"


def test_retry_after_as_date_follows_the_site_clock(small: Sandbox) -> None:
    """``retry_after_as: date`` sends Retry-After as an HTTP date, site clock + seconds."""
    small.add_faults([{"path": "myself", "status": 429, "retry_after": 30,
                       "retry_after_as": "date", "times": 1}])
    response = _get(small, "/rest/api/3/myself")
    assert response.headers["Retry-After"] == "Mon, 02 Nov 2026 09:00:30 GMT"
    assert response.headers["Date"] == "Mon, 02 Nov 2026 09:00:00 GMT"


def test_fault_body_and_matching_by_method_and_path(small: Sandbox) -> None:
    """Rules match only their method and path regex; a custom body is served verbatim."""
    small.add_faults([{"method": "POST", "path": r"/issue/ACME-1/comment", "status": 500,
                       "body": {"errorMessages": ["boom"], "errors": {}}}])
    assert _get(small, "/rest/api/3/issue/ACME-1/comment").status_code == 200
    response = requests.post(small.url + "/rest/api/3/issue/ACME-1/comment",
                             auth=(small.bot_email, small.bot_token), json={"body": ADF},
                             timeout=10)
    assert response.status_code == 500
    assert response.json() == {"errorMessages": ["boom"], "errors": {}}
    assert len(_get(small, "/rest/api/3/issue/ACME-1/comment").json()["comments"]) == 1


def test_times_counts_down_and_clear_faults(small: Sandbox) -> None:
    """``times: 2`` fails twice then passes; DELETE /_sandbox/faults removes rules."""
    small.add_faults([{"path": "serverInfo", "status": 503, "times": 2}])
    statuses = [_get(small, "/rest/api/3/serverInfo").status_code for _ in range(3)]
    assert statuses == [503, 503, 200]
    small.add_faults([{"path": "serverInfo", "status": 503}])
    small.clear_faults()
    assert _get(small, "/rest/api/3/serverInfo").status_code == 200


def test_latency_fault_delays_the_response(small: Sandbox) -> None:
    """``latency_ms`` delays the matching request (and only it) before it is served."""
    small.add_faults([{"path": "serverInfo", "latency_ms": 150, "times": 1}])
    started = time.monotonic()
    assert _get(small, "/rest/api/3/serverInfo").status_code == 200
    assert time.monotonic() - started >= 0.15
    started = time.monotonic()
    assert _get(small, "/rest/api/3/serverInfo").status_code == 200
    assert time.monotonic() - started < 0.15


def test_drop_before_closes_without_applying(small: Sandbox) -> None:
    """``drop: before`` gives the client a connection error and leaves the issue untouched."""
    small.add_faults([{"method": "POST", "path": "/comment$", "drop": "before", "times": 1}])
    with pytest.raises(requests.ConnectionError):
        requests.post(small.url + "/rest/api/3/issue/ACME-1/comment",
                      auth=(small.bot_email, small.bot_token), json={"body": ADF}, timeout=10)
    assert _get(small, "/rest/api/3/issue/ACME-1/comment").json()["total"] == 1
    assert small.requests()[0]["fault"] == "drop-before"


def test_drop_after_applies_then_closes(small: Sandbox) -> None:
    """``drop: after`` applies the write, then the client sees a connection error."""
    small.add_faults([{"method": "POST", "path": "/comment$", "drop": "after", "times": 1}])
    with pytest.raises(requests.ConnectionError):
        _jira(small).post("rest/api/3/issue/ACME-1/comment", data={"body": ADF})
    assert _get(small, "/rest/api/3/issue/ACME-1/comment").json()["total"] == 2
    entry = small.requests()[0]
    assert (entry["status"], entry["fault"]) == (201, "drop-after")


@pytest.mark.parametrize(
    "rule",
    [
        {"status": 99},
        {"drop": "sideways"},
        {"path": "("},
        {"status": 429, "drop": "before"},
        {"retry_after": 3},
        {"status": 503, "colour": "red"},
        {"method": "GET"},
        {"status": 503, "times": 0},
        {"status": 429, "retry_after": "soon", "retry_after_as": "date"},
    ],
)
def test_invalid_fault_rules_are_refused(small: Sandbox, rule: dict[str, Any]) -> None:
    """A malformed fault rule is a 400 from the control API, never silently ignored."""
    with pytest.raises(ValueError, match="400"):
        small.add_faults([rule])


def test_request_log_skips_control_calls_and_reset_clears_it(small: Sandbox) -> None:
    """The log keeps method, path, query and status of API calls only; reset empties it."""
    _get(small, "/rest/api/3/issue/NOPE-1", params={"fields": "summary"})
    small.site()
    small.advance("1h")
    assert small.requests() == [{"method": "GET", "path": "/rest/api/3/issue/NOPE-1",
                                 "query": "fields=summary", "status": 404, "fault": None}]
    small.clear_requests()
    assert small.requests() == []
    _get(small, "/rest/api/3/myself")
    small.add_faults([{"status": 500}])
    small.reset()
    assert small.requests() == []
    assert _get(small, "/rest/api/3/myself").status_code == 200


def test_clock_drives_date_header_and_server_time(small: Sandbox) -> None:
    """``Date`` and ``serverInfo.serverTime`` follow the site clock (set and advanced)."""
    small.set_clock("2026-11-05T12:00:00Z")
    small.advance("3d")
    small.advance("90m")
    response = _get(small, "/rest/api/3/serverInfo")
    assert response.json()["serverTime"] == "2026-11-08T13:30:00.000+0000"
    assert parsedate_to_datetime(response.headers["Date"]).isoformat() == \
        "2026-11-08T13:30:00+00:00"
    small.reset()
    assert _get(small, "/rest/api/3/serverInfo").json()["serverTime"] == \
        "2026-11-02T09:00:00.000+0000"


@pytest.mark.parametrize("body", [{"advance": "3 days"}, {"now": "yesterday"}, {},
                                  {"now": "2026-11-01T00:00:00Z", "advance": "1d"}])
def test_bad_clock_calls_are_refused(small: Sandbox, body: dict[str, str]) -> None:
    """The clock takes exactly one of an ISO ``now`` or an ``advance`` like ``3d``."""
    response = requests.post(small.url + "/_sandbox/clock", json=body, timeout=10)
    assert response.status_code == 400
    assert "error" in response.json()


def test_unknown_api_path_is_404_and_wrong_method_405(small: Sandbox) -> None:
    """Unknown REST paths answer 404 (Jersey's body) and known ones with a wrong method 405."""
    assert _get(small, "/rest/api/3/nothing-here").status_code == 404
    response = requests.delete(small.url + "/rest/api/3/myself",
                               auth=(small.bot_email, small.bot_token), timeout=10)
    assert response.status_code == 405
