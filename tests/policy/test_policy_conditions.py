"""Every registered condition, table-driven, plus the docstring examples."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from policy_factories import DEALS, DIRECTORY, NOW, OLGA, SAM, default_policies, snap

from worker.model.issue import Comment, IssueSnapshot
from worker.policy.conditions import conditions
from worker.policy.context import PlanContext, TicketContext
from worker.policy.durations import parse_duration
from worker.policy.load_entry import EntryLoader
from worker.policy.problem_log import ProblemLog

T = datetime(2026, 10, 30, 9, tzinfo=UTC)


def _evaluate(spec: dict[str, Any], ticket: IssueSnapshot) -> bool:
    loader = EntryLoader(ProblemLog("<t>"), people=frozenset({"pm", "sales"}), templates_dir=Path())
    cond = loader.condition(spec, ("c",))
    assert cond is not None, loader.log.problems
    ctx = TicketContext(ticket, PlanContext(default_policies(), DIRECTORY, DEALS, NOW))
    return cond.evaluate(ticket, ctx).result


CASES = [
    ({"assignee_in": "pm"}, snap(), True),
    ({"assignee_in": "pm"}, snap(assignee=SAM), False),
    ({"assignee_in": "pm"}, snap(assignee=None), False),
    ({"assignee_in": {"users": [OLGA.id]}}, snap(assignee=OLGA), False),
    ({"assignee_in": {"users": [SAM.id]}}, snap(assignee=SAM), True),
    ({"reporter_in": "sales"}, snap(reporter=SAM), True),
    ({"reporter_in": ["sales"]}, snap(), False),
    ({"issue_type_in": ["statement of work"]}, snap(issue_type="Statement of Work"), True),
    ({"issue_type_in": "Contract"}, snap(), False),
    ({"project_in": ["acme"]}, snap(), True),
    ({"project_in": ["GLOBEX"]}, snap(), False),
    ({"status_category_in": "done"}, snap(status_category="done"), True),
    ({"status_category_in": ["new"]}, snap(), False),
    ({"labels_any": ["SOW", "msa"]}, snap(labels=("sow",)), True),
    ({"labels_any": ["msa"]}, snap(labels=("sow",)), False),
    ({"labels_all": ["msa", "redline"]}, snap(labels=("redline", "msa")), True),
    ({"labels_all": ["msa", "redline"]}, snap(labels=("msa",)), False),
    ({"text_matches": {"keywords": ["contract"]}}, snap(summary="Review the contract"), True),
    ({"text_matches": {"keywords": ["contract"]}}, snap(summary="Contractor onboarding"), False),
    ({"text_matches": {"keywords": ["order form"]}}, snap(summary="Send ORDER  form"), True),
    (
        {"text_matches": {"regex": r"redlines?", "fields": ["description"]}},
        snap(description="MSA redlines"),
        True,
    ),
    ({"text_matches": {"regex": "sow"}}, snap(description="sow"), False),
    ({"contract": "unsigned"}, snap(), True),
    ({"contract": "signed"}, snap("GLOBEX-1"), True),
    ({"contract": "unknown"}, snap("NOPE-1"), True),
    ({"contract": "not_signed"}, snap("NOPE-1"), True),
    ({"contract": "not_signed"}, snap("GLOBEX-1"), False),
    ({"contract": "signed"}, snap(fields={"Contract status": "signed"}), True),
    ({"contract": "unsigned"}, snap("X-1", fields={"Account": "initech"}), True),
    (
        {"field_equals": {"field": "Account", "value": "acme corp"}},
        snap(fields={"Account": "Acme Corp"}),
        True,
    ),
    ({"field_equals": {"field": "Account", "value": None}}, snap(), True),
    (
        {"field_in": {"field": "Contract status", "values": ["Draft"]}},
        snap(fields={"Contract status": "Lost"}),
        False,
    ),
    ({"idle_for": "3d"}, snap(last_human_activity=NOW - timedelta(days=3)), True),
    ({"idle_for": "3 business days"}, snap(last_human_activity=NOW - timedelta(days=3)), False),
    (
        {"comments_by": {"people": "sales", "keywords": ["any update"]}},
        snap(comments=(Comment("1", SAM, T, "Any update?"),)),
        True,
    ),
    (
        {"comments_by": {"people": "sales", "keywords": ["any update"], "within": "1d"}},
        snap(comments=(Comment("1", SAM, T, "Any update?"),)),
        False,
    ),
    (
        {"comments_by": {"people": "pm", "regex": "update"}},
        snap(comments=(Comment("1", SAM, T, "Any update?"),)),
        False,
    ),
    ({"all": [{"project_in": ["ACME"]}, {"labels_any": ["sow"]}]}, snap(labels=("sow",)), True),
    ({"all": [{"project_in": ["ACME"]}, {"labels_any": ["sow"]}]}, snap(), False),
    ({"any": [{"project_in": ["X"]}, {"assignee_in": "pm"}]}, snap(), True),
    ({"not": {"status_category_in": ["done"]}}, snap(), True),
    ({"not": [{"project_in": ["ACME"]}]}, snap(), False),
]


@pytest.mark.parametrize(("spec", "ticket", "expected"), CASES)
def test_condition(spec: dict[str, Any], ticket: IssueSnapshot, expected: bool) -> None:
    """Each condition gives the expected verdict on the ticket."""
    assert _evaluate(spec, ticket) is expected


def test_every_condition_has_a_case() -> None:
    """The table above covers every registered condition."""
    covered = {next(iter(spec)) for spec, _, _ in CASES}
    assert covered == set(conditions.names())


@pytest.mark.parametrize(("name", "cls"), list(conditions))
def test_docstring_example_validates(name: str, cls: type) -> None:
    """Every condition's docstring carries a YAML example that validates."""
    doc = cls.__doc__ or ""
    m = re.search(r"```yaml\n(.*?)```", doc, re.S)
    assert m is not None, f"{name} has no YAML example"
    import textwrap

    example = yaml.safe_load(textwrap.dedent(m.group(1)))
    loader = EntryLoader(
        ProblemLog("<doc>"), people=frozenset({"pm", "sales"}), templates_dir=Path()
    )
    assert loader.condition(example, ("c",)) is not None, loader.log.problems


def test_evidence_words_for_deal_precedence() -> None:
    """Evidence names where the contract status came from, in plain words."""
    ctx = PlanContext(default_policies(), DIRECTORY, DEALS, NOW)
    assert ctx.find_deal(snap()).evidence == (
        "deal Acme Corp is In negotiation, from the page Deal: Acme Corp"
    )
    assert ctx.find_deal(snap("FOO-1", fields={"Account": "Foo"})).evidence == (
        "no deal found for project FOO or account Foo"
    )
    drafted = snap(fields={"Contract status": "Draft"})
    assert ctx.find_deal(drafted).evidence == (
        "contract status Draft, from the ticket's field Contract status"
    )
    assert ctx.sales_owner(drafted, ctx.find_deal(drafted)).person == SAM


@pytest.mark.parametrize(
    ("text", "start", "expected"),
    [
        (
            "2 business days",
            datetime(2026, 11, 6, 9, tzinfo=UTC),
            datetime(2026, 11, 10, 9, tzinfo=UTC),
        ),
        (
            "1 business day",
            datetime(2026, 12, 23, 9, tzinfo=UTC),
            datetime(2026, 12, 28, 9, tzinfo=UTC),
        ),
        ("36h", datetime(2026, 11, 6, 9, tzinfo=UTC), datetime(2026, 11, 7, 21, tzinfo=UTC)),
        ("1 week", datetime(2026, 11, 6, 9, tzinfo=UTC), datetime(2026, 11, 13, 9, tzinfo=UTC)),
        ("3d", datetime(2026, 11, 6, 9, tzinfo=UTC), datetime(2026, 11, 9, 9, tzinfo=UTC)),
    ],
)
def test_durations(text: str, start: datetime, expected: datetime) -> None:
    """Durations add calendar time; business days skip weekends and the file's holidays."""
    policies = default_policies()
    got = parse_duration(text).add_to(start, tz=policies.tz, holidays=policies.holidays)
    assert got == expected


@pytest.mark.parametrize("text", ["2 bizness days", "soon", "3", "1.5 business days", ""])
def test_bad_durations(text: str) -> None:
    """Durations that do not parse raise ValueError."""
    with pytest.raises(ValueError, match=r"expected|whole number|unit"):
        parse_duration(text)


def test_inactive_person_in_group_is_not_a_member() -> None:
    """A snapshot Person marked inactive is never a member, whatever the group says."""
    ctx = PlanContext(default_policies(), DIRECTORY, DEALS, NOW)
    assert not ctx.is_member("sales", replace(SAM, active=False))
