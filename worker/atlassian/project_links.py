"""A deal page's Jira project cell: a project key typed, or linked from the configured site.

People paste links where a key should be: a Cloud smart link to an issue, an ``<a href>`` to
``/browse/KEY-1``, ``/projects/KEY`` or ``/jira/software/projects/KEY/boards/3``, a Jira
issue macro. The key is read from such a link only when it points at the configured Jira
site (scheme, host, port, and under its path): a link to another host is evidence, never a
key. A cell that holds neither a key nor such a link gives no key and says why; the page can
still be matched by its account. Pure functions, no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

from worker.atlassian.pageprops import CellValue
from worker.atlassian.transport import same_site

#: a Jira project key as people type it (Jira's default rule, any case)
_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,254}$")
#: an issue key
_ISSUE = re.compile(r"^([A-Za-z][A-Za-z0-9_]*)-\d+$")
#: paths (under the site's own path) that name a project: /browse/KEY[-1],
#: /projects/KEY[/...], /jira/<product>/[c/]projects/KEY[/...]
_PATHS = (
    re.compile(r"^/browse/([A-Za-z][A-Za-z0-9_]*)(?:-\d+)?/?$"),
    re.compile(r"^/projects/([A-Za-z][A-Za-z0-9_]*)(?:/.*)?$"),
    re.compile(r"^/jira/[a-z-]+/(?:c/)?projects/([A-Za-z][A-Za-z0-9_]*)(?:/.*)?$"),
)


@dataclass(frozen=True, slots=True)
class ProjectCell:
    """What a Jira project cell gives: a key, or why none (and then what was found)."""

    key: str | None
    #: how the key was read when not typed ("from the link https://…/browse/ACME-1")
    how: str | None = None
    #: why no key was read, in words; None when a key was read or the cell is empty
    problem: str | None = None


def _key_in_url(url: str, site: str) -> str | None:
    """The project key a Jira URL on ``site`` names, or None."""
    parts = urlsplit(url)
    base = urlsplit(site).path.rstrip("/")
    path = unquote(parts.path)
    if base and not (path == base or path.startswith(base + "/")):
        return None
    path = path[len(base):] or "/"
    for pattern in _PATHS:
        if m := pattern.match(path):
            return m.group(1).upper()
    query = parse_qs(parts.query)
    for name in ("projectKey", "selectedIssue"):
        for value in query.get(name, ()):
            if _KEY.match(value):
                return value.upper()
            if m := _ISSUE.match(value):
                return m.group(1).upper()
    return None


def project_from_cell(cell: CellValue | None, *, jira_url: str) -> ProjectCell:
    """The project key of a Jira project cell, read as described in the module docstring.

    A cell without links gives its typed key (or issue key); a cell with links gives the key
    its links to ``jira_url``'s site name, which must agree.
    """
    if cell is None or (not cell.text and not cell.links):
        return ProjectCell(None)
    text = cell.text.strip()
    typed: ProjectCell | None = None
    if _KEY.match(text):
        typed = ProjectCell(text.upper())
    elif m := _ISSUE.match(text):
        typed = ProjectCell(m.group(1).upper(), how=f"from the issue key {text}")
    if typed is not None and not cell.links:
        return typed
    # Links decide: a key typed as a link's text to another site is that site's key.
    keys: dict[str, str] = {}
    elsewhere: list[str] = []
    for link in (*cell.links, *([text] if "://" in text else [])):
        if link.startswith("jira-key:"):
            issue = link.removeprefix("jira-key:").strip()
            if m := _ISSUE.match(issue):
                keys.setdefault(m.group(1).upper(), f"from the Jira issue macro {issue}")
            continue
        if "://" not in link:
            continue
        if not same_site(link, jira_url):
            elsewhere.append(link)
            continue
        key = _key_in_url(link, jira_url)
        if key is not None:
            keys.setdefault(key, f"from the link {link}")
        else:
            elsewhere.append(link)
    if len(keys) == 1:
        [(key, how)] = keys.items()
        return ProjectCell(key, how=how)
    if len(keys) > 1:
        return ProjectCell(None, problem=f"the Jira project cell links to several projects "
                           f"({', '.join(sorted(keys))})")
    if elsewhere:
        return ProjectCell(None, problem=f"the Jira project cell links to {elsewhere[0]}, "
                           "which is not a project on this Jira site")
    return ProjectCell(None, problem=f"the Jira project cell says {text!r}, which is not a "
                       "project key")
