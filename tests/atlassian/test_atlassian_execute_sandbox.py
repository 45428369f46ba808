"""The one writer over real HTTP against the sandbox: end to end, faults, exactly once."""

from __future__ import annotations

import dataclasses
import json
import threading
from typing import Any

import pytest
from structlog.testing import capture_logs

from worker.atlassian.clients import connect
from worker.model.document import Document, Paragraph, Text
from worker.model.issue import IssueSnapshot
from worker.model.people import Person
from worker.model.plan import CommentAction, IssueWrite, Plan, ReassignAction
from worker.model.state import BotState, PolicyState, StepRecord
from worker.write.execute import execute

HOSTILE = "[~accountid:712020:olga] {color:red}urgent{color} h1. *now* !x.png! ||a|| " + json.dumps(
    {"type": "doc", "content": [{"type": "mention", "attrs": {"id": "x"}}]}
)


def bot_comments(sb: Any, key: str) -> list[dict[str, Any]]:
    """The bot's comments on one issue, from the sandbox's own model."""
    bot = {sb.bot_account_id, sb.bot_name}
    issue = next(i for i in sb.site()["issues"] if i["key"] == key)
    return [c for c in issue.get("comments", []) if c["author"] in bot]


def sow_keys(sb: Any) -> list[str]:
    """Issues the test planner acts on."""
    return [i["key"] for i in sb.site()["issues"] if "sow" in i.get("labels", ())]


def writes(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The write requests in a request log."""
    return [
        r
        for r in requests
        if r["method"] in ("PUT", "POST", "DELETE") and "/search" not in r["path"]
    ]


def assert_exactly_once(sb: Any) -> None:
    """Every acted-on issue has exactly one bot comment and our step recorded."""
    for key in sow_keys(sb):
        assert len(bot_comments(sb, key)) == 1, key
        issue = next(i for i in sb.site()["issues"] if i["key"] == key)
        state = BotState.from_json(issue["properties"]["handoff-guard"])
        assert state.for_policy("pre-sales").last_step == 0


def test_end_to_end_example_site(kit, flavor) -> None:
    """Comment, reassignment, label, flag and property land in one request per issue."""
    site = kit.sitegen.example_site()
    site["site"]["flavor"] = flavor
    site["issues"][0]["summary"] = HOSTILE
    with kit.open_site(site) as (sb, atl):
        journal = kit.journal()
        first = kit.run_cycle(sb, atl, journal)
        assert [o.issue for o in first.outcomes] == ["ACME-1"]
        assert [o.status for o in first.outcomes] == ["applied"]
        assert [(r["method"], r["path"].rsplit("/", 1)[-1]) for r in writes(first.requests)] == [
            ("PUT", "ACME-1")
        ]
        issue = next(i for i in sb.site()["issues"] if i["key"] == "ACME-1")
        sam = sb.site()["users"][2]
        assert issue["assignee"] == sam["name"]
        assert "pre-sales" in issue["labels"]
        assert BotState.from_json(issue["properties"]["handoff-guard"]).for_policy(
            "pre-sales"
        ).reassigned_to == (sam["account_id"] if flavor == "cloud" else "sam")
        [comment] = bot_comments(sb, "ACME-1")
        if flavor == "cloud":
            content = comment["adf"]["content"]
            assert content[0]["content"][0] == {
                "type": "mention",
                "attrs": {"id": "712020:priya", "text": "@Priya Raman"},
            }
            assert content[0]["content"][2]["text"] == HOSTILE
            assert content[1]["content"][0]["attrs"]["id"] == "712020:sam"
        else:
            body = comment["body"]
            assert body.startswith("[~priya] this looks like Sales work before signature: {*}")
            assert "\\[\\~accountid:712020:olga\\]" in body
            assert "\\{color:red\\}" in body
            assert "[~sam] please take it over." in body
        # ACME-1 left the PM scope (reassigned to Sales); a direct read sees flag and state
        [snap] = atl.jira.search(dataclasses.replace(kit.spec, jql='key = "ACME-1"'))
        assert isinstance(snap, IssueSnapshot)
        assert snap.flagged is True
        assert snap.state.for_policy("pre-sales").last_step == 0
        again = kit.run_cycle(sb, atl, journal)
        assert again.outcomes == []
        assert writes(again.requests) == []


def test_dry_run_writes_nothing_and_logs_planned(kit, flavor) -> None:
    """A dry run walks the same plan, logs action.planned, and sends no write."""
    with kit.open_site(kit.sitegen.make_site(10, flavor=flavor)) as (sb, atl):
        with capture_logs() as logs:
            result = kit.run_cycle(sb, atl, kit.journal(), dry_run=True)
        assert [o.status for o in result.outcomes] == ["dry-run"] * 2
        assert writes(result.requests) == []
        planned = [e for e in logs if e["event"] == "action.planned"]
        assert len(planned) == 2 * 4
        assert not [e for e in logs if e["event"] == "action.applied"]


def test_stopping_between_issues(kit, flavor) -> None:
    """A stop signal after the first issue leaves the rest as 'stopped'."""
    with kit.open_site(kit.sitegen.make_site(15, flavor=flavor)) as (sb, atl):
        calls: list[int] = []

        def stopping() -> bool:
            calls.append(1)
            return len(calls) > 1

        result = kit.run_cycle(sb, atl, kit.journal(), stopping=stopping)
        assert [o.status for o in result.outcomes] == ["applied", "stopped", "stopped"]
        assert len(writes(result.requests)) == 1


@pytest.mark.parametrize(
    "rules",
    [
        [{"method": "PUT", "path": "/issue/", "status": 429, "retry_after": 2, "times": 3}],
        [
            {"method": "PUT", "path": "/issue/", "status": 503, "retry_after": 1, "times": 2},
            {"latency_ms": 15},
        ],
        [{"method": "PUT", "path": "/issue/", "status": 503, "times": 2}],
    ],
    ids=["429-storm", "503-retry-after-latency", "503-no-retry-after"],
)
def test_refusals_are_retried_exactly_once(kit, flavor, waits, rules) -> None:
    """429/503 refusals are waited out; each issue still gets exactly one comment."""
    with kit.open_site(kit.sitegen.make_site(15, flavor=flavor)) as (sb, atl):
        sb.add_faults(rules)
        result = kit.run_cycle(sb, atl, kit.journal())
        assert [o.status for o in result.outcomes] == ["applied"] * 3
        assert len(waits) == rules[0]["times"]
        if "retry_after" in rules[0]:
            assert all(rules[0]["retry_after"] <= w <= 1.1 * rules[0]["retry_after"] for w in waits)
        assert_exactly_once(sb)


def test_writers_in_flight_write_each_issue_exactly_once(
    kit, flavor, waits, pacer_waits
) -> None:
    """Four writers in flight through a 429 storm: every issue gets one comment, outcomes
    come in plan order, the journal has every write, and the 429 held every writer for its
    Retry-After (the pacer's waits), not only the refused one."""
    with kit.open_site(kit.sitegen.make_site(60, flavor=flavor)) as (sb, atl):
        sb.add_faults([
            {"method": "PUT", "path": "/issue/", "status": 429, "retry_after": 2, "times": 2},
            {"latency_ms": 10},
        ])  # fmt: skip
        journal = kit.journal()
        result = kit.run_cycle(sb, atl, journal, concurrency=4)
        planned = [w.issue for w in result.plan.writes]
        assert len(planned) > 4
        assert [o.issue for o in result.outcomes] == planned
        assert {o.status for o in result.outcomes} == {"applied"}
        assert_exactly_once(sb)
        applied = {w.issue for w in journal.writes if w.status == "applied"}
        assert applied == set(planned)
        assert len(waits) == 2  # the refused requests' own retries
        assert max(pacer_waits) >= 1.9  # others were held for the Retry-After too


@pytest.mark.parametrize(
    ("drop", "resent"), [("after", False), ("before", True)], ids=["drop-after", "drop-before"]
)
def test_dropped_connection_rereads_before_resending(kit, flavor, drop, resent) -> None:
    """A lost answer triggers one property re-read; resend only when the write did not land."""
    with kit.open_site(kit.sitegen.make_site(10, flavor=flavor)) as (sb, atl):
        sb.add_faults([{"drop": drop, "method": "PUT", "path": "/issue/", "times": 1}])
        result = kit.run_cycle(sb, atl, kit.journal())
        assert [o.status for o in result.outcomes] == ["applied", "applied"]
        detail = result.outcomes[0].detail
        assert ("resent once" in detail) if resent else ("re-read confirmed" in detail)
        rereads = [r for r in result.requests if "/properties/" in r["path"]]
        assert len(rereads) == 1
        assert len(writes(result.requests)) == (3 if resent else 2)
        assert_exactly_once(sb)


@pytest.mark.parametrize("lag_s", [0, 600])
def test_crash_between_issues_then_rerun(kit, flavor, lag_s) -> None:
    """An exception between issues, then a rerun (stale search or not): nothing twice."""
    site = kit.sitegen.make_site(20, flavor=flavor, search_lag_s=lag_s)
    with kit.open_site(site) as (sb, atl):
        journal = kit.journal()
        calls: list[int] = []

        def crash_after_two() -> bool:
            calls.append(1)
            if len(calls) == 3:
                raise RuntimeError("worker killed")
            return False

        with pytest.raises(RuntimeError):
            kit.run_cycle(sb, atl, journal, stopping=crash_after_two)
        sb.advance("5m")
        rerun = kit.run_cycle(sb, atl, journal)
        assert len(rerun.outcomes) == 2
        assert_exactly_once(sb)
        third = kit.run_cycle(sb, atl, journal)
        assert writes(third.requests) == []


def test_stale_search_without_journal_would_duplicate(kit, flavor) -> None:
    """Control: with lagging search and no journal, the second cycle comments twice.

    This proves the sandbox's lag bites, so the exactly-once tests above can fail.
    """
    site = kit.sitegen.make_site(5, flavor=flavor, search_lag_s=600)
    with kit.open_site(site) as (sb, atl):
        kit.run_cycle(sb, atl, kit.journal())
        kit.run_cycle(sb, atl, kit.journal())
        assert len(bot_comments(sb, sow_keys(sb)[0])) == 2


def test_stale_search_with_journal_is_exactly_once(kit, flavor) -> None:
    """With lagging search, the journal overlay and reconcileIssues prevent a second comment."""
    site = kit.sitegen.make_site(10, flavor=flavor, search_lag_s=600)
    with kit.open_site(site) as (sb, atl):
        journal = kit.journal()
        kit.run_cycle(sb, atl, journal)
        sb.advance("1m")
        second = kit.run_cycle(sb, atl, journal)
        assert second.outcomes == []
        if flavor == "cloud":
            search = next(r for r in second.requests if r["path"].endswith("/search/jql"))
            assert search["method"] == "POST"
        assert_exactly_once(sb)


def test_failures_are_isolated_per_issue(kit, flavor) -> None:
    """403, 404 and 409 on three issues are recorded; the others are applied."""
    with kit.open_site(kit.sitegen.make_site(30, flavor=flavor)) as (sb, atl):
        keys = sow_keys(sb)
        sb.add_faults(
            [
                {"method": "PUT", "path": f"/issue/{keys[0]}$", "status": 403},
                {"method": "PUT", "path": f"/issue/{keys[1]}$", "status": 404},
                {"method": "PUT", "path": f"/issue/{keys[2]}$", "status": 409},
                {"method": "PUT", "path": f"/issue/{keys[3]}$", "status": 500},
            ]
        )
        result = kit.run_cycle(sb, atl, kit.journal())
        by_key = {o.issue: o for o in result.outcomes}
        assert (by_key[keys[0]].status, by_key[keys[0]].retryable) == ("failed", False)
        assert by_key[keys[0]].http_status == 403
        assert by_key[keys[1]].detail == "issue not found (deleted or hidden)"
        assert (by_key[keys[2]].http_status, by_key[keys[2]].retryable) == (409, True)
        assert (by_key[keys[3]].http_status, by_key[keys[3]].retryable) == (500, True)
        assert [by_key[k].status for k in keys[4:]] == ["applied"] * 2
        put_403 = [r for r in result.requests if r["path"].endswith(f"/issue/{keys[0]}")]
        assert len(put_403) == 1  # 403 is not retried
        # the 500 was looked at once (it may have landed), not resent
        assert len([r for r in result.requests if f"{keys[3]}/properties/" in r["path"]]) == 1
        assert [len(bot_comments(sb, k)) for k in keys] == [0, 0, 0, 0, 1, 1]


def test_assignee_not_on_edit_screen_falls_back_to_assign_endpoint(kit, flavor) -> None:
    """The edit without assignee lands atomically; the assign endpoint does the reassignment."""
    site = kit.sitegen.make_site(5, flavor=flavor, assignee_on_edit_screen=False)
    with kit.open_site(site) as (sb, atl):
        result = kit.run_cycle(sb, atl, kit.journal())
        [outcome] = result.outcomes
        assert outcome.status == "fallback"
        assert "assigned" in outcome.detail
        assert "through the assign endpoint" in outcome.detail
        issue = next(i for i in sb.site()["issues"] if i["key"] == outcome.issue)
        assert issue["assignee"] == "sam"
        assert len(bot_comments(sb, outcome.issue)) == 1
        # The assignment goes first so that the state stored with the comment is true.
        assert [r["path"].rsplit("/", 1)[-1] for r in writes(result.requests)] == [
            outcome.issue,
            "assignee",
            outcome.issue,
        ]


def test_unassignable_user_uses_the_ladder_fallback(kit, flavor) -> None:
    """Jira refuses an inactive user: the rest lands, then the fallback person is assigned."""
    with kit.open_site(kit.sitegen.make_site(1, flavor=flavor)) as (sb, atl):
        now = atl.jira.server_now()
        [snap] = [s for s in atl.jira.search(kit.spec) if isinstance(s, IssueSnapshot)]
        users = {u["name"]: u for u in sb.site()["users"]}

        def person(name: str) -> Person:
            ident = users[name]["account_id"] if flavor == "cloud" else name
            return Person(ident, users[name]["display_name"])

        state = BotState(
            {
                "pre-sales": PolicyState(
                    first_flagged_at=now,
                    steps=(StepRecord(0, now, ("comment", "reassign")),),
                    reassigned_to=person("olga").id,
                )
            }
        )
        plan = Plan(
            now=now,
            decisions=(),
            writes=(
                IssueWrite(
                    snap.key,
                    snap.id,
                    (
                        CommentAction(
                            Document((Paragraph((Text("handing over"),)),)), template="t"
                        ),
                        ReassignAction(
                            to=person("olga"), target="sales_owner", fallback=person("dana")
                        ),
                    ),
                    state,
                    ("pre-sales",),
                    snap.updated,
                ),
            ),
        )
        [outcome] = execute(plan, atl, kit.journal(), dry_run=False)
        assert outcome.status == "fallback"
        assert "assigned fallback" in outcome.detail
        issue = next(i for i in sb.site()["issues"] if i["key"] == snap.key)
        assert issue["assignee"] == "dana"
        assert len(bot_comments(sb, snap.key)) == 1
        stored = issue["properties"]["handoff-guard"]["policies"]["pre-sales"]
        assert stored["reassigned_to"] == person("dana").id, "state names who really got it"


def test_write_timeout_is_never_resent_blindly(kit, flavor) -> None:
    """A PUT that times out but lands later is not resent; the next cycle writes nothing."""
    with kit.open_site(kit.sitegen.make_site(10, flavor=flavor)) as (sb, atl0):
        atl0.close()
        atl = connect(dataclasses.replace(kit.connection_for(sb), timeout_s=1))
        first_key = sow_keys(sb)[0]
        sb.add_faults(
            [{"method": "PUT", "path": f"/issue/{first_key}$", "latency_ms": 1400, "times": 1}]
        )
        journal = kit.journal()
        result = kit.run_cycle(sb, atl, journal)
        outcome = next(o for o in result.outcomes if o.issue == first_key)
        if outcome.status == "failed":  # the usual case: the re-read came before the landing
            assert outcome.retryable
            assert "may still land" in outcome.detail
        else:  # a slow machine: the re-read already saw it
            assert "re-read confirmed" in outcome.detail
        puts = [
            r for r in result.requests if r["method"] == "PUT" and r["path"].endswith(first_key)
        ]
        assert len(puts) == 1
        # Wait (bounded) for the slow request to finish on the server before the next cycle.
        finished = threading.Event()
        for _ in range(60):
            log = [r for r in sb.requests() if r["method"] == "PUT"]
            if log and all(r["status"] is not None for r in log):
                finished.set()
                break
            finished.wait(0.05)
        assert finished.is_set()
        second = kit.run_cycle(sb, atl, journal)
        assert writes(second.requests) == []
        assert_exactly_once(sb)
        atl.close()


def test_notify_users_is_a_query_parameter(kit, flavor) -> None:
    """notifyUsers=false travels in the query string (the library's body bug avoided)."""
    with kit.open_site(kit.sitegen.make_site(5, flavor=flavor)) as (sb, atl):
        now = atl.jira.server_now()
        [snap] = [
            s
            for s in atl.jira.search(kit.spec)
            if isinstance(s, IssueSnapshot) and "sow" in s.labels
        ]
        state = BotState(
            {"pre-sales": PolicyState(first_flagged_at=now, steps=(StepRecord(0, now, ()),))}
        )
        plan = Plan(
            now=now,
            decisions=(),
            writes=(IssueWrite(snap.key, snap.id, (), state, ("pre-sales",), snap.updated),),
        )
        sb.clear_requests()
        [outcome] = execute(plan, atl, kit.journal(), dry_run=False, notify_users=False)
        assert outcome.status == "applied"
        [put] = [r for r in sb.requests() if r["method"] == "PUT"]
        assert "notifyUsers=false" in put["query"]


def test_reconcile_alone_prevents_stale_duplicates_on_cloud(kit) -> None:
    """With only 'unknown' journal records (no overlay), reconcileIssues keeps search fresh."""
    site = kit.sitegen.make_site(10, flavor="cloud", search_lag_s=600)
    with kit.open_site(site) as (sb, atl):
        journal = kit.journal()
        kit.run_cycle(sb, atl, journal)
        journal.writes = [dataclasses.replace(w, status="unknown") for w in journal.writes]
        second = kit.run_cycle(sb, atl, journal)
        assert second.outcomes == []
        assert_exactly_once(sb)
