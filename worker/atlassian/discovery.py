"""Where Confluence is, when the settings do not say: the hint behind one clear error.

On Jira Cloud, Confluence lives on the same site under ``/wiki``. Jira Data Center does not
host Confluence: it is a server of its own, so ``CONFLUENCE_URL`` must name it. Without it the
worker tries Jira's own URL, and the first CQL search answers 404 there. This module turns
that 404 into :class:`ConfluenceUrlError`, a settings problem that says what to set, and
names the Confluence server Jira itself links to (its application links), when it does.
"""

from __future__ import annotations

from typing import Any

from worker.atlassian.transport import (
    AtlassianHTTPError,
    OutcomeUnknownError,
    Transport,
    TransportFailedError,
    UnexpectedBodyError,
)

#: Jira Data Center's list of its application links (Confluence, Bitbucket...)
APPLINKS_PATH = "rest/applinks/1.0/listApplicationlinks"


class ConfluenceUrlError(Exception):
    """Confluence is not where the worker looked (a settings problem: exit 1, one line)."""


def linked_confluence(jira: Transport) -> str | None:
    """The URL of the Confluence server Jira links to (application links), or None when
    Jira lists none or cannot be asked (never an error: this only feeds a hint)."""
    try:
        raw: Any = jira.call("GET", APPLINKS_PATH)
    except (AtlassianHTTPError, UnexpectedBodyError, TransportFailedError, OutcomeUnknownError):
        return None
    entries = raw.get("list") if isinstance(raw, dict) else None
    for entry in entries if isinstance(entries, list) else ():
        app = entry.get("application") if isinstance(entry, dict) else None
        if isinstance(app, dict) and app.get("typeId") == "confluence":
            url = app.get("displayUrl") or app.get("rpcUrl")
            if isinstance(url, str) and url.startswith(("http://", "https://")):
                return url.rstrip("/")
    return None


def confluence_url_error(tried: str, detail: str, jira: Transport) -> ConfluenceUrlError:
    """The error for a Data Center site whose Confluence is not at ``tried`` (Jira's URL,
    since ``CONFLUENCE_URL`` is unset)."""
    linked = linked_confluence(jira)
    hint = (f"Jira links to a Confluence at {linked}: set CONFLUENCE_URL={linked}"
            if linked else "set CONFLUENCE_URL to your Confluence server's base URL "
            "(e.g. https://confluence.example.com)")
    return ConfluenceUrlError(
        f"CONFLUENCE_URL is not set, and Confluence is not at Jira's URL {tried} ({detail}). "
        f"On Jira Data Center, Confluence is a server of its own: {hint}"
    )
