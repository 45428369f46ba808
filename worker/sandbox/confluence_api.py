"""Confluence's REST v1 API as the sandbox serves it (under ``/wiki``): CQL search, pages,
page creation and update (optimistic versions), labels."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from worker.sandbox.context import Ctx, Reply
from worker.sandbox.cql import CqlError, parse_cql
from worker.sandbox.errors import ApiError, bad_request
from worker.sandbox.render import (
    confluence_person_json,
    confluence_time,
    labels_json,
    page_json,
    page_storage,
    storage_plain,
)
from worker.sandbox.shapes import confluence_key
from worker.sandbox.site import Page
from worker.sandbox.world import World

DEFAULT_LIMIT = 25
MAX_LIMIT = 100
#: ``content/search`` caps ``limit`` by what it expands (Atlassian KB "Searching for content
#: with the REST API and CQL always limits results to 50"): a body 50, other expansions 200,
#: none 1000
SEARCH_LIMIT_BODY = 50
SEARCH_LIMIT_EXPANDED = 200
SEARCH_LIMIT_BARE = 1000


def wiki_base(ctx: Ctx) -> str:
    """The Confluence base URL (``.../wiki``)."""
    return f"{ctx.base}/wiki"


def page_view(world: World, page: Page) -> dict[str, Any]:
    """The mapping the CQL evaluator reads."""
    creator = world.ident_of(page.created_by) or page.created_by
    return {"id": page.id, "type": "page", "space": page.space, "title": page.title,
            "text": storage_plain(page_storage(world, page)), "labels": list(page.labels),
            "creator": creator, "created": page.created or world.now,
            "lastmodified": page.updated or page.created or world.now}


def search_limit(expand: list[str]) -> int:
    """The most results one ``content/search`` page holds with these expansions."""
    if any(e == "body" or e.startswith("body.") for e in expand):
        return SEARCH_LIMIT_BODY
    return SEARCH_LIMIT_EXPANDED if expand else SEARCH_LIMIT_BARE


def _search(ctx: Ctx, *, cap: int = MAX_LIMIT) -> tuple[list[Page], int, int, str]:
    cql = ctx.arg("cql")
    if not cql:
        raise bad_request("CQL query parameter 'cql' is required.")
    try:
        # Date literals are read in the searching user's time zone (the site's, here).
        query = parse_cql(cql, timezone=ctx.world.site.tz, now=ctx.world.now)
        hits = [p for p in ctx.world.site.pages if query.matches(page_view(ctx.world, p))]
    except CqlError as exc:
        raise bad_request(str(exc)) from exc
    start = max(0, ctx.int_arg("start", 0))
    limit = ctx.int_arg("limit", DEFAULT_LIMIT)
    limit = max(1, min(limit, cap))
    return hits, start, limit, cql


def _links(ctx: Ctx, path: str, cql: str, start: int, limit: int, total: int,
           extra: Mapping[str, str]) -> dict[str, Any]:
    links: dict[str, Any] = {"base": wiki_base(ctx), "context": "/wiki",
                             "self": f"{wiki_base(ctx)}{path}?"
                                     + urlencode({"cql": cql, **extra})}
    if start + limit < total:
        query = {"cql": cql, **extra, "limit": str(limit), "start": str(start + limit)}
        links["next"] = f"{path}?{urlencode(query)}"
    if start > 0:
        query = {"cql": cql, **extra, "limit": str(limit), "start": str(max(0, start - limit))}
        links["prev"] = f"{path}?{urlencode(query)}"
    return links


def content_search(ctx: Ctx) -> Reply:
    """``GET /wiki/rest/api/content/search?cql=``: content results, paged by ``_links.next``;
    ``limit`` is capped by what is expanded (:func:`search_limit`)."""
    expand = ctx.arg_list("expand")
    hits, start, limit, cql = _search(ctx, cap=search_limit(expand))
    page = hits[start:start + limit]
    extra = {"expand": ",".join(expand)} if expand else {}
    return 200, {
        "results": [page_json(ctx.world, p, wiki_base(ctx), expand=expand) for p in page],
        "start": start, "limit": limit, "size": len(page), "totalSize": len(hits),
        "cqlQuery": cql, "searchDuration": 1,
        "_links": _links(ctx, "/rest/api/content/search", cql, start, limit, len(hits), extra),
    }


def site_search(ctx: Ctx) -> Reply:
    """``GET /wiki/rest/api/search?cql=``: results wrap the page in ``content``."""
    hits, start, limit, cql = _search(ctx)
    expand = ctx.arg_list("expand")
    content_expand = [e.removeprefix("content.") for e in expand if e.startswith("content.")]
    page = hits[start:start + limit]
    base = wiki_base(ctx)
    results = []
    for p in page:
        content = page_json(ctx.world, p, base, expand=content_expand)
        space = next((s for s in ctx.world.site.spaces if s.key == p.space), None)
        when = p.updated or p.created or ctx.world.now
        results.append({
            "content": content, "title": p.title,
            "excerpt": storage_plain(p.body)[:200].strip(),
            "url": f"/spaces/{p.space}/pages/{p.id}",
            "resultGlobalContainer": {"title": space.name if space else p.space,
                                      "displayUrl": f"/spaces/{p.space}"},
            "breadcrumbs": [], "entityType": "content",
            "iconCssClass": "aui-icon content-type-page",
            "lastModified": confluence_time(when), "friendlyLastModified": "recently",
            "score": 1.0,
        })
    extra = {"expand": ",".join(expand)} if expand else {}
    return 200, {
        "results": results, "start": start, "limit": limit, "size": len(results),
        "totalSize": len(hits), "cqlQuery": cql, "searchDuration": 1,
        "_links": _links(ctx, "/rest/api/search", cql, start, limit, len(hits), extra),
    }


def _page(world: World, page_id: str) -> Page:
    page = world.pages_by_id.get(page_id)
    if page is None:
        raise ApiError(404, f"No content found with id : ContentId{{id={page_id}}}")
    return page


def get_content(ctx: Ctx, page_id: str) -> Reply:
    """``GET /wiki/rest/api/content/{id}?expand=body.storage,version``."""
    page = _page(ctx.world, page_id)
    return 200, page_json(ctx.world, page, wiki_base(ctx), expand=ctx.arg_list("expand"))


def list_content(ctx: Ctx) -> Reply:
    """``GET /wiki/rest/api/content?spaceKey=&title=&type=page``: pages by exact title."""
    world = ctx.world
    space, title = ctx.arg("spaceKey"), ctx.arg("title")
    found = [p for p in world.site.pages
             if ctx.arg("type", "page") == "page" and (space is None or p.space == space)
             and (title is None or p.title == title)]
    start = max(0, ctx.int_arg("start", 0))
    limit = max(1, min(ctx.int_arg("limit", DEFAULT_LIMIT), MAX_LIMIT))
    chunk = found[start:start + limit]
    base = wiki_base(ctx)
    links: dict[str, Any] = {"base": base, "context": "/wiki",
                             "self": f"{base}/rest/api/content"}
    if start + limit < len(found):
        query = {**ctx.request.args.to_dict(), "start": str(start + limit), "limit": str(limit)}
        links["next"] = f"/rest/api/content?{urlencode(query)}"
    return 200, {"results": [page_json(world, p, base, expand=ctx.arg_list("expand"))
                             for p in chunk],
                 "start": start, "limit": limit, "size": len(chunk), "_links": links}


def _storage_value(body: Mapping[str, Any]) -> str:
    storage = (body.get("body") or {}).get("storage") if isinstance(body.get("body"),
                                                                     Mapping) else None
    if not isinstance(storage, Mapping) or not isinstance(storage.get("value"), str):
        raise bad_request("The body.storage.value of the content is required.")
    if storage.get("representation", "storage") != "storage":
        raise bad_request("Only the storage representation is supported.")
    return str(storage["value"])


def create_content(ctx: Ctx) -> Reply:
    """``POST /wiki/rest/api/content``: create a page in a space."""
    world = ctx.world
    body = ctx.body_object()
    if body.get("type", "page") != "page":
        raise bad_request("Only pages can be created.")
    title = body.get("title")
    space = body.get("space")
    space_key = space.get("key") if isinstance(space, Mapping) else None
    if not isinstance(title, str) or not title.strip():
        raise bad_request("The title of the page is required.")
    if space_key not in {s.key for s in world.site.spaces}:
        raise ApiError(404, f"No space with key : {space_key}")
    if any(p.space == space_key and p.title == title for p in world.site.pages):
        raise bad_request(f"A page with this title already exists: A page already exists with "
                          f"the title {title} in the space with key {space_key}")
    storage = _storage_value(body)
    numbers = [int(p.id) for p in world.site.pages if p.id.isdigit()]
    page = Page(id=str(max(numbers, default=100000) + 1), space=str(space_key), title=title,
                created_by=ctx.actor, body=storage, created=world.now,
                updated=world.now, updated_by=ctx.actor)
    world.site.pages.append(page)
    world.pages_by_id[page.id] = page
    return 200, page_json(world, page, wiki_base(ctx), expand=["body.storage", "version",
                                                               "space"])


def update_content(ctx: Ctx, page_id: str) -> Reply:
    """``PUT /wiki/rest/api/content/{id}``: ``version.number`` must be current + 1 (else 409)."""
    world = ctx.world
    page = _page(world, page_id)
    body = ctx.body_object()
    version = body.get("version")
    number = version.get("number") if isinstance(version, Mapping) else None
    if not isinstance(number, int):
        raise bad_request("The version number of the content is required.")
    if number != page.version + 1:
        raise ApiError(409, f"Version must be incremented on update. Current version is: "
                            f"{page.version}")
    storage = _storage_value(body)
    title = body.get("title", page.title)
    if not isinstance(title, str) or not title.strip():
        raise bad_request("The title of the page is required.")
    page.title = title
    page.properties = {}
    page.body = storage
    page.version = number
    page.updated = world.now
    page.updated_by = ctx.actor
    return 200, page_json(world, page, wiki_base(ctx), expand=["body.storage", "version",
                                                               "space"])


def add_labels(ctx: Ctx, page_id: str) -> Reply:
    """``POST /wiki/rest/api/content/{id}/label``: a label or a list of labels."""
    page = _page(ctx.world, page_id)
    body = ctx.body()
    entries = body if isinstance(body, list) else [body]
    names = []
    for entry in entries:
        name = entry.get("name") if isinstance(entry, Mapping) else None
        if not isinstance(name, str) or not name or any(ch.isspace() for ch in name):
            raise bad_request(f"Label name is not valid: {name!r}")
        names.append(name.lower())
    for name in names:
        if name not in page.labels:
            page.labels.append(name)
    return 200, labels_json(page, wiki_base(ctx))


def get_labels(ctx: Ctx, page_id: str) -> Reply:
    """``GET /wiki/rest/api/content/{id}/label``."""
    return 200, labels_json(_page(ctx.world, page_id), wiki_base(ctx))


def get_user(ctx: Ctx) -> Reply:
    """``GET /wiki/rest/api/user?key=|username=|accountId=``: one user.

    ``key`` is Confluence's own user key (Data Center's 32-hex key; Cloud still resolves it
    for users migrated from Server). Data Center has no ``accountId``.
    """
    world = ctx.world
    key, username, account_id = ctx.arg("key"), ctx.arg("username"), ctx.arg("accountId")
    if not (key or username or account_id):
        raise bad_request("A user key, username or accountId is required.")
    if account_id and not world.cloud:
        raise bad_request("accountId is not supported by this Confluence.")
    people = [*world.site.users, world.bot_user()]
    if key:
        user = next((u for u in people if confluence_key(u) == key), None)
    elif username:
        user = next((u for u in people if u.name == username), None)
    else:
        user = next((u for u in people if u.account_id == account_id), None)
    if user is None:
        raise ApiError(404, "No user found with the given identifier.")
    return 200, confluence_person_json(world, user, wiki_base(ctx))
