"""What every sandbox API handler receives: the request, the world and the API dialect."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from werkzeug.wrappers import Request

from worker.sandbox.errors import bad_request
from worker.sandbox.site import User
from worker.sandbox.world import World

#: a handler's answer: HTTP status and a JSON body (None: no body)
Reply = tuple[int, Any]


@dataclass(frozen=True, slots=True)
class PageShape:
    """Search-page faults: ``repeat`` shifts pages back, ``omit`` leaves keys out of issues,
    ``issue_errors`` moves issues of a bulkfetch answer to its ``issueErrors``."""

    repeat: int = 0
    omit: frozenset[str] = frozenset()
    issue_errors: frozenset[str] = frozenset()


NO_SHAPE = PageShape()


@dataclass(slots=True)
class Ctx:
    """One API request being handled (the site lock is held for its whole duration)."""

    request: Request
    world: World
    #: scheme://host:port of the request, no trailing slash
    base: str
    #: Jira REST version (2 or 3; ``latest`` is served as 2); 1 for Confluence
    api: int
    #: who logged in: the bot, or a site-file user with an ``api_token`` (tests play humans)
    user: User
    #: search-page faults in force for this request
    shape: PageShape = field(default_factory=lambda: NO_SHAPE)

    @property
    def repeat(self) -> int:
        """A ``repeat`` fault: search pages start this many issues earlier than asked."""
        return self.shape.repeat

    @property
    def actor(self) -> str:
        """The logged-in user's name, as comments, changelog entries and pages record it."""
        return self.user.name

    def body(self) -> Any:
        """The JSON body (400 in Jira's words when it is not JSON)."""
        raw = self.request.get_data(cache=True)
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise bad_request(f"Unexpected character in request body: {exc}") from exc

    def body_object(self) -> Mapping[str, Any]:
        """The JSON body, which must be an object."""
        value = self.body()
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise bad_request("The request body must be a JSON object.")
        return value

    def arg(self, name: str, default: str | None = None) -> str | None:
        """One query parameter."""
        return self.request.args.get(name, default)

    def arg_list(self, name: str) -> list[str]:
        """A query parameter given repeated and/or comma-separated."""
        return [v.strip() for raw in self.request.args.getlist(name) for v in raw.split(",")
                if v.strip()]

    def int_arg(self, name: str, default: int) -> int:
        """An integer query parameter (400 when it is not a number)."""
        raw = self.request.args.get(name)
        if raw is None or raw == "":
            return default
        try:
            return int(raw)
        except ValueError as exc:
            raise bad_request(f"The value '{raw}' is not valid for parameter '{name}'.") from exc
