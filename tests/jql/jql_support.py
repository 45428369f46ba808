"""What the JQL engine's tests share: a site context (Cloud and Data Center) with its clock,
groups, users and custom fields, and ACME-1 of the example site as the sandbox's issue mapping."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from worker.jql import JqlContext, parse_jql

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # 10:00 in Berlin (CET, after the DST change)
BERLIN = ZoneInfo("Europe/Berlin")
GROUPS = {
    "project-managers": frozenset({"712020:priya", "712020:marco", "712020:olga"}),
    "sales": frozenset({"712020:sam", "712020:dana"}),
}
CLOUD_USERS = frozenset(
    {"712020:priya", "712020:marco", "712020:sam", "712020:dana", "712020:lee", "712020:olga"}
)
DC_GROUPS = {"project-managers": frozenset({"priya", "marco"})}
DC_USERS = frozenset({"priya", "marco", "sam", "dana"})
FIELDS = {"account": "customfield_10050", "contract status": "customfield_10051"}


def _members(groups: Mapping[str, frozenset[str]]) -> Any:
    def members_of(name: str) -> frozenset[str]:
        return groups[name]  # KeyError for an unknown group, as the contract says

    return members_of


CTX = JqlContext(
    now=NOW,
    timezone=BERLIN,
    current_user="712020:priya",
    members_of=_members(GROUPS),
    user_exists=lambda u: u in CLOUD_USERS,
    fields_by_name=FIELDS,
    flavor="cloud",
    known_projects=frozenset({"ACME", "GLOBEX", "SALES"}),
)
DC_CTX = JqlContext(
    now=NOW,
    timezone=BERLIN,
    current_user="priya",
    members_of=_members(DC_GROUPS),
    user_exists=lambda u: u.lower() in DC_USERS,
    fields_by_name=FIELDS,
    flavor="datacenter",
)


def issue(**overrides: Any) -> dict[str, Any]:
    """ACME-1 from the example site file, with ``overrides`` applied."""
    base: dict[str, Any] = {
        "key": "ACME-1",
        "id": "10001",
        "project": "ACME",
        "issuetype": "Statement of Work",
        "status": "In Progress",
        "statusCategory": "indeterminate",
        "assignee": "712020:priya",
        "reporter": "712020:sam",
        "labels": ["sow"],
        "summary": "Finalize SOW for Acme phase 2",
        "description": "Sam asked to have the SOW finished before Friday.",
        "comment": ["Priya, can you get this over the line today? I need an update by EOD."],
        "created": datetime(2026, 10, 27, 10, 0, tzinfo=UTC),
        "updated": datetime(2026, 10, 30, 16, 20, tzinfo=UTC),
        "custom": {"customfield_10050": "Acme Corp", "customfield_10051": None},
    }
    base.update(overrides)
    return base


def matches(jql: str, item: Mapping[str, Any], ctx: JqlContext = CTX) -> bool:
    """Whether ``jql``, parsed and compiled against ``ctx``, matches ``item``."""
    return parse_jql(jql, ctx).matches(item, ctx)


#: The prefix of Jira's syntax errors.
P = "Error in the JQL Query: "
