"""Take a snapshot: the cycle's read, recorded, turned into a site file (optionally anonymized)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog
import yaml

from worker.atlassian.snapshots import person_from_json
from worker.atlassian.transport import AtlassianHTTPError
from worker.policy import search_spec
from worker.read.site import stream_site
from worker.sandbox.site import site_from_dict
from worker.snapshot.anonymize import Anonymizer, Identity, anonymize_site
from worker.snapshot.build import PLACEHOLDER_TOKEN, build_site
from worker.snapshot.record import Recording, RecordingTransport

if TYPE_CHECKING:
    from worker.atlassian.clients import Atlassian
    from worker.policy import Policies

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A site file's content and what it took to read it.

    ``anonymizer`` holds the mapping back to real names: it lives in memory only (tests use it
    to compare plans) and is never written anywhere.
    """

    site: dict[str, Any]
    now: datetime
    issues: int
    pages: int
    users: int
    requests: int
    anonymizer: Anonymizer | None = None


def take_snapshot(
    atlassian: Atlassian,
    policies: Policies,
    *,
    limit: int | None = None,
    anonymize: bool = False,
    protected: Collection[str] = (),
) -> Snapshot:
    """Read what ``policies`` need, as a cycle does, and return it as a site dict.

    ``limit`` keeps the first N candidate tickets (the search stops paging once it has them).
    ``protected`` are words the anonymizer never replaces (the policy files' words).
    """
    recording = Recording()
    jira_transport, confluence_transport = atlassian.jira.transport, atlassian.confluence.transport
    atlassian.jira.transport = RecordingTransport.wrap(jira_transport, recording)
    atlassian.confluence.transport = RecordingTransport.wrap(confluence_transport, recording)
    before = atlassian.requests_made
    try:
        spec = search_spec(policies)
        stream = stream_site(atlassian, spec, journal=None, policies=policies)
        keys = [item.key for item in islice(stream, limit)]
        deals = stream.deals
        # The bot and the field catalogue are read once per process: a connection that read
        # them before this snapshot asks again (recorded) for what the site file needs.
        for suffix in ("/myself", "/field"):
            if not recording.answers("jira", suffix):
                atlassian.jira.transport.call("GET", atlassian.jira.api + suffix)
    finally:
        atlassian.jira.transport = jira_transport
        atlassian.confluence.transport = confluence_transport
    site = build_site(recording, flavor=atlassian.flavor, spec=spec, keys=keys)
    anonymizer = None
    if anonymize:
        customers = [d.account for d in deals] + _field_values(site, policies.deals.account_field)
        site, anonymizer = anonymize_site(site, customers=customers, protected=protected,
                                          others=_everyone(atlassian))
    site_from_dict(site, source="<snapshot>")  # what we write must load: fail here, not later
    snapshot = Snapshot(
        site=site,
        now=datetime.fromisoformat(site["site"]["now"].replace("Z", "+00:00")),
        issues=len(site["issues"]),
        pages=len((site.get("confluence") or {}).get("pages") or []),
        users=len(site["users"]),
        requests=atlassian.requests_made - before,
        anonymizer=anonymizer,
    )
    log.info("snapshot.taken", issues=snapshot.issues, pages=snapshot.pages,
             users=snapshot.users, requests=snapshot.requests, anonymized=anonymize)
    return snapshot


#: users per page of the user directory (Jira's maximum)
USER_PAGE_SIZE = 1000
#: a bound on the directory read (a million users)
MAX_USER_PAGES = 1000


def _everyone(atlassian: Atlassian) -> list[Identity]:
    """Every user of the site, for the anonymizer alone (a sentence may name someone the read
    never met). Cloud lists them with ``/users/search``; Data Center with ``/user/search``
    and ``username=.``. A site that refuses (no *Browse users* permission) is logged: the
    names of people the read did not meet then stay in free text."""
    jira = atlassian.jira
    cloud = atlassian.flavor == "cloud"
    path = f"{jira.api}/users/search" if cloud else f"{jira.api}/user/search"
    out: list[Identity] = []
    start = 0
    for _ in range(MAX_USER_PAGES):
        params: dict[str, Any] = {"startAt": start, "maxResults": USER_PAGE_SIZE}
        if not cloud:
            params["username"] = "."
        try:
            page = jira.transport.call("GET", path, params=params)
        except AtlassianHTTPError as exc:
            log.warning("snapshot.users_unreadable", status=exc.status,
                        detail="names of people the read did not meet may stay in free text")
            return out
        if not isinstance(page, list) or not page:
            break
        for raw in page:
            person = person_from_json(raw, atlassian.flavor)
            if person is None or not isinstance(raw, dict):
                continue
            key = raw.get("key") if not cloud else None
            out.append(Identity(
                account_id=str(key or person.id), name=person.id,
                display_name=person.display_name, email=person.email,
            ))
        start += len(page)
    return out


def _field_values(site: dict[str, Any], field_name: str | None) -> list[str]:
    """The values of one custom field (by display name) over the site's issues."""
    if not field_name:
        return []
    ids = {f["id"] for f in site.get("fields") or [] if f.get("name") == field_name}
    out: list[str] = []
    for issue in site.get("issues") or []:
        for fid, value in (issue.get("fields") or {}).items():
            if fid in ids:
                out.extend(value if isinstance(value, list) else [str(value)])
    return out


HEADER = """\
# A Handoff Guard snapshot (python -m worker snapshot), taken at {now} site time.
# {what}
# Serve it:  python -m worker sandbox --site {name}
# then log in as the bot: JIRA_USERNAME={email} JIRA_API_TOKEN={token}
# (Data Center: JIRA_PERSONAL_TOKEN={token}). No real token is ever written here.
"""


def dump_site(snapshot: Snapshot, path: Path) -> None:
    """Write the snapshot as a site file (YAML, keys in the site-file order)."""
    bot = snapshot.site["site"]["bot"]
    what = (
        f"{snapshot.issues} tickets, {snapshot.users} users, {snapshot.pages} deal pages; "
        + ("people and customers anonymized." if snapshot.anonymizer is not None
           else "NOT anonymized: real names, emails and customers.")
    )
    header = HEADER.format(now=snapshot.site["site"]["now"], what=what, name=path.name,
                           email=bot["email"], token=PLACEHOLDER_TOKEN)
    body = yaml.safe_dump(snapshot.site, sort_keys=False, allow_unicode=True, width=100)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(header + body, encoding="utf-8")
    tmp.replace(path)  # never a half-written site file
