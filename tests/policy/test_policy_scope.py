"""Policy scopes: parsed at load, re-checked locally, and the search the policies ask for."""

from __future__ import annotations

from dataclasses import replace

import pytest
from policy_factories import CONFIG, DEALS, DIRECTORY, NOW, site_tickets

from worker.policy import Policies, PolicyError, load_policies_text, plan, search_spec
from worker.policy.scope import quote

pytest.importorskip("worker.jql", reason="the JQL engine is not available")

SCOPED = """\
version: 1
people:
  pm: {groups: [project-managers], users: ['ext"pm\\x']}
  sales: {groups: [sales]}
policies:
  - id: scoped
    description: test
    mode: enforce
    scope: project in (ACME, SALES) AND "Account" ~ "acme"
    conditions:
      - assignee_in: pm
    actions:
      - label: checked
  - id: other
    description: test
    scope: project = GLOBEX
    conditions:
      - assignee_in: pm
    actions:
      - flag: true
"""


def _load(text: str = SCOPED) -> Policies:
    return load_policies_text(text, filename="scoped.yaml", base_dir=CONFIG.parent)


def test_scope_is_rechecked_locally() -> None:
    """Tickets outside a policy's scope (a server that returned too much) are never acted on."""
    result = plan(site_tickets(), DIRECTORY, DEALS, _load(), NOW)
    acted = {(d.issue, d.policy) for d in result.decisions if d.actions}
    assert acted == {("ACME-1", "scoped"), ("ACME-2", "scoped"), ("GLOBEX-7", "other")}
    outside = next(d for d in result.decisions if d.issue == "SALES-3" and d.policy == "scoped")
    assert outside.reason == "outside the policy's scope"


def test_scope_syntax_error_is_a_load_error_at_the_policy_line() -> None:
    """A scope that is not valid JQL is reported at its line when the file loads."""
    with pytest.raises(PolicyError) as info:
        _load(SCOPED.replace("project = GLOBEX", "project = "))
    (problem,) = info.value.problems
    assert (problem.line, problem.path) == (16, "policies[1].scope")
    assert "the scope is not valid JQL" in problem.message


def test_search_spec_ors_scopes_and_quotes_config_values() -> None:
    """The search ORs the scopes and quotes and escapes every value taken from the file."""
    spec = search_spec(_load())
    assert spec.jql == (
        '((project in (ACME, SALES) AND "Account" ~ "acme") OR (project = GLOBEX)) AND '
        '(assignee in membersOf("project-managers") OR assignee in ("ext\\"pm\\\\x")) '
        "AND statusCategory != Done"
    )
    assert spec.deals is None
    assert not spec.comments


def test_an_unscoped_policy_drops_the_scope_part() -> None:
    """When one active policy has no scope, the search is bounded only by PMs and status."""
    policies = _load()
    unscoped = replace(policies.policies[1], scope=None, scope_query=None)
    spec = search_spec(replace(policies, policies=(policies.policies[0], unscoped)))
    assert spec.jql.startswith("(assignee in membersOf")


@pytest.mark.parametrize(
    ("value", "expected"),
    [("sales", '"sales"'), ('a"b', '"a\\"b"'), ("a\\b", '"a\\\\b"'), ("", '""')],
)
def test_quote(value: str, expected: str) -> None:
    """JQL string literals escape quotes and backslashes."""
    assert quote(value) == expected


@pytest.mark.parametrize(
    ("scope", "message"),
    [
        ("project = ACME ORDER BY created DESC", "ORDER BY has no place in a scope"),
        ("ORDER BY key", "ORDER BY has no place in a scope"),
    ],
)
def test_a_scope_that_could_not_run_is_refused(scope: str, message: str) -> None:
    """A scope the cycle's combined search could not run fails `validate` at its line."""
    text = SCOPED.replace('project = GLOBEX', scope)
    with pytest.raises(PolicyError) as info:
        _load(text)
    (problem,) = info.value.problems
    assert (problem.line, problem.path) == (16, "policies[1].scope")
    assert message in problem.message


def test_scope_groups_are_read_every_cycle() -> None:
    """A group a scope names in membersOf() is read into the directory, so the local
    re-check can run (it would otherwise skip every ticket)."""
    text = SCOPED.replace("project = GLOBEX", 'reporter in membersOf("services-leadership")')
    policies = _load(text)
    assert policies.policies[1].scope_groups == ("services-leadership",)
    assert "services-leadership" in search_spec(policies).groups
    result = plan(site_tickets(), DIRECTORY, DEALS, policies, NOW)
    assert {d.verdict for d in result.decisions if d.policy == "other"} <= {"no-match", "act"}


def test_scope_fields_are_read_every_cycle() -> None:
    """A custom field a scope names is read by the search (once, whatever its case), so the
    local re-check sees its value instead of finding every ticket out of scope."""
    text = SCOPED.replace("project = GLOBEX", "Region = EMEA AND NOT region = APAC")
    policies = _load(text)
    assert search_spec(policies).field_names[:2] == ("Account", "Region")
    for region, outside in (("EMEA", False), ("APAC", True)):
        tickets = [replace(t, fields={**t.fields, "Region": region}) for t in site_tickets()]
        result = plan(tickets, DIRECTORY, DEALS, policies, NOW)
        reasons = {d.reason for d in result.decisions if d.policy == "other"}
        assert ("outside the policy's scope" in reasons) == outside


def _with_texts(scope: str, condition: str) -> Policies:
    text = f"""\
version: 1
people:
  pm: {{groups: [project-managers]}}
policies:
  - id: p
    description: test
    mode: enforce
    scope: {scope}
    conditions:
      - {condition}
    actions:
      - label: checked
"""
    return load_policies_text(text, filename="texts.yaml", base_dir=CONFIG.parent)


@pytest.mark.parametrize(
    ("scope", "condition", "description", "comments"),
    [
        ("project = ACME", "assignee_in: pm", False, False),
        ("project = ACME", "text_matches: {keywords: [sow]}", False, False),
        ("project = ACME", "text_matches: {fields: [description], keywords: [sow]}", True, False),
        ("project = ACME", "text_matches: {fields: [summary, description], regex: x}", True, False),
        ('description ~ "sow"', "assignee_in: pm", True, False),
        ('text ~ "sow"', "assignee_in: pm", True, True),
        ('comment ~ "sow"', "assignee_in: pm", False, True),
        ('project = ACME AND NOT (Description ~ "x")', "assignee_in: pm", True, False),
        ("project = ACME", "any: [{text_matches: {fields: [description], keywords: [x]}}]",
         True, False),
    ],
)
def test_search_asks_for_long_texts_only_when_something_reads_them(
    scope: str, condition: str, description: bool, comments: bool
) -> None:
    """The description and the comments are fetched only when a condition or a scope reads
    them (they are most of a search page's bytes)."""
    spec = search_spec(_with_texts(scope, condition))
    assert (spec.description, spec.comments) == (description, comments)


def test_shipped_policies_skip_the_description() -> None:
    """The shipped policies read summaries and comments, never the description."""
    from worker.policy import load_policies

    spec = search_spec(load_policies(CONFIG))
    assert spec.comments
    assert not spec.description
