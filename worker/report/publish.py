"""Keep one Confluence page up to date with the report: find it by space and title (create it
when missing), replace its chart attachment, then update its body with a version check.

Only the page named by the ``report:`` section is ever read or written. Confluence answers
a stale ``version.number`` with 409: the page is read again and the update retried once.
The chart is uploaded before the body that shows it, so readers never see a broken image;
an attachment of the same file name is replaced (a new version), never duplicated.

Confluence Data Center has no ``PUT .../child/attachment``: the portable way, used here, is
``GET ...?filename=`` then ``POST .../child/attachment/{id}/data`` (replace) or
``POST .../child/attachment`` (first upload), with ``X-Atlassian-Token: no-check``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from apscheduler.triggers.cron import CronTrigger

from worker.atlassian.transport import AtlassianHTTPError, Transport, UnexpectedBodyError
from worker.policy.config import ReportConfig
from worker.report.build import load_report, period_start
from worker.report.chart import ChartUnavailableError, chart_png
from worker.report.context import ReportContext
from worker.report.html import storage
from worker.state.store import Store

log = structlog.get_logger(__name__)

#: the attachment's media type and the XSRF header Confluence requires on multipart uploads
PNG = "image/png"
NO_CHECK = {"X-Atlassian-Token": "no-check", "Accept": "application/json"}


class PublishError(Exception):
    """The report page could not be published (the next cycle tries again)."""


@dataclass(frozen=True, slots=True)
class Published:
    """Where the report went."""

    page_id: str
    version: int
    created: bool
    #: None: no chart was attached (matplotlib, the ``chart`` extra, is not installed)
    attachment_id: str | None
    url: str | None


def publish_due(cron: str, tz: ZoneInfo, *, last: datetime | None, now: datetime) -> bool:
    """True when a scheduled time (``cron`` in ``tz``) has passed since ``last`` (a first
    publish is always due, so a new ``report:`` section shows its page at once)."""
    if last is None:
        return True
    trigger = CronTrigger.from_crontab(cron, timezone=tz)
    # The trigger answers the first fire time at or after its argument: ask strictly after.
    nxt: datetime | None = trigger.get_next_fire_time(None, last + timedelta(seconds=1))
    return nxt is not None and nxt <= now


class ReportPage:
    """The one report page of a Confluence site, reached through ``transport``."""

    def __init__(self, transport: Transport, *, space: str, title: str) -> None:
        self.transport = transport
        self.space = space
        self.title = title

    def publish(self, storage: str, *, chart: bytes | None, filename: str) -> Published:
        """Create or update the page with ``storage`` and the chart attached as ``filename``
        (``chart`` None: no attachment is touched)."""
        page = self._find()
        created = False
        if page is None:
            page = self._create(storage)
            created = page is not None
            page = page or self._find()
            if page is None:
                raise PublishError(f"page {self.title!r} in space {self.space} can neither be "
                                   "created nor found")
        page_id = str(page["id"])
        attachment_id = None if chart is None else self._attach(page_id, chart, filename)
        version = _version(page)
        if not created:
            version = self._update(page_id, storage, version)
        log.info("report.published", page_id=page_id, version=version, created=created,
                 space=self.space)
        links = page.get("_links") if isinstance(page.get("_links"), Mapping) else {}
        webui = links.get("webui") if isinstance(links, Mapping) else None
        return Published(page_id, version, created, attachment_id,
                         str(webui) if webui else None)

    # ------------------------------------------------------------------ page

    def _find(self) -> Mapping[str, Any] | None:
        found = self.transport.call("GET", "rest/api/content", params={
            "spaceKey": self.space, "title": self.title, "type": "page", "expand": "version",
        })
        results = _results(found, "content search")
        for page in results:
            if page.get("title") == self.title and page.get("type", "page") == "page":
                return page
        return None

    def _create(self, storage: str) -> Mapping[str, Any] | None:
        body = {"type": "page", "title": self.title, "space": {"key": self.space},
                "body": {"storage": {"value": storage, "representation": "storage"}}}
        try:
            page = self.transport.call("POST", "rest/api/content", body=body, idempotent=False)
        except AtlassianHTTPError as exc:
            if exc.status == 400 and "already exists" in str(exc):
                return None  # someone created it meanwhile: find it and update it
            raise
        if not isinstance(page, Mapping) or "id" not in page:
            raise UnexpectedBodyError("create page: expected a content object")
        return page

    def _read_version(self, page_id: str) -> int:
        page = self.transport.call("GET", f"rest/api/content/{page_id}",
                                   params={"expand": "version"})
        if not isinstance(page, Mapping):
            raise UnexpectedBodyError("get page: expected a content object")
        return _version(page)

    def _update(self, page_id: str, storage: str, version: int) -> int:
        for attempt in (1, 2):
            body = {"id": page_id, "type": "page", "title": self.title,
                    "version": {"number": version + 1, "minorEdit": True,
                                "message": "Handoff Guard report"},
                    "body": {"storage": {"value": storage, "representation": "storage"}}}
            try:
                # A PUT with an explicit version is safe to send again: a replay answers 409.
                self.transport.call("PUT", f"rest/api/content/{page_id}", body=body,
                                    idempotent=True)
                return version + 1
            except AtlassianHTTPError as exc:
                if exc.status != 409 or attempt == 2:
                    raise
                log.info("report.version_conflict", page_id=page_id, version=version)
                version = self._read_version(page_id)
        raise AssertionError("unreachable")  # pragma: no cover

    # ------------------------------------------------------------------ attachment

    def _attach(self, page_id: str, chart: bytes, filename: str) -> str:
        path = f"rest/api/content/{page_id}/child/attachment"
        existing = _results(
            self.transport.call("GET", path, params={"filename": filename}), "attachments"
        )
        match = next((a for a in existing if a.get("title") == filename), None)
        files = {"file": (filename, chart, PNG)}
        form = {"minorEdit": "true", "comment": "Handoff Guard weekly chart"}
        if match is not None:
            answer = self.transport.upload(f"{path}/{match['id']}/data", form=form,
                                           files=files, headers=NO_CHECK)
            return str(_one(answer).get("id", match["id"]))
        answer = self.transport.upload(path, form=form, files=files, headers=NO_CHECK)
        return str(_one(answer)["id"])


def _results(value: object, what: str) -> list[Mapping[str, Any]]:
    if not isinstance(value, Mapping) or not isinstance(value.get("results"), list):
        raise UnexpectedBodyError(f"{what}: expected an object with a results list")
    return [r for r in value["results"] if isinstance(r, Mapping)]


def _one(value: object) -> Mapping[str, Any]:
    """An attachment answer: a results list (create) or the attachment itself (data)."""
    if isinstance(value, Mapping) and isinstance(value.get("results"), list):
        results = _results(value, "attachment")
        if results:
            return results[0]
    if isinstance(value, Mapping) and "id" in value:
        return value
    raise UnexpectedBodyError("attachment upload: expected the attachment in the answer")


def _version(page: Mapping[str, Any]) -> int:
    version = page.get("version")
    number = version.get("number") if isinstance(version, Mapping) else None
    if not isinstance(number, int):
        raise UnexpectedBodyError("page: expected version.number")
    return number


# --------------------------------------------------------------------------- the service's part

#: the store's meta key holding when the report page was last published (site time, ISO)
PUBLISHED_KEY = "report_published_at"


def publish_report(
    store: Store,
    transport: Transport,
    config: ReportConfig,
    *,
    tz: ZoneInfo,
    now: datetime,
    store_name: str = "the state store",
    context: ReportContext | None = None,
) -> Published:
    """Build the report for the ``config.weeks`` weeks up to ``now`` and publish it; records
    the time in the store so the schedule knows. Raises on any failure (nothing recorded)."""
    until = now + timedelta(seconds=1)
    report = load_report(store, since=period_start(until, config.weeks, tz), until=until,
                         tz=tz, generated_at=now, store_name=store_name, context=context)
    page = ReportPage(transport, space=config.space, title=config.title)
    try:
        chart: bytes | None = chart_png(report)
        body = storage(report, attachment=config.attachment)
    except ChartUnavailableError as exc:
        # The page still goes out, saying why it has no chart; the operator sees it logged.
        log.warning("report.chart_missing", reason=str(exc))
        chart = None
        body = storage(report, attachment=None, note=f"No chart: {exc}.")
    published = page.publish(body, chart=chart, filename=config.attachment)
    store.set_meta(PUBLISHED_KEY, now.isoformat())
    return published


def publish_if_due(
    store: Store,
    transport: Transport,
    config: ReportConfig,
    *,
    tz: ZoneInfo,
    now: datetime,
    context: ReportContext | None = None,
) -> Published | None:
    """Publish when the schedule says so; a failure is logged and left for the next cycle,
    never raised (the cycle that called this has already done its real work)."""
    try:
        raw = store.get_meta(PUBLISHED_KEY)
        last = datetime.fromisoformat(raw) if raw else None
        if not publish_due(config.schedule, tz, last=last, now=now):
            return None
        return publish_report(store, transport, config, tz=tz, now=now, context=context)
    except Exception as exc:
        log.warning("report.publish_failed", error=f"{type(exc).__name__}: {exc}",
                    space=config.space, title=config.title, retry="next cycle")
        return None
