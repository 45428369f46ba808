"""Publishing the report page over real HTTP against the sandbox with the real client:
create, update, a 409 race, the attachment replaced not duplicated, Confluence down and then
back, and no other page touched."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
from structlog.testing import capture_logs

from tests.report.history_factories import T0, recorded
from worker.atlassian import retry
from worker.atlassian.clients import Connection, connect
from worker.atlassian.transport import AtlassianHTTPError, Transport
from worker.policy.config import ReportConfig
from worker.report import load_report
from worker.report.html import storage
from worker.report.publish import (
    PUBLISHED_KEY,
    ReportPage,
    publish_due,
    publish_if_due,
    publish_report,
)
from worker.sandbox import Sandbox
from worker.state.store import Store

UTC_TZ = ZoneInfo("UTC")
CONFIG = ReportConfig(space="PS", title="Handoff Guard weekly report",
                      schedule="0 8 * * mon", weeks=4, attachment="handoff-guard-report.png")


@pytest.fixture
def transport(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Iterator[Transport]:
    """The worker's Confluence transport on the example site (retries never sleep)."""
    monkeypatch.setattr(retry, "sleep", lambda _s: None)
    atlassian = connect(Connection(jira_url=sandbox.url, flavor="cloud",
                                   username=sandbox.bot_email, api_token=sandbox.bot_token))
    yield atlassian.confluence.transport
    atlassian.close()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A store with three recorded cycles."""
    opened = recorded(tmp_path)
    yield opened
    opened.close()


def _pages(sb: Sandbox) -> dict[str, Any]:
    return {p["id"]: p for p in sb.site()["confluence"]["pages"]}


def _attachments(sb: Sandbox, page_id: str) -> list[dict[str, Any]]:
    answer = requests.get(f"{sb.url}/wiki/rest/api/content/{page_id}/child/attachment",
                          auth=(sb.bot_email, sb.bot_token), timeout=10)
    assert answer.status_code == 200
    results = answer.json()["results"]
    assert isinstance(results, list)
    return results


def _page(sb: Sandbox, page_id: str) -> dict[str, Any]:
    answer = requests.get(f"{sb.url}/wiki/rest/api/content/{page_id}",
                          params={"expand": "body.storage,version"},
                          auth=(sb.bot_email, sb.bot_token), timeout=10)
    assert answer.status_code == 200
    body = answer.json()
    assert isinstance(body, dict)
    return body


def test_creates_then_updates_one_page_and_one_attachment(
    sandbox: Sandbox, transport: Transport, store: Store
) -> None:
    """The first publish creates the page; the next updates it (version 2) and replaces the
    chart (same attachment, version 2); no other page is read or written."""
    others_before = _pages(sandbox)
    sandbox.clear_requests()
    first = publish_report(store, transport, CONFIG, tz=UTC_TZ, now=T0 + timedelta(days=4))
    assert first.created
    page = _page(sandbox, first.page_id)
    assert page["title"] == CONFIG.title
    assert page["version"]["number"] == 1
    body = page["body"]["storage"]["value"]
    assert f'<ri:attachment ri:filename="{CONFIG.attachment}"/>' in body
    assert "<ac:image" in body
    assert 'href="https://example.test/wiki/x/2001"' in body  # the customer's deal page
    (att,) = _attachments(sandbox, first.page_id)
    assert att["version"]["number"] == 1
    second = publish_report(store, transport, CONFIG, tz=UTC_TZ, now=T0 + timedelta(days=11))
    assert (second.created, second.page_id, second.version) == (False, first.page_id, 2)
    (again,) = _attachments(sandbox, first.page_id)
    assert (again["id"], again["version"]["number"]) == (att["id"], 2)
    assert store.get_meta(PUBLISHED_KEY) == (T0 + timedelta(days=11)).isoformat()
    touched = {r["path"] for r in sandbox.requests() if r["path"].startswith("/wiki/")}
    assert all(p == "/wiki/rest/api/content" or f"/content/{first.page_id}" in p
               for p in touched), touched
    others_after = {k: v for k, v in _pages(sandbox).items() if k != first.page_id}
    assert others_after == others_before


class _Racing(ReportPage):
    """A person saves the page while the bot uploads its chart (a real concurrent edit)."""

    def __init__(self, *args: Any, sandbox: Sandbox, times: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sandbox = sandbox
        self.times = times

    def _attach(self, page_id: str, chart: bytes, filename: str) -> str:
        found = super()._attach(page_id, chart, filename)
        self._edit_by_a_person(page_id)
        return found

    def _read_version(self, page_id: str) -> int:
        version = super()._read_version(page_id)
        if self.times > 1:  # a second edit lands between our re-read and our retry
            self.times -= 1
            self._edit_by_a_person(page_id)
        return version

    def _edit_by_a_person(self, page_id: str) -> None:
        sb = self.sandbox
        current = _page(sb, page_id)
        answer = requests.put(
            f"{sb.url}/wiki/rest/api/content/{page_id}", auth=(sb.bot_email, sb.bot_token),
            timeout=10, json={"type": "page", "title": current["title"],
                              "version": {"number": current["version"]["number"] + 1},
                              "body": {"storage": {"value": "<p>edited by a person</p>",
                                                   "representation": "storage"}}})
        assert answer.status_code == 200, answer.text


def test_a_409_race_is_read_again_and_retried_once(
    sandbox: Sandbox, transport: Transport, store: Store
) -> None:
    """A concurrent edit makes the update answer 409; the bot re-reads and wins on retry."""
    first = publish_report(store, transport, CONFIG, tz=UTC_TZ, now=T0)
    report = load_report(store, since=T0 - timedelta(weeks=4), until=T0 + timedelta(days=5),
                         tz=UTC_TZ, generated_at=T0)
    racing = _Racing(transport, space=CONFIG.space, title=CONFIG.title, sandbox=sandbox,
                     times=1)
    sandbox.clear_requests()
    done = racing.publish(storage(report, attachment=CONFIG.attachment), chart=b"png",
                          filename=CONFIG.attachment)
    assert done.version == 3  # 1 created, 2 the person's edit, 3 ours after the re-read
    puts = [r["status"] for r in sandbox.requests()
            if r["method"] == "PUT" and r["path"].endswith(f"/content/{first.page_id}")]
    assert puts == [200, 409, 200]  # the person's edit, our stale try, our retry
    assert "edited by a person" not in _page(sandbox, first.page_id)["body"]["storage"]["value"]


def test_a_second_409_gives_up_for_this_time(
    sandbox: Sandbox, transport: Transport, store: Store
) -> None:
    """Retried once only: a second conflict raises (and the next cycle tries again)."""
    publish_report(store, transport, CONFIG, tz=UTC_TZ, now=T0)
    racing = _Racing(transport, space=CONFIG.space, title=CONFIG.title, sandbox=sandbox,
                     times=2)
    with pytest.raises(AtlassianHTTPError) as raised:
        racing.publish("<p>x</p>", chart=b"png", filename=CONFIG.attachment)
    assert raised.value.status == 409


def test_confluence_down_then_the_next_cycle_publishes(
    sandbox: Sandbox, transport: Transport, store: Store
) -> None:
    """A failed publish is logged and not recorded; the next call publishes; then it waits
    for the schedule (Monday 08:00)."""
    now = datetime(2026, 11, 4, 9, 0, tzinfo=UTC)  # a Wednesday
    sandbox.add_faults([{"path": "^/wiki/rest/api/content", "status": 503}])
    with capture_logs() as events:
        assert publish_if_due(store, transport, CONFIG, tz=UTC_TZ, now=now) is None
    assert any(e["event"] == "report.publish_failed" for e in events)
    assert store.get_meta(PUBLISHED_KEY) is None
    sandbox.clear_faults()
    done = publish_if_due(store, transport, CONFIG, tz=UTC_TZ, now=now + timedelta(minutes=15))
    assert done is not None
    assert done.created
    assert publish_if_due(store, transport, CONFIG, tz=UTC_TZ,
                          now=now + timedelta(days=1)) is None
    monday = publish_if_due(store, transport, CONFIG, tz=UTC_TZ,
                            now=datetime(2026, 11, 9, 8, 5, tzinfo=UTC))
    assert monday is not None
    assert monday.version == 2


@pytest.mark.parametrize(
    ("last", "now", "due"),
    [
        (None, datetime(2026, 11, 4, 9, tzinfo=UTC), True),
        (datetime(2026, 11, 2, 8, 0, tzinfo=UTC), datetime(2026, 11, 8, 23, tzinfo=UTC), False),
        (datetime(2026, 11, 2, 8, 0, tzinfo=UTC), datetime(2026, 11, 9, 8, 0, tzinfo=UTC), True),
        (datetime(2026, 11, 2, 7, 0, tzinfo=UTC), datetime(2026, 11, 2, 7, 59, tzinfo=UTC), False),
        (datetime(2026, 11, 2, 7, 0, tzinfo=UTC), datetime(2026, 11, 2, 8, 1, tzinfo=UTC), True),
    ],
)
def test_publish_due(last: datetime | None, now: datetime, due: bool) -> None:
    """Due when a Monday 08:00 passed since the last publish (and always the first time)."""
    assert publish_due("0 8 * * mon", UTC_TZ, last=last, now=now) is due


def test_publish_due_uses_the_files_time_zone() -> None:
    """08:00 in Berlin is 07:00 UTC in winter."""
    berlin = ZoneInfo("Europe/Berlin")
    last = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
    assert publish_due("0 8 * * mon", berlin, last=last,
                       now=datetime(2026, 11, 9, 7, 1, tzinfo=UTC))


def test_without_matplotlib_the_page_goes_out_and_says_why_it_has_no_chart(
    sandbox: Sandbox, transport: Transport, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The chart is the optional extra `chart`: without matplotlib (as in the container image)
    the page is still created, with no attachment and one line saying how to get the chart."""
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    with capture_logs() as logs:
        published = publish_report(store, transport, CONFIG, tz=UTC_TZ,
                                   now=T0 + timedelta(days=4))
    assert published.created
    assert published.attachment_id is None
    body = _page(sandbox, published.page_id)["body"]["storage"]["value"]
    assert "<ac:image" not in body
    assert "No chart: the chart needs matplotlib" in body
    assert "handoff-guard[chart]" in body
    assert _attachments(sandbox, published.page_id) == []
    assert [e["event"] for e in logs if e["log_level"] == "warning"] == ["report.chart_missing"]
    assert store.get_meta(PUBLISHED_KEY) == (T0 + timedelta(days=4)).isoformat()
