"""Deal pages as real sites store them: per-page ``shape``, a verbatim ``storage`` body,
Confluence's own user keys and ``GET /wiki/rest/api/user``, over real HTTP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests

from worker.sandbox import Sandbox
from worker.sandbox.site import PAGE_SHAPES, SiteError, load_site, site_from_dict

SAM_KEY = "8a7f3c2e9b1d4f6a0c5e7b9d2f4a6c8e"
PROPS = {"Account": "Acme", "Jira project": "ACME", "Contract status": "Signed",
         "Signed on": "2026-10-15", "Account executive": "@sam", "Notes": ""}


def site(flavor: str, pages: list[dict[str, Any]]) -> dict[str, Any]:
    """A one-space site whose users are sam (with a Confluence key) and dana (without)."""
    return {
        "site": {"flavor": flavor, "now": "2026-11-02T09:00:00Z",
                 "bot": {"account_id": "712020:bot", "name": "bot", "display_name": "Bot",
                         "email": "bot@example.com", "api_token": "tok"}},
        "users": [{"account_id": "712020:sam", "name": "sam", "display_name": "Sam Ortiz",
                   "confluence_key": SAM_KEY},
                  {"account_id": "712020:dana", "name": "dana", "display_name": "Dana Kim"}],
        "projects": [{"key": "ACME", "name": "Acme"}],
        "confluence": {"spaces": [{"key": "SALES", "name": "Sales"}], "pages": pages},
    }


def page(page_id: str, **extra: Any) -> dict[str, Any]:
    """A deal page in SALES."""
    return {"id": page_id, "space": "SALES", "title": f"Deal {page_id}", "labels": ["deal"],
            **extra}


def get(sb: Sandbox, path: str, **params: str) -> requests.Response:
    """A Confluence GET as the bot (Basic on Cloud, Bearer on Data Center)."""
    if sb.flavor == "cloud":
        return requests.get(sb.url + "/wiki" + path, params=params,
                            auth=(sb.bot_email, sb.bot_token), timeout=10)
    return requests.get(sb.url + "/wiki" + path, params=params, timeout=10,
                        headers={"Authorization": f"Bearer {sb.bot_token}"})


def storage_of(sb: Sandbox, page_id: str) -> str:
    """The page's body.storage value as served."""
    body = get(sb, f"/rest/api/content/{page_id}", expand="body.storage").json()
    return str(body["body"]["storage"]["value"])


@pytest.fixture(params=["cloud", "datacenter"])
def flavor(request: pytest.FixtureRequest) -> str:
    """Both flavors."""
    return str(request.param)


def test_storage_is_served_verbatim_and_round_trips() -> None:
    """A page's ``storage`` is its whole body, byte for byte, and GET /_sandbox/site keeps it."""
    raw = ('<ac:layout><ac:layout-section ac:type="single"><ac:layout-cell>'
           '<p>Hand&nbsp;written &amp; odd <ac:placeholder>Type here</ac:placeholder></p>'
           "</ac:layout-cell></ac:layout-section></ac:layout>")
    with Sandbox.start(site("cloud", [page("1", storage=raw)])) as sb:
        assert storage_of(sb, "1") == raw
        assert sb.site()["confluence"]["pages"][0]["storage"] == raw
        assert site_from_dict(sb.site()).pages[0].storage == raw


@pytest.mark.parametrize("other", ["properties", "body", "shape"])
def test_storage_excludes_the_rendered_keys(other: str) -> None:
    """``storage`` with ``properties``, ``body`` or ``shape`` is an error naming the key."""
    value: Any = {"properties": {"Account": "x"}, "body": "<p/>", "shape": "tidy"}[other]
    with pytest.raises(SiteError, match=f"excludes '{other}'"):
        site_from_dict(site("cloud", [page("1", storage="<p/>", **{other: value})]))


def test_unknown_shape_and_bad_confluence_key_name_the_line(tmp_path: Path) -> None:
    """A typo in ``shape`` or a malformed ``confluence_key`` fails with file:line."""
    bad = site("cloud", [page("1", properties={"Account": "x"}, shape="tidyy")])
    path = tmp_path / "site.yaml"
    import yaml

    path.write_text(yaml.safe_dump(bad, sort_keys=False), encoding="utf-8")
    with pytest.raises(SiteError, match=r"site\.yaml:\d+: .*shape must be one of"):
        load_site(path)
    bad = site("cloud", [])
    bad["users"][1]["confluence_key"] = "JIRAUSER10100"
    with pytest.raises(SiteError, match="confluence_key must be 32 hexadecimal digits"):
        site_from_dict(bad)


def test_every_shape_round_trips_and_renders_each_value(flavor: str) -> None:
    """Each shape keeps its name through GET /_sandbox/site and renders every property."""
    pages = [page(str(n), properties=PROPS, shape=shape) for n, shape in enumerate(PAGE_SHAPES)]
    with Sandbox.start(site(flavor, pages)) as sb:
        served = {p["id"]: p for p in sb.site()["confluence"]["pages"]}
        for n, shape in enumerate(PAGE_SHAPES):
            assert served[str(n)].get("shape", "tidy") == shape
            storage = storage_of(sb, str(n))
            assert 'ac:name="details"' in storage
            assert "ACME" in storage
            assert ("SIGNED" if shape == "title-case" else "Signed") in storage
            mention = 'ri:account-id="712020:sam"' if flavor == "cloud" else (
                f'ri:userkey="{SAM_KEY}"')
            assert mention in storage, shape


@pytest.mark.parametrize(
    ("shape", "fragment"),
    [
        ("tidy", '<time datetime="2026-10-15" />'),
        ("cloud-editor", 'data-layout="default"'),
        ("cloud-editor", "<th><p><strong>Contract status</strong></p></th>"),
        ("title-case", "Contract Status:&nbsp;"),
        ("title-case", "15 Oct 2026"),
        ("header-row", "<thead><tr><th><p>Account</p></th><th><p>Acme</p></th></tr></thead>"),
        ("header-row", "<td><p>Jira project</p></td>"),
        ("header-row", "15.10.2026"),
        ("layout", "<ac:layout-cell>"),
        ("layout", 'ac:name="expand"'),
        ("layout", "October 15, 2026"),
        ("horizontal", "2026/10/15"),
        ("template", "<ac:placeholder>Type here</ac:placeholder>"),
    ],
)
def test_shape_fragments(shape: str, fragment: str) -> None:
    """Each shape writes what the editor it imitates writes."""
    with Sandbox.start(site("cloud", [page("1", properties=PROPS, shape=shape)])) as sb:
        assert fragment in storage_of(sb, "1")


def test_template_placeholders_name_what_is_missing() -> None:
    """A half-filled template shows the editor's hint in each empty cell."""
    props = {**PROPS, "Signed on": "", "Contract status": ""}
    with Sandbox.start(site("cloud", [page("1", properties=props, shape="template")])) as sb:
        storage = storage_of(sb, "1")
    assert "When was the contract signed? Type // to add a date" in storage
    assert "<ac:placeholder>Draft, In negotiation" in storage


def test_dc_mentions_use_confluence_user_keys_and_the_user_endpoint_resolves_them() -> None:
    """On DC a mention is ri:userkey; /rest/api/user?key= answers the username and key."""
    with Sandbox.start(site("datacenter", [page("1", properties=PROPS)])) as sb:
        assert f'ri:userkey="{SAM_KEY}"' in storage_of(sb, "1")
        user = get(sb, "/rest/api/user", key=SAM_KEY)
        assert user.status_code == 200
        assert user.json()["username"] == "sam"
        assert user.json()["userKey"] == SAM_KEY
        assert get(sb, "/rest/api/user", username="sam").json()["userKey"] == SAM_KEY
        assert get(sb, "/rest/api/user", key="0" * 32).status_code == 404
        assert get(sb, "/rest/api/user", accountId="712020:sam").status_code == 400
        assert get(sb, "/rest/api/user").status_code == 400


def test_cloud_user_endpoint_answers_account_ids() -> None:
    """On Cloud, /rest/api/user takes accountId, and a legacy key resolves to the account."""
    with Sandbox.start(site("cloud", [])) as sb:
        assert get(sb, "/rest/api/user", accountId="712020:dana").json()["accountId"] == (
            "712020:dana")
        legacy = get(sb, "/rest/api/user", key=SAM_KEY).json()
        assert legacy["accountId"] == "712020:sam"
        assert "username" not in legacy
        assert get(sb, "/rest/api/user", accountId="712020:nobody").status_code == 404
