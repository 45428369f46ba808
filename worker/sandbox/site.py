"""The site model: one simulated Atlassian site, loaded from a site file or a dict.

The format is ``config/sandbox/site-example.yaml``. Every key is checked: an unknown key
is an error naming the key, the file and the line, so a typo in a fixture never passes
silently. ``Site.to_dict()`` writes the same format back (what ``GET /_sandbox/site`` serves),
omitting optional keys that hold their default so a loaded file round-trips unchanged.

Issues and pages are mutable (the sandbox writes into them under one lock); everything else
is frozen. ``Site.copy()`` is a cheap structural copy used on reset.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from worker.policy.bounded_yaml import BoundedComposer, YamlLimitError, YamlLimits

FLAVORS = ("cloud", "datacenter")
STATUS_CATEGORIES = ("new", "indeterminate", "done")
FIELD_TYPES = ("string", "number", "option", "multi_option")
#: how a page's ``properties`` are rendered into storage format (``worker.sandbox.shapes``)
PAGE_SHAPES = ("tidy", "cloud-editor", "title-case", "header-row", "layout", "horizontal",
               "template")
#: how a page's Jira project cell may be written instead of the typed key
#: (``worker.sandbox.shapes.project_link``)
PROJECT_LINKS = ("smart", "href", "board", "card", "macro", "elsewhere")
FLAGGED_NAME = "Flagged"
FLAGGED_VALUE = "Impediment"
#: first numeric id handed out to issues, comments, projects when the file gives none
FIRST_ID = 10000
_HEX32 = re.compile(r"[0-9a-f]{32}")


class SiteError(ValueError):
    """A site file or dict that does not describe a valid site (message names where)."""


# --------------------------------------------------------------------------- marks


class _MarkedDict(dict[str, Any]):
    """A mapping that remembers the line of each of its keys (for error messages)."""

    line: int = 0
    key_lines: dict[str, int]


#: generated sites of 50,000 issues are tens of MB; aliases may share values, not explode
SITE_YAML_LIMITS = YamlLimits(
    max_bytes=512 << 20, max_depth=64, max_alias_nodes=100_000, document="a site file"
)


class _MarkingLoader(BoundedComposer):
    """SafeLoader whose mappings remember their own and their keys' lines (within limits)."""

    limits = SITE_YAML_LIMITS


def _construct_marked(loader: _MarkingLoader, node: yaml.MappingNode) -> _MarkedDict:
    loader.flatten_mapping(node)
    out = _MarkedDict()
    out.line = node.start_mark.line + 1
    out.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        out[str(key)] = loader.construct_object(value_node, deep=True)
        out.key_lines[str(key)] = key_node.start_mark.line + 1
    return out


_MarkingLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_marked,
)


# --------------------------------------------------------------------------- model


@dataclass(frozen=True, slots=True)
class Bot:
    """The account the worker logs in as."""

    account_id: str
    name: str
    display_name: str
    email: str
    api_token: str


@dataclass(frozen=True, slots=True)
class User:
    """A Jira/Confluence user: ``account_id`` on Cloud, ``name`` on Data Center."""

    account_id: str
    name: str
    display_name: str
    email: str | None = None
    active: bool = True
    #: Confluence Data Center's own user key (32 hex digits), unrelated to Jira's user key;
    #: None: derived from the name (every DC Confluence user has one)
    confluence_key: str | None = None
    #: lets this person log in (Basic email:token on Cloud, Bearer on Data Center), so tests
    #: can act as the humans through the normal REST API
    api_token: str | None = None
    #: Jira Data Center's user key; None: the username (users made before Jira 8). Users
    #: made since have keys like ``JIRAUSER10615``, unrelated to their username
    jira_key: str | None = None


@dataclass(frozen=True, slots=True)
class Group:
    """A group; ``members`` as written in the file (names or account ids)."""

    name: str
    group_id: str
    members: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class FieldDef:
    """A custom field (``customfield_NNNNN``)."""

    id: str
    name: str
    type: str
    options: tuple[str, ...] = ()

    @property
    def number(self) -> int:
        """The numeric part of the id (Jira's ``cf[NNNNN]``)."""
        return int(self.id.removeprefix("customfield_"))


@dataclass(frozen=True, slots=True)
class Project:
    """A Jira project. ``assignee_on_edit_screen`` is a sandbox extension: when False the
    edit-issue call refuses ``assignee`` (the worker must fall back to ``PUT .../assignee``).
    ``not_assignable`` names users who lack the project's "Assignable User" permission: Jira
    refuses them as assignee ("User 'sam' cannot be assigned issues.")."""

    key: str
    name: str
    lead: str
    id: str
    assignee_on_edit_screen: bool = True
    not_assignable: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Comment:
    """A comment. ``body`` is wiki markup / plain text; ``adf`` the ADF document when the
    comment was posted as ADF (v3), else None (rendered from ``body`` on demand)."""

    id: str
    author: str
    created: datetime
    body: str
    updated: datetime | None = None
    adf: Mapping[str, Any] | None = None
    visibility: Mapping[str, str] | None = None
    properties: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class History:
    """One changelog entry: who changed which fields when."""

    id: str
    author: str
    created: datetime
    items: tuple[Mapping[str, str | None], ...]


@dataclass(slots=True)
class Issue:
    """A Jira issue (mutable: the sandbox applies writes to it under the site lock)."""

    key: str
    id: str
    type: str
    summary: str
    status: str
    created: datetime
    updated: datetime
    description: str = ""
    description_adf: Mapping[str, Any] | None = None
    assignee: str | None = None
    reporter: str | None = None
    labels: list[str] = field(default_factory=list)
    fields: dict[str, Any] = field(default_factory=dict)
    comments: list[Comment] = field(default_factory=list)
    properties: dict[str, Any] = field(default_factory=dict)
    changelog: list[History] = field(default_factory=list)
    hidden: bool = False
    #: keys the issue had before it was moved to another project, oldest first (Jira still
    #: answers a read by an old key with the issue under its new key)
    previous_keys: list[str] = field(default_factory=list)
    #: the JQL view of this version, built on first search (never copied)
    view: dict[str, Any] | None = field(default=None, repr=False, compare=False)

    @property
    def project(self) -> str:
        """The project key (the part of the key before the dash)."""
        return self.key.rsplit("-", 1)[0]

    def copy(self) -> Issue:
        """A copy whose containers can be changed without touching this one."""
        return replace(
            self,
            labels=list(self.labels),
            fields=dict(self.fields),
            comments=list(self.comments),
            properties=dict(self.properties),
            changelog=list(self.changelog),
            previous_keys=list(self.previous_keys),
            view=None,
        )


@dataclass(frozen=True, slots=True)
class Space:
    """A Confluence space."""

    key: str
    name: str


@dataclass(slots=True)
class Page:
    """A Confluence page. ``properties`` render as a Page Properties macro before ``body``,
    in the page's ``shape``; ``storage`` (when set) is the whole body, served verbatim."""

    id: str
    space: str
    title: str
    created_by: str
    labels: list[str] = field(default_factory=list)
    properties: dict[str, str] = field(default_factory=dict)
    body: str = ""
    version: int = 1
    created: datetime | None = None
    updated: datetime | None = None
    updated_by: str | None = None
    shape: str = "tidy"
    storage: str | None = None
    #: how the Jira project cell is written instead of the typed key (``shapes.PROJECT_LINKS``:
    #: a smart link, an ``<a href>`` to the project or its board...); None: the typed key
    project_link: str | None = None

    def copy(self) -> Page:
        """A copy whose containers can be changed without touching this one."""
        return replace(self, labels=list(self.labels), properties=dict(self.properties))


@dataclass(slots=True)
class Site:
    """The whole simulated site."""

    flavor: str
    now: datetime
    timezone: str
    search_lag_s: float
    bot: Bot
    users: list[User]
    groups: list[Group]
    fields: list[FieldDef]
    workflow: dict[str, str]
    issue_types: list[str]
    projects: list[Project]
    issues: list[Issue]
    spaces: list[Space]
    pages: list[Page]
    source: str = "<dict>"

    @property
    def tz(self) -> ZoneInfo:
        """The site's timezone."""
        return ZoneInfo(self.timezone)

    def copy(self) -> Site:
        """A copy whose issues and pages can be written without touching this one."""
        return replace(
            self,
            users=list(self.users),
            groups=list(self.groups),
            fields=list(self.fields),
            workflow=dict(self.workflow),
            issue_types=list(self.issue_types),
            projects=list(self.projects),
            issues=[i.copy() for i in self.issues],
            spaces=list(self.spaces),
            pages=[p.copy() for p in self.pages],
        )

    def flagged_field(self) -> FieldDef:
        """Jira Software's "Flagged" checkbox field: the site's own or a synthesized one."""
        for f in self.fields:
            if f.name == FLAGGED_NAME:
                return f
        taken = {f.number for f in self.fields}
        number = 10021
        while number in taken:
            number += 1
        return FieldDef(f"customfield_{number}", FLAGGED_NAME, "multi_option", (FLAGGED_VALUE,))

    def all_fields(self) -> list[FieldDef]:
        """The custom fields, including the synthesized Flagged field when missing."""
        flagged = self.flagged_field()
        if any(f.id == flagged.id for f in self.fields):
            return list(self.fields)
        return [*self.fields, flagged]

    def to_dict(self) -> dict[str, Any]:
        """The site in the site-file format (optional keys omitted when at their default)."""
        return _site_to_dict(self)


# --------------------------------------------------------------------------- time


def parse_time(value: object, *, where: str = "time") -> datetime:
    """Parse an ISO 8601 timestamp (``Z`` allowed); naive values are taken as UTC."""
    if isinstance(value, datetime):
        parsed = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    if not isinstance(value, str):
        raise SiteError(f"{where}: expected an ISO timestamp string, got {value!r}")
    try:
        return _parse_iso(value)
    except ValueError as exc:
        raise SiteError(f"{where}: not an ISO timestamp: {value!r}") from exc


@lru_cache(maxsize=8192)
def _parse_iso(text: str) -> datetime:
    # generated sites repeat the same timestamps thousands of times
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def format_time(value: datetime) -> str:
    """ISO 8601 in UTC with a ``Z`` (the site-file form)."""
    utc = value.astimezone(UTC)
    if utc.microsecond:
        return utc.isoformat().replace("+00:00", "Z")
    return utc.strftime("%Y-%m-%dT%H:%M:%SZ")


# --------------------------------------------------------------------------- loading


def load_site(path: Path) -> Site:
    """Load a site file; unknown keys and bad values raise :class:`SiteError` with file:line."""
    size = path.stat().st_size
    if size > SITE_YAML_LIMITS.max_bytes:  # refused before reading it
        raise SiteError(f"{path}:1: file is {size} bytes; a site file is at most "
                        f"{SITE_YAML_LIMITS.max_bytes} bytes")
    text = path.read_text(encoding="utf-8")
    try:
        data = yaml.load(text, Loader=_MarkingLoader)
    except YamlLimitError as exc:
        raise SiteError(f"{path}:{exc.line}:{exc.column}: {exc.message}") from None
    except yaml.YAMLError as exc:
        raise SiteError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise SiteError(f"{path}:1: a site file must be a mapping")
    return site_from_dict(data, source=str(path))


class _Reader:
    """Reads one mapping of the site file, checking keys and types, naming where."""

    __slots__ = ("data", "source", "where")

    def __init__(self, data: object, *, where: str, source: str, parent: _Reader | None = None,
                 key: str | None = None) -> None:
        self.where = where
        self.source = source
        if not isinstance(data, Mapping):
            line = parent.line_of(key) if parent is not None and key is not None else 0
            raise SiteError(f"{self._loc(line)}: {where} must be a mapping, got {data!r}")
        self.data: Mapping[str, Any] = data

    def _loc(self, line: int) -> str:
        return f"{self.source}:{line}" if line else self.source

    def line_of(self, key: str | None = None) -> int:
        """The line of ``key`` (or of the mapping itself) when known, else 0."""
        if isinstance(self.data, _MarkedDict):
            if key is not None and key in self.data.key_lines:
                return self.data.key_lines[key]
            return self.data.line
        return 0

    def fail(self, message: str, *, key: str | None = None) -> SiteError:
        """An error located at ``key`` of this mapping."""
        return SiteError(f"{self._loc(self.line_of(key))}: {self.where}: {message}")

    def check_keys(self, allowed: frozenset[str], required: frozenset[str]) -> None:
        """Reject unknown keys and report missing ones."""
        keys = self.data.keys()
        if not keys <= allowed:
            for key in self.data:
                if key not in allowed:
                    raise self.fail(
                        f"unknown key {key!r} (expected one of: {', '.join(sorted(allowed))})",
                        key=key,
                    )
        if not required <= keys:
            for key in sorted(required - keys):
                raise self.fail(f"missing required key {key!r}")

    def text(self, key: str, default: str | None = None) -> str:
        """A string value (numbers are accepted and turned into strings)."""
        value = self.data.get(key, default)
        if value is None:
            raise self.fail(f"{key!r} is required", key=key)
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise self.fail(f"{key!r} must be a string, got {value!r}", key=key)
        return str(value)

    def opt_str(self, key: str) -> str | None:
        """A string value or None when absent or null."""
        return None if self.data.get(key) is None else self.text(key)

    def flag(self, key: str, default: bool) -> bool:
        """A boolean value."""
        value = self.data.get(key, default)
        if not isinstance(value, bool):
            raise self.fail(f"{key!r} must be true or false, got {value!r}", key=key)
        return value

    def seq(self, key: str) -> list[Any]:
        """A list value (empty when absent)."""
        value = self.data.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.fail(f"{key!r} must be a list, got {value!r}", key=key)
        return value

    def str_list(self, key: str) -> list[str]:
        """A list of strings."""
        out = []
        for item in self.seq(key):
            if isinstance(item, bool) or not isinstance(item, str | int):
                raise self.fail(f"{key!r} must hold strings, got {item!r}", key=key)
            out.append(str(item))
        return out

    def mapping(self, key: str) -> Mapping[str, Any]:
        """A mapping value (empty when absent)."""
        value = self.data.get(key)
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise self.fail(f"{key!r} must be a mapping, got {value!r}", key=key)
        return value

    def time(self, key: str, default: datetime | None = None) -> datetime:
        """A timestamp value."""
        value = self.data.get(key)
        if value is None:
            if default is None:
                raise self.fail(f"{key!r} is required", key=key)
            return default
        try:
            return parse_time(value, where=key)
        except SiteError as exc:
            raise self.fail(str(exc), key=key) from exc

    def child(self, key: str) -> _Reader:
        """The mapping under ``key``."""
        return _Reader(self.data.get(key), where=f"{self.where}.{key}" if self.where else key,
                       source=self.source, parent=self, key=key)

    def items(self, key: str) -> Iterator[_Reader]:
        """Readers for each mapping in the list under ``key``."""
        for index, item in enumerate(self.seq(key)):
            where = f"{self.where}.{key}[{index}]" if self.where else f"{key}[{index}]"
            yield _Reader(item, where=where, source=self.source, parent=self, key=key)


_K = frozenset


class _Keys:
    top: ClassVar = _K({"site", "users", "groups", "fields", "workflow", "issue_types", "projects",
                        "issues", "confluence"})
    site: ClassVar = _K({"flavor", "now", "timezone", "search_lag_s", "bot"})
    bot: ClassVar = _K({"account_id", "name", "display_name", "email", "api_token"})
    user: ClassVar = _K({"account_id", "name", "display_name", "email", "active",
                         "confluence_key", "api_token", "jira_key"})
    group: ClassVar = _K({"name", "group_id", "members"})
    field: ClassVar = _K({"id", "name", "type", "options"})
    project: ClassVar = _K({"key", "name", "lead", "id", "assignee_on_edit_screen",
                            "not_assignable"})
    issue: ClassVar = _K({"key", "id", "type", "summary", "description", "status", "assignee",
                          "reporter", "labels", "created", "updated", "fields", "comments",
                          "properties", "changelog", "hidden", "flagged", "moved_from"})
    comment: ClassVar = _K({"id", "author", "created", "updated", "body", "adf", "visibility",
                            "properties"})
    history: ClassVar = _K({"id", "author", "created", "items"})
    item: ClassVar = _K({"field", "from", "to", "fromString", "toString"})
    confluence: ClassVar = _K({"spaces", "pages"})
    space: ClassVar = _K({"key", "name"})
    page: ClassVar = _K({"id", "space", "title", "labels", "created_by", "properties", "body",
                         "version", "created", "updated", "updated_by", "shape", "storage",
                         "project_link"})


def site_from_dict(data: Mapping[str, Any], *, source: str = "<dict>") -> Site:
    """Build a :class:`Site` from the site-file structure (as loaded from YAML or generated)."""
    top = _Reader(data, where="", source=source)
    top.check_keys(_Keys.top, _K({"site"}))
    s = top.child("site")
    s.where = "site"
    s.check_keys(_Keys.site, _K({"flavor", "now", "bot"}))
    flavor = s.text("flavor")
    if flavor not in FLAVORS:
        raise s.fail(f"flavor must be one of {', '.join(FLAVORS)}, got {flavor!r}", key="flavor")
    timezone = s.text("timezone", "UTC")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise s.fail(f"unknown timezone {timezone!r}", key="timezone") from exc
    lag = s.data.get("search_lag_s", 0)
    if isinstance(lag, bool) or not isinstance(lag, int | float) or lag < 0:
        raise s.fail(f"search_lag_s must be a number >= 0, got {lag!r}", key="search_lag_s")
    b = s.child("bot")
    b.check_keys(_Keys.bot, _Keys.bot)
    bot = Bot(b.text("account_id"), b.text("name"), b.text("display_name"), b.text("email"),
              b.text("api_token"))
    now = s.time("now")

    users = []
    for u in top.items("users"):
        u.check_keys(_Keys.user, _K({"account_id", "name", "display_name"}))
        ckey = u.opt_str("confluence_key")
        if ckey is not None and not _HEX32.fullmatch(ckey):
            raise u.fail(f"confluence_key must be 32 hexadecimal digits, got {ckey!r}",
                         key="confluence_key")
        users.append(User(u.text("account_id"), u.text("name"), u.text("display_name"),
                          u.opt_str("email"), u.flag("active", True), ckey,
                          u.opt_str("api_token"), u.opt_str("jira_key")))
    known = {u.name for u in users} | {u.account_id for u in users} | {bot.name, bot.account_id}

    def check_user(r: _Reader, key: str) -> str | None:
        value = r.opt_str(key)
        if value is not None and value not in known:
            raise r.fail(f"{key} {value!r} is not a known user", key=key)
        return value

    groups = []
    for g in top.items("groups"):
        g.check_keys(_Keys.group, _K({"name"}))
        members = g.str_list("members")
        for m in members:
            if m not in known:
                raise g.fail(f"member {m!r} is not a known user", key="members")
        groups.append(Group(g.text("name"), g.text("group_id", f"grp-{g.text('name')}"),
                            tuple(members)))

    fields: list[FieldDef] = []
    for f in top.items("fields"):
        f.check_keys(_Keys.field, _K({"id", "name", "type"}))
        fid = f.text("id")
        if not fid.startswith("customfield_") or not fid.removeprefix("customfield_").isdigit():
            raise f.fail(f"id must look like customfield_NNNNN, got {fid!r}", key="id")
        ftype = f.text("type")
        if ftype not in FIELD_TYPES:
            raise f.fail(f"type must be one of {', '.join(FIELD_TYPES)}, got {ftype!r}",
                         key="type")
        fields.append(FieldDef(fid, f.text("name"), ftype, tuple(f.str_list("options"))))
    fields_by_id = {f.id: f for f in fields}

    workflow_raw = top.mapping("workflow") or {"To Do": "new", "In Progress": "indeterminate",
                                               "Done": "done"}
    workflow: dict[str, str] = {}
    for status, category in workflow_raw.items():
        if category not in STATUS_CATEGORIES:
            raise top.fail(f"workflow: status {status!r} has category {category!r}, expected "
                           f"one of {', '.join(STATUS_CATEGORIES)}", key="workflow")
        workflow[str(status)] = str(category)
    issue_types = top.str_list("issue_types") or ["Task"]

    projects = []
    for index, p in enumerate(top.items("projects")):
        p.check_keys(_Keys.project, _K({"key", "name"}))
        barred = p.str_list("not_assignable")
        for name in barred:
            if name not in known:
                raise p.fail(f"not_assignable: {name!r} is not a known user",
                             key="not_assignable")
        projects.append(Project(p.text("key"), p.text("name"), check_user(p, "lead") or bot.name,
                                p.text("id", str(FIRST_ID + index)),
                                p.flag("assignee_on_edit_screen", True), tuple(barred)))
    project_keys = {p.key for p in projects}

    site_stub = Site(flavor, now, timezone, float(lag), bot, users, groups, fields, workflow,
                     issue_types, projects, [], [], [], source=source)
    flagged = site_stub.flagged_field()
    comment_counter = [FIRST_ID]
    issues = []
    seen_keys: set[str] = set()
    readers = list(top.items("issues"))
    ids = _issue_ids(readers)
    for index, i in enumerate(readers):
        issues.append(_read_issue(i, ids[index], now=now, project_keys=project_keys,
                                  workflow=workflow, issue_types=issue_types,
                                  fields_by_id=fields_by_id, flagged=flagged,
                                  check_user=check_user, comment_counter=comment_counter,
                                  seen_keys=seen_keys))

    c = top.child("confluence") if "confluence" in top.data else None
    spaces: list[Space] = []
    pages: list[Page] = []
    if c is not None:
        c.where = "confluence"
        c.check_keys(_Keys.confluence, _K())
        for sp in c.items("spaces"):
            sp.check_keys(_Keys.space, _K({"key"}))
            spaces.append(Space(sp.text("key"), sp.text("name", sp.text("key"))))
        space_keys = {sp.key for sp in spaces}
        page_ids: set[str] = set()
        for pg in c.items("pages"):
            pg.check_keys(_Keys.page, _K({"id", "space", "title"}))
            if pg.text("space") not in space_keys:
                raise pg.fail(f"space {pg.text('space')!r} is not a known space", key="space")
            if pg.text("id") in page_ids:
                raise pg.fail(f"duplicate page id {pg.text('id')!r}", key="id")
            page_ids.add(pg.text("id"))
            shape = pg.text("shape", "tidy")
            if shape not in PAGE_SHAPES:
                raise pg.fail(f"shape must be one of {', '.join(PAGE_SHAPES)}, got {shape!r}",
                              key="shape")
            link = pg.opt_str("project_link")
            if link is not None and link not in PROJECT_LINKS:
                raise pg.fail(f"project_link must be one of {', '.join(PROJECT_LINKS)}, got "
                              f"{link!r}", key="project_link")
            storage = pg.opt_str("storage")
            if storage is not None:
                for other in ("properties", "body", "shape", "project_link"):
                    if other in pg.data:
                        raise pg.fail(f"'storage' is the whole page body: it excludes {other!r}",
                                      key=other)
            props = {}
            for k, v in pg.mapping("properties").items():
                if isinstance(v, dict | list):
                    raise pg.fail(f"property {k!r} must be a string", key="properties")
                props[str(k)] = "" if v is None else str(v)
            pages.append(Page(
                id=pg.text("id"), space=pg.text("space"), title=pg.text("title"),
                created_by=check_user(pg, "created_by") or bot.name,
                labels=pg.str_list("labels"), properties=props, body=pg.text("body", ""),
                version=int(pg.data.get("version", 1)),
                created=pg.time("created") if pg.data.get("created") else None,
                updated=pg.time("updated") if pg.data.get("updated") else None,
                updated_by=check_user(pg, "updated_by"), shape=shape, storage=storage,
                project_link=link,
            ))

    site_stub.issues = issues
    site_stub.spaces = spaces
    site_stub.pages = pages
    return site_stub


def _issue_ids(readers: list[_Reader]) -> list[str]:
    """Each issue's id: its own, else its position's (``FIRST_ID + index + 1``), else, when
    another issue holds that one, the next number above every id in the file.

    Jira never lists two issues under one id, and the worker takes a repeated id for the same
    issue listed twice: a site file that pins some ids (so that removing an issue does not
    renumber the rest) and then gains an issue without one must not serve two issues under
    one id. Two issues given the same id are refused, like two under one key.
    """
    own: dict[str, int] = {}
    for index, i in enumerate(readers):
        if i.data.get("id") is None:
            continue
        ident = i.text("id")
        if ident in own:
            raise i.fail(f"duplicate issue id {ident!r} (also issues[{own[ident]}])", key="id")
        own[ident] = index
    ids = [i.text("id") if i.data.get("id") is not None else "" for i in readers]
    taken = set(own)
    for index, ident in enumerate(ids):
        positional = str(FIRST_ID + index + 1)
        if not ident and positional not in taken:
            ids[index] = positional
            taken.add(positional)
    numbers = [int(t) for t in taken if t.isdigit()]
    after = itertools.count(max(numbers, default=FIRST_ID) + 1)
    for index, ident in enumerate(ids):
        if not ident:
            ids[index] = str(next(after))
    return ids


def _read_issue(i: _Reader, ident: str, *, now: datetime, project_keys: set[str],
                workflow: Mapping[str, str], issue_types: list[str],
                fields_by_id: Mapping[str, FieldDef], flagged: FieldDef,
                check_user: Any, comment_counter: list[int], seen_keys: set[str]) -> Issue:
    i.check_keys(_Keys.issue, _K({"key", "summary"}))
    key = i.text("key")
    project, _, number = key.rpartition("-")
    if not project or not number.isdigit():
        raise i.fail(f"key must look like PROJ-123, got {key!r}", key="key")
    if project not in project_keys:
        raise i.fail(f"project {project!r} of {key} is not in projects", key="key")
    if key in seen_keys:
        raise i.fail(f"duplicate issue key {key!r}", key="key")
    seen_keys.add(key)
    itype = i.text("type", issue_types[0])
    if itype not in issue_types:
        raise i.fail(f"type {itype!r} is not in issue_types", key="type")
    status = i.text("status", next(iter(workflow)))
    if status not in workflow:
        raise i.fail(f"status {status!r} is not in workflow", key="status")
    created = i.time("created", now)
    fields: dict[str, Any] = {}
    for fid, value in i.mapping("fields").items():
        fdef = fields_by_id.get(fid) or (flagged if fid == flagged.id else None)
        if fdef is None:
            raise i.fail(f"field {fid!r} is not in fields", key="fields")
        fields[fid] = _check_field_value(i, fdef, value)
    if i.flag("flagged", False):
        fields[flagged.id] = [FLAGGED_VALUE]
    comments = []
    for c in i.items("comments"):
        c.check_keys(_Keys.comment, _K({"author", "body"}))
        comment_counter[0] += 1
        adf = c.data.get("adf")
        vis = c.data.get("visibility")
        comments.append(Comment(
            id=c.text("id", str(comment_counter[0])), author=check_user(c, "author"),
            created=c.time("created", created), body=c.text("body"),
            updated=c.time("updated") if c.data.get("updated") else None,
            adf=dict(adf) if isinstance(adf, Mapping) else None,
            visibility=dict(vis) if isinstance(vis, Mapping) else None,
            properties=dict(c.mapping("properties")),
        ))
    changelog = []
    for n, h in enumerate(i.items("changelog")):
        h.check_keys(_Keys.history, _K({"author", "created", "items"}))
        items = []
        for it in h.items("items"):
            it.check_keys(_Keys.item, _K({"field"}))
            items.append({k: (None if it.data.get(k) is None else str(it.data[k]))
                          for k in ("field", "from", "to", "fromString", "toString")})
        changelog.append(History(h.text("id", str(FIRST_ID + n + 1)), check_user(h, "author"),
                                 h.time("created"), tuple(items)))
    props = i.mapping("properties")
    return Issue(
        key=key, id=ident, type=itype,
        summary=i.text("summary"), status=status, created=created,
        updated=i.time("updated", created), description=i.text("description", ""),
        assignee=check_user(i, "assignee"), reporter=check_user(i, "reporter"),
        labels=i.str_list("labels"), fields=fields, comments=comments,
        properties={str(k): v for k, v in props.items()}, changelog=changelog,
        hidden=i.flag("hidden", False), previous_keys=i.str_list("moved_from"),
    )


def _check_field_value(i: _Reader, fdef: FieldDef, value: Any) -> Any:
    if value is None:
        return None
    if fdef.type == "string":
        return str(value)
    if fdef.type == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise i.fail(f"field {fdef.id} ({fdef.name}) must be a number", key="fields")
        return value
    values = value if isinstance(value, list) else [value]
    for v in values:
        if str(v) not in fdef.options:
            raise i.fail(f"field {fdef.id} ({fdef.name}): {v!r} is not one of its options",
                         key="fields")
    if fdef.type == "option":
        if isinstance(value, list):
            raise i.fail(f"field {fdef.id} ({fdef.name}) takes one option", key="fields")
        return str(value)
    return [str(v) for v in values]


# --------------------------------------------------------------------------- writing


def _site_to_dict(site: Site) -> dict[str, Any]:
    out: dict[str, Any] = {
        "site": {
            "flavor": site.flavor,
            "now": format_time(site.now),
            "timezone": site.timezone,
            "search_lag_s": _num(site.search_lag_s),
            "bot": {"account_id": site.bot.account_id, "name": site.bot.name,
                    "display_name": site.bot.display_name, "email": site.bot.email,
                    "api_token": site.bot.api_token},
        },
        "users": [_user_dict(u) for u in site.users],
        "groups": [{"name": g.name, "group_id": g.group_id, "members": list(g.members)}
                   for g in site.groups],
        "fields": [_field_dict(f) for f in site.fields],
        "workflow": dict(site.workflow),
        "issue_types": list(site.issue_types),
        "projects": [_project_dict(p, n) for n, p in enumerate(site.projects)],
        "issues": [],
    }
    counter = FIRST_ID
    for index, issue in enumerate(site.issues):
        d: dict[str, Any] = {"key": issue.key}
        if issue.id != str(FIRST_ID + index + 1):
            d["id"] = issue.id
        d["type"] = issue.type
        d["summary"] = issue.summary
        if issue.description:
            d["description"] = issue.description
        d["status"] = issue.status
        for k in ("assignee", "reporter"):
            if getattr(issue, k) is not None:
                d[k] = getattr(issue, k)
        if issue.labels:
            d["labels"] = list(issue.labels)
        d["created"] = format_time(issue.created)
        d["updated"] = format_time(issue.updated)
        if issue.fields:
            d["fields"] = {k: (list(v) if isinstance(v, list) else v)
                           for k, v in issue.fields.items()}
        if issue.comments:
            d["comments"] = []
            for c in issue.comments:
                counter += 1
                d["comments"].append(_comment_dict(c, str(counter)))
        if issue.properties:
            d["properties"] = dict(issue.properties)
        if issue.changelog:
            d["changelog"] = []
            for n, h in enumerate(issue.changelog):
                entry: dict[str, Any] = {} if h.id == str(FIRST_ID + n + 1) else {"id": h.id}
                entry.update(author=h.author, created=format_time(h.created),
                             items=[{k: v for k, v in it.items() if v is not None}
                                    for it in h.items])
                d["changelog"].append(entry)
        if issue.hidden:
            d["hidden"] = True
        if issue.previous_keys:
            d["moved_from"] = list(issue.previous_keys)
        out["issues"].append(d)
    if site.spaces or site.pages:
        out["confluence"] = {
            "spaces": [{"key": s.key, "name": s.name} for s in site.spaces],
            "pages": [_page_dict(p) for p in site.pages],
        }
    return out


def _num(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def _user_dict(u: User) -> dict[str, Any]:
    d: dict[str, Any] = {"account_id": u.account_id, "name": u.name,
                         "display_name": u.display_name}
    if u.email is not None:
        d["email"] = u.email
    if not u.active:
        d["active"] = False
    if u.confluence_key is not None:
        d["confluence_key"] = u.confluence_key
    if u.api_token is not None:
        d["api_token"] = u.api_token
    if u.jira_key is not None:
        d["jira_key"] = u.jira_key
    return d


def _field_dict(f: FieldDef) -> dict[str, Any]:
    d: dict[str, Any] = {"id": f.id, "name": f.name, "type": f.type}
    if f.options:
        d["options"] = list(f.options)
    return d


def _project_dict(p: Project, index: int) -> dict[str, Any]:
    d: dict[str, Any] = {"key": p.key, "name": p.name, "lead": p.lead}
    if p.id != str(FIRST_ID + index):
        d["id"] = p.id
    if not p.assignee_on_edit_screen:
        d["assignee_on_edit_screen"] = False
    if p.not_assignable:
        d["not_assignable"] = list(p.not_assignable)
    return d


def _comment_dict(c: Comment, derived_id: str) -> dict[str, Any]:
    d: dict[str, Any] = {}
    if c.id != derived_id:
        d["id"] = c.id
    d["author"] = c.author
    d["created"] = format_time(c.created)
    if c.updated is not None:
        d["updated"] = format_time(c.updated)
    d["body"] = c.body
    if c.adf is not None:
        d["adf"] = dict(c.adf)
    if c.visibility is not None:
        d["visibility"] = dict(c.visibility)
    if c.properties:
        d["properties"] = dict(c.properties)
    return d


def _page_dict(p: Page) -> dict[str, Any]:
    d: dict[str, Any] = {"id": p.id, "space": p.space, "title": p.title}
    if p.labels:
        d["labels"] = list(p.labels)
    d["created_by"] = p.created_by
    if p.properties:
        d["properties"] = dict(p.properties)
    if p.body:
        d["body"] = p.body
    if p.shape != "tidy":
        d["shape"] = p.shape
    if p.project_link is not None:
        d["project_link"] = p.project_link
    if p.storage is not None:
        d["storage"] = p.storage
    if p.version != 1:
        d["version"] = p.version
    if p.created is not None:
        d["created"] = format_time(p.created)
    if p.updated is not None:
        d["updated"] = format_time(p.updated)
    if p.updated_by is not None:
        d["updated_by"] = p.updated_by
    return d
