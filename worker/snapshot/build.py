"""A recorded read -> a site file the sandbox serves (pure: JSON in, site dict out).

Everything comes from the answers the read received (:mod:`worker.snapshot.record`): issues
with their comments (ADF kept verbatim on Cloud, wiki markup on Data Center), changelog and
the bot's issue property; the members of the groups the policies name; the users the read
met; the custom fields the policies read; deal pages with their storage body verbatim; and
the server's clock. No token is ever written: the bot gets a placeholder the sandbox accepts.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from worker.atlassian.markup import adf_to_text
from worker.atlassian.snapshots import normalize_field, parse_jira_time
from worker.model.issue import SearchSpec
from worker.model.vocabulary import Flavor
from worker.sandbox.site import format_time
from worker.snapshot.record import Recording

#: the token written for the bot: the sandbox needs one; the real one never reaches the file
PLACEHOLDER_TOKEN = "sandbox-token"
PLACEHOLDER_BOT_EMAIL = "handoff-bot@example.invalid"
_CATEGORIES = frozenset({"new", "indeterminate", "done"})


@dataclass(frozen=True, slots=True)
class SiteUser:
    """A user as the site file names it (``ref`` is how issues and groups point at it)."""

    ref: str
    entry: Mapping[str, Any]


class _Users:
    """Every Jira user met in the answers, by the flavor's identity (first answer wins)."""

    def __init__(self, flavor: Flavor, bot_ref: str) -> None:
        self.flavor: Flavor = flavor
        self.bot_ref = bot_ref
        self.by_ref: dict[str, dict[str, Any]] = {}

    def add(self, raw: object) -> str | None:
        """Remember a user object; its reference in the site file (None when it has none)."""
        if not isinstance(raw, Mapping):
            return None
        ident = raw.get("accountId") if self.flavor == "cloud" else raw.get("name")
        if not isinstance(ident, str) or not ident:
            return None
        if ident == self.bot_ref or ident in self.by_ref:
            return ident
        display = raw.get("displayName")
        entry: dict[str, Any] = {
            # Cloud has no usernames: the account id is the only handle, so it is both.
            "account_id": ident if self.flavor == "cloud" else str(raw.get("key") or ident),
            "name": ident,
            "display_name": display if isinstance(display, str) and display else ident,
        }
        email = raw.get("emailAddress")
        if isinstance(email, str) and email:
            entry["email"] = email
        if raw.get("active", True) is False:
            entry["active"] = False
        self.by_ref[ident] = entry
        return ident


def build_site(
    recording: Recording,
    *,
    flavor: Flavor,
    spec: SearchSpec,
    keys: Collection[str] | None = None,
) -> dict[str, Any]:
    """The site dict (``site_from_dict`` loads it) for what ``recording`` holds.

    ``keys`` keeps only those issues (``snapshot --issues N`` stops the read early, and the
    last search page may hold more than it kept).
    """
    now = _server_now(recording)
    myself = _last_answer(recording, "jira", "/myself")
    bot = _bot(myself, flavor)
    users = _Users(flavor, bot["account_id"] if flavor == "cloud" else bot["name"])

    groups = _groups(recording, users)
    fields = _fields(recording, spec)
    issues_raw = _issues(recording, keys)
    for exchange in recording.answers("jira", "/user"):
        users.add(exchange.answer)
    _confluence_keys(recording, users)

    workflow: dict[str, str] = {}
    issue_types: dict[str, None] = {}
    projects: dict[str, dict[str, Any]] = {}
    more = _completions(recording)
    issues = [
        _issue(_completed(raw, more), flavor=flavor, users=users, fields=fields, spec=spec,
               workflow=workflow, issue_types=issue_types, projects=projects)
        for raw in issues_raw
    ]
    spaces: dict[str, str] = {}
    pages = [_page(raw, spaces) for raw in _pages(recording)]

    field_list = []
    for fid, fdef in fields.items():
        entry: dict[str, Any] = {"id": fid, "name": fdef.name, "type": fdef.type}
        if fdef.type in ("option", "multi_option"):
            entry["options"] = sorted(fdef.options)
        field_list.append(entry)
    site: dict[str, Any] = {
        "site": {
            "flavor": flavor,
            "now": format_time(now),
            "timezone": _timezone(myself),
            "search_lag_s": 0,
            "bot": bot,
        },
        "users": list(users.by_ref.values()),
        "groups": groups,
        "fields": field_list,
        "workflow": workflow or {"To Do": "new", "In Progress": "indeterminate", "Done": "done"},
        "issue_types": list(issue_types) or ["Task"],
        "projects": list(projects.values()),
        "issues": issues,
    }
    if pages:
        site["confluence"] = {
            "spaces": [{"key": k, "name": n} for k, n in spaces.items()],
            "pages": pages,
        }
    return site


# --------------------------------------------------------------------------- the site itself


def _last_answer(recording: Recording, service: str, suffix: str) -> Mapping[str, Any]:
    found = [x.answer for x in recording.answers(service, suffix) if isinstance(x.answer, dict)]
    if not found:
        raise ValueError(f"the read has no answer from {suffix}")
    return found[-1]


def _server_now(recording: Recording) -> Any:
    return parse_jira_time(_last_answer(recording, "jira", "/serverInfo").get("serverTime"))


def _timezone(myself: Mapping[str, Any]) -> str:
    # JQL date literals are read in the searching user's time zone: the bot's.
    zone = myself.get("timeZone")
    return zone if isinstance(zone, str) and zone else "UTC"


def _bot(myself: Mapping[str, Any], flavor: Flavor) -> dict[str, Any]:
    name = myself.get("name") if flavor == "datacenter" else None
    ident = myself.get("accountId") if flavor == "cloud" else name
    if not isinstance(ident, str) or not ident:
        raise ValueError("/myself has no identity for the bot")
    email = myself.get("emailAddress")
    display = myself.get("displayName")
    return {
        "account_id": ident if flavor == "cloud" else str(myself.get("key") or ident),
        "name": ident,
        "display_name": display if isinstance(display, str) and display else ident,
        # Cloud may hide the email; the sandbox logs the bot in by it, so one is needed.
        "email": email if isinstance(email, str) and email else PLACEHOLDER_BOT_EMAIL,
        "api_token": PLACEHOLDER_TOKEN,
    }


def _confluence_keys(recording: Recording, users: _Users) -> None:
    """Confluence Data Center's own user keys (``ri:userkey`` links on deal pages), from the
    Confluence user lookups the read made, onto the Jira users of the same username."""
    for exchange in recording.answers("confluence", "/user"):
        answer = exchange.answer if isinstance(exchange.answer, dict) else {}
        key, username = answer.get("userKey"), answer.get("username")
        entry = users.by_ref.get(str(username)) if isinstance(username, str) else None
        if entry is not None and isinstance(key, str) and len(key) == 32:
            entry.setdefault("confluence_key", key)


def _groups(recording: Recording, users: _Users) -> list[dict[str, Any]]:
    members: dict[str, list[str]] = {}
    for exchange in recording.answers("jira", "/group/member"):
        name = str(exchange.params.get("groupname", ""))
        found = members.setdefault(name, [])
        answer = exchange.answer if isinstance(exchange.answer, dict) else {}
        for raw in answer.get("values") or []:
            ref = users.add(raw)
            if ref is not None and ref not in found:
                found.append(ref)
    return [{"name": n, "members": m} for n, m in members.items() if n]


# --------------------------------------------------------------------------- fields


@dataclass(slots=True)
class _Field:
    name: str
    type: str  # the site file's: string | number | option | multi_option
    options: set[str]


def _fields(recording: Recording, spec: SearchSpec) -> dict[str, _Field]:
    """The custom fields the policies read (and Jira's Flagged field), by id."""
    wanted = set(spec.field_names) | {"Flagged"}
    out: dict[str, _Field] = {}
    seen_names: set[str] = set()
    for exchange in recording.answers("jira", "/field"):
        for raw in exchange.answer if isinstance(exchange.answer, list) else []:
            if not isinstance(raw, dict):
                continue
            fid, name = str(raw.get("id", "")), raw.get("name")
            # the gateway takes the first field of a name; so does the snapshot
            if name not in wanted or name in seen_names or not fid.startswith("customfield_"):
                continue
            seen_names.add(str(name))
            out[fid] = _Field(str(name), _field_type(raw.get("schema")), set())
    return out


def _field_type(schema: object) -> str:
    if not isinstance(schema, dict):
        return "string"
    kind = schema.get("type")
    if kind == "option":
        return "option"
    if kind == "array" and schema.get("items") == "option":
        return "multi_option"
    if kind == "number":
        return "number"
    # Dates, users, cascades...: the policies read every field as text, so text it is.
    return "string"


def _field_value(fdef: _Field, value: object) -> Any:
    if value is None:
        return None
    if fdef.type == "number" and isinstance(value, int | float) and not isinstance(value, bool):
        return value
    normalized = normalize_field(value)
    if fdef.type == "multi_option":
        values = list(normalized) if isinstance(normalized, tuple) else [normalized]
        fdef.options.update(v for v in values if v is not None)
        return [v for v in values if v is not None]
    if isinstance(normalized, tuple):
        normalized = ", ".join(normalized)
    if fdef.type == "option" and normalized is not None:
        fdef.options.add(normalized)
    if fdef.type == "number":  # a number field that answered text: keep the text
        fdef.type = "string"
    return normalized


# --------------------------------------------------------------------------- issues


def _issues(recording: Recording, keys: Collection[str] | None) -> list[Mapping[str, Any]]:
    wanted = {k.upper() for k in keys} if keys is not None else None
    out: dict[str, Mapping[str, Any]] = {}
    for suffix in ("/search/jql", "/search"):
        for exchange in recording.answers("jira", suffix):
            answer = exchange.answer if isinstance(exchange.answer, dict) else {}
            for raw in answer.get("issues") or []:
                key = raw.get("key") if isinstance(raw, dict) else None
                if not isinstance(key, str) or (wanted is not None and key.upper() not in wanted):
                    continue
                out.setdefault(key, raw)  # a page read twice (a retry) counts once
    return list(out.values())


def _issue(
    raw: Mapping[str, Any],
    *,
    flavor: Flavor,
    users: _Users,
    fields: Mapping[str, _Field],
    spec: SearchSpec,
    workflow: dict[str, str],
    issue_types: dict[str, None],
    projects: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    f = raw.get("fields") if isinstance(raw.get("fields"), dict) else {}
    assert isinstance(f, dict)
    status = f.get("status") if isinstance(f.get("status"), dict) else {}
    assert isinstance(status, dict)
    status_name = str(status.get("name", "To Do"))
    category = status.get("statusCategory")
    key = category.get("key") if isinstance(category, dict) else None
    workflow.setdefault(status_name, key if key in _CATEGORIES else "indeterminate")
    itype = f.get("issuetype")
    type_name = str(itype.get("name")) if isinstance(itype, dict) else "Task"
    issue_types.setdefault(type_name, None)
    project = f.get("project")
    if isinstance(project, dict) and isinstance(project.get("key"), str):
        projects.setdefault(project["key"], _project(project))
    out: dict[str, Any] = {"key": raw["key"], "id": str(raw.get("id", ""))}
    out["type"] = type_name
    out["summary"] = str(f.get("summary") or "")
    description = f.get("description")
    if description:
        out["description"] = description if isinstance(description, str) else adf_to_text(
            description
        )
    out["status"] = status_name
    for name in ("assignee", "reporter"):
        ref = users.add(f.get(name))
        if ref is not None:
            out[name] = ref
    labels = f.get("labels")
    if isinstance(labels, list) and labels:
        out["labels"] = [str(label) for label in labels]
    out["created"] = format_time(parse_jira_time(f.get("created")))
    out["updated"] = format_time(parse_jira_time(f.get("updated")))
    values = {fid: _field_value(fdef, f.get(fid)) for fid, fdef in fields.items()}
    values = {fid: v for fid, v in values.items() if v not in (None, [])}
    if values:
        out["fields"] = values
    comments = _comments(f.get("comment"), flavor=flavor, users=users)
    if comments:
        out["comments"] = comments
    properties = raw.get("properties")
    if isinstance(properties, dict) and properties.get(spec.property_key) is not None:
        out["properties"] = {spec.property_key: properties[spec.property_key]}
    changelog = _changelog(raw.get("changelog"), users)
    if changelog:
        out["changelog"] = changelog
    return out


_PER_ISSUE = re.compile(r"/issue/([^/]+)/(comment|changelog)$")


def _completions(recording: Recording) -> dict[tuple[str, str], list[Any]]:
    """Comments and changelog entries the read fetched per issue, beyond what search showed
    (search caps them: Cloud lists 100 comments and 40 changelog entries)."""
    out: dict[tuple[str, str], list[Any]] = {}
    for exchange in recording.exchanges:
        match = _PER_ISSUE.search(exchange.path.split("?", 1)[0].rstrip("/"))
        if match is None or exchange.service != "jira" or not isinstance(exchange.answer, dict):
            continue
        items = exchange.answer.get("comments" if match.group(2) == "comment" else "values")
        if isinstance(items, list):
            out.setdefault((match.group(1), match.group(2)), []).extend(items)
    return out


def _completed(raw: Mapping[str, Any], more: Mapping[tuple[str, str], list[Any]]
               ) -> Mapping[str, Any]:
    """The search JSON of one issue with the comments and changelog read apart added, so the
    copy holds everything the cycle saw (each item once, by id)."""
    key = str(raw.get("key"))
    comments, histories = more.get((key, "comment")), more.get((key, "changelog"))
    if not comments and not histories:
        return raw
    out = dict(raw)
    if comments:
        fields = dict(out.get("fields") or {})
        shown = fields.get("comment")
        listed = shown.get("comments") if isinstance(shown, dict) else shown
        fields["comment"] = {"comments": _by_id([*(listed or []), *comments])}
        out["fields"] = fields
    if histories:
        shown = out.get("changelog")
        listed = shown.get("histories") if isinstance(shown, dict) else None
        out["changelog"] = {"histories": _by_id([*(listed or []), *histories])}
    return out


def _by_id(items: list[Any]) -> list[Any]:
    seen: dict[str, Any] = {}
    for item in items:
        if isinstance(item, dict):
            seen.setdefault(str(item.get("id", len(seen))), item)
    return list(seen.values())


def _project(raw: Mapping[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = {"key": raw["key"], "name": str(raw.get("name") or raw["key"])}
    if raw.get("id") is not None:
        entry["id"] = str(raw["id"])
    return entry


def _comments(raw: object, *, flavor: Flavor, users: _Users) -> list[dict[str, Any]]:
    items = raw.get("comments") if isinstance(raw, dict) else raw
    out: list[dict[str, Any]] = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        body = item.get("body")
        entry: dict[str, Any] = {
            "id": str(item.get("id", "")),
            "author": users.add(item.get("author")),
            "created": format_time(parse_jira_time(item.get("created"))),
        }
        if item.get("updated") and item.get("updated") != item.get("created"):
            entry["updated"] = format_time(parse_jira_time(item.get("updated")))
        if isinstance(body, dict):
            # Cloud: the ADF document verbatim (mentions, marks); its text for JQL
            entry["body"] = adf_to_text(body)
            entry["adf"] = body
        else:
            entry["body"] = "" if body is None else str(body)
        visibility = item.get("visibility")
        if isinstance(visibility, dict) and visibility.get("value"):
            entry["visibility"] = {
                "type": str(visibility.get("type", "group")),
                "value": str(visibility["value"]),
            }
        out.append(entry)
    return out


def _changelog(raw: object, users: _Users) -> list[dict[str, Any]]:
    histories = raw.get("histories") if isinstance(raw, dict) else None
    out: list[dict[str, Any]] = []
    for history in histories if isinstance(histories, list) else []:
        if not isinstance(history, dict):
            continue
        items = []
        for item in history.get("items") or []:
            if isinstance(item, dict) and item.get("field") is not None:
                items.append({
                    k: str(item[k]) for k in ("field", "from", "to", "fromString", "toString")
                    if item.get(k) is not None
                })
        out.append({
            "id": str(history.get("id", "")),
            "author": users.add(history.get("author")),
            "created": format_time(parse_jira_time(history.get("created"))),
            "items": items,
        })
    # Cloud answers newest first; the site file keeps history in the order it happened.
    out.sort(key=lambda h: str(h["created"]))
    return out


# --------------------------------------------------------------------------- deal pages


def _pages(recording: Recording) -> Iterable[Mapping[str, Any]]:
    seen: set[str] = set()
    for exchange in recording.answers("confluence", "/content/search"):
        answer = exchange.answer if isinstance(exchange.answer, dict) else {}
        for raw in answer.get("results") or []:
            if isinstance(raw, dict) and str(raw.get("id")) not in seen:
                seen.add(str(raw.get("id")))
                yield raw


def _page(raw: Mapping[str, Any], spaces: dict[str, str]) -> dict[str, Any]:
    space = raw.get("space")
    if isinstance(space, dict) and isinstance(space.get("key"), str):
        key = space["key"]
        spaces.setdefault(key, str(space.get("name") or key))
    else:
        expandable = raw.get("_expandable")
        link = expandable.get("space") if isinstance(expandable, dict) else None
        key = str(link).rstrip("/").rsplit("/", 1)[-1] if link else "UNKNOWN"
        spaces.setdefault(key, key)
    body = raw.get("body")
    storage = body.get("storage") if isinstance(body, dict) else None
    value = storage.get("value") if isinstance(storage, dict) else None
    entry: dict[str, Any] = {"id": str(raw.get("id", "")), "space": key,
                             "title": str(raw.get("title", ""))}
    metadata = raw.get("metadata")
    labels = metadata.get("labels") if isinstance(metadata, dict) else None
    results = labels.get("results") if isinstance(labels, dict) else None
    names = [str(x["name"]) for x in results or [] if isinstance(x, dict) and x.get("name")]
    if names:
        entry["labels"] = names
    version = raw.get("version")
    number = version.get("number") if isinstance(version, dict) else None
    if isinstance(number, int) and number != 1:
        entry["version"] = number
    if isinstance(value, str):
        entry["storage"] = value  # verbatim: the page's real shape is what the worker parses
    return entry
