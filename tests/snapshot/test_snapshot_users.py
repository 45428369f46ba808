"""The user directory the anonymizer reads: Cloud ``/users/search``, DC ``username=.``."""

from __future__ import annotations

import requests

from worker.sandbox import Sandbox


def _get(sb: Sandbox, path: str, **params: object) -> requests.Response:
    if sb.flavor == "cloud":
        return requests.get(sb.url + path, params=params, timeout=5,
                            auth=(sb.bot_email, sb.bot_token))
    return requests.get(sb.url + path, params=params, timeout=5,
                        headers={"Authorization": f"Bearer {sb.bot_token}"})


def test_every_user_is_listed_page_by_page(source: Sandbox) -> None:
    """Cloud pages every user with /users/search (DC: 404); DC lists them with username=."""
    if source.flavor == "cloud":
        first = _get(source, "/rest/api/3/users/search", startAt=0, maxResults=3).json()
        rest = _get(source, "/rest/api/3/users/search", startAt=3, maxResults=1000).json()
        everyone = first + rest
        assert len(first) == 3
        ids = [u["accountId"] for u in everyone]
        assert len(set(ids)) == len(ids)
        assert _get(source, "/rest/api/3/users/search", startAt=len(ids)).json() == []
    else:
        assert _get(source, "/rest/api/2/users/search").status_code == 404
        everyone = _get(source, "/rest/api/2/user/search", username=".",
                        maxResults=1000).json()
        assert _get(source, "/rest/api/2/user/search", username="zz-nobody").json() == []
    names = {u["displayName"] for u in everyone}
    assert {"Priya Raman", "Ravi Shah"} <= names  # Ravi is in no group the policies read
