"""Keeping the bot's word, end to end over HTTP in both flavors: the opt-out, promised dates,
the note to the new owner, and revert (issue 10)."""

from __future__ import annotations

import copy
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from tests.humans import Human, with_logins
from worker.model.issue import IssueSnapshot
from worker.model.plan import Plan
from worker.model.state import BotState
from worker.read.site import spec_for_issues
from worker.write.execute import execute
from worker.write.revert import plan_revert

POLICIES = Path(__file__).resolve().parents[2] / "config" / "policies.yaml"
P1 = "sales-deliverable-before-signature"
DELIVERABLES = ["ACME-1", "ACME-2", "SALES-3"]


@pytest.fixture
def policies() -> Any:
    """The default policy set shipped in config/ (no policy lists `exempt:` any more)."""
    from worker.policy import load_policies

    return load_policies(POLICIES)


def _site(kit: Any, flavor: str) -> dict[str, Any]:
    site = copy.deepcopy(kit.sitegen.example_site())
    site["site"]["flavor"] = flavor
    return site


def _issue(sb: Any, key: str) -> dict[str, Any]:
    return next(i for i in sb.site()["issues"] if i["key"] == key)


def _bot_comments(sb: Any, key: str) -> list[str]:
    return [
        c["body"] for c in _issue(sb, key).get("comments", [])
        if c["author"] in (sb.bot_account_id, sb.bot_name)
    ]


def _puts(result: Any, key: str) -> list[dict[str, Any]]:
    return [r for r in result.requests if r["method"] == "PUT" and key in r["path"]]


def _read(atl: Any, policies: Any, key: str) -> IssueSnapshot:
    from worker.policy import search_spec

    spec = spec_for_issues(search_spec(policies), [key])
    (found,) = [s for s in atl.jira.search(spec) if isinstance(s, IssueSnapshot)]
    return found


def test_an_opted_out_ticket_is_never_touched(kit: Any, flavor: str, policies: Any) -> None:
    """A ticket labelled handoff-exception gets nothing from any policy, none of which lists
    `exempt:`, over a whole ladder; the changelog says who added the label."""
    assert all(not p.exempt for p in policies.policies)
    with kit.open_site(with_logins(_site(kit, flavor))) as (sb, atl):
        # Priya opts ACME-1 out herself, through the REST API: the changelog records her.
        Human.named(sb, "priya").edit("ACME-1", update={"labels": [{"add": "handoff-exception"}]})
        journal = kit.journal()
        first = kit.run_policy_cycle(sb, atl, journal, policies)
        assert sorted(o.issue for o in first.outcomes) == ["ACME-2", "SALES-3"]
        decisions = [d for d in first.plan.decisions if d.issue == "ACME-1"]
        assert {d.verdict for d in decisions} == {"exempt"}
        assert {d.reason for d in decisions} == {"opted out by label handoff-exception"}
        sb.advance("3d")
        later = kit.run_policy_cycle(sb, atl, journal, policies)
        assert _puts(first, "ACME-1") == _puts(later, "ACME-1") == []
        assert _bot_comments(sb, "ACME-1") == []
        assert _issue(sb, "ACME-1")["assignee"] == "priya"
        # explain reads the changelog: who added the label, and when
        from worker.policy import explain, search_spec

        spec = replace(spec_for_issues(search_spec(policies), ["ACME-1"]), changelog=True)
        (snap,) = [s for s in atl.jira.search(spec) if isinstance(s, IssueSnapshot)]
        found = explain(snap, atl.jira.directory(spec.groups), [], policies, later.now)
        assert {d.reason for d in found.decisions} == {
            "opted out by label handoff-exception (added by Priya Raman on 2026-11-02)"
        }


def test_a_shortened_grace_period_keeps_the_promised_date(
    kit: Any, flavor: str, policies: Any
) -> None:
    """The comment promised Wednesday; the admin shortens `after:` to 1 business day; on
    Tuesday nothing is reassigned (the promise holds), on Wednesday it is."""
    from worker.policy import load_policies_text

    shorter = load_policies_text(
        POLICIES.read_text().replace("after: 2 business days", "after: 1 business day"),
        base_dir=POLICIES.parent,
    )
    with kit.open_site(_site(kit, flavor)) as (sb, atl):
        journal = kit.journal()
        monday = kit.run_policy_cycle(sb, atl, journal, policies)
        assert sorted(o.issue for o in monday.outcomes) == DELIVERABLES
        (comment,) = _bot_comments(sb, "ACME-1")
        assert "Wednesday 4 November" in comment
        state = BotState.from_json(_issue(sb, "ACME-1")["properties"]["handoff-guard"])
        assert state.for_policy(P1).promised_step == 1

        sb.advance("1d")  # Tuesday: the shortened file says "now", the promise says Wednesday
        tuesday = kit.run_policy_cycle(sb, atl, journal, shorter)
        assert dict(tuesday.plan.promises) == {"kept": 3}
        assert [r for r in tuesday.requests if r["method"] == "PUT"] == []
        assert _issue(sb, "ACME-1")["assignee"] == "priya"

        sb.advance("1d")  # Wednesday: the promised date
        wednesday = kit.run_policy_cycle(sb, atl, journal, shorter)
        assert sorted(o.issue for o in wednesday.outcomes) == DELIVERABLES
        assert _issue(sb, "ACME-1")["assignee"] == "sam"
        assert len(_bot_comments(sb, "ACME-1")) == 2  # the PM's comment, then the owner's note


def test_revert_puts_back_assignee_and_labels(kit: Any, flavor: str, policies: Any) -> None:
    """revert gives ACME-1 back to Priya and removes sales-owned, with a comment; ACME-2,
    which a person moved on since, keeps its assignee; the next cycles do not redo anything,
    and a second revert has nothing to undo."""
    with kit.open_site(with_logins(_site(kit, flavor))) as (sb, atl):
        journal = kit.journal()
        kit.run_policy_cycle(sb, atl, journal, policies)
        sb.advance("2d")
        ladder = kit.run_policy_cycle(sb, atl, journal, policies)
        assert sorted(o.issue for o in ladder.outcomes) == DELIVERABLES
        changes = {o.issue: o.changes for o in ladder.outcomes}
        assert changes["ACME-1"] is not None
        assert changes["ACME-1"]["labels_added"] == ["sales-owned"]
        assert changes["ACME-1"]["new_assignee"] == ("712020:sam" if flavor == "cloud" else "sam")
        # Sam hands ACME-2 on to Dana: the revert must not take it from Dana.
        Human.named(sb, "sam").assign("ACME-2", Human.named(sb, "dana").ident)
        directory = atl.jira.directory(("project-managers", "sales"))
        now = atl.jira.server_now()
        plans = [
            plan_revert(_read(atl, policies, key), now=now, reason="Lee Okafor",
                        people=directory.people)
            for key in ("ACME-1", "ACME-2")
        ]
        writes = tuple(p.write for p in plans if p.write is not None)
        sb.clear_requests()
        outcomes = execute(Plan(now=now, decisions=(), writes=writes), atl, journal,
                           dry_run=False, property_key=policies.property_key)
        assert [o.status for o in outcomes] == ["applied", "applied"]
        assert len([r for r in sb.requests() if r["method"] == "PUT"]) == 2  # one edit each
        acme1, acme2 = _issue(sb, "ACME-1"), _issue(sb, "ACME-2")
        assert acme1["assignee"] == "priya"
        assert "sales-owned" not in acme1["labels"]
        assert acme2["assignee"] == "dana"
        assert "sales-owned" not in acme2["labels"]
        undone = _bot_comments(sb, "ACME-1")[-1].replace("\\", "")
        assert "undone at the request of Lee Okafor" in undone
        assert ("[~accountid:712020:priya]" if flavor == "cloud" else "[~priya]") in undone
        assert "the label sales-owned is removed" in undone
        assert "the assignee stays as it is (it is now with Dana Kim)" in (
            _bot_comments(sb, "ACME-2")[-1].replace("\\", "")
        )
        assert plans[1].notes[0].startswith("assignee left as is: the ticket is now with Dana")

        for _ in range(2):  # the next cycles, even days later, leave the reverted tickets alone
            sb.advance("3d")
            after = kit.run_policy_cycle(sb, atl, journal, policies)
            assert _puts(after, "ACME-1") == []
            reverted = [d for d in after.plan.decisions if d.issue == "ACME-1"]
            assert reverted[0].verdict == "exempt"
            assert reverted[0].reason is not None
            assert reverted[0].reason.startswith("reverted: the bot's change was undone")
        assert _issue(sb, "ACME-1")["assignee"] == "priya"

        again = plan_revert(_read(atl, policies, "ACME-1"), now=now, reason="Lee Okafor",
                            people=directory.people)
        assert again.write is None
        assert again.notes[0].startswith("nothing to undo: sales-deliverable-before-signature "
                                         "was reverted on")


def test_a_reassignment_nobody_got_records_nothing_to_undo(kit: Any, flavor: str) -> None:
    """Jira refuses the new owner and there is no fallback: the step is all or nothing
    (issue 19; before, the comment and the label landed without the handoff). Nothing of it
    goes out, the outcome is failed with Jira's reason, and the state records the refusal
    but no step, so revert has nothing to undo."""
    from worker.model.document import Document, Paragraph, Text
    from worker.model.people import Person
    from worker.model.plan import CommentAction, IssueWrite, LabelAction, ReassignAction
    from worker.model.state import PolicyState, StepRecord

    with kit.open_site(kit.sitegen.make_site(1, flavor=flavor)) as (sb, atl):
        now = atl.jira.server_now()
        [snap] = [s for s in atl.jira.search(kit.spec) if isinstance(s, IssueSnapshot)]
        olga = Person("712020:olga" if flavor == "cloud" else "olga", "Olga Petrova")
        assert snap.assignee is not None
        state = BotState({"pre-sales": PolicyState(
            first_flagged_at=now,
            steps=(StepRecord(0, now, ("comment", "reassign", "label"),
                              previous_assignee=snap.assignee.id, labels_added=("pre-sales",)),),
            reassigned_to=olga.id,
        )})
        note = Document((Paragraph((Text("yours now"),)),))
        write = IssueWrite(snap.key, snap.id, (
            CommentAction(Document((Paragraph((Text("handing over"),)),)), template="t"),
            ReassignAction(to=olga, target="sales_owner", note=note, previous=snap.assignee),
            LabelAction(add=("pre-sales",)),
        ), state, ("pre-sales",), snap.updated)
        [outcome] = execute(Plan(now=now, decisions=(), writes=(write,)), atl, kit.journal(),
                            dry_run=False)
        assert outcome.status == "failed"
        assert "cannot be assigned issues" in outcome.detail
        issue = _issue(sb, snap.key)
        assert issue["assignee"] == snap.assignee.id.split(":")[-1]
        assert "pre-sales" not in issue["labels"]
        assert _bot_comments(sb, snap.key) == []  # neither the comment nor the note
        stored = BotState.from_json(issue["properties"]["handoff-guard"]).for_policy("pre-sales")
        assert stored.reassigned_to is None
        assert stored.steps == ()
        assert (stored.refused_step, stored.refused_at) == (0, now)
        assert outcome.changes is None
        found = plan_revert(_read_any(atl, kit, snap.key), now=now, reason="Lee", people={})
        assert found.notes == () or not any("removed" in n for n in found.notes)


def _read_any(atl: Any, kit: Any, key: str) -> IssueSnapshot:
    spec = spec_for_issues(kit.spec, [key])
    (found,) = [s for s in atl.jira.search(spec) if isinstance(s, IssueSnapshot)]
    return found
