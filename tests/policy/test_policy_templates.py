"""Comment templates under hostile data: includes stay in the folder, output is bounded, a
template that breaks on one ticket skips that ticket only, and `validate` finds what it can."""

from __future__ import annotations

import shutil
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from policy_factories import (
    CONFIG,
    DEALS,
    DIRECTORY,
    NOW,
    default_policies,
    site_tickets,
)

from worker.model.plan import CommentAction
from worker.policy import PolicyError, load_policies, plan
from worker.policy.template_inserts import MAX_COMMENT_CHARS
from worker.policy.template_samples import labelled_samples
from worker.policy.templates import TemplateRenderError, compile_template, load_template

P1 = "sales-deliverable-before-signature"
SAMPLE = labelled_samples()["a deal and a sales owner"]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """An empty templates folder, with a file outside it that nothing may read."""
    (tmp_path / "outside.j2").write_text("outside the folder\n", encoding="utf-8")
    inside = tmp_path / "templates"
    (inside / "parts").mkdir(parents=True)
    return inside


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"t.j2": "Hi.\n{% include 'missing.j2' %}\n"},
         "template 't' does not render ({folder}/t.j2:2) with sample data (a deal and a sales "
         "owner): TemplateNotFound: 'missing.j2' not found"),
        ({"t.j2": "Hi.\n\n{% include '../outside.j2' %}\n"},
         "template 't' does not render ({folder}/t.j2:3) with sample data (a deal and a sales "
         "owner): TemplateNotFound: ../outside.j2"),
        ({"t.j2": "{% include 'parts/link.j2' %}\n", "parts/link.j2": "@symlink"},
         "(it leads outside the templates folder)"),
        ({"t.j2": "Hi.\n{% from 'macros.j2' import greet %}{{ greet() }}\n",
          "macros.j2": "{% macro greet() %}\n{{ nobody }}\n{% endmacro %}\n"},
         "template 't' does not render ({folder}/macros.j2:2) with sample data (a deal and a "
         "sales owner): UndefinedError: 'nobody' is undefined"),
        ({"t.j2": "One.\nThe second: {{ evidence[1] }}\n"},
         "template 't' does not render ({folder}/t.j2:2) with sample data (one evidence item): "
         "UndefinedError: list object has no element 1"),
        ({"t.j2": "First: {{ evidence[0] }}\n"},
         "with sample data (no evidence): UndefinedError: list object has no element 0"),
        ({"t.j2": "{{ issue.summary * 100000 }}\n"},
         "template 't' does not render ({folder}/t.j2:1) with sample data (a deal and a sales "
         "owner): OutputTooLargeError: an expression would build 1200000 characters"),
        ({"t.j2": "{% for i in range(200) %}{{ issue.summary }}{% endfor %}\n"},
         "with sample data (a 255-character summary): OutputTooLargeError: the comment would "
         "exceed 32767 characters"),
        ({"t.j2": "{{ issue.key | center(10000000) }}\n"}, "would build 10000000 characters"),
        ({"t.j2": "{{ '%99999999s' % issue.key }}\n"},
         "OutputTooLargeError: an expression would build 100000015 characters"),
        ({"t.j2": "{{ issue.key.ljust(99999999) }}\n"}, "would build 99999999 characters"),
        ({"t.j2": "{{ issue.summary | replace('', issue.summary * 2000) }}\n"},
         "OutputTooLargeError"),
        ({"t.j2": "{% for i in range(100000) %}{% endfor %}\n"},
         "SecurityError: range() in a comment template is at most 10000 items"),
        ({"t.j2": "Hi {{ issue.key }\n"},
         "template 't' does not compile ({folder}/t.j2:1): unexpected '}'"),
    ],
    ids=["missing-include", "dot-dot", "symlink-out", "macro-line", "evidence-1", "evidence-0",
         "summary-times", "loop-output", "center", "percent", "ljust", "replace", "range",
         "syntax"],
)
def test_template_problems_name_the_file_and_line(
    folder: Path, files: dict[str, str], expected: str
) -> None:
    """Each way a template can fail is one ValueError naming file:line and the sample."""
    for name, text in files.items():
        target = folder / name
        if text == "@symlink":
            target.symlink_to(folder.parent / "outside.j2")
        else:
            target.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=r"^template 't' ") as info:
        load_template(folder, "t")
    assert expected.replace("{folder}", str(folder)) in str(info.value)


def test_includes_and_imports_work_within_the_folder(folder: Path) -> None:
    """`include` and `import` read templates from the folder (and its subfolders)."""
    (folder / "parts" / "owner.j2").write_text("Owner: {{ sales_owner }}.\n", encoding="utf-8")
    (folder / "macros.j2").write_text(
        "{% macro why(items) %}{{ items | join('; ') }}{% endmacro %}\n", encoding="utf-8"
    )
    (folder / "t.j2").write_text(
        "{% import 'macros.j2' as m %}Because {{ m.why(evidence) }}.\n\n"
        "{% include 'parts/owner.j2' %}\n",
        encoding="utf-8",
    )
    text = load_template(folder, "t").render(SAMPLE).plain_text()
    assert "Because type is Statement of Work; deal Acme Corp is In negotiation." in text
    assert "Owner: @Sam Ortiz." in text


@pytest.mark.parametrize(
    ("source", "variables", "reason"),
    [
        ("Second: {{ evidence[1] }}", {**SAMPLE, "evidence": ["one"]},
         "template 't' line 1: UndefinedError: list object has no element 1"),
        ("{{ issue.summary * 100 }}", {**SAMPLE, "issue": {"summary": "a" * 100_000}},
         "template 't' line 1: OutputTooLargeError: an expression would build 10000000 "
         "characters (a comment is at most 32767)"),
        ("{{ 10 // (evidence | length) }}", {**SAMPLE, "evidence": []},
         "template 't' line 1: ZeroDivisionError: integer division or modulo by zero"),
    ],
    ids=["evidence-1", "summary-times-100", "zero-division"],
)
def test_render_failures_are_one_line_template_render_errors(
    source: str, variables: dict[str, object], reason: str
) -> None:
    """Whatever goes wrong while rendering is a TemplateRenderError, never another type."""
    with pytest.raises(TemplateRenderError) as info:
        compile_template("t", source).render(variables)
    assert str(info.value) == reason


def test_a_comment_at_the_limit_still_renders() -> None:
    """The bound is Jira's comment limit, not less: a long but legal comment renders."""
    text = "x" * (MAX_COMMENT_CHARS - 10)
    doc = compile_template("t", "{{ issue.summary }}").render(
        {**SAMPLE, "issue": {"summary": text}}
    )
    assert doc.plain_text() == text


def test_one_tickets_render_failure_skips_that_ticket_only() -> None:
    """A template that only some tickets' data breaks (the summary repeated 1,000 times fits
    in a comment for a short summary, not for a long one): those tickets are a skip with the
    reason, every other ticket is still planned and written."""
    policies = default_policies()
    fragile = compile_template(
        "sales-deliverable", "{{ issue.key }}: {{ issue.summary * 1000 }} _handoff-exception_"
    )
    broken = replace(policies, templates={**policies.templates, "sales-deliverable": fragile})
    tickets = site_tickets()
    long_summaries = {t.key for t in tickets if len(t.summary) * 1000 > MAX_COMMENT_CHARS}
    good = plan(tickets, DIRECTORY, DEALS, policies, NOW)
    result = plan(tickets, DIRECTORY, DEALS, broken, NOW)
    acted = {d.issue for d in good.decisions if d.policy == P1 and d.verdict == "act"}
    skipped = {d.issue: d for d in result.decisions if d.policy == P1 and d.verdict == "skip"}
    assert set(skipped) == acted & long_summaries
    assert skipped, "ACME-2's summary is long enough"
    for d in skipped.values():
        assert d.actions == ()
        assert d.reason is not None
        assert d.reason.startswith(
            "step 1 not planned: the comment failed: template 'sales-deliverable' line 1: "
            "OutputTooLargeError: an expression would build "
        )
    still = {d.issue for d in result.decisions if d.policy == P1 and d.verdict == "act"}
    assert still == acted - set(skipped)
    assert still, "the other tickets are still acted on"
    written = {w.issue for w in result.writes}
    assert written.isdisjoint(skipped)
    assert written == {w.issue for w in good.writes} - set(skipped)
    for d in result.decisions:
        for a in d.actions:
            if isinstance(a, CommentAction):
                assert a.document.plain_text()


def test_validate_refuses_the_shipped_file_with_a_broken_include(tmp_path: Path) -> None:
    """The shipped policy file with `{% include 'x.j2' %}` hot-edited into a template: one
    problem at the policy line that names the template, with the template's file:line."""
    shutil.copy(CONFIG, tmp_path / "policies.yaml")
    shutil.copytree(CONFIG.parent / "templates", tmp_path / "templates")
    target = tmp_path / "templates" / "sales-deliverable.j2"
    target.write_text(target.read_text(encoding="utf-8") + "{% include 'x.j2' %}\n",
                      encoding="utf-8")
    lines = target.read_text(encoding="utf-8").count("\n")
    with pytest.raises(PolicyError) as info:
        load_policies(tmp_path / "policies.yaml")
    (problem,) = info.value.problems
    assert problem.path == "policies[0].actions[0].comment"
    assert f"({target}:{lines})" in problem.message
    assert "TemplateNotFound: 'x.j2' not found" in problem.message


def test_a_reassignment_note_that_breaks_on_one_ticket_skips_that_step_only() -> None:
    """The note to the new owner is rendered while planning the step: when one ticket's data
    breaks it, that ticket's step is a skip with the reason; the others are reassigned."""
    policies = default_policies()
    fragile = compile_template("reassign-note", "{{ issue.summary * 1000 }} for {{ new_owner }}")
    broken = replace(policies, templates={**policies.templates, "reassign-note": fragile})
    tickets = site_tickets()
    first = plan(tickets, DIRECTORY, DEALS, broken, NOW)
    states = {w.issue: w.state for w in first.writes}
    tickets = [replace(t, state=states.get(t.key, t.state)) for t in tickets]
    later = plan(tickets, DIRECTORY, DEALS, broken, NOW + timedelta(days=2))
    by_issue = {d.issue: d for d in later.decisions if d.policy == P1}
    assert by_issue["ACME-2"].verdict == "skip"  # a 41-character summary, 41,000 characters
    assert (by_issue["ACME-2"].reason or "").startswith(
        "step 2 not planned: the note failed: template 'reassign-note' line 1: "
        "OutputTooLargeError"
    )
    assert by_issue["ACME-1"].verdict == "act"  # 29 characters: the note fits
    assert "ACME-1" in {w.issue for w in later.writes}
    assert "ACME-2" not in {w.issue for w in later.writes}


def test_comments_from_one_template_share_its_literal_runs() -> None:
    """Two tickets' comments from one template hold one node for each literal run they
    share (5,000 comments in a first cycle), and still differ where their values do."""
    template = compile_template("t", "Hello **there**, {{ issue.summary }}: _see below_")
    first = template.render({**SAMPLE, "issue": {"summary": "First ticket"}})
    second = template.render({**SAMPLE, "issue": {"summary": "Second ticket"}})
    assert "First ticket" in first.plain_text()
    assert "Second ticket" in second.plain_text()
    assert first != second
    [one] = first.blocks
    [other] = second.blocks
    shared = [a for a, b in zip(one.inlines, other.inlines, strict=True) if a is b]
    assert [node.text for node in shared] == ["Hello ", "there", "see below"]  # type: ignore[union-attr]
