"""Confluence REST v1 attachments as the sandbox serves them (live state only: attachments
are not part of the site file and a reset drops them).

What real Confluence does, and so the sandbox does (``specs/confluence-cloud-v1``):

* multipart uploads need ``X-Atlassian-Token: no-check`` (or ``nocheck``), else 403;
* ``POST .../child/attachment`` only adds: a file name the page already has answers 400;
* ``PUT .../child/attachment`` (Cloud only) adds or replaces by file name;
* ``POST .../child/attachment/{id}/data`` replaces one attachment's data (a new version);
* ``GET .../child/attachment?filename=&mediaType=&start=&limit=`` lists them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from werkzeug.datastructures import FileStorage
from werkzeug.wrappers import Response

from worker.sandbox.confluence_api import wiki_base
from worker.sandbox.context import Ctx, Reply
from worker.sandbox.errors import ApiError, bad_request
from worker.sandbox.render import confluence_time, confluence_user_json
from worker.sandbox.site import Page
from worker.sandbox.world import Attachment, World

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
_TOKENS = frozenset({"no-check", "nocheck"})


def _page(world: World, page_id: str) -> Page:
    page = world.pages_by_id.get(page_id)
    if page is None:
        raise ApiError(404, f"No content found with id : ContentId{{id={page_id}}}")
    return page


def attachment_json(world: World, att: Attachment, base: str) -> dict[str, Any]:
    """One attachment as Confluence v1 content of type ``attachment``."""
    page = world.pages_by_id.get(att.page_id)
    name = quote(att.title)
    return {
        "id": att.id, "type": "attachment", "status": "current", "title": att.title,
        "version": {"by": confluence_user_json(world, world.site.bot.name, base),
                    "when": confluence_time(att.updated), "number": att.version,
                    "message": "", "minorEdit": att.minor_edit},
        "container": {"id": att.page_id, "type": "page", "status": "current",
                      "title": page.title if page else ""},
        "metadata": {"mediaType": att.media_type, "comment": att.comment},
        "extensions": {"mediaType": att.media_type, "fileSize": len(att.data),
                       "comment": att.comment},
        "_expandable": {"space": "", "history": ""},
        "_links": {
            "webui": f"/pages/viewpageattachments.action?pageId={att.page_id}&preview=/"
                     f"{att.page_id}/{att.id}/{name}",
            "download": f"/download/attachments/{att.page_id}/{name}?version={att.version}"
                        "&api=v2",
            "self": f"{base}/rest/api/content/{att.id}",
        },
    }


def _array(ctx: Ctx, items: list[Attachment], start: int, limit: int, path: str
           ) -> dict[str, Any]:
    base = wiki_base(ctx)
    chunk = items[start:start + limit]
    links: dict[str, Any] = {"base": base, "context": "/wiki", "self": f"{base}{path}"}
    if start + limit < len(items):
        links["next"] = f"{path}?start={start + limit}&limit={limit}"
    return {"results": [attachment_json(ctx.world, a, base) for a in chunk], "start": start,
            "limit": limit, "size": len(chunk), "_links": links}


def list_attachments(ctx: Ctx, page_id: str) -> Reply:
    """``GET /wiki/rest/api/content/{id}/child/attachment``."""
    _page(ctx.world, page_id)
    items = ctx.world.attachments.get(page_id, [])
    filename = ctx.arg("filename")
    media = ctx.arg("mediaType")
    found = [a for a in items if (filename is None or a.title == filename)
             and (media is None or a.media_type == media)]
    start = max(0, ctx.int_arg("start", 0))
    limit = max(1, min(ctx.int_arg("limit", DEFAULT_LIMIT), MAX_LIMIT))
    return 200, _array(ctx, found, start, limit, f"/rest/api/content/{page_id}/child/attachment")


def _uploads(ctx: Ctx) -> tuple[list[FileStorage], Mapping[str, str]]:
    token = ctx.request.headers.get("X-Atlassian-Token", "").strip().lower()
    if token not in _TOKENS:
        raise ApiError(403, "XSRF check failed")
    if not (ctx.request.mimetype or "").startswith("multipart/form-data"):
        raise ApiError(415, "Unsupported Media Type: expected multipart/form-data")
    files = ctx.request.files.getlist("file")
    if not files or not all(f.filename for f in files):
        raise bad_request("At least one file is required, in the form field 'file'.")
    return files, ctx.request.form


def _new(ctx: Ctx, page_id: str, upload: FileStorage, form: Mapping[str, str]
         ) -> Attachment:
    world = ctx.world
    att = Attachment(
        id=f"att{world.new_id()}", page_id=page_id, title=str(upload.filename),
        media_type=upload.mimetype or "application/octet-stream", data=upload.read(),
        comment=form.get("comment", ""), minor_edit=form.get("minorEdit", "false") == "true",
        created=world.now, updated=world.now,
    )
    world.attachments.setdefault(page_id, []).append(att)
    return att


def _replace(ctx: Ctx, att: Attachment, upload: FileStorage, form: Mapping[str, str]) -> None:
    att.data = upload.read()
    att.media_type = upload.mimetype or att.media_type
    att.comment = form.get("comment", att.comment)
    att.minor_edit = form.get("minorEdit", "false") == "true"
    att.version += 1
    att.updated = ctx.world.now


def create_attachments(ctx: Ctx, page_id: str) -> Reply:
    """``POST .../child/attachment``: adds only (a file name already there answers 400)."""
    _page(ctx.world, page_id)
    files, form = _uploads(ctx)
    existing = {a.title for a in ctx.world.attachments.get(page_id, [])}
    for upload in files:
        if upload.filename in existing:
            raise bad_request("Cannot add a new attachment with same file name as an existing "
                              f"attachment: {upload.filename}")
    made = [_new(ctx, page_id, f, form) for f in files]
    return 200, _array(ctx, made, 0, DEFAULT_LIMIT,
                       f"/rest/api/content/{page_id}/child/attachment")


def put_attachments(ctx: Ctx, page_id: str) -> Reply:
    """``PUT .../child/attachment`` (Cloud): adds, or replaces an attachment of the same name."""
    if not ctx.world.cloud:
        raise ApiError(405, "Method Not Allowed")
    _page(ctx.world, page_id)
    files, form = _uploads(ctx)
    done: list[Attachment] = []
    for upload in files:
        att = next((a for a in ctx.world.attachments.get(page_id, [])
                    if a.title == upload.filename), None)
        if att is None:
            att = _new(ctx, page_id, upload, form)
        else:
            _replace(ctx, att, upload, form)
        done.append(att)
    return 200, _array(ctx, done, 0, DEFAULT_LIMIT,
                       f"/rest/api/content/{page_id}/child/attachment")


def update_attachment_data(ctx: Ctx, page_id: str, attachment_id: str) -> Reply:
    """``POST .../child/attachment/{attachmentId}/data``: a new version of one attachment."""
    _page(ctx.world, page_id)
    att = next((a for a in ctx.world.attachments.get(page_id, []) if a.id == attachment_id),
               None)
    if att is None:
        raise ApiError(404, f"No attachment found with id : {attachment_id}")
    files, form = _uploads(ctx)
    _replace(ctx, att, files[0], form)
    return 200, attachment_json(ctx.world, att, wiki_base(ctx))


def download(ctx: Ctx, page_id: str, filename: str) -> Reply:
    """``GET /wiki/download/attachments/{pageId}/{filename}``: the current bytes."""
    att = next((a for a in ctx.world.attachments.get(page_id, []) if a.title == filename),
               None)
    if att is None:
        raise ApiError(404, f"No attachment {filename} on content {page_id}")
    return 200, Response(att.data, status=200, content_type=att.media_type)
