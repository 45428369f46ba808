"""Every registered action, table-driven, and the comment templates' safety."""

from __future__ import annotations

import re
import textwrap
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from policy_factories import DANA, DEALS, DIRECTORY, NOW, OLGA, PRIYA, SAM, default_policies, snap

from worker.model.document import Document, Link, Mention, Paragraph, Text
from worker.model.issue import IssueSnapshot
from worker.model.plan import CommentAction, FlagAction, LabelAction, ReassignAction, Visibility
from worker.policy.actions import ActionSpec, Blocked, actions
from worker.policy.context import PlanContext, StepContext, TicketContext
from worker.policy.template_samples import sample_variables
from worker.policy.templates import compile_template

STEP = StepContext("p", "A policy", 0, (), None, None)


def _plan(spec: dict[str, Any], ticket: IssueSnapshot) -> object:
    ((name, value),) = spec.items()
    cls = actions.get(name)
    assert cls is not None
    action: ActionSpec = cls.model_validate(value)
    ctx = TicketContext(ticket, PlanContext(default_policies(), DIRECTORY, DEALS, NOW))
    return action.plan(ctx, STEP)


CASES: list[tuple[dict[str, Any], IssueSnapshot, object]] = [
    ({"flag": True}, snap(), FlagAction(on=True)),
    ({"flag": None}, snap(flagged=True), None),
    ({"flag": False}, snap(flagged=True), FlagAction(on=False)),
    ({"label": {"add": ["sales-owned"]}}, snap(), LabelAction(add=("sales-owned",))),
    ({"label": "sales-owned"}, snap(labels=("Sales-Owned",)), None),
    ({"label": {"remove": "sow"}}, snap(labels=("sow",)), LabelAction(remove=("sow",))),
    ({"reassign": "sales_owner"}, snap(), ReassignAction(to=SAM, target="sales_owner")),
    ({"reassign": "reporter"}, snap(reporter=DANA), ReassignAction(to=DANA, target="reporter")),
    ({"reassign": "reporter"}, snap(reporter=OLGA), Blocked("the ticket has no active reporter")),
    (
        {"reassign": {"to": "reporter", "fallback": DANA.id}},
        snap(reporter=OLGA),
        ReassignAction(to=DANA, target="reporter"),
    ),
    ({"reassign": DANA.id}, snap(), ReassignAction(to=DANA, target="user")),
    (
        {"reassign": {"to": SAM.id, "fallback": DANA.id}},
        snap(),
        ReassignAction(to=SAM, target="user", fallback=DANA),
    ),
    ({"reassign": PRIYA.id}, snap(), None),
]


@pytest.mark.parametrize(("spec", "ticket", "expected"), CASES)
def test_action(spec: dict[str, Any], ticket: IssueSnapshot, expected: object) -> None:
    """Each action plans the expected worker.model action (or nothing, or a block)."""
    got = _plan(spec, ticket)
    if isinstance(got, ReassignAction):
        # The notes and the previous assignee have their own tests below.
        assert got.note is not None
        assert (got.fallback_note is None) == (got.fallback is None)
        got = replace(got, note=None, fallback_note=None, previous=None)
    assert got == expected


def _words(doc: Document | None) -> str:
    assert doc is not None
    return doc.plain_text()


def test_reassign_note_mentions_the_new_owner_and_says_why() -> None:
    """The note to the new owner mentions them, names who had it, the ticket and the customer
    in words (not the policy id: issue 19), the evidence and the way back (the opt-out label
    from the policy file)."""
    got = _plan({"reassign": {"to": "sales_owner", "fallback": DANA.id}}, snap())
    assert isinstance(got, ReassignAction)
    assert got.previous == PRIYA
    assert got.note is not None
    first = got.note.blocks[0]
    assert isinstance(first, Paragraph)
    assert first.inlines[0] == Mention(SAM)
    assert Mention(PRIYA) in first.inlines
    text = _words(got.note)
    assert "policy p" not in text
    assert 'assigned you ACME-1, "Plan kickoff workshop", for Acme Corp' in text
    assert "You are the account executive on the page Deal: Acme Corp" in text
    assert "add the label handoff-exception" in text
    fallback = _words(got.fallback_note)
    assert fallback.startswith("@Dana Kim, Handoff Guard assigned you ACME-1")
    assert "You are the fallback owner this policy names" in fallback


def test_reassign_note_takes_the_opt_out_label_from_the_file() -> None:
    """A file with another opt-out label promises that label in the note."""
    policies = replace(default_policies(), opt_out_labels=("keep-with-pm", "other"))
    ctx = TicketContext(snap(), PlanContext(policies, DIRECTORY, DEALS, NOW))
    got = actions.get("reassign").model_validate("sales_owner").plan(ctx, STEP)  # type: ignore[union-attr]
    assert isinstance(got, ReassignAction)
    assert "add the label keep-with-pm;" in _words(got.note)


def test_comment_action_renders_and_restricts() -> None:
    """A comment action renders its template and carries the visibility restriction."""
    got = _plan(
        {"comment": {"template": "engaged-before-signature", "visibility": {"role": "Developers"}}},
        snap(),
    )
    assert isinstance(got, CommentAction)
    assert got.visibility == Visibility(type="role", value="Developers")
    assert Mention(person=SAM) in got.document.blocks[1].inlines  # type: ignore[union-attr]


def test_every_action_has_a_case() -> None:
    """The tables cover every registered action."""
    assert {next(iter(s)) for s, _, _ in CASES} | {"comment"} == set(actions.names())


@pytest.mark.parametrize(("name", "cls"), list(actions))
def test_docstring_example_validates(name: str, cls: type[ActionSpec]) -> None:
    """Every action's docstring carries a YAML example that validates."""
    m = re.search(r"```yaml\n(.*?)```", cls.__doc__ or "", re.S)
    assert m is not None
    example = yaml.safe_load(textwrap.dedent(m.group(1)))
    cls.model_validate(example[name])


HOSTILE = [
    "[~accountid:123] please",
    "{color:red}urgent{color}",
    "<b>bold</b><script>alert(1)</script>",
    "**x** and _y_ and [z](https://evil.example)",
    '{"type":"doc","content":[{"type":"mention","attrs":{"id":"123"}}]}',
    "line\n\n- bullet",
    "\ue0000\ue001 placeholder smuggling",
]


@pytest.mark.parametrize("summary", HOSTILE)
def test_inserted_values_stay_text(summary: str) -> None:
    """A hostile summary arrives as one Text node with the same characters."""
    template = compile_template("t", "{{ issue.summary }}")
    doc = template.render({**sample_variables()[0], "issue": {"summary": summary}})
    (block,) = doc.blocks
    assert isinstance(block, Paragraph)
    expected = summary.replace("\ue000", "").replace("\ue001", "")
    assert block.inlines == (Text(text=expected),)


def test_template_structure_comes_from_literal_text() -> None:
    """Paragraphs, bullets, strong, emphasis, links and mentions come from the template only."""
    source = (
        "Hi **{{ issue.key }}** _note_\n\n- one {{ sales_owner }}\n- two\n\n"
        "[the deal]({{ deal.url }})"
    )
    doc = compile_template("t", source).render(sample_variables()[0])
    first, bullets, link = doc.blocks
    assert first == Paragraph(
        (Text("Hi "), Text("ACME-1", strong=True), Text(" "), Text("note", em=True))
    )
    owner = sample_variables()[0]["sales_owner"]
    assert bullets.items[0] == (Text("one "), Mention(owner))  # type: ignore[union-attr]
    assert link == Paragraph((Link(text="the deal", url="https://example.com/x"),))


def test_non_web_links_become_text() -> None:
    """A link whose URL is not http(s) is rendered as its text only."""
    doc = compile_template("t", "[x]({{ issue.summary }})").render(
        {**sample_variables()[0], "issue": {"summary": "javascript:alert(1)"}}
    )
    assert doc.blocks == (Paragraph((Text("x"),)),)


@pytest.mark.parametrize(
    "path",
    sorted((Path(__file__).resolve().parents[2] / "config" / "templates").glob("*.j2")),
    ids=lambda p: p.name,
)
def test_shipped_templates_render_short(path: Path) -> None:
    """Every shipped template renders with every sample context in under 120 words."""
    template = compile_template(path.stem, path.read_text())
    for variables in sample_variables():
        text = template.render(variables).plain_text()
        assert 10 < len(text.split()) < 120
        assert "handoff-exception" in text
