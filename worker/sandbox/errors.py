"""Atlassian-shaped errors: raise :class:`ApiError` anywhere in a handler; the app turns it
into the response Jira (``errorMessages``/``errors``) or Confluence (``statusCode``/``message``)
would send."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

ISSUE_NOT_FOUND = "Issue does not exist or you do not have permission to see it."
UNBOUNDED_JQL = ("Unbounded JQL queries are not allowed here. Please add a search restriction "
                 "to your query.")
SEARCH_REMOVED = ("The requested API has been removed. Please migrate to the "
                  "/rest/api/3/search/jql API. A full migration guideline is available at "
                  "https://developer.atlassian.com/changelog/#CHANGE-2046")
NOT_AUTHENTICATED = ("You are not authenticated. Authentication required to perform this "
                     "operation.")
ADF_REQUIRED = "Operation value must be an Atlassian Document (see the Atlassian Document Format)"
STRING_REQUIRED = "Operation value must be a string"
NOT_ON_SCREEN = "Field '{field}' cannot be set. It is not on the appropriate screen, or unknown."
CANNOT_ASSIGN = "User '{user}' cannot be assigned issues."


class ApiError(Exception):
    """An error response. ``errors`` maps field -> message; ``messages`` are general ones."""

    def __init__(self, status: int, *messages: str, errors: Mapping[str, str] | None = None,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(status, messages, errors)
        self.status = status
        self.messages = list(messages)
        self.errors = dict(errors or {})
        self.headers = dict(headers or {})

    def jira_body(self) -> dict[str, Any]:
        """Jira's error body."""
        return {"errorMessages": self.messages, "errors": self.errors}

    def confluence_body(self) -> dict[str, Any]:
        """Confluence's v1 error body."""
        text = "; ".join([*self.messages, *(f"{k}: {v}" for k, v in self.errors.items())])
        return {"statusCode": self.status,
                "data": {"authorized": self.status != 401, "valid": self.status < 500,
                         "errors": [], "successful": False},
                "message": text}


def not_found_issue() -> ApiError:
    """404 for an unknown or invisible issue."""
    return ApiError(404, ISSUE_NOT_FOUND)


def bad_request(*messages: str, errors: Mapping[str, str] | None = None) -> ApiError:
    """400 with messages and/or field errors."""
    return ApiError(400, *messages, errors=errors)
