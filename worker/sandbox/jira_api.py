"""Jira's REST API as the sandbox serves it: Cloud v3 and v2, Data Center v2.

Handlers take a :class:`Ctx` and return ``(status, json)``; errors are raised as
:class:`ApiError`. Writes are built on a copy of the issue and committed in one step, so a
rejected edit changes nothing (Jira's edit is all or nothing).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from worker.jql import JqlContext, JqlError, JqlQuery, parse_jql
from worker.sandbox.context import Ctx, Reply
from worker.sandbox.errors import (
    ADF_REQUIRED,
    CANNOT_ASSIGN,
    NOT_ON_SCREEN,
    SEARCH_REMOVED,
    STRING_REQUIRED,
    UNBOUNDED_JQL,
    ApiError,
    bad_request,
    not_found_issue,
)
from worker.sandbox.render import (
    adf_plain,
    adf_to_wiki,
    comment_json,
    comment_plain,
    field_list_json,
    history_json,
    is_adf,
    issue_json,
    jira_time,
    names_json,
    option_id,
    select_fields,
    status_json,
    user_json,
)
from worker.sandbox.site import Comment, FieldDef, History, Issue, User
from worker.sandbox.world import World, status_category

MAX_SEARCH_RESULTS = 100
DEFAULT_SEARCH_RESULTS = 50
MAX_PROPERTIES = 5
#: ``POST /rest/api/3/issue/bulkfetch`` takes at most this many ids or keys
MAX_BULK_FETCH = 100
MAX_RECONCILE = 50
MAX_PROPERTY_KEY = 255
MAX_PROPERTY_VALUE = 32768
MAX_COMMENT = 32767
DC_MAX_SEARCH_RESULTS = 1000
CLOUD_VERSION = "1001.0.0-SNAPSHOT"
DC_VERSION = "9.12.14"


# --------------------------------------------------------------------------- JQL glue


def jql_context(world: World) -> JqlContext:
    """The JQL context for the bot on this site (now, timezone, groups, fields)."""
    bot = world.bot_user()

    def members_of(group: str) -> frozenset[str]:
        return frozenset(world.ident(u) for u in world.members(group))

    def user_exists(ref: str) -> bool:
        user = world.user(ref)
        return user is not None and (world.ident(user) == ref or not world.cloud)

    return JqlContext(
        now=world.now, timezone=world.site.tz, current_user=world.ident(bot),
        members_of=members_of, user_exists=user_exists,
        fields_by_name={f.name.lower(): f.id for f in world.field_defs()},
        flavor=world.site.flavor,
        known_projects=frozenset(p.key.upper() for p in world.site.projects),
    )


def issue_view(world: World, issue: Issue) -> dict[str, Any]:
    """The mapping the JQL evaluator reads (built once per issue version)."""
    if issue.view is None:
        issue.view = {
            "key": issue.key, "id": issue.id, "project": issue.project,
            "issuetype": issue.type, "status": issue.status,
            "statusCategory": status_category(world.site, issue.status),
            "assignee": world.ident_of(issue.assignee),
            "reporter": world.ident_of(issue.reporter),
            "labels": list(issue.labels), "summary": issue.summary,
            "description": (adf_plain(issue.description_adf)
                            if issue.description_adf is not None else issue.description),
            "comment": [comment_plain(c) for c in issue.comments],
            "created": issue.created, "updated": issue.updated,
            "custom": {f.id: issue.fields.get(f.id) for f in world.field_defs()},
        }
    return issue.view


def _parse(world: World, jql: str, ctx: JqlContext) -> JqlQuery:
    try:
        return parse_jql(jql, ctx)
    except JqlError as exc:
        raise bad_request(str(exc)) from exc


def evaluate(world: World, jql: str, *, bounded: bool,
             reconcile: frozenset[str] = frozenset()) -> list[Issue]:
    """The issue versions a search sees, filtered and ordered by ``jql``."""
    ctx = jql_context(world)
    query = _parse(world, jql, ctx)
    if bounded and not query.has_restriction:
        raise bad_request(UNBOUNDED_JQL)
    hits: list[Issue] = []
    try:
        for issue in world.site.issues:
            if issue.hidden:
                continue
            version = world.searchable(issue, reconcile=issue.id in reconcile)
            if version is not None and query.matches(issue_view(world, version), ctx):
                hits.append(version)
        return query.sort(hits, lambda i: issue_view(world, i), ctx)
    except JqlError as exc:
        raise bad_request(str(exc)) from exc


# --------------------------------------------------------------------------- search


def _encode_token(result_id: int, offset: int) -> str:
    raw = json.dumps([result_id, offset]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_token(token: str) -> tuple[int, int]:
    try:
        padded = token + "=" * (-len(token) % 4)
        result_id, offset = json.loads(base64.urlsafe_b64decode(padded))
        return int(result_id), int(offset)
    except (ValueError, TypeError) as exc:
        raise bad_request("The provided next page token is invalid or expired.") from exc


def as_list(value: Any) -> list[str]:
    """A list parameter as Jira takes it: a JSON list, or a comma-separated string."""
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    return [str(value)]


def shifted_page(issues: list[Issue], offset: int, limit: int, repeat: int
                 ) -> tuple[list[Issue], int]:
    """The page at ``offset`` and where the next one starts; with a ``repeat`` fault the page
    begins with the previous page's last ``repeat`` issues (or, on a first page, its own
    first ones) again, as offset paging does when an issue enters the scope ahead."""
    if not repeat or limit <= 0:
        page = issues[offset:offset + limit]
        return page, offset + len(page)
    again = issues[max(0, offset - repeat):offset] or issues[offset:offset + repeat]
    fresh = issues[offset:offset + max(0, limit - len(again))]
    return again + fresh, offset + len(fresh)


def search_jql(ctx: Ctx) -> Reply:
    """``GET|POST /rest/api/{2,3}/search/jql`` (Cloud): cursor paging, no total."""
    world = ctx.world
    if ctx.request.method == "POST":
        body = ctx.body_object()
        jql = body.get("jql")
        token = body.get("nextPageToken")
        max_results = body.get("maxResults", DEFAULT_SEARCH_RESULTS)
        fields = as_list(body.get("fields"))
        expand = as_list(body.get("expand"))
        properties = as_list(body.get("properties"))
        reconcile = as_list(body.get("reconcileIssues"))
    else:
        jql = ctx.arg("jql")
        token = ctx.arg("nextPageToken")
        max_results = ctx.int_arg("maxResults", DEFAULT_SEARCH_RESULTS)
        fields = ctx.arg_list("fields")
        expand = ctx.arg_list("expand")
        properties = ctx.arg_list("properties")
        reconcile = ctx.arg_list("reconcileIssues")
    if not isinstance(max_results, int) or max_results < 0:
        raise bad_request(f"The value '{max_results}' is not valid for parameter 'maxResults'.")
    if len(properties) > MAX_PROPERTIES:
        raise bad_request(f"The number of properties requested ({len(properties)}) exceeds the "
                          f"limit ({MAX_PROPERTIES}).")
    if len(reconcile) > MAX_RECONCILE:
        raise bad_request(f"The number of issues to reconcile ({len(reconcile)}) exceeds the "
                          f"limit ({MAX_RECONCILE}).")
    limit = min(max_results, MAX_SEARCH_RESULTS)
    if token:
        result_id, offset = _decode_token(str(token))
        result = world.searches.get(result_id)
        if result is None:
            raise bad_request("The provided next page token is invalid or expired.")
    else:
        if not isinstance(jql, str):
            raise bad_request(UNBOUNDED_JQL)
        found = evaluate(world, jql, bounded=True, reconcile=frozenset(reconcile))
        # Only a search with a next page needs its token: an answer that fits one page is
        # not kept, so it cannot push out a long read's paging (a reconciled batch read
        # between two pages, say).
        paged = len(found) > min(max_results, MAX_SEARCH_RESULTS)
        result = world.remember_search(found, keep=paged)
        offset = 0
    chosen = select_fields(world, fields, default="id")
    id_only = not chosen
    page, end = shifted_page(result.issues, offset, limit, ctx.repeat)
    out: dict[str, Any] = {
        "issues": [issue_json(world, i, ctx.base, api=ctx.api, fields=chosen,
                              properties=properties, expand=expand, id_only=id_only,
                              cloud_search=True)
                   for i in page],
    }
    if end < len(result.issues) and limit > 0:
        out["nextPageToken"] = _encode_token(result.id, end)
        out["isLast"] = False
    else:
        out["isLast"] = True
    if "names" in expand:
        out["names"] = names_json(world, chosen)
    _omit(ctx, out["issues"])
    return 200, out


def bulkfetch(ctx: Ctx) -> Reply:
    """``POST /rest/api/{2,3}/issue/bulkfetch`` (Cloud): up to 100 issues by id or key.

    As the OpenAPI document describes it: an identifier that matches no issue is looked up
    case-insensitively and among moved issues' old keys (the issue comes back under its new
    key, once however often it was named); issues that do not exist or that the caller may
    not browse are simply absent (not an error, and not in ``issueErrors``, which holds the
    issues Jira found but could not return: here, an ``issue_errors`` fault). Issues come in
    ascending id order; callers must not rely on it. Reads are consistent (no search lag).
    """
    world = ctx.world
    body = ctx.body_object()
    wanted = body.get("issueIdsOrKeys")
    if not isinstance(wanted, list) or not all(isinstance(v, str) for v in wanted):
        raise bad_request("issueIdsOrKeys must be a list of issue ids or keys.")
    if not wanted:
        raise bad_request("issueIdsOrKeys must not be empty.")
    if len(wanted) > MAX_BULK_FETCH:
        raise bad_request(f"The number of issues requested ({len(wanted)}) exceeds the limit "
                          f"({MAX_BULK_FETCH}).")
    by_keys = body.get("fieldsByKeys", False)
    if not isinstance(by_keys, bool):
        raise bad_request("fieldsByKeys must be true or false.")
    properties = as_list(body.get("properties"))
    if len(properties) > MAX_PROPERTIES:
        raise bad_request(f"The number of properties requested ({len(properties)}) exceeds the "
                          f"limit ({MAX_PROPERTIES}).")
    expand = as_list(body.get("expand"))
    chosen = select_fields(world, as_list(body.get("fields")), default="*navigable")
    found: dict[str, Issue] = {}
    for ref in wanted:
        issue = world.issues_by_key.get(ref.strip().upper()) or world.issues_by_id.get(
            ref.strip())
        if issue is not None and not issue.hidden:
            found.setdefault(issue.id, issue)
    ordered = sorted(found.values(), key=lambda i: (len(i.id), i.id))
    errors = [i for i in ordered if i.key in ctx.shape.issue_errors]
    failing = {i.id for i in errors}
    issues = [issue_json(world, i, ctx.base, api=ctx.api, fields=chosen, properties=properties,
                         expand=expand, cloud_search=True)
              for i in ordered if i.id not in failing]
    _omit(ctx, issues)
    return 200, {
        "issues": issues,
        "issueErrors": [{"id": i.id, "errorMessage": "The issue could not be fetched right "
                                                     "now. Try again later."}
                        for i in errors],
    }


def _omit(ctx: Ctx, issues: list[dict[str, Any]]) -> None:
    """An ``omit`` fault: leave keys out of each issue of a search page."""
    for issue in issues:
        for key in ctx.shape.omit:
            issue.pop(key, None)


def approximate_count(ctx: Ctx) -> Reply:
    """``POST /rest/api/3/search/approximate-count``: ``{"count"}`` (bounded JQL only)."""
    body = ctx.body_object()
    jql = body.get("jql")
    if not isinstance(jql, str):
        raise bad_request(UNBOUNDED_JQL)
    return 200, {"count": len(evaluate(ctx.world, jql, bounded=True))}


def search_removed(ctx: Ctx) -> Reply:
    """Cloud's removed ``/rest/api/{2,3}/search``: 410 Gone."""
    raise ApiError(410, SEARCH_REMOVED)


def search_dc(ctx: Ctx) -> Reply:
    """Data Center ``GET|POST /rest/api/2/search``: ``startAt``/``maxResults``/``total``."""
    world = ctx.world
    if ctx.request.method == "POST":
        body = ctx.body_object()
        jql = str(body.get("jql") or "")
        start = int(body.get("startAt", 0))
        max_results = int(body.get("maxResults", DEFAULT_SEARCH_RESULTS))
        fields = as_list(body.get("fields"))
        expand = as_list(body.get("expand"))
        properties = as_list(body.get("properties"))
    else:
        jql = ctx.arg("jql") or ""
        start = ctx.int_arg("startAt", 0)
        max_results = ctx.int_arg("maxResults", DEFAULT_SEARCH_RESULTS)
        fields = ctx.arg_list("fields")
        expand = ctx.arg_list("expand")
        properties = ctx.arg_list("properties")
    limit = max(0, min(max_results, DC_MAX_SEARCH_RESULTS))
    hits = evaluate(world, jql, bounded=False)
    chosen = select_fields(world, fields, default="*navigable")
    page, _ = shifted_page(hits, start, limit, ctx.repeat)
    out: dict[str, Any] = {
        # a repeat fault stands for issues that entered the scope ahead: they count
        "expand": "schema,names", "startAt": start, "maxResults": limit,
        "total": len(hits) + ctx.repeat,
        "issues": [issue_json(world, i, ctx.base, api=2, fields=chosen, properties=properties,
                              expand=expand) for i in page],
        # Data Center always answers with this list (JQL values it ignored, and the like).
        "warningMessages": [],
    }
    if "names" in expand:
        out["names"] = names_json(world, chosen)
    _omit(ctx, out["issues"])
    return 200, out


# --------------------------------------------------------------------------- issues


def visible_issue(world: World, ref: str) -> Issue:
    """The issue by key or id; 404 (Jira's wording) when unknown or hidden from the bot."""
    issue = world.issues_by_key.get(ref.upper()) or world.issues_by_id.get(ref)
    if issue is None or issue.hidden:
        raise not_found_issue()
    return issue


def get_issue(ctx: Ctx, key: str) -> Reply:
    """``GET /rest/api/{2,3}/issue/{key}``."""
    issue = visible_issue(ctx.world, key)
    chosen = select_fields(ctx.world, ctx.arg_list("fields"), default="*all")
    expand = ctx.arg_list("expand")
    out = issue_json(ctx.world, issue, ctx.base, api=ctx.api, fields=chosen,
                     properties=ctx.arg_list("properties"), expand=expand)
    if "names" in expand:
        out["names"] = names_json(ctx.world, chosen)
    return 200, out


class _Edit:
    """An edit being built on a copy of the issue; errors are collected, not raised."""

    def __init__(self, ctx: Ctx, issue: Issue) -> None:
        self.ctx = ctx
        self.world = ctx.world
        self.old = issue
        self.new = issue.copy()
        self.errors: dict[str, str] = {}
        self.comments_added = 0

    def fail(self, field: str, message: str) -> None:
        self.errors.setdefault(field, message)

    # ---- users

    def resolve_user(self, field: str, value: Any, *, assignee: bool) -> tuple[bool, str | None]:
        """(ok, site user ref) for a user value in this flavor's shape."""
        if value is None:
            return True, None
        if not isinstance(value, Mapping):
            self.fail(field, f"Could not find a user for the value of field '{field}'.")
            return False, None
        want = "accountId" if self.world.cloud else "name"
        if want not in value and (self.world.cloud or "key" not in value):
            self.fail(field, f"Specify the user by '{want}'.")
            return False, None
        by_key = want not in value
        ref = value.get(want) if want in value else value.get("key")
        if ref is None:
            return True, None
        ref = str(ref)
        if by_key:  # Data Center: a user key (JIRAUSER10615, or the username of old users)
            keyed = self.world.user_by_key(ref)
            if keyed is None:
                self.fail(field, CANNOT_ASSIGN.format(user=ref) if assignee else (
                    f"Specified reporter '{ref}' does not exist or is inactive."))
                return False, None
            ref = keyed.name
        if assignee and ref == "-1":
            project = next(p for p in self.world.site.projects if p.key == self.new.project)
            return True, project.lead
        user = self.world.user(ref)
        home = next((p for p in self.world.site.projects if p.key == self.new.project), None)
        barred = assignee and user is not None and home is not None and (
            user.name in home.not_assignable or user.account_id in home.not_assignable)
        if user is None or self.world.ident(user) != ref or not user.active or barred:
            message = CANNOT_ASSIGN.format(user=ref) if assignee else (
                f"Specified reporter '{ref}' does not exist or is inactive.")
            self.fail(field, message)
            return False, None
        return True, user.name

    def set_assignee(self, value: Any) -> None:
        project = next(p for p in self.world.site.projects if p.key == self.new.project)
        if not project.assignee_on_edit_screen:
            self.fail("assignee", NOT_ON_SCREEN.format(field="assignee"))
            return
        ok, ref = self.resolve_user("assignee", value, assignee=True)
        if ok:
            self.new.assignee = ref

    # ---- fields

    def set_field(self, field: str, value: Any) -> None:
        if field == "summary":
            if not isinstance(value, str) or not value.strip():
                self.fail("summary", "You must specify a summary of the issue.")
            elif len(value) > 255:
                self.fail("summary", "Summary must be less than 255 characters.")
            else:
                self.new.summary = value
        elif field == "description":
            self.set_description(value)
        elif field == "labels":
            labels = self.check_labels(value)
            if labels is not None:
                self.new.labels = labels
        elif field == "assignee":
            self.set_assignee(value)
        elif field == "reporter":
            ok, ref = self.resolve_user("reporter", value, assignee=False)
            if ok:
                self.new.reporter = ref
        elif (fdef := self.world.field_def(field)) is not None:
            self.set_custom(fdef, value)
        else:
            self.fail(field, NOT_ON_SCREEN.format(field=field))

    def set_description(self, value: Any) -> None:
        if value is None:
            self.new.description, self.new.description_adf = "", None
        elif self.ctx.api == 3:
            if not is_adf(value):
                self.fail("description", ADF_REQUIRED)
            else:
                self.new.description_adf = dict(value)
                self.new.description = adf_to_wiki(value, cloud=self.world.cloud)
        elif not isinstance(value, str):
            self.fail("description", STRING_REQUIRED)
        else:
            self.new.description, self.new.description_adf = value, None

    def check_labels(self, value: Any) -> list[str] | None:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.fail("labels", "Labels must be a list of strings.")
            return None
        for label in value:
            if not self.check_label(label):
                return None
        return list(dict.fromkeys(value))

    def check_label(self, label: Any) -> bool:
        if not isinstance(label, str) or not label:
            self.fail("labels", "Labels must be non-empty strings.")
            return False
        if any(ch.isspace() for ch in label):
            self.fail("labels", f"The label '{label}' contains spaces which is invalid.")
            return False
        if len(label) > 255:
            self.fail("labels", "The label must not exceed 255 characters.")
            return False
        return True

    def set_custom(self, fdef: FieldDef, value: Any) -> None:
        invalid = f"Specify a valid value for {fdef.name}"
        if value is None:
            self.new.fields[fdef.id] = None
        elif fdef.type == "string":
            if not isinstance(value, str):
                self.fail(fdef.id, "Operation value must be a string")
            else:
                self.new.fields[fdef.id] = value
        elif fdef.type == "number":
            if isinstance(value, bool) or not isinstance(value, int | float):
                self.fail(fdef.id, "Operation value must be a number")
            else:
                self.new.fields[fdef.id] = value
        elif fdef.type == "option":
            option = self.option(fdef, value)
            if option is None:
                self.fail(fdef.id, invalid)
            else:
                self.new.fields[fdef.id] = option
        else:
            if not isinstance(value, list):
                self.fail(fdef.id, invalid)
                return
            options = [self.option(fdef, v) for v in value]
            if any(o is None for o in options):
                self.fail(fdef.id, invalid)
            else:
                self.new.fields[fdef.id] = [o for o in options if o is not None] or None

    def option(self, fdef: FieldDef, value: Any) -> str | None:
        if not isinstance(value, Mapping):
            return None
        if "value" in value and value["value"] in fdef.options:
            return str(value["value"])
        if "id" in value:
            for opt in fdef.options:
                if option_id(fdef, opt) == str(value["id"]):
                    return opt
        return None

    # ---- update operations

    def apply_update(self, field: str, operations: Any) -> None:
        if not isinstance(operations, list):
            self.fail(field, "Update operations must be a list.")
            return
        for op in operations:
            if not isinstance(op, Mapping) or len(op) != 1:
                self.fail(field, "Each update operation must have exactly one verb.")
                return
            verb, value = next(iter(op.items()))
            if field == "comment":
                if verb != "add":
                    self.fail("comment", f"Operation '{verb}' is not supported for comment.")
                    continue
                try:
                    comment = build_comment(self.ctx, value)
                except ApiError as exc:
                    for k, v in exc.errors.items():
                        self.fail(k, v)
                    for m in exc.messages:
                        self.fail("comment", m)
                    continue
                self.new.comments.append(comment)
                self.comments_added += 1
            elif field == "labels":
                if verb == "set":
                    labels = self.check_labels(value)
                    if labels is not None:
                        self.new.labels = labels
                elif verb in ("add", "remove"):
                    if not self.check_label(value):
                        continue
                    if verb == "add" and value not in self.new.labels:
                        self.new.labels.append(value)
                    elif verb == "remove" and value in self.new.labels:
                        self.new.labels.remove(value)
                else:
                    self.fail("labels", f"Operation '{verb}' is not supported for labels.")
            elif verb == "set":
                self.set_field(field, value)
            elif field in ("summary", "description", "assignee", "reporter") or \
                    self.world.field_def(field) is not None:
                self.fail(field, f"Operation '{verb}' is not supported for {field}.")
            else:
                self.fail(field, NOT_ON_SCREEN.format(field=field))

    def set_properties(self, value: Any) -> None:
        if not isinstance(value, list):
            self.fail("properties", "Properties must be a list of {key, value}.")
            return
        for entry in value:
            if not isinstance(entry, Mapping) or "key" not in entry or "value" not in entry:
                self.fail("properties", "Each property needs a key and a value.")
                return
            problem = property_problem(str(entry["key"]), entry["value"])
            if problem is not None:
                self.fail("properties", problem)
                return
            self.new.properties[str(entry["key"])] = entry["value"]

    # ---- commit

    def commit(self) -> None:
        """Stamp, write the changelog and replace the issue (only when there are no errors)."""
        items = _changelog_items(self.world, self.old, self.new)
        if items or self.comments_added:
            self.new.updated = self.world.now
        if items:
            self.new.changelog.append(History(self.world.new_id(), self.ctx.actor,
                                              self.world.now, tuple(items)))
        self.world.commit_issue(self.new, actor=self.ctx.actor)


def _user_label(world: World, ref: str | None) -> tuple[str | None, str | None]:
    user = world.user(ref)
    return (None, None) if user is None else (world.ident(user), user.display_name)


def _changelog_items(world: World, old: Issue, new: Issue) -> list[dict[str, str | None]]:
    items: list[dict[str, str | None]] = []
    if old.summary != new.summary:
        items.append({"field": "summary", "from": None, "fromString": old.summary,
                      "to": None, "toString": new.summary})
    if (old.description, old.description_adf) != (new.description, new.description_adf):
        items.append({"field": "description", "from": None, "fromString": old.description,
                      "to": None, "toString": new.description})
    if old.labels != new.labels:
        items.append({"field": "labels", "from": None, "fromString": " ".join(old.labels),
                      "to": None, "toString": " ".join(new.labels)})
    if old.status != new.status:
        names = list(world.site.workflow)
        items.append({"field": "status", "from": str(10000 + names.index(old.status)),
                      "fromString": old.status, "to": str(10000 + names.index(new.status)),
                      "toString": new.status})
    for field in ("assignee", "reporter"):
        before, after = getattr(old, field), getattr(new, field)
        if before != after:
            f_id, f_name = _user_label(world, before)
            t_id, t_name = _user_label(world, after)
            items.append({"field": field, "from": f_id, "fromString": f_name, "to": t_id,
                          "toString": t_name})
    for fdef in world.field_defs():
        before, after = old.fields.get(fdef.id), new.fields.get(fdef.id)
        if before != after:
            def text(v: Any) -> str | None:
                return None if v is None else (", ".join(map(str, v)) if isinstance(v, list)
                                               else str(v))
            items.append({"field": fdef.name, "from": None, "fromString": text(before),
                          "to": None, "toString": text(after)})
    return items


def edit_issue(ctx: Ctx, key: str) -> Reply:
    """``PUT /rest/api/{2,3}/issue/{key}``: fields, update and properties, all or nothing."""
    issue = visible_issue(ctx.world, key)
    body = ctx.body_object()
    edit = _Edit(ctx, issue)
    fields = body.get("fields") or {}
    update = body.get("update") or {}
    if not isinstance(fields, Mapping) or not isinstance(update, Mapping):
        raise bad_request("'fields' and 'update' must be objects.")
    for name in sorted(set(fields) & set(update)):
        edit.fail(name, f"Field '{name}' cannot be set in both 'fields' and 'update'.")
    for name, value in fields.items():
        edit.set_field(str(name), value)
    for name, operations in update.items():
        edit.apply_update(str(name), operations)
    if "properties" in body:
        edit.set_properties(body["properties"])
    if edit.errors:
        raise bad_request(errors=edit.errors)
    edit.commit()
    return 204, None


def create_issue(ctx: Ctx) -> Reply:
    """``POST /rest/api/{2,3}/issue``: a new issue from ``fields`` (and ``update``,
    ``properties``), reported by whoever logged in unless ``reporter`` says otherwise;
    201 with ``id``, ``key``, ``self``. Under search lag it shows in search only later."""
    world = ctx.world
    body = ctx.body_object()
    fields = body.get("fields")
    if not isinstance(fields, Mapping):
        raise bad_request(errors={"project": "Specify a valid project ID or key",
                                  "issuetype": "Specify an issue type"})
    errors: dict[str, str] = {}
    project = _project_of(world, fields.get("project"))
    if project is None:
        errors["project"] = "Specify a valid project ID or key"
    issue_type = _issue_type_of(world, fields.get("issuetype"))
    if issue_type is None:
        errors["issuetype"] = "Specify an issue type"
    if project is None or issue_type is None:
        raise bad_request(errors=errors)
    numbers = [int(i.key.rsplit("-", 1)[1]) for i in world.site.issues
               if i.project == project and i.key.rsplit("-", 1)[1].isdigit()]
    status = next((s for s, c in world.site.workflow.items() if c == "new"),
                  next(iter(world.site.workflow)))
    blank = Issue(key=f"{project}-{max(numbers, default=0) + 1}", id=world.new_id(),
                  type=issue_type, summary="", status=status, created=world.now,
                  updated=world.now, reporter=ctx.actor)
    edit = _Edit(ctx, blank)
    if "summary" not in fields:
        edit.fail("summary", "You must specify a summary of the issue.")
    for name, value in fields.items():
        if name not in ("project", "issuetype"):
            edit.set_field(str(name), value)
    update = body.get("update") or {}
    for name, operations in (update.items() if isinstance(update, Mapping) else ()):
        edit.apply_update(str(name), operations)
    if "properties" in body:
        edit.set_properties(body["properties"])
    if edit.errors:
        raise bad_request(errors=edit.errors)
    world.create_issue(edit.new, actor=ctx.actor)
    return 201, {"id": edit.new.id, "key": edit.new.key,
                 "self": f"{ctx.base}/rest/api/{ctx.api}/issue/{edit.new.id}"}


def _project_of(world: World, value: Any) -> str | None:
    if not isinstance(value, Mapping):
        return None
    for p in world.site.projects:
        if value.get("key") == p.key or str(value.get("id", "")) == p.id:
            return p.key
    return None


def _issue_type_of(world: World, value: Any) -> str | None:
    if not isinstance(value, Mapping):
        return None
    for n, name in enumerate(world.site.issue_types):
        if value.get("name") == name or str(value.get("id", "")) == str(10000 + n):
            return name
    return None


def get_changelog(ctx: Ctx, key: str) -> Reply:
    """``GET /rest/api/3/issue/{key}/changelog`` (Cloud): every entry, oldest first, paged
    by ``startAt``/``maxResults`` (at most 100)."""
    issue = visible_issue(ctx.world, key)
    start = max(0, ctx.int_arg("startAt", 0))
    limit = max(1, min(ctx.int_arg("maxResults", 100), 100))
    page = issue.changelog[start:start + limit]
    is_last = start + len(page) >= len(issue.changelog)
    here = f"{ctx.base}/rest/api/{ctx.api}/issue/{key}/changelog"
    out: dict[str, Any] = {
        "self": f"{here}?maxResults={limit}&startAt={start}", "maxResults": limit,
        "startAt": start, "total": len(issue.changelog), "isLast": is_last,
        "values": [history_json(ctx.world, h, ctx.base, api=ctx.api) for h in page],
    }
    if not is_last:
        out["nextPage"] = f"{here}?maxResults={limit}&startAt={start + limit}"
    return 200, out


# --------------------------------------------------------------------------- comments


def build_comment(ctx: Ctx, raw: Any) -> Comment:
    """A new comment by the bot from a request body; 400 when the body has the wrong format."""
    world = ctx.world
    if not isinstance(raw, Mapping):
        raise bad_request(errors={"comment": "Comment body can not be empty!"})
    body = raw.get("body")
    adf: dict[str, Any] | None = None
    if ctx.api == 3:
        if not is_adf(body):
            raise bad_request(errors={"comment": ADF_REQUIRED})
        adf = dict(body)
        text = adf_to_wiki(adf, cloud=world.cloud)
        if not adf_plain(adf).strip() and not adf.get("content"):
            raise bad_request(errors={"comment": "Comment body can not be empty!"})
    else:
        if not isinstance(body, str):
            raise bad_request(errors={"comment": STRING_REQUIRED})
        if not body.strip():
            raise bad_request(errors={"comment": "Comment body can not be empty!"})
        text = body
    if len(text) > MAX_COMMENT:
        raise bad_request(errors={"comment": "The entered text is too long. It exceeds the "
                                             "allowed limit of 32,767 characters."})
    visibility = raw.get("visibility")
    vis: dict[str, str] | None = None
    if visibility is not None:
        if not isinstance(visibility, Mapping) or visibility.get("type") not in ("group", "role"):
            raise bad_request(errors={"commentLevel": "Visibility type must be group or role."})
        value = visibility.get("value") or visibility.get("identifier")
        if not isinstance(value, str) or not value:
            raise bad_request(errors={"commentLevel": "Visibility needs a value."})
        if visibility["type"] == "group" and world.group(name=value) is None \
                and world.group(group_id=value) is None:
            raise bad_request(errors={"commentLevel": f"Group: {value} does not exist."})
        vis = {"type": str(visibility["type"]), "value": value}
        if visibility["type"] == "group":
            group = world.group(name=value) or world.group(group_id=value)
            vis = {"type": "group", "value": group.name, "identifier": group.group_id}
    props: dict[str, Any] = {}
    for entry in raw.get("properties") or []:
        if not isinstance(entry, Mapping) or "key" not in entry:
            raise bad_request(errors={"properties": "Each property needs a key and a value."})
        problem = property_problem(str(entry["key"]), entry.get("value"))
        if problem is not None:
            raise bad_request(errors={"properties": problem})
        props[str(entry["key"])] = entry.get("value")
    return Comment(id=world.new_id(), author=ctx.actor, created=world.now,
                   body=text, adf=adf, visibility=vis, properties=props)


def get_comments(ctx: Ctx, key: str) -> Reply:
    """``GET /rest/api/{2,3}/issue/{key}/comment``: oldest first, ``startAt``/``maxResults``."""
    issue = visible_issue(ctx.world, key)
    start = max(0, ctx.int_arg("startAt", 0))
    limit = max(0, min(ctx.int_arg("maxResults", 5000), 5000))
    comments = list(issue.comments)
    if ctx.arg("orderBy") in ("-created", "-+created"):
        comments.reverse()
    with_props = "properties" in ctx.arg_list("expand")
    page = comments[start:start + limit]
    return 200, {"startAt": start, "maxResults": limit, "total": len(comments),
                 "comments": [comment_json(ctx.world, issue, c, ctx.base, api=ctx.api,
                                           with_properties=with_props) for c in page]}


def get_comment(ctx: Ctx, key: str, comment_id: str) -> Reply:
    """``GET /rest/api/{2,3}/issue/{key}/comment/{id}``."""
    issue = visible_issue(ctx.world, key)
    for c in issue.comments:
        if c.id == comment_id:
            return 200, comment_json(ctx.world, issue, c, ctx.base, api=ctx.api,
                                     with_properties="properties" in ctx.arg_list("expand"))
    raise ApiError(404, "Can not find a comment for the id: " + comment_id + ".")


#: groups whose members may edit or delete anyone's comment (Jira's "Edit All Comments" and
#: "Delete All Comments" permissions, granted to administrators by the default scheme)
ADMIN_GROUPS = frozenset({"jira-administrators", "site-admins", "administrators"})


def _own_comment(ctx: Ctx, key: str, comment_id: str, verb: str) -> tuple[Issue, int]:
    """The issue and the comment's index, when the logged-in user wrote it or is an admin
    (Jira answers 403 otherwise, in these words)."""
    issue = visible_issue(ctx.world, key)
    for n, c in enumerate(issue.comments):
        if c.id == comment_id:
            admin = any(ctx.actor in {u.name for u in ctx.world.members(g.name)}
                        for g in ctx.world.site.groups if g.name in ADMIN_GROUPS)
            if c.author != ctx.actor and not admin:
                raise ApiError(403, f"You do not have the permission to {verb} this comment.")
            return issue, n
    raise ApiError(404, "Can not find a comment for the id: " + comment_id + ".")


def edit_comment(ctx: Ctx, key: str, comment_id: str) -> Reply:
    """``PUT /rest/api/{2,3}/issue/{key}/comment/{id}``: a new body (ADF on v3, wiki on v2);
    only its author or an admin may (403)."""
    issue, n = _own_comment(ctx, key, comment_id, "edit")
    before = issue.comments[n]
    raw = dict(ctx.body_object())
    built = build_comment(ctx, raw)
    new = issue.copy()
    new.comments[n] = replace(
        before, body=built.body, adf=built.adf, updated=ctx.world.now,
        visibility=built.visibility if "visibility" in raw else before.visibility,
        properties={**before.properties, **built.properties},
    )
    new.updated = ctx.world.now
    ctx.world.commit_issue(new)
    return 200, comment_json(ctx.world, new, new.comments[n], ctx.base, api=ctx.api)


def delete_comment(ctx: Ctx, key: str, comment_id: str) -> Reply:
    """``DELETE /rest/api/{2,3}/issue/{key}/comment/{id}`` (204); only its author or an admin
    may (403)."""
    issue, n = _own_comment(ctx, key, comment_id, "delete")
    new = issue.copy()
    del new.comments[n]
    new.updated = ctx.world.now
    ctx.world.commit_issue(new)
    return 204, None


def add_comment(ctx: Ctx, key: str) -> Reply:
    """``POST /rest/api/{2,3}/issue/{key}/comment`` (201 with the comment)."""
    issue = visible_issue(ctx.world, key)
    comment = build_comment(ctx, ctx.body_object())
    new = issue.copy()
    new.comments.append(comment)
    new.updated = ctx.world.now
    ctx.world.commit_issue(new, actor=ctx.actor)
    return 201, comment_json(ctx.world, new, comment, ctx.base, api=ctx.api)


# --------------------------------------------------------------------------- assignee


def assign(ctx: Ctx, key: str) -> Reply:
    """``PUT /rest/api/{2,3}/issue/{key}/assignee`` (accountId on Cloud, name on DC)."""
    issue = visible_issue(ctx.world, key)
    body = ctx.body_object()
    edit = _Edit(ctx, issue)
    ok, ref = edit.resolve_user("assignee", dict(body), assignee=True)
    if not ok:
        raise bad_request(errors=edit.errors)
    edit.new.assignee = ref
    edit.commit()
    return 204, None


# --------------------------------------------------------------------------- properties


def property_problem(key: str, value: Any) -> str | None:
    """Why an issue property cannot be stored (None when it can)."""
    if not key:
        raise bad_request("The property key cannot be empty.")
    if len(key) > MAX_PROPERTY_KEY:
        return f"The property key cannot be longer than {MAX_PROPERTY_KEY} characters."
    if not isinstance(value, Mapping) or not value:
        return "The property value must be a non-empty JSON object."
    if len(json.dumps(value)) > MAX_PROPERTY_VALUE:
        return f"The property value cannot be longer than {MAX_PROPERTY_VALUE} characters."
    return None


def list_properties(ctx: Ctx, key: str) -> Reply:
    """``GET /issue/{key}/properties``: the keys."""
    issue = visible_issue(ctx.world, key)
    return 200, {"keys": [{"self": f"{ctx.base}/rest/api/{ctx.api}/issue/{issue.id}/properties/"
                                   f"{k}", "key": k} for k in issue.properties]}


def get_property(ctx: Ctx, key: str, prop: str) -> Reply:
    """``GET /issue/{key}/properties/{propertyKey}``."""
    issue = visible_issue(ctx.world, key)
    if prop not in issue.properties:
        raise ApiError(404, f"The property with key '{prop}' does not exist.")
    return 200, {"key": prop, "value": issue.properties[prop]}


def put_property(ctx: Ctx, key: str, prop: str) -> Reply:
    """``PUT /issue/{key}/properties/{propertyKey}``: 201 when created, 200 when updated."""
    issue = visible_issue(ctx.world, key)
    value = ctx.body()
    problem = property_problem(prop, value)
    if problem is not None:
        raise bad_request(problem)
    new = issue.copy()
    created = prop not in new.properties
    new.properties[prop] = value
    ctx.world.commit_issue(new, actor=ctx.actor)
    return (201 if created else 200), None


def delete_property(ctx: Ctx, key: str, prop: str) -> Reply:
    """``DELETE /issue/{key}/properties/{propertyKey}``."""
    issue = visible_issue(ctx.world, key)
    if prop not in issue.properties:
        raise ApiError(404, f"The property with key '{prop}' does not exist.")
    new = issue.copy()
    del new.properties[prop]
    ctx.world.commit_issue(new, actor=ctx.actor)
    return 204, None


# --------------------------------------------------------------------------- transitions


def _transition_id(world: World, status: str) -> str:
    return str(11 + 10 * list(world.site.workflow).index(status))


def get_transitions(ctx: Ctx, key: str) -> Reply:
    """``GET /issue/{key}/transitions``: a global transition to every status."""
    visible_issue(ctx.world, key)
    return 200, {"expand": "transitions", "transitions": [
        {"id": _transition_id(ctx.world, status), "name": status,
         "to": status_json(ctx.world, status, ctx.base, api=ctx.api), "hasScreen": False,
         "isGlobal": True, "isInitial": False, "isAvailable": True, "isConditional": False,
         "isLooped": False}
        for status in ctx.world.site.workflow]}


def do_transition(ctx: Ctx, key: str) -> Reply:
    """``POST /issue/{key}/transitions``: move to the transition's status (204)."""
    issue = visible_issue(ctx.world, key)
    body = ctx.body_object()
    transition = body.get("transition")
    tid = str(transition.get("id")) if isinstance(transition, Mapping) else None
    target = next((s for s in ctx.world.site.workflow if _transition_id(ctx.world, s) == tid),
                  None)
    if target is None:
        raise bad_request(f"Transition id '{tid}' is not valid for this issue.")
    edit = _Edit(ctx, issue)
    for name, value in (body.get("fields") or {}).items():
        edit.set_field(str(name), value)
    for name, operations in (body.get("update") or {}).items():
        edit.apply_update(str(name), operations)
    if edit.errors:
        raise bad_request(errors=edit.errors)
    edit.new.status = target
    edit.commit()
    return 204, None


# --------------------------------------------------------------------------- people and site


def myself(ctx: Ctx) -> Reply:
    """``GET /myself``: whoever logged in (the bot, or a human a test plays)."""
    return 200, user_json(ctx.world, ctx.user, ctx.base, api=ctx.api)


def application_links(ctx: Ctx) -> Reply:
    """``GET /rest/applinks/1.0/listApplicationlinks`` (Data Center): the Confluence this
    site links to (the sandbox serves it under ``/wiki``). Cloud has no such endpoint."""
    if ctx.world.cloud:
        raise ApiError(404, "null for uri: " + ctx.request.url)
    wiki = ctx.base + "/wiki"
    return 200, {"list": [{"application": {
        "id": "6d3c5b1e-0f5a-3c1e-9a8e-5a1d2f1c7b10", "typeId": "confluence",
        "name": "Confluence", "displayUrl": wiki, "rpcUrl": wiki,
        "isPrimary": True, "isSystem": False,
    }}]}


def server_info(ctx: Ctx) -> Reply:
    """``GET /serverInfo``: deployment type and the site clock."""
    cloud = ctx.world.cloud
    version = CLOUD_VERSION if cloud else DC_VERSION
    return 200, {
        "baseUrl": ctx.base, "version": version,
        "versionNumbers": [int(p) for p in version.split("-")[0].split(".")],
        "deploymentType": "Cloud" if cloud else "Server", "buildNumber": 100291 if cloud
        else 9120014, "buildDate": "2026-10-01T00:00:00.000+0000",
        "serverTime": jira_time(ctx.world.now), "scmInfo": "sandbox",
        "serverTitle": "Jira (Handoff Guard sandbox)",
        "serverTimeZone": ctx.world.site.timezone,
    }


def fields(ctx: Ctx) -> Reply:
    """``GET /field``: system and custom fields."""
    return 200, field_list_json(ctx.world)


def _find_user(ctx: Ctx) -> User:
    world = ctx.world
    ref = ctx.arg("accountId") if world.cloud else ctx.arg("username")
    if not world.cloud and not ref and ctx.arg("key"):  # a user key names a user on DC
        keyed = world.user_by_key(ctx.arg("key"))
        if keyed is None:
            raise ApiError(404, "Specified user does not exist or you do not have required "
                                "permissions")
        ref = keyed.name
    if not ref:
        want = "accountId" if world.cloud else "username"
        raise bad_request(f"The query parameter '{want}' is required.")
    user = world.user(ref)
    if user is None or world.ident(user) != ref:
        raise ApiError(404, "Specified user does not exist or you do not have required "
                            "permissions")
    return user


def get_user(ctx: Ctx) -> Reply:
    """``GET /user?accountId=`` (Cloud) or ``?username=`` (DC)."""
    return 200, user_json(ctx.world, _find_user(ctx), ctx.base, api=ctx.api)


def search_users(ctx: Ctx) -> Reply:
    """``GET /user/search?query=`` (Cloud) or ``?username=`` (DC): prefix match."""
    query = (ctx.arg("query") or ctx.arg("username") or "").lower()
    if not query:
        raise bad_request("The query parameter 'query' is required.")
    start = max(0, ctx.int_arg("startAt", 0))
    limit = max(0, min(ctx.int_arg("maxResults", 50), 1000))
    # Data Center reads "." as "every user" (the only way it lists them all)
    everyone = query == "." and not ctx.world.cloud
    users = [u for u in ctx.world.site.users
             if everyone
             or any(w.startswith(query) for w in (u.display_name.lower(), u.name.lower(),
                                                   (u.email or "").lower()))
             or any(w.startswith(query) for w in u.display_name.lower().split())]
    return 200, [user_json(ctx.world, u, ctx.base, api=ctx.api)
                 for u in users[start:start + limit]]


def list_users(ctx: Ctx) -> Reply:
    """``GET /users/search`` (Cloud): every user, active or not, paged by ``startAt`` and
    ``maxResults`` (default 50, at most 1000); Data Center has no such endpoint (404)."""
    if not ctx.world.cloud:
        raise ApiError(404, "null for uri: /rest/api/2/users/search")
    start = max(0, ctx.int_arg("startAt", 0))
    limit = max(1, min(ctx.int_arg("maxResults", 50), 1000))
    return 200, [user_json(ctx.world, u, ctx.base, api=ctx.api)
                 for u in ctx.world.site.users[start:start + limit]]


def group_members(ctx: Ctx) -> Reply:
    """``GET /group/member``: by ``groupId`` or ``groupname``, paged (1..50), active only
    unless ``includeInactiveUsers=true``."""
    world = ctx.world
    group_id, group_name = ctx.arg("groupId"), ctx.arg("groupname")
    if not group_id and not group_name:
        raise bad_request("You must specify a group name or a group ID.")
    group = world.group(group_id=group_id) if group_id else world.group(name=group_name)
    if group is None:
        raise ApiError(404, "Group not found.")
    start = max(0, ctx.int_arg("startAt", 0))
    limit = ctx.int_arg("maxResults", 50)
    if not 1 <= limit <= 50:
        limit = max(1, min(limit, 50))
    include_inactive = (ctx.arg("includeInactiveUsers") or "false").lower() == "true"
    members = [u for u in world.members(group.name) if include_inactive or u.active]
    page = members[start:start + limit]
    is_last = start + len(page) >= len(members)
    query = f"groupId={group.group_id}" if world.cloud else f"groupname={group.name}"
    out: dict[str, Any] = {
        "self": f"{ctx.base}/rest/api/{ctx.api}/group/member?{query}&includeInactiveUsers="
                f"{str(include_inactive).lower()}&maxResults={limit}&startAt={start}",
        "maxResults": limit, "startAt": start, "total": len(members), "isLast": is_last,
        "values": [user_json(world, u, ctx.base, api=ctx.api) for u in page],
    }
    if not is_last:
        out["nextPage"] = (f"{ctx.base}/rest/api/{ctx.api}/group/member?{query}&"
                           f"includeInactiveUsers={str(include_inactive).lower()}&"
                           f"maxResults={limit}&startAt={start + limit}")
    return 200, out
