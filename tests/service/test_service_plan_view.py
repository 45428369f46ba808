"""``plan``'s view: only the rows that matter by default, filters, a count of the rest."""

from __future__ import annotations

import json

import pytest

from tests.service.conftest import Cli
from worker.cli.render import NOTEWORTHY, select_decisions
from worker.model.plan import Decision

P1 = "sales-deliverable-before-signature"
P2 = "engaged-before-signature"
P3 = "sales-directing-pm"


def _d(issue: str, policy: str, verdict: str) -> Decision:
    return Decision(issue=issue, policy=policy, mode="enforce", verdict=verdict,  # type: ignore[arg-type]
                    reason="why")


ROWS = (
    _d("A-1", P1, "act"),
    _d("A-1", P2, "no-match"),
    _d("A-2", P1, "waiting"),
    _d("A-3", P1, "exempt"),
    _d("A-4", P2, "handled"),
    _d("A-5", P2, "deferred"),
    _d("A-6", P3, "skip"),
    _d("A-7", P3, "breaker"),
)


@pytest.mark.parametrize(
    ("verdicts", "policies", "limit", "shown", "hidden", "beyond"),
    [
        (NOTEWORTHY, (), None, ["A-1", "A-3", "A-5", "A-6", "A-7"],
         {"no-match": 1, "waiting": 1, "handled": 1}, 0),
        ({"waiting", "handled"}, (), None, ["A-2", "A-4"],
         {"act": 1, "no-match": 1, "exempt": 1, "deferred": 1, "skip": 1, "breaker": 1}, 0),
        (NOTEWORTHY, (P1,), None, ["A-1", "A-3"],
         {"no-match": 1, "waiting": 1, "handled": 1, "deferred": 1, "skip": 1, "breaker": 1}, 0),
        (NOTEWORTHY, (), 2, ["A-1", "A-3"], {"no-match": 1, "waiting": 1, "handled": 1}, 3),
        ({"no-match"}, (P2,), 5, ["A-1"],
         {"act": 1, "waiting": 1, "exempt": 1, "handled": 1, "deferred": 1, "skip": 1,
          "breaker": 1}, 0),
    ],
)
def test_select_decisions(
    verdicts: set[str], policies: tuple[str, ...], limit: int | None, shown: list[str],
    hidden: dict[str, int], beyond: int,
) -> None:
    """Rows pass by verdict and policy; the rest are counted per verdict; --limit caps rows."""
    rows = select_decisions(ROWS, verdicts=verdicts, policies=policies, limit=limit)
    assert [d.issue for d in rows.shown] == shown
    assert {k: v for k, v in rows.hidden.items() if v} == hidden
    assert rows.beyond_limit == beyond
    assert len(rows.shown) + sum(rows.hidden.values()) + rows.beyond_limit == len(ROWS)


def test_hidden_line_counts_unlisted_rows() -> None:
    """No-match rows the planner never built still appear in the one-line count."""
    rows = select_decisions(ROWS, unlisted={"no-match": 40})
    assert rows.hidden_line() == "not shown: waiting 1, handled 1, no-match 41"


def test_plan_table_shows_only_what_matters(cli: Cli) -> None:
    """By default no no-match row is printed, and one line counts them."""
    code, out, _ = cli("plan")
    assert code == 0
    assert out.splitlines()[0].startswith("Reading ")
    rows = [line for line in out.splitlines() if "│" in line]
    assert rows
    assert not any("no-match" in line for line in rows)
    assert "not shown: " in out
    _, full, _ = cli("plan", "--format", "json")
    decisions = json.loads(full)["decisions"]
    no_match = sum(1 for d in decisions if d["verdict"] == "no-match")
    assert f"no-match {no_match}" in out
    acts = [d["issue"] for d in decisions if d["verdict"] == "act"]
    assert all(key in out for key in acts)


def test_plan_filters_by_verdict_policy_and_limit(cli: Cli) -> None:
    """--verdict, --policy and --limit narrow JSON rows and say what they left out."""
    code, out, _ = cli("plan", "--format", "json", "--verdict", "exempt,skip", "--policy", P1)
    assert code == 0
    data = json.loads(out)
    assert data["decisions"]
    assert {d["verdict"] for d in data["decisions"]} <= {"exempt", "skip"}
    assert {d["policy"] for d in data["decisions"]} == {P1}
    assert data["summary"]["not_shown"]["no-match"] > 0
    code, out, _ = cli("plan", "--format", "json", "--verdict", "act", "--limit", "2")
    data = json.loads(out)
    assert len(data["decisions"]) == 2
    assert data["summary"]["beyond_limit"] > 0
    code, out, _ = cli("plan", "--verdict", "no-match", "--limit", "3")
    assert code == 0
    assert "no-match" in out
    assert "more beyond --limit" in out


@pytest.mark.parametrize("argv", [("--verdict", "maybe"), ("--policy", "no-such-policy")])
def test_plan_rejects_unknown_filters(cli: Cli, argv: tuple[str, ...]) -> None:
    """An unknown verdict or policy id is a usage error (exit 1) naming the choices."""
    code, _, err = cli("plan", *argv)
    assert code == 1
    assert "maybe" in err or "no-such-policy" in err
