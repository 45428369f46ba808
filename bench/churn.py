"""People changing the site between two cycles: the churn of the incremental scenarios.

Everything goes through the sandbox's REST API as the people themselves (each generated user
gets an API token of their own), exactly as the humans of a real site would: Sales people
comment on PMs' tickets or change their labels, and an account executive marks a deal
signed on its Confluence page. The worker's next cycle must find all of it.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import requests

#: a site as a mapping: the same kind comes back (a dict stays a dict)
_Site = TypeVar("_Site", bound=MutableMapping[str, Any])

#: the token every generated user logs in with (``token-<name>``)
HUMAN_TOKEN = "bench-human"
#: what Sales write; a mix of chasing and neutral words
COMMENTS = (
    "Any update on this? The customer is asking.",
    "Thanks, that works for us.",
    "Can you send this over by EOD?",
    "Adding the notes from today's call.",
)
_STATUS_CELL = re.compile(r"(Contract status.*?<td>(?:<p>)?)([^<]*)", re.IGNORECASE | re.DOTALL)


def with_logins(site: _Site) -> _Site:
    """Give every user of a generated site dict an API token of their own."""
    for user in site.get("users") or []:
        user.setdefault("api_token", f"{HUMAN_TOKEN}-{user['name']}")
    return site


@dataclass(frozen=True, slots=True)
class People:
    """Who changes what: the Sales people (with their logins) and the tickets to touch."""

    url: str
    sales: tuple[Mapping[str, Any], ...]
    #: candidate ticket keys, in a stable order
    keys: tuple[str, ...]
    #: Confluence page ids of deals not signed yet
    unsigned_pages: tuple[str, ...]

    @classmethod
    def of(cls, url: str, site: Mapping[str, Any]) -> People:
        """The people and targets of a generated site (call :func:`with_logins` first)."""
        group = next(g for g in site["groups"] if g["name"] == "sales")
        by_name = {u["name"]: u for u in site["users"]}
        pages = [
            p["id"] for p in site["confluence"]["pages"]
            if "properties" in p and p["properties"].get("Contract status") != "Signed"
        ]  # fmt: skip
        return cls(
            url=url,
            sales=tuple(by_name[name] for name in group["members"]),
            keys=tuple(i["key"] for i in site["issues"]),
            unsigned_pages=tuple(pages),
        )


def _session(user: Mapping[str, Any]) -> requests.Session:
    session = requests.Session()
    session.auth = (str(user["email"]), str(user["api_token"]))
    session.trust_env = False
    return session


def churn(people: People, *, fraction: float, seed: int, deal: int = 0) -> dict[str, Any]:
    """Change ``fraction`` of the tickets as Sales people (comments, label edits) and mark
    the ``deal``-th unsigned deal signed (a different one each time); returns what was done."""
    rng = random.Random(seed)
    count = max(1, round(len(people.keys) * fraction))
    chosen: Sequence[str] = rng.sample(people.keys, count)
    sessions = [_session(user) for user in people.sales]
    comments = labels = 0
    try:
        for key in chosen:
            session = rng.choice(sessions)
            if rng.random() < 0.7:
                answer = session.post(
                    f"{people.url}/rest/api/2/issue/{key}/comment",
                    json={"body": rng.choice(COMMENTS)}, timeout=30,
                )  # fmt: skip
                comments += 1
            else:
                answer = session.put(
                    f"{people.url}/rest/api/2/issue/{key}",
                    json={"update": {"labels": [{"add": "customer-visible"}]}}, timeout=30,
                )  # fmt: skip
                labels += 1
            answer.raise_for_status()
        page = (
            sign_deal(people, sessions[0], people.unsigned_pages[deal])
            if deal < len(people.unsigned_pages)
            else None
        )
    finally:
        for session in sessions:
            session.close()
    return {"tickets": count, "comments": comments, "label_edits": labels, "deal_signed": page}


def sign_deal(people: People, session: requests.Session, page_id: str) -> str:
    """An account executive edits one unsigned deal page: Contract status becomes Signed."""
    return set_deal_status(people.url, session, page_id, "Signed")


def set_deal_status(url: str, session: requests.Session, page_id: str, status: str) -> str:
    """Someone in Sales edits a deal page's Contract status (through Confluence's REST API)."""
    base = f"{url}/wiki/rest/api/content/{page_id}"
    page = session.get(base, params={"expand": "body.storage,version"}, timeout=30)
    page.raise_for_status()
    data = page.json()
    storage = data["body"]["storage"]["value"]
    signed, found = _STATUS_CELL.subn(lambda m: m.group(1) + status, storage, count=1)
    if not found:
        raise ValueError(f"deal page {page_id}: no Contract status cell to edit")
    answer = session.put(
        base,
        json={
            "type": "page",
            "title": data["title"],
            "version": {"number": int(data["version"]["number"]) + 1},
            "body": {"storage": {"value": signed, "representation": "storage"}},
        },
        timeout=30,
    )
    answer.raise_for_status()
    return page_id
