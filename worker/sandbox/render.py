"""Render the site model as Jira and Confluence JSON, and convert between comment formats
(ADF on Jira Cloud v3, wiki markup on v2 and Data Center, plain text for JQL and CQL)."""

from __future__ import annotations

import html
import re
import zlib
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any, TypeGuard
from zoneinfo import ZoneInfo

from worker.sandbox.shapes import confluence_key, render_properties
from worker.sandbox.site import Comment, FieldDef, History, Issue, Page, User
from worker.sandbox.world import World, status_category

SYSTEM_FIELDS: dict[str, tuple[str, dict[str, Any]]] = {
    "summary": ("Summary", {"type": "string", "system": "summary"}),
    "description": ("Description", {"type": "string", "system": "description"}),
    "issuetype": ("Issue Type", {"type": "issuetype", "system": "issuetype"}),
    "project": ("Project", {"type": "project", "system": "project"}),
    "status": ("Status", {"type": "status", "system": "status"}),
    "assignee": ("Assignee", {"type": "user", "system": "assignee"}),
    "reporter": ("Reporter", {"type": "user", "system": "reporter"}),
    "labels": ("Labels", {"type": "array", "items": "string", "system": "labels"}),
    "created": ("Created", {"type": "datetime", "system": "created"}),
    "updated": ("Updated", {"type": "datetime", "system": "updated"}),
    "comment": ("Comment", {"type": "comments-page", "system": "comment"}),
}
#: Cloud ``search/jql``: the comment field holds at most this many comments (oldest first)
SEARCH_COMMENT_CAP = 100
#: Cloud ``search/jql`` with ``expand=changelog``: at most this many entries, newest first
SEARCH_CHANGELOG_CAP = 40
#: fields ``*navigable`` leaves out (as Jira does for the comment list)
NOT_NAVIGABLE = frozenset({"comment"})
CUSTOM_TYPES: dict[str, dict[str, Any]] = {
    "string": {"type": "string",
               "custom": "com.atlassian.jira.plugin.system.customfieldtypes:textfield"},
    "number": {"type": "number",
               "custom": "com.atlassian.jira.plugin.system.customfieldtypes:float"},
    "option": {"type": "option",
               "custom": "com.atlassian.jira.plugin.system.customfieldtypes:select"},
    "multi_option": {"type": "array", "items": "option",
                     "custom": "com.atlassian.jira.plugin.system.customfieldtypes:multicheckboxes"},
}
CATEGORIES = {
    "new": {"id": 2, "key": "new", "colorName": "blue-gray", "name": "To Do"},
    "indeterminate": {"id": 4, "key": "indeterminate", "colorName": "yellow",
                      "name": "In Progress"},
    "done": {"id": 3, "key": "done", "colorName": "green", "name": "Done"},
}
_MENTION = re.compile(r"\[~(?:accountid:)?([^\]]+)\]")
_TAG = re.compile(r"<[^>]+>")


# --------------------------------------------------------------------------- time


def jira_time(value: datetime) -> str:
    """Jira's timestamp format: ``2026-11-02T09:00:00.000+0000`` (UTC)."""
    utc = value.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}+0000"


def confluence_time(value: datetime, tz: str | None = None) -> str:
    """Confluence's timestamp format: ``2026-11-02T09:00:00.000Z`` (Cloud, UTC); with ``tz``
    (Data Center: the server's zone) the local time and its offset,
    ``2026-11-02T11:00:00.000+02:00``."""
    if tz is None:
        utc = value.astimezone(UTC)
        return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
    local = value.astimezone(ZoneInfo(tz))
    offset = local.strftime("%z")
    return (local.strftime("%Y-%m-%dT%H:%M:%S.") + f"{local.microsecond // 1000:03d}"
            + f"{offset[:3]}:{offset[3:]}")


def http_date(value: datetime) -> str:
    """An RFC 7231 HTTP date (for ``Date`` and ``Retry-After``)."""
    return format_datetime(value.astimezone(UTC), usegmt=True)


# --------------------------------------------------------------------------- documents


def is_adf(value: object) -> TypeGuard[Mapping[str, Any]]:
    """Is ``value`` an ADF document (``{"type": "doc", "version": 1, "content": [...]}``)?"""
    return (isinstance(value, Mapping) and value.get("type") == "doc"
            and value.get("version") == 1 and isinstance(value.get("content"), list))


def text_to_adf(text: str) -> dict[str, Any]:
    """Wiki/plain text as an ADF document: paragraphs by blank line, mentions as nodes."""
    content: list[dict[str, Any]] = []
    for block in re.split(r"\n\s*\n", text.strip()) if text.strip() else []:
        inlines: list[dict[str, Any]] = []
        for n, line in enumerate(block.split("\n")):
            if n:
                inlines.append({"type": "hardBreak"})
            pos = 0
            for m in _MENTION.finditer(line):
                if m.start() > pos:
                    inlines.append({"type": "text", "text": line[pos:m.start()]})
                inlines.append({"type": "mention", "attrs": {"id": m.group(1),
                                                             "text": f"@{m.group(1)}"}})
                pos = m.end()
            if pos < len(line):
                inlines.append({"type": "text", "text": line[pos:]})
        content.append({"type": "paragraph", "content": inlines})
    return {"type": "doc", "version": 1, "content": content}


def adf_to_wiki(doc: Mapping[str, Any], *, cloud: bool = True) -> str:
    """An ADF document as wiki markup (how Jira shows ADF comments on REST v2)."""
    blocks = [_block_wiki(node, cloud=cloud) for node in doc.get("content", [])]
    return "\n\n".join(b for b in blocks if b)


def _block_wiki(node: Mapping[str, Any], *, cloud: bool) -> str:
    kind = node.get("type")
    children = node.get("content", [])
    if kind in ("bulletList", "orderedList"):
        mark = "*" if kind == "bulletList" else "#"
        return "\n".join(f"{mark} {_block_wiki(item, cloud=cloud)}" for item in children)
    if kind == "listItem":
        return " ".join(_block_wiki(c, cloud=cloud) for c in children)
    if kind in ("paragraph", "heading"):
        return "".join(_inline_wiki(c, cloud=cloud) for c in children)
    return "".join(_inline_wiki(c, cloud=cloud) for c in children)


def _inline_wiki(node: Mapping[str, Any], *, cloud: bool) -> str:
    kind = node.get("type")
    attrs = node.get("attrs") or {}
    if kind == "mention":
        return f"[~accountid:{attrs.get('id')}]" if cloud else f"[~{attrs.get('id')}]"
    if kind == "hardBreak":
        return "\n"
    if kind != "text":
        return "".join(_inline_wiki(c, cloud=cloud) for c in node.get("content", []))
    text = str(node.get("text", ""))
    for mark in node.get("marks") or []:
        mtype = mark.get("type")
        if mtype == "strong":
            text = f"*{text}*"
        elif mtype == "em":
            text = f"_{text}_"
        elif mtype == "link":
            text = f"[{text}|{(mark.get('attrs') or {}).get('href', '')}]"
    return text


def adf_plain(doc: Mapping[str, Any]) -> str:
    """The plain text of an ADF document (mentions as their ``text``)."""
    parts: list[str] = []

    def walk(node: Mapping[str, Any]) -> None:
        kind = node.get("type")
        if kind == "text":
            parts.append(str(node.get("text", "")))
        elif kind == "mention":
            parts.append(str((node.get("attrs") or {}).get("text", "")))
        elif kind == "hardBreak":
            parts.append("\n")
        for child in node.get("content", []) or []:
            walk(child)
        if kind in ("paragraph", "heading", "listItem"):
            parts.append("\n")

    walk(doc)
    return "".join(parts).strip()


def storage_plain(storage: str) -> str:
    """The text of a storage-format body, for CQL ``text ~`` (an index, not a parser)."""
    return html.unescape(_TAG.sub(" ", storage))


# --------------------------------------------------------------------------- people


def user_json(world: World, user: User, base: str, *, api: int) -> dict[str, Any]:
    """A user as Jira shows it on this flavor."""
    avatar = f"{base}/secure/useravatar?ownerId={user.name}"
    out: dict[str, Any]
    if world.cloud:
        out = {"self": f"{base}/rest/api/{api}/user?accountId={user.account_id}",
               "accountId": user.account_id, "accountType": "atlassian"}
    else:
        out = {"self": f"{base}/rest/api/2/user?username={user.name}", "name": user.name,
               "key": user.jira_key or user.name}
    out.update({
        "emailAddress": user.email or "",
        "avatarUrls": {size: f"{avatar}&size={size}" for size in
                       ("48x48", "24x24", "16x16", "32x32")},
        "displayName": user.display_name,
        "active": user.active,
        "timeZone": world.site.timezone,
    })
    return out


def user_ref_json(world: World, ref: str | None, base: str, *, api: int) -> dict[str, Any] | None:
    """A user reference from the site model as JSON (None stays None)."""
    user = world.user(ref)
    return None if user is None else user_json(world, user, base, api=api)


# --------------------------------------------------------------------------- issues


def option_id(fdef: FieldDef, value: str) -> str:
    """A stable id for a custom field option."""
    index = fdef.options.index(value) if value in fdef.options else len(fdef.options)
    return str(fdef.number * 100 + index + 1)


def option_json(fdef: FieldDef, value: str, base: str, *, api: int) -> dict[str, Any]:
    """A select-list option as Jira shows it."""
    oid = option_id(fdef, value)
    return {"self": f"{base}/rest/api/{api}/customFieldOption/{oid}", "value": value, "id": oid}


def all_field_ids(world: World) -> list[str]:
    """Every field id an issue has (system then custom)."""
    return [*SYSTEM_FIELDS, *(f.id for f in world.field_defs())]


def select_fields(world: World, spec: Iterable[str], *, default: str) -> list[str]:
    """Resolve Jira's ``fields`` parameter (``*all``, ``*navigable``, ids, ``-id``)."""
    tokens = [t.strip() for item in spec for t in item.split(",") if t.strip()] or [default]
    every = all_field_ids(world)
    chosen: list[str] = []
    excluded: set[str] = set()
    for token in tokens:
        if token.startswith("-"):
            excluded.add(token[1:])
        elif token == "*all":
            chosen.extend(every)
        elif token == "*navigable":
            chosen.extend(f for f in every if f not in NOT_NAVIGABLE)
        elif token in every:
            chosen.append(token)
    return [f for f in dict.fromkeys(chosen) if f not in excluded]


def document_json(world: World, text: str, adf: Mapping[str, Any] | None, *,
                  api: int) -> Any:
    """A description or comment body in the API's format (ADF on v3, wiki on v2)."""
    if api == 3:
        return dict(adf) if adf is not None else text_to_adf(text)
    if adf is not None:
        return adf_to_wiki(adf, cloud=world.cloud)
    return text


def comment_json(world: World, issue: Issue, comment: Comment, base: str, *, api: int,
                 with_properties: bool = False) -> dict[str, Any]:
    """One comment as Jira shows it."""
    author = user_ref_json(world, comment.author, base, api=api)
    out: dict[str, Any] = {
        "self": f"{base}/rest/api/{api}/issue/{issue.id}/comment/{comment.id}",
        "id": comment.id,
        "author": author,
        "body": document_json(world, comment.body, comment.adf, api=api),
        "updateAuthor": author,
        "created": jira_time(comment.created),
        "updated": jira_time(comment.updated or comment.created),
        "jsdPublic": True,
    }
    if comment.visibility is not None:
        out["visibility"] = dict(comment.visibility)
    if with_properties:
        out["properties"] = [{"key": k, "value": v} for k, v in comment.properties.items()]
    return out


def comment_plain(comment: Comment) -> str:
    """A comment's text for JQL."""
    return adf_plain(comment.adf) if comment.adf is not None else comment.body


def history_json(world: World, h: History, base: str, *, api: int) -> dict[str, Any]:
    """One changelog entry."""
    return {"id": h.id, "author": user_ref_json(world, h.author, base, api=api),
            "created": jira_time(h.created),
            "items": [{"field": it.get("field"), "fieldtype": "jira",
                       "from": it.get("from"), "fromString": it.get("fromString"),
                       "to": it.get("to"), "toString": it.get("toString")}
                      for it in h.items]}


def changelog_json(world: World, histories: list[History], base: str, *,
                   api: int, newest_first_cap: int | None = None) -> dict[str, Any]:
    """The ``changelog`` of an issue (``expand=changelog``).

    ``newest_first_cap``: Cloud's ``search/jql`` lists the most recent entries first and
    only so many of them, with the real ``total`` (the rest: ``/issue/{key}/changelog``).
    """
    shown = list(histories)
    if newest_first_cap is not None:
        shown = list(reversed(shown))[:newest_first_cap]
    return {
        "startAt": 0, "maxResults": len(shown), "total": len(histories),
        "histories": [history_json(world, h, base, api=api) for h in shown],
    }


def status_json(world: World, status: str, base: str, *, api: int) -> dict[str, Any]:
    """A status with its category."""
    names = list(world.site.workflow)
    sid = str(10000 + names.index(status)) if status in names else "1"
    category = CATEGORIES[status_category(world.site, status)]
    return {"self": f"{base}/rest/api/{api}/status/{sid}", "description": "",
            "iconUrl": f"{base}/images/icons/statuses/generic.png", "name": status, "id": sid,
            "statusCategory": {"self": f"{base}/rest/api/{api}/statuscategory/{category['id']}",
                               **category}}


def issuetype_json(world: World, name: str, base: str, *, api: int) -> dict[str, Any]:
    """An issue type."""
    types = world.site.issue_types
    tid = str(10000 + types.index(name)) if name in types else "10000"
    return {"self": f"{base}/rest/api/{api}/issuetype/{tid}", "id": tid, "description": "",
            "iconUrl": f"{base}/images/icons/issuetypes/task.png", "name": name,
            "subtask": False, "hierarchyLevel": 0}


def project_json(world: World, key: str, base: str, *, api: int) -> dict[str, Any]:
    """A project reference."""
    project = next((p for p in world.site.projects if p.key == key), None)
    pid = project.id if project else "10000"
    return {"self": f"{base}/rest/api/{api}/project/{pid}", "id": pid, "key": key,
            "name": project.name if project else key, "projectTypeKey": "software",
            "simplified": False,
            "avatarUrls": {s: f"{base}/secure/projectavatar?pid={pid}&size={s}"
                           for s in ("48x48", "24x24", "16x16", "32x32")}}


def field_value_json(world: World, issue: Issue, field_id: str, base: str, *,
                     api: int, comment_cap: int | None = None) -> Any:
    """The JSON value of one field of an issue."""
    if field_id == "summary":
        return issue.summary
    if field_id == "description":
        if not issue.description and issue.description_adf is None:
            return None
        return document_json(world, issue.description, issue.description_adf, api=api)
    if field_id == "issuetype":
        return issuetype_json(world, issue.type, base, api=api)
    if field_id == "project":
        return project_json(world, issue.project, base, api=api)
    if field_id == "status":
        return status_json(world, issue.status, base, api=api)
    if field_id in ("assignee", "reporter"):
        return user_ref_json(world, getattr(issue, field_id), base, api=api)
    if field_id == "labels":
        return list(issue.labels)
    if field_id in ("created", "updated"):
        return jira_time(getattr(issue, field_id))
    if field_id == "comment":
        # Cloud search lists at most ``comment_cap`` comments, the oldest, with the real total.
        shown = issue.comments if comment_cap is None else issue.comments[:comment_cap]
        comments = [comment_json(world, issue, c, base, api=api) for c in shown]
        return {"comments": comments, "self": f"{base}/rest/api/{api}/issue/{issue.id}/comment",
                "maxResults": len(comments), "total": len(issue.comments), "startAt": 0}
    fdef = world.field_def(field_id)
    value = issue.fields.get(field_id)
    if fdef is None or value is None:
        return None
    if fdef.type == "option":
        return option_json(fdef, str(value), base, api=api)
    if fdef.type == "multi_option":
        return [option_json(fdef, str(v), base, api=api) for v in value]
    return value


def issue_json(world: World, issue: Issue, base: str, *, api: int, fields: list[str],
               properties: Iterable[str] = (), expand: Iterable[str] = (),
               id_only: bool = False, cloud_search: bool = False) -> dict[str, Any]:
    """An issue as Jira returns it from search or GET issue.

    ``cloud_search``: the shape of Cloud's ``search/jql``, which caps the comment field and
    lists the changelog newest first, capped (:data:`SEARCH_COMMENT_CAP`,
    :data:`SEARCH_CHANGELOG_CAP`).
    """
    expand = set(expand)
    out: dict[str, Any]
    if id_only:
        out = {"id": issue.id}
    else:
        out = {"expand": "renderedFields,names,schema,operations,editmeta,changelog",
               "id": issue.id, "self": f"{base}/rest/api/{api}/issue/{issue.id}",
               "key": issue.key,
               "fields": {f: field_value_json(world, issue, f, base, api=api,
                                              comment_cap=SEARCH_COMMENT_CAP if cloud_search
                                              else None)
                          for f in fields}}
    wanted = [p for p in properties if p]
    if wanted:
        out["properties"] = {p: issue.properties[p] for p in wanted if p in issue.properties}
    if "changelog" in expand:
        out["changelog"] = changelog_json(
            world, issue.changelog, base, api=api,
            newest_first_cap=SEARCH_CHANGELOG_CAP if cloud_search else None)
    return out


def names_json(world: World, fields: list[str]) -> dict[str, str]:
    """``expand=names``: field id -> display name."""
    out: dict[str, str] = {}
    for f in fields:
        if f in SYSTEM_FIELDS:
            out[f] = SYSTEM_FIELDS[f][0]
        elif (fdef := world.field_def(f)) is not None:
            out[f] = fdef.name
    return out


def field_list_json(world: World) -> list[dict[str, Any]]:
    """``GET /field``: system and custom fields with their schema."""
    out = []
    for fid, (name, schema) in SYSTEM_FIELDS.items():
        out.append({"id": fid, "key": fid, "name": name, "custom": False, "orderable": True,
                    "navigable": fid not in NOT_NAVIGABLE, "searchable": True,
                    "clauseNames": [fid], "schema": dict(schema)})
    for f in world.field_defs():
        out.append({"id": f.id, "key": f.id, "name": f.name, "custom": True, "orderable": True,
                    "navigable": True, "searchable": True,
                    "clauseNames": [f"cf[{f.number}]", f.name],
                    "schema": {**CUSTOM_TYPES[f.type], "customId": f.number}})
    return out


# --------------------------------------------------------------------------- confluence


def page_storage(world: World, page: Page, *, site_url: str = "") -> str:
    """The page's storage body: ``storage`` verbatim when set, else a Page Properties
    (details) macro in the page's shape (``worker.sandbox.shapes``), then the raw body.
    ``site_url`` is the Jira site a ``project_link`` points at."""
    if page.storage is not None:
        return page.storage
    if not page.properties:
        return page.body
    return render_properties(page.properties, page.shape, cloud=world.cloud,
                             users=world.user, link=page.project_link,
                             site_url=site_url) + page.body


def confluence_user_json(world: World, ref: str | None, base: str) -> dict[str, Any] | None:
    """A Confluence user (v1 shape): ``accountId`` on Cloud, ``username`` and Confluence's own
    ``userKey`` on Data Center."""
    user = world.user(ref)
    return None if user is None else confluence_person_json(world, user, base)


def confluence_person_json(world: World, user: User, base: str) -> dict[str, Any]:
    """A known Confluence user (v1 ``User``)."""
    out: dict[str, Any] = {"type": "known", "displayName": user.display_name,
                           "publicName": user.display_name,
                           "profilePicture": {"path": "/wiki/aa-avatar/default.png",
                                              "width": 48, "height": 48, "isDefault": True}}
    if world.cloud:
        out.update({"accountId": user.account_id, "accountType": "atlassian",
                    "email": user.email or "",
                    "_links": {"self": f"{base}/rest/api/user?accountId={user.account_id}"}})
    else:
        key = confluence_key(user)
        out.update({"username": user.name, "userKey": key,
                    "_links": {"self": f"{base}/rest/api/user?key={key}"}})
    return out


def _dc_zone(world: World) -> str | None:
    """Data Center writes Confluence times in the server's zone with an offset; Cloud in UTC."""
    return None if world.cloud else world.site.timezone


def page_json(world: World, page: Page, base: str, *, expand: Iterable[str]) -> dict[str, Any]:
    """A page as Confluence v1 returns it; ``expand`` picks ``body.storage``, ``version``...
    (``base`` is the Confluence base, ending in ``/wiki``)."""
    expand = {e.strip() for e in expand if e.strip()}
    space = next((s for s in world.site.spaces if s.key == page.space), None)
    when = page.updated or page.created or world.now
    out: dict[str, Any] = {
        "id": page.id, "type": "page", "status": "current", "title": page.title,
        "_expandable": {},
        "_links": {"webui": f"/spaces/{page.space}/pages/{page.id}",
                   "edit": f"/pages/resumedraft.action?draftId={page.id}",
                   "tinyui": f"/x/{page.id}", "self": f"{base}/rest/api/content/{page.id}"},
    }
    expandable = out["_expandable"]
    space_json = {"id": 1000 + world.site.spaces.index(space) if space else 0, "key": page.space,
                  "name": space.name if space else page.space, "type": "global",
                  "status": "current",
                  "_links": {"webui": f"/spaces/{page.space}",
                             "self": f"{base}/rest/api/space/{page.space}"},
                  "_expandable": {}}
    if "space" in expand:
        out["space"] = space_json
    else:
        expandable["space"] = f"/rest/api/space/{page.space}"
    if "version" in expand:
        out["version"] = {"by": confluence_user_json(world, page.updated_by or page.created_by,
                                                     base),
                          "when": confluence_time(when, _dc_zone(world)),
                          "number": page.version,
                          "message": "", "minorEdit": False,
                          "_links": {"self": f"{base}/rest/experimental/content/{page.id}/"
                                             f"version/{page.version}"}}
    else:
        expandable["version"] = ""
    if "history" in expand:
        out["history"] = {"latest": True,
                          "createdBy": confluence_user_json(world, page.created_by, base),
                          "createdDate": confluence_time(page.created or world.now,
                                                        _dc_zone(world))}
    else:
        expandable["history"] = f"/rest/api/content/{page.id}/history"
    if "body.storage" in expand or "body" in expand:
        body: dict[str, Any] = {"_expandable": {"editor": "", "view": ""}}
        if "body.storage" in expand:
            site_url = base.removesuffix("/wiki")
            body["storage"] = {"value": page_storage(world, page, site_url=site_url),
                               "representation": "storage",
                               "embeddedContent": [], "_expandable": {"content": ""}}
        else:
            body["_expandable"]["storage"] = ""
        out["body"] = body
    else:
        expandable["body"] = ""
    if "metadata.labels" in expand:
        out["metadata"] = {"labels": labels_json(page, base)}
    else:
        expandable["metadata"] = ""
    expandable["children"] = f"/rest/api/content/{page.id}/child"
    expandable["ancestors"] = ""
    return out


def labels_json(page: Page, base: str) -> dict[str, Any]:
    """A page's labels as a v1 label array."""
    results = [{"prefix": "global", "name": name, "id": str(zlib.crc32(name.encode())),
                "label": name} for name in page.labels]
    return {"results": results, "start": 0, "limit": 200, "size": len(results),
            "_links": {"self": f"{base}/rest/api/content/{page.id}/label"}}
