"""Search results -> :class:`IssueSnapshot` (pure: JSON in, value out; no I/O).

Jira Cloud (REST v3) and Data Center (REST v2) differ in three places handled here: users are
identified by ``accountId`` or ``name``, comment bodies are ADF or wiki markup, and the
description is ADF or a string.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from worker.atlassian.markup import adf_to_text
from worker.model.issue import Comment, IssueSnapshot, LabelAdded, MalformedIssue
from worker.model.people import Person
from worker.model.state import BotState
from worker.model.vocabulary import Flavor

#: The system fields every snapshot needs; extra fields are added by display name.
BASE_FIELDS: tuple[str, ...] = (
    "summary",
    "description",
    "issuetype",
    "project",
    "status",
    "assignee",
    "reporter",
    "labels",
    "created",
    "updated",
)


class _MalformedError(Exception):
    """An issue that cannot become a snapshot; its message is the skip reason."""


def parse_jira_time(value: object) -> datetime:
    """A Jira timestamp ("2026-11-02T10:00:00.000+0100") as an aware UTC datetime.

    The standard library's parser reads every form Jira sends (``+0100`` and ``+01:00``
    offsets, ``Z``, 0-6 fraction digits) and costs a sixtieth of dateutil's: a search page
    holds a few hundred timestamps.
    """
    if not isinstance(value, str) or not value:
        raise _MalformedError(f"expected a timestamp, got {value!r}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise _MalformedError(f"bad timestamp {value!r}") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def person_from_json(raw: object, flavor: Flavor) -> Person | None:
    """A user object from Jira (Cloud: accountId; Data Center: name) as a Person."""
    if not isinstance(raw, dict):
        return None
    ident = raw.get("accountId") if flavor == "cloud" else raw.get("name")
    if not isinstance(ident, str) or not ident:
        return None
    display = raw.get("displayName")
    email = raw.get("emailAddress")
    return Person(
        id=ident,
        display_name=display if isinstance(display, str) and display else ident,
        active=raw.get("active", True) is not False,
        email=email if isinstance(email, str) and email else None,
    )


def body_text(body: object) -> str:
    """A comment or description body as plain text (ADF walked, wiki kept as written)."""
    if body is None:
        return ""
    if isinstance(body, str):
        return body
    return adf_to_text(body)


def normalize_field(value: object) -> str | tuple[str, ...] | None:
    """A custom field's JSON value as a string, a tuple of strings, or None."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    if isinstance(value, list):
        items = [normalize_field(v) for v in value]
        return tuple(i for i in items if isinstance(i, str))
    if isinstance(value, dict):
        if value.get("type") == "doc":
            return adf_to_text(value)
        for key in ("value", "name", "displayName", "key", "id"):
            inner = value.get(key)
            if isinstance(inner, str):
                return inner
    return str(value)


def _str(fields: Mapping[str, Any], name: str, *, required: bool = True) -> str:
    value = fields.get(name)
    if isinstance(value, str):
        return value
    if required:
        raise _MalformedError(f"field {name!r} is missing")
    return ""


def _named(fields: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = fields.get(name)
    if not isinstance(value, dict):
        raise _MalformedError(f"field {name!r} is missing")
    return value


def issue_to_snapshot(
    raw: Mapping[str, Any],
    *,
    flavor: Flavor,
    extra_fields: Mapping[str, str],
    flagged_field_id: str | None,
    property_key: str,
    bot_id: str,
) -> IssueSnapshot | MalformedIssue:
    """Build one snapshot from one issue of a search page, or say why it cannot be built.

    ``extra_fields`` maps field id -> display name for the custom fields policies read.
    """
    key = raw.get("key")
    if not isinstance(key, str):
        return MalformedIssue(key=str(raw.get("id", "?")), reason="issue without a key")
    try:
        return _build(
            key,
            raw,
            flavor=flavor,
            extra_fields=extra_fields,
            flagged_field_id=flagged_field_id,
            property_key=property_key,
            bot_id=bot_id,
        )
    except _MalformedError as exc:
        return MalformedIssue(key=key, reason=str(exc))


def _build(
    key: str,
    raw: Mapping[str, Any],
    *,
    flavor: Flavor,
    extra_fields: Mapping[str, str],
    flagged_field_id: str | None,
    property_key: str,
    bot_id: str,
) -> IssueSnapshot:
    fields = raw.get("fields")
    if not isinstance(fields, dict):
        raise _MalformedError("no fields in the search result")
    status = _named(fields, "status")
    category = status.get("statusCategory")
    category_key = category.get("key") if isinstance(category, dict) else None
    project = _named(fields, "project")
    issue_type = _named(fields, "issuetype")
    created = parse_jira_time(fields.get("created"))
    updated = parse_jira_time(fields.get("updated"))
    labels = fields.get("labels") or []
    if not isinstance(labels, list):
        raise _MalformedError("field 'labels' is not a list")

    properties = raw.get("properties")
    stored = properties.get(property_key) if isinstance(properties, dict) else None
    doubt: str | None = None
    try:
        state = BotState.from_json(stored)
    except ValueError as exc:
        # Anyone who may edit the ticket may write the property: a shape the bot never
        # writes makes this ticket a skip with the reason, never the whole read's failure.
        state = BotState()
        doubt = f"issue property {property_key!r} is in a shape the bot never writes ({exc})"

    comments = _comments(fields.get("comment"), flavor)
    activity = [created]
    activity += [c.created for c in comments if c.author is None or c.author.id != bot_id]
    history = _human_history(raw.get("changelog"), flavor, bot_id)
    activity += history.times

    flagged_value = fields.get(flagged_field_id) if flagged_field_id else None
    return IssueSnapshot(
        key=key,
        id=str(raw.get("id", "")),
        project=_project_key(project),
        issue_type=_str(issue_type, "name"),
        summary=_str(fields, "summary"),
        description=body_text(fields.get("description")),
        status=_str(status, "name"),
        status_category=category_key if isinstance(category_key, str) else "indeterminate",
        assignee=person_from_json(fields.get("assignee"), flavor),
        reporter=person_from_json(fields.get("reporter"), flavor),
        labels=tuple(str(label) for label in labels),
        created=created,
        updated=updated,
        fields={name: normalize_field(fields.get(fid)) for fid, name in extra_fields.items()},
        comments=comments,
        state=state,
        last_human_activity=max(activity),
        flagged=bool(flagged_value),
        labels_added=_labels_added(raw.get("changelog"), flavor, labels),
        state_known=isinstance(properties, dict),
        comments_complete=_total(fields.get("comment")) <= len(comments),
        changelog_complete=history.complete,
        state_doubt=doubt,
    )


def _project_key(project: Mapping[str, Any]) -> str:
    return _str(project, "key")


def _comments(raw: object, flavor: Flavor) -> tuple[Comment, ...]:
    if raw is None:
        return ()
    items = raw.get("comments") if isinstance(raw, dict) else raw
    if not isinstance(items, list):
        raise _MalformedError("field 'comment' has no comment list")
    out: list[Comment] = []
    for item in items:
        if not isinstance(item, dict):
            raise _MalformedError("a comment is not an object")
        out.append(
            Comment(
                id=str(item.get("id", "")),
                author=person_from_json(item.get("author"), flavor),
                created=parse_jira_time(item.get("created")),
                text=body_text(item.get("body")),
            )
        )
    return tuple(out)


def _total(raw: object) -> int:
    """The ``total`` of a paged list in an answer (0 when absent)."""
    total = raw.get("total") if isinstance(raw, dict) else None
    return total if isinstance(total, int) and not isinstance(total, bool) else 0


@dataclass(frozen=True, slots=True)
class _History:
    #: when people (not the bot) changed the issue, among the entries in the answer
    times: list[datetime]
    #: whether the latest human change is surely among them
    complete: bool


def _human_history(raw: object, flavor: Flavor, bot_id: str) -> _History:
    """Human change times from a changelog in either order (Data Center: oldest first and
    whole; Cloud search: newest first and capped). A capped changelog still gives the latest
    human change when it lists the newest entries and one of them is human."""
    if not isinstance(raw, dict):
        return _History([], True)
    histories = raw.get("histories")
    if not isinstance(histories, list):
        return _History([], True)
    entries: list[tuple[datetime, bool]] = []
    for history in histories:
        if not isinstance(history, dict):
            continue
        author = person_from_json(history.get("author"), flavor)
        human = author is None or author.id != bot_id
        entries.append((parse_jira_time(history.get("created")), human))
    times = [t for t, human in entries if human]
    if _total(raw) <= len(entries):
        return _History(times, True)
    newest_first = len(entries) >= 2 and entries[0][0] > entries[-1][0]
    return _History(times, newest_first and bool(times))


def _labels_added(raw: object, flavor: Flavor, current: list[Any]) -> tuple[LabelAdded, ...]:
    """Per current label, the latest changelog entry that added it (Cloud lists histories
    newest first, Data Center oldest first: the timestamp decides, not the order)."""
    if not isinstance(raw, dict) or not isinstance(raw.get("histories"), list):
        return ()
    wanted = {str(label) for label in current}
    latest: dict[str, LabelAdded] = {}
    for history in raw["histories"]:
        if not isinstance(history, dict) or not isinstance(history.get("items"), list):
            continue
        try:
            at = parse_jira_time(history.get("created"))
        except _MalformedError:
            continue
        for item in history["items"]:
            if not isinstance(item, dict) or item.get("field") != "labels":
                continue
            before = set(str(item.get("fromString") or "").split())
            after = set(str(item.get("toString") or "").split())
            for label in (after - before) & wanted:
                if label not in latest or latest[label].at < at:
                    latest[label] = LabelAdded(
                        label, person_from_json(history.get("author"), flavor), at
                    )
    return tuple(latest[k] for k in sorted(latest))

