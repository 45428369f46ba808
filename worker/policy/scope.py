"""The read side of the policies: the search a cycle runs, and the local scope re-check.

The server's answer is never trusted: every policy scope (a JQL fragment) is parsed at
load time and evaluated again locally on each snapshot with our JQL engine (``worker.jql``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from worker import jql
from worker.model.issue import IssueSnapshot, SearchSpec
from worker.policy.actions import CommentSpec, ReassignSpec
from worker.policy.conditions import Condition
from worker.policy.config import Policies
from worker.policy.sections import PM_SET

_DEAL_VARIABLES = frozenset({"deal", "deal_page", "sales_owner", "contract_state", "customer"})
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


class _AnyField(Mapping[str, str]):
    """Every field name is acceptable and is its own id: snapshots carry fields by name
    (``issue_mapping`` keys them lower-cased), and at load time the site is not known."""

    def __getitem__(self, key: str) -> str:
        return key.lower()

    def __contains__(self, key: object) -> bool:
        return True

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def parse_scope(text: str) -> tuple[jql.JqlQuery, tuple[str, ...]]:
    """Parse a policy scope with a permissive context: the query and the groups its
    ``membersOf`` calls name (the cycle must read them). Raises ``ValueError`` when the scope
    is not valid JQL or could not run as part of the cycle's one search.

    The custom fields it names are :func:`scope_fields` (the cycle must read them too)."""
    groups: list[str] = []

    def members_of(group: str) -> frozenset[str]:
        groups.append(group)
        return frozenset()

    ctx = jql.JqlContext(
        now=_EPOCH,
        timezone=ZoneInfo("UTC"),
        current_user="",
        members_of=members_of,
        user_exists=lambda user: True,
        fields_by_name=_AnyField(),
        flavor="cloud",
    )
    try:
        query = jql.parse_jql(text, ctx)
    except jql.JqlError as exc:
        raise ValueError(str(exc)) from None
    if query.order_by:
        # Scopes are OR-ed into one search inside parentheses, where Jira refuses ORDER BY.
        raise ValueError("ORDER BY has no place in a scope (scopes are combined into one "
                         "search, whose order the bot chooses); remove it")
    if not query.has_restriction:
        raise ValueError("a scope must restrict something, e.g. 'project = ACME'")
    return query, tuple(dict.fromkeys(groups))


def scope_fields(query: jql.JqlQuery) -> tuple[str, ...]:
    """The custom fields a parsed scope names, as written ("Region"): the search must read
    them, or the local re-check would find them empty and put every ticket out of scope."""
    found: list[str] = []

    def walk_node(node: Any) -> None:
        if isinstance(node, jql.Clause):
            low = node.field.strip().lower()
            if low not in jql.SYSTEM_FIELDS and not jql.CUSTOM_FIELD_RE.match(low):
                found.append(node.field.strip())
        elif isinstance(node, jql.And | jql.Or):
            for child in node.children:
                walk_node(child)
        elif isinstance(node, jql.Not):
            walk_node(node.child)

    if query.where is not None:
        walk_node(query.where)
    # JQL field names are case-insensitive: keep the first spelling of each.
    return tuple({name.casefold(): name for name in reversed(found)}[k] for k in
                 dict.fromkeys(name.casefold() for name in found))


def scope_context(*, now: datetime, tz: ZoneInfo, groups: Mapping[str, frozenset[str]]
                  ) -> jql.JqlContext:
    """The JQL context for local scope checks during one plan call (built once: queries
    compile against it once)."""

    def members_of(group: str) -> frozenset[str]:
        return groups[group]

    return jql.JqlContext(
        now=now,
        timezone=tz,
        current_user="",
        members_of=members_of,
        user_exists=lambda user: True,
        fields_by_name=_AnyField(),
        flavor="cloud",
    )


def scope_matches(query: jql.JqlQuery, snapshot: IssueSnapshot, ctx: jql.JqlContext) -> bool:
    """Evaluate a parsed scope locally on one snapshot (raises ``ValueError`` if it cannot)."""
    try:
        return bool(query.matches(issue_mapping(snapshot), ctx))
    except (jql.JqlError, KeyError) as exc:
        raise ValueError(f"the scope cannot be checked locally: {exc}") from None


def issue_mapping(snapshot: IssueSnapshot) -> dict[str, Any]:
    """The JQL engine's view of a snapshot (custom fields keyed by display name)."""
    return {
        "key": snapshot.key,
        "id": snapshot.id,
        "project": snapshot.project,
        "issuetype": snapshot.issue_type,
        "status": snapshot.status,
        "statusCategory": snapshot.status_category,
        "assignee": snapshot.assignee.id if snapshot.assignee else None,
        "reporter": snapshot.reporter.id if snapshot.reporter else None,
        "labels": list(snapshot.labels),
        "summary": snapshot.summary,
        "description": snapshot.description,
        "comment": [c.text for c in snapshot.comments],
        "created": snapshot.created,
        "updated": snapshot.updated,
        "custom": {
            k.lower(): list(v) if isinstance(v, tuple) else v for k, v in snapshot.fields.items()
        },
    }


def quote(value: str) -> str:
    """A JQL string literal: double quotes, with ``"`` and ``\\`` escaped."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def walk(conds: tuple[Condition, ...]) -> Iterator[Condition]:
    """Every condition, nested ones included."""
    for cond in conds:
        yield cond
        yield from walk(cond.children())


def needs_deals(policies: Policies) -> bool:
    """True when some active policy reads the contract or the sales owner."""
    for policy in policies.policies:
        if policy.mode == "off":
            continue
        for cond in walk(policy.conditions + policy.exempt):
            if "deals" in cond.needs():
                return True
        for step in policy.steps:
            for spec in step.actions:
                if isinstance(spec, ReassignSpec) and spec.needs_deals():
                    return True
                name = spec.template if isinstance(spec, CommentSpec) else None
                if isinstance(spec, ReassignSpec):
                    name = spec.note
                if name is not None:
                    template = policies.templates.get(name)
                    if template is not None and template.variables & _DEAL_VARIABLES:
                        return True
    return False


#: JQL fields whose local re-check reads the description or the comments
_SCOPE_TEXT_FIELDS = {"description": ("description",), "text": ("description", "comments"),
                      "comment": ("comments",)}


def scope_text_needs(scope: str) -> frozenset[str]:
    """Which long texts ("description", "comments") a scope's local re-check reads.

    Every unquoted word is looked at, not only field positions: reading a text that turns
    out unused costs bytes; not reading one that is used would make the scope never match.
    """
    try:
        tokens = jql.tokenize(scope)
    except ValueError:
        return frozenset()  # an invalid scope never loads; nothing to read for it
    out: set[str] = set()
    for tok in tokens:
        if tok.kind == "word":
            out.update(_SCOPE_TEXT_FIELDS.get(tok.text.lower(), ()))
    return frozenset(out)


#: JQL words that make a scope's result move with the clock alone
_CLOCK_WORDS = frozenset({
    "now", "startofday", "endofday", "startofweek", "endofweek", "startofmonth", "endofmonth",
    "startofyear", "endofyear", "currentlogin", "lastlogin",
    "created", "createddate", "updated", "updateddate", "due", "duedate", "resolved",
    "resolutiondate", "lastviewed",
})
_RELATIVE_DATE = re.compile(r"^[-+]?\d+[wdhm](\s*\d+[wdhm])*$", re.IGNORECASE)


def scope_time_dependent(scope: str) -> bool:
    """True when a scope's result can change with the clock alone (a relative date, a date
    field, a date function): incremental reads cannot know when, so every cycle reads all."""
    try:
        tokens = jql.tokenize(scope)
    except ValueError:
        return True
    for tok in tokens:
        if tok.kind in ("word", "string") and (
            tok.text.lower() in _CLOCK_WORDS or _RELATIVE_DATE.match(tok.text.strip())
        ):
            return True
    return False


def _reads_description(cond: Condition) -> bool:
    fields = getattr(cond, "fields", None)
    return cond.name == "text_matches" and isinstance(fields, list) and "description" in fields


def search_spec(policies: Policies) -> SearchSpec:
    """What a cycle must read for these policies: the bounded JQL, fields, groups, deals."""
    active = [p for p in policies.policies if p.mode != "off"]
    parts: list[str] = []
    if active and all(p.scope for p in active):
        parts.append("(" + " OR ".join(f"({p.scope})" for p in active) + ")")
    pm = policies.people[PM_SET]
    who = [f"assignee in membersOf({quote(g)})" for g in pm.groups]
    if pm.users:
        who.append("assignee in (" + ", ".join(quote(u) for u in pm.users) + ")")
    parts.append(who[0] if len(who) == 1 else "(" + " OR ".join(who) + ")")
    parts.append("statusCategory != Done")
    fields: list[str] = []
    needs: set[str] = set()
    for policy in active:
        if policy.scope_query is not None:
            fields.extend(scope_fields(policy.scope_query))
        if policy.scope:
            needs |= scope_text_needs(policy.scope)
        for cond in walk(policy.conditions + policy.exempt):
            fields.extend(cond.fields_read())
            needs |= cond.needs()
            if _reads_description(cond):
                needs.add("description")
    deals = needs_deals(policies)
    if deals:
        fields.extend(f for f in (policies.deals.status_field, policies.deals.account_field) if f)
    groups = sorted(
        {g for pset in policies.people.values() for g in pset.groups}
        | {g for p in active for g in p.scope_groups}
    )
    return SearchSpec(
        jql=" AND ".join(parts),
        field_names=tuple(dict.fromkeys(fields)),
        comments="comments" in needs,
        description="description" in needs,
        changelog="changelog" in needs,
        groups=tuple(groups),
        deals=policies.deals.pages if deals else None,
        property_key=policies.property_key,
    )
