"""Confluence v1 attachments and the content listing over real HTTP, as real Confluence
answers them: the XSRF header, add-only POST, replace by PUT or by ``.../data``, listing."""

from __future__ import annotations

import requests
from atlassian import ConfluenceServer

from worker.sandbox import Sandbox

PAGE = "100001"
PATH = f"/wiki/rest/api/content/{PAGE}/child/attachment"
TOKEN = {"X-Atlassian-Token": "no-check"}


def _upload(sb: Sandbox, method: str, path: str, data: bytes, *, name: str = "chart.png",
            headers: dict[str, str] | None = None) -> requests.Response:
    return requests.request(method, sb.url + path, files={"file": (name, data, "image/png")},
                            data={"minorEdit": "true", "comment": "weekly"},
                            headers=TOKEN if headers is None else headers,
                            auth=(sb.bot_email, sb.bot_token), timeout=10)


def _list(sb: Sandbox, **params: str) -> list[dict[str, object]]:
    answer = requests.get(sb.url + PATH, params=params, auth=(sb.bot_email, sb.bot_token),
                          timeout=10)
    assert answer.status_code == 200
    results = answer.json()["results"]
    assert isinstance(results, list)
    return results


def test_upload_needs_the_xsrf_header(sandbox: Sandbox) -> None:
    """Without ``X-Atlassian-Token: no-check`` a multipart upload is refused with 403."""
    answer = _upload(sandbox, "POST", PATH, b"png", headers={})
    assert answer.status_code == 403
    assert "XSRF" in answer.text
    assert _list(sandbox) == []


def test_post_adds_only_and_put_replaces_by_name(sandbox: Sandbox) -> None:
    """POST adds; POST of the same name is a 400; PUT replaces it (a new version, same id)."""
    first = _upload(sandbox, "POST", PATH, b"one")
    assert first.status_code == 200
    att = first.json()["results"][0]
    assert (att["title"], att["version"]["number"]) == ("chart.png", 1)
    again = _upload(sandbox, "POST", PATH, b"two")
    assert again.status_code == 400
    assert "same file name" in again.text
    put = _upload(sandbox, "PUT", PATH, b"three")
    assert put.status_code == 200
    assert put.json()["results"][0]["id"] == att["id"]
    (only,) = _list(sandbox)
    assert only["version"] == {**only["version"], "number": 2}  # type: ignore[dict-item]
    download = requests.get(sandbox.url + "/wiki" + str(att["_links"]["download"]),
                            auth=(sandbox.bot_email, sandbox.bot_token), timeout=10)
    assert download.content == b"three"


def test_data_endpoint_replaces_one_attachment(sandbox: Sandbox) -> None:
    """``POST .../{id}/data`` makes a new version of that attachment and no second one."""
    att = _upload(sandbox, "POST", PATH, b"one").json()["results"][0]
    answer = _upload(sandbox, "POST", f"{PATH}/{att['id']}/data", b"two")
    assert answer.status_code == 200
    assert answer.json()["version"]["number"] == 2
    assert [a["id"] for a in _list(sandbox)] == [att["id"]]
    assert _list(sandbox, filename="other.png") == []


def test_the_library_attaches(sandbox: Sandbox) -> None:
    """atlassian-python-api's own attach_content (list, then POST) works against the sandbox.

    (Its replace path with ``api_version="latest"`` sends a multipart PUT to
    ``/rest/api/content/{attachmentId}``, which Confluence does not document; the worker
    replaces through ``.../child/attachment/{id}/data`` instead.)
    """
    confluence = ConfluenceServer(sandbox.url + "/wiki", username=sandbox.bot_email,
                                  password=sandbox.bot_token, cloud=True,
                                  backoff_and_retry=False, retry_with_header=False)
    confluence.attach_content(b"one", name="lib.png", content_type="image/png", page_id=PAGE)
    assert [a["title"] for a in _list(sandbox)] == ["lib.png"]


def test_reset_drops_attachments_and_missing_pages_are_404(sandbox: Sandbox) -> None:
    """Attachments are live state only; an unknown page answers 404."""
    _upload(sandbox, "POST", PATH, b"one")
    sandbox.reset()
    assert _list(sandbox) == []
    answer = _upload(sandbox, "POST", "/wiki/rest/api/content/999999/child/attachment", b"x")
    assert answer.status_code == 404


def test_content_listing_by_space_and_title(sandbox: Sandbox) -> None:
    """``GET /wiki/rest/api/content?spaceKey=&title=`` finds a page by its exact title."""
    auth = (sandbox.bot_email, sandbox.bot_token)
    found = requests.get(sandbox.url + "/wiki/rest/api/content", auth=auth, timeout=10,
                         params={"spaceKey": "SALES", "title": "Deal: Acme Corp",
                                 "expand": "version"}).json()
    assert [p["id"] for p in found["results"]] == [PAGE]
    assert found["results"][0]["version"]["number"] >= 1
    none = requests.get(sandbox.url + "/wiki/rest/api/content", auth=auth, timeout=10,
                        params={"spaceKey": "SALES", "title": "deal: acme corp"}).json()
    assert none["results"] == []
