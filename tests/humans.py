"""Play the humans of a sandbox site: log in as a site-file user and act through the REST API.

Any site-file user with an ``api_token`` can log in as themselves (HTTP Basic email:token on
Cloud, ``Authorization: Bearer <token>`` on Data Center), exactly as the bot does, and the
sandbox records what they do under their name. Tests use this to write the comments, edits
and new tickets the bot must then read, through atlassian-python-api like the worker, so
nothing bypasses the HTTP surface.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any

from atlassian import Jira

from worker.sandbox import Sandbox

#: the token :func:`with_logins` gives every user that has none
HUMAN_TOKEN = "human-token"


def with_logins(site: MutableMapping[str, Any], *, token: str = HUMAN_TOKEN
                ) -> MutableMapping[str, Any]:
    """Give every user of a site-file dict an ``api_token`` of their own (``token-name``)."""
    for user in site.get("users") or []:
        user.setdefault("api_token", f"{token}-{user['name']}")
    return site


class Human:
    """One site user acting through Jira's REST API (v2 wiki markup: it reads like people
    type, and it is what ``/rest/api/latest`` serves)."""

    def __init__(self, sandbox: Sandbox, user: Mapping[str, Any]) -> None:
        token = user.get("api_token")
        if not isinstance(token, str):
            raise ValueError(f"site user {user.get('name')!r} has no api_token")
        self.name = str(user["name"])
        self.account_id = str(user["account_id"])
        self.cloud = sandbox.flavor == "cloud"
        auth: dict[str, Any] = (
            {"username": user.get("email"), "password": token} if self.cloud
            else {"token": token})
        # api_version defaults to "latest": the sandbox serves it as Jira does.
        self.jira = Jira(sandbox.url, **auth, cloud=self.cloud, backoff_and_retry=False,
                         retry_with_header=False, timeout=10)

    @classmethod
    def named(cls, sandbox: Sandbox, name: str) -> Human:
        """The site user called ``name`` (from the running site, so tokens added by
        :func:`with_logins` are known)."""
        for user in sandbox.site().get("users", []):
            if user["name"] == name:
                return cls(sandbox, user)
        raise KeyError(name)

    @property
    def ident(self) -> str:
        """How Jira names this person on the site's flavor."""
        return self.account_id if self.cloud else self.name

    def comment(self, key: str, text: str) -> str:
        """Add a comment; returns its id."""
        answer = self.jira.issue_add_comment(key, text)
        return str(answer["id"])

    def create(self, project: str, summary: str, *, issue_type: str = "Task",
               assignee: str | None = None, labels: tuple[str, ...] = (),
               fields: Mapping[str, Any] | None = None) -> str:
        """Create an issue (``POST /rest/api/latest/issue``); returns its key."""
        body: dict[str, Any] = {"project": {"key": project}, "issuetype": {"name": issue_type},
                                "summary": summary, "labels": list(labels), **(fields or {})}
        if assignee is not None:
            body["assignee"] = {"accountId": assignee} if self.cloud else {"name": assignee}
        answer = self.jira.create_issue(fields=body)
        return str(answer["key"])

    def edit(self, key: str, *, fields: Mapping[str, Any] | None = None,
             update: Mapping[str, Any] | None = None) -> None:
        """Edit an issue (fields and/or update operations)."""
        body: dict[str, Any] = {}
        if fields:
            body["fields"] = dict(fields)
        if update:
            body["update"] = dict(update)
        self.jira.put(f"rest/api/latest/issue/{key}", data=body)

    def assign(self, key: str, to: str) -> None:
        """Assign an issue (accountId on Cloud, username on Data Center)."""
        self.edit(key, fields={"assignee": {"accountId": to} if self.cloud else {"name": to}})
