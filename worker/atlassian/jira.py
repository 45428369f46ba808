"""Jira: the site clock, the directory, the search that streams snapshots, and the atomic edit.

Cloud speaks REST v3 (ADF, accountId, ``/search/jql`` with ``nextPageToken``); Data Center
speaks REST v2 (wiki markup, username, ``/search`` with ``startAt``). Both dialects live here
and in the modules beside it, nowhere else: :mod:`worker.atlassian.jira_pages` (the paged
answers) and :mod:`worker.atlassian.edit_body` (what one edit carries).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import structlog

from worker.atlassian.edit_body import assignee_value
from worker.atlassian.jira_pages import cloud_pages, dc_pages, read_in_full
from worker.atlassian.listing import each_once
from worker.atlassian.prefetch import prefetched
from worker.atlassian.snapshots import (
    BASE_FIELDS,
    issue_to_snapshot,
    parse_jira_time,
    person_from_json,
)
from worker.atlassian.transport import (
    AtlassianHTTPError,
    Transport,
    UnexpectedBodyError,
    expect_dict,
)
from worker.model.issue import IssueSnapshot, MalformedIssue, SearchSpec
from worker.model.people import Directory, Person
from worker.model.vocabulary import Flavor

log = structlog.get_logger(__name__)

T = TypeVar("T")

#: Jira's own name for the flag ("Impediment") field.
FLAGGED_FIELD_NAME = "Flagged"
GROUP_PAGE_SIZE = 50
#: Atlassian's limit on reconcileIssues ids per search.
MAX_RECONCILE = 50
#: ids or keys per ``POST /issue/bulkfetch`` (Jira's limit)
BULK_FETCH_SIZE = 100


@dataclass(frozen=True, slots=True)
class BulkFetch:
    """What one bulkfetch read answered: the issues found (each once, in no given order),
    and issue id -> error message for issues Jira found but could not return."""

    issues: tuple[IssueSnapshot | MalformedIssue, ...]
    errors: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class FieldInfo:
    """Jira's field catalogue, read once per process (TTL) from ``/field``."""

    by_name: Mapping[str, str]  # display name -> field id (first one wins on duplicates)
    flagged_id: str | None


def _zone(name: object) -> ZoneInfo:
    """A user's ``timeZone``; UTC when absent or unknown (Jira's own default)."""
    if isinstance(name, str) and name:
        try:
            return ZoneInfo(name)
        except (ValueError, ZoneInfoNotFoundError):
            log.warning("jira.time_zone_unknown", time_zone=name)
    return ZoneInfo("UTC")


@dataclass
class JiraGateway:
    """Every Jira request the worker makes. Holds per-process caches (fields, users, myself)."""

    transport: Transport
    flavor: Flavor
    field_ttl_s: float = 3600.0
    _fields: FieldInfo | None = field(default=None, init=False, repr=False)
    _fields_read_at: float = field(default=0.0, init=False, repr=False)
    _myself: Person | None = field(default=None, init=False, repr=False)
    _time_zone: ZoneInfo | None = field(default=None, init=False, repr=False)
    _users: dict[str, Person | None] = field(default_factory=dict, init=False, repr=False)
    #: whether this process asked ``/serverInfo`` once (a site that is not Jira shows there)
    _clock_asked: bool = field(default=False, init=False, repr=False)

    @property
    def api(self) -> str:
        """The REST root of this flavor's dialect."""
        return "rest/api/3" if self.flavor == "cloud" else "rest/api/2"

    # ----------------------------------------------------------------- per-process constants

    def server_now(self) -> datetime:
        """The site's clock (``/serverInfo`` serverTime): a cycle's "now"."""
        info = expect_dict(self.transport.call("GET", f"{self.api}/serverInfo"), "serverInfo")
        self._clock_asked = True
        return parse_jira_time(info.get("serverTime"))

    def read_with_clock(self, read: Callable[[], T]) -> tuple[datetime, T]:
        """``read()`` and the site's clock taken no later than its answers.

        The first time in a process, ``/serverInfo`` is asked before ``read`` (it also tells a
        site that is not Jira at once). After that the clock is the ``Date`` of ``read``'s last
        answer, one request less per cycle: whole seconds, rounded down, so a cycle that
        starts from it reads a little more, never less; ``/serverInfo`` again when ``read``
        got no dated answer.
        """
        if not self._clock_asked:
            now = self.server_now()
            return now, read()
        self.transport.last_date = None
        value = read()
        dated = self.transport.last_date
        return (dated if dated is not None else self.server_now()), value

    def myself(self) -> Person:
        """The account the worker runs as (``/myself``), read once per process."""
        if self._myself is None:
            raw = self.transport.call("GET", f"{self.api}/myself")
            person = person_from_json(raw, self.flavor)
            if person is None:
                raise UnexpectedBodyError("myself: no user identity in the answer")
            self._myself = person
            self._time_zone = _zone(raw.get("timeZone") if isinstance(raw, dict) else None)
        return self._myself

    def time_zone(self) -> ZoneInfo:
        """The bot's time zone (``/myself``): JQL date literals are read in it."""
        self.myself()
        assert self._time_zone is not None
        return self._time_zone

    def field_info(self) -> FieldInfo:
        """Field names -> ids, cached for ``field_ttl_s`` (admins rarely rename fields)."""
        fresh = time.monotonic() - self._fields_read_at < self.field_ttl_s
        if self._fields is None or not fresh:
            raw = self.transport.call("GET", f"{self.api}/field")
            if not isinstance(raw, list):
                raise UnexpectedBodyError("field: expected a JSON list")
            by_name: dict[str, str] = {}
            for item in raw:
                if isinstance(item, dict) and isinstance(item.get("name"), str):
                    by_name.setdefault(item["name"], str(item.get("id")))
            self._fields = FieldInfo(by_name=by_name, flagged_id=by_name.get(FLAGGED_FIELD_NAME))
            self._fields_read_at = time.monotonic()
        return self._fields

    # ----------------------------------------------------------------- directory

    def directory(self, groups: Sequence[str]) -> Directory:
        """Active members of each group (paginated), and everyone seen, by id."""
        members: dict[str, frozenset[str]] = {}
        people: dict[str, Person] = {}
        for group in groups:
            ids: set[str] = set()
            start = 0
            while True:
                page = expect_dict(
                    self.transport.call(
                        "GET",
                        f"{self.api}/group/member",
                        params={
                            "groupname": group,
                            "includeInactiveUsers": "false",
                            "startAt": start,
                            "maxResults": GROUP_PAGE_SIZE,
                        },
                    ),
                    "group/member",
                )
                values = page.get("values") or []
                for raw in values:
                    person = person_from_json(raw, self.flavor)
                    if person is None:
                        continue
                    people[person.id] = person
                    self._users[person.id] = person
                    if person.active:
                        ids.add(person.id)
                start += len(values)
                total = page.get("total")
                if page.get("isLast", True) is True or not values:
                    break
                if isinstance(total, int) and start >= total:
                    break
            members[group] = frozenset(ids)
        return Directory(groups=members, people=people)

    def user(
        self,
        *,
        account_id: str | None = None,
        username: str | None = None,
        user_key: str | None = None,
    ) -> Person | None:
        """One user by account id (Cloud), username or user key (Data Center); cached."""
        if account_id is not None:
            cache_key, params = account_id, {"accountId": account_id}
        elif username is not None:
            cache_key, params = username, {"username": username}
        elif user_key is not None:
            cache_key, params = f"key:{user_key}", {"key": user_key}
        else:
            return None
        if cache_key not in self._users:
            try:
                raw = self.transport.call("GET", f"{self.api}/user", params=params)
            except AtlassianHTTPError as exc:
                if exc.status not in (400, 404):
                    raise
                raw = None
            self._users[cache_key] = person_from_json(raw, self.flavor)
        return self._users[cache_key]

    # ----------------------------------------------------------------- search

    def search(
        self,
        spec: SearchSpec,
        *,
        reconcile_ids: Sequence[str] = (),
        complete: Callable[[IssueSnapshot], frozenset[str]] | None = None,
    ) -> Iterator[IssueSnapshot | MalformedIssue]:
        """Stream snapshots page by page (one request per page of up to 100 issues).

        ``reconcile_ids`` (Cloud only, at most 50 used) are issues we wrote recently: Jira
        then answers for them with read-after-write consistency. ``complete`` says, for a
        snapshot whose answer left comments or changelog out, which of them ("comments",
        "changelog") a verdict depends on: those are read in full for that issue first.
        """
        info, extra, wanted, bot_id = self._read_setup(spec)
        ids = [int(i) for i in reconcile_ids if str(i).isdigit()][:MAX_RECONCILE]
        pages = (
            cloud_pages(self.transport, self.api, spec, wanted, ids)
            if self.flavor == "cloud"
            else dc_pages(self.transport, self.api, spec, wanted)
        )
        # Pages can repeat a ticket: each id once, and one id under two keys is unreadable.
        raws = (raw for issues in prefetched(pages) for raw in issues if isinstance(raw, dict))
        for raw in each_once(raws):
            if isinstance(raw, MalformedIssue):
                yield raw
            else:
                yield self._snapshot(raw, spec, info, extra, bot_id, complete)

    def _read_setup(self, spec: SearchSpec) -> tuple[FieldInfo, dict[str, str], list[str], str]:
        """(field catalogue, extra field id -> name, the fields to ask for, the bot's id)."""
        info = self.field_info()
        extra: dict[str, str] = {}
        for name in spec.field_names:
            fid = info.by_name.get(name)
            if fid is None:
                log.warning("jira.field_unknown", field=name)
                continue
            extra[fid] = name
        wanted = [f for f in BASE_FIELDS if spec.description or f != "description"]
        wanted += list(extra)
        if info.flagged_id is not None:
            wanted.append(info.flagged_id)
        if spec.comments:
            wanted.append("comment")
        return info, extra, wanted, self.myself().id

    def _snapshot(
        self,
        raw: Mapping[str, Any],
        spec: SearchSpec,
        info: FieldInfo,
        extra: Mapping[str, str],
        bot_id: str,
        complete: Callable[[IssueSnapshot], frozenset[str]] | None,
    ) -> IssueSnapshot | MalformedIssue:
        """One issue's JSON as a snapshot, its comments or changelog read in full first when
        ``complete`` says a verdict depends on what the answer left out."""
        snapshot = issue_to_snapshot(
            raw,
            flavor=self.flavor,
            extra_fields=extra,
            flagged_field_id=info.flagged_id,
            property_key=spec.property_key,
            bot_id=bot_id,
        )
        more = (
            complete(snapshot)
            if complete is not None and isinstance(snapshot, IssueSnapshot)
            else frozenset()
        )
        if more:
            snapshot = issue_to_snapshot(
                read_in_full(self.transport, self.api, self.flavor, raw, more),
                flavor=self.flavor,
                extra_fields=extra,
                flagged_field_id=info.flagged_id,
                property_key=spec.property_key,
                bot_id=bot_id,
            )
        return snapshot

    def bulk_fetch(
        self,
        spec: SearchSpec,
        refs: Sequence[str],
        *,
        complete: Callable[[IssueSnapshot], frozenset[str]] | None = None,
    ) -> BulkFetch:
        """Issues by key or id (Cloud ``POST /issue/bulkfetch``, 100 a request), with the
        fields, property and changelog a search for ``spec`` would read.

        Jira answers a moved issue's old key with the issue under its new key, leaves out
        issues that do not exist or that the bot may not browse, and lists in ``issueErrors``
        (by id) issues it found but could not return; the order is not guaranteed. The
        caller sorts out which asked-for key became what (:mod:`worker.read.recheck`).
        """
        if self.flavor != "cloud":
            raise ValueError("bulkfetch is a Jira Cloud endpoint; Data Center searches by key")
        info, extra, wanted, bot_id = self._read_setup(spec)
        issues: dict[str, IssueSnapshot | MalformedIssue] = {}
        errors: dict[str, str] = {}
        for start in range(0, len(refs), BULK_FETCH_SIZE):
            body: dict[str, Any] = {
                "issueIdsOrKeys": list(refs[start : start + BULK_FETCH_SIZE]),
                "fields": wanted,
                "properties": [spec.property_key],
                "fieldsByKeys": False,
            }
            if spec.changelog:
                body["expand"] = ["changelog"]
            # A read: retried on 429/5xx like a search (the library's own retries are off).
            page = expect_dict(
                self.transport.call("POST", f"{self.api}/issue/bulkfetch", body=body,
                                    idempotent=True),
                "issue/bulkfetch",
            )
            for raw in page.get("issues") or []:
                if isinstance(raw, dict):
                    ident = str(raw.get("id") or raw.get("key") or "")
                    if ident and ident not in issues:  # an issue named twice comes once
                        issues[ident] = self._snapshot(raw, spec, info, extra, bot_id, complete)
            for raw in page.get("issueErrors") or []:
                if isinstance(raw, dict) and raw.get("id") is not None:
                    errors[str(raw["id"])] = str(raw.get("errorMessage") or "no message")
        return BulkFetch(tuple(issues.values()), errors)

    def issue_key(self, ref: str) -> str | None:
        """The current key of the issue ``ref`` names (an old key of a moved issue gives
        the new one); None when Jira knows no issue the bot may see by that name (404)."""
        try:
            raw = self.transport.call("GET", f"{self.api}/issue/{ref}", params={"fields": "key"})
        except AtlassianHTTPError as exc:
            if exc.status == 404:
                return None
            raise
        key = raw.get("key") if isinstance(raw, dict) else None
        return key if isinstance(key, str) else None

    # ----------------------------------------------------------------- writes

    def edit(self, key: str, body: Mapping[str, Any], *, notify_users: bool = True) -> None:
        """One edit-issue request (comment, fields, labels and our property together)."""
        # notifyUsers is a query parameter; the library's issue_update puts it in the body.
        params = None if notify_users else {"notifyUsers": "false"}
        self.transport.call("PUT", f"{self.api}/issue/{key}", body=dict(body), params=params)

    def assign(self, key: str, person: Person) -> None:
        """The single-purpose assign endpoint, for sites without assignee on the edit screen."""
        self.transport.call(
            "PUT", f"{self.api}/issue/{key}/assignee", body=assignee_value(person, self.flavor)
        )

    def reconciled_properties(
        self, issues: Sequence[tuple[str, str]], property_key: str
    ) -> dict[str, object | None]:
        """Our property on up to :data:`MAX_RECONCILE` issues in one request (Cloud): a
        ``key in (...)`` search naming their ids in ``reconcileIssues``, so the answer
        reflects each one's latest state, not a lagging index. ``issues``: (key, id) pairs.

        Returns key -> the value (None when absent); an issue the answer leaves out, or
        shows without a ``properties`` object, is not in the result (read it on its own).
        """
        if self.flavor != "cloud":
            raise ValueError("reconcileIssues is a Jira Cloud search parameter")
        chosen = list(issues)[:MAX_RECONCILE]
        if not chosen:
            return {}
        quoted = ", ".join('"' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'
                           for key, _id in chosen)
        body: dict[str, Any] = {
            "jql": f"key in ({quoted})",
            # no fields: each issue comes back as its id (and our property), nothing more
            "properties": [property_key],
            "maxResults": MAX_RECONCILE,
            "reconcileIssues": [int(i) for _key, i in chosen if str(i).isdigit()],
        }
        page = expect_dict(
            self.transport.call("POST", f"{self.api}/search/jql", body=body, idempotent=True),
            "search/jql",
        )
        found: dict[str, object | None] = {}
        wanted = {str(ident): key for key, ident in chosen}
        for raw in page.get("issues") or []:
            if not isinstance(raw, dict):
                continue
            key = wanted.get(str(raw.get("id", "")))
            props = raw.get("properties")
            if key is not None and isinstance(props, dict):
                found[key] = props.get(property_key)
        return found

    def issue_property(self, key: str, property_key: str) -> object | None:
        """Our property's current value on one issue (None when absent)."""
        try:
            raw = self.transport.call("GET", f"{self.api}/issue/{key}/properties/{property_key}")
        except AtlassianHTTPError as exc:
            if exc.status == 404:
                return None
            raise
        return raw.get("value") if isinstance(raw, dict) else None
