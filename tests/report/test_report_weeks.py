"""The report over eight weeks of clock-driven cycles on a generated site: every number adds
up to what the store holds, and each scripted ticket ends in the fate the report gives it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from tests.humans import Human, with_logins
from tests.report.history_factories import shipped_policies
from worker.cycle.runner import CycleRunner
from worker.model.vocabulary import MATCHED_VERDICTS
from worker.report import Report, load_report
from worker.report.render import as_json, markdown
from worker.sandbox import Sandbox
from worker.sandbox.generate import deliverable_keys, generate_site
from worker.settings.env import Settings
from worker.settings.secret import Secret
from worker.state.store import Store
from worker.state.tables import decisions, outcomes

P1 = "sales-deliverable-before-signature"
WEEKS = 8
BERLIN = ZoneInfo("Europe/Berlin")
#: week -> what a person does to that week's deliverable after the bot's first comment
SCRIPT = {1: "move", 2: "opt-out", 3: "take-back", 5: "move", 6: "opt-out"}


@pytest.fixture(scope="module")
def eight_weeks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """56 daily cycles; one deliverable handed to a PM each Monday (the last on the final
    Saturday, so it is still open); people move, opt out or take back some of them."""
    tmp = tmp_path_factory.mktemp("weeks")
    site = generate_site(160, seed=11)
    keys = sorted(deliverable_keys(site))[:WEEKS]
    users = {u["name"]: u for u in site["users"]}
    pms = next(g for g in site["groups"] if g["name"] == "project-managers")["members"]
    sales = next(g for g in site["groups"] if g["name"] == "sales")["members"]
    pm, seller = pms[0], sales[0]
    for issue in site["issues"]:
        if issue["key"] in keys:
            issue["assignee"] = seller  # not a PM's yet: handed over week by week below
    policies = shipped_policies(tmp)
    with_logins(site)
    with Sandbox.start(site) as sandbox:
        settings = Settings(jira_url=sandbox.url, jira_username=sandbox.bot_email,
                            jira_api_token=Secret(sandbox.bot_token), jira_flavor="cloud",
                            config_path=policies,
                            state=str(tmp / "state.db"))
        store = Store.open(settings.state)
        runner = CycleRunner(settings, store)
        the_pm, the_seller = Human.named(sandbox, pm), Human.named(sandbox, seller)

        def assign(key: str, who: Human, to: str) -> None:
            who.assign(key, users[to]["account_id"])

        start = sandbox.now()
        for day in range(WEEKS * 7):
            week, weekday = divmod(day, 7)
            handed_on = 5 if week == WEEKS - 1 else 0  # the last one arrives on Saturday
            key = keys[week]
            if weekday == handed_on:
                assign(key, the_seller, pm)  # Sales hands its deliverable to a PM
            action = SCRIPT.get(week)
            if weekday == 1 and action == "move":
                assign(key, the_pm, seller)  # the PM gives it back after the comment
            elif weekday == 1 and action == "opt-out":
                the_pm.edit(key, update={"labels": [{"add": "handoff-exception"}]})
            elif weekday == 3 and action == "take-back":
                assign(key, the_pm, pm)  # after the bot's reassignment on Wednesday
            report = runner.run()
            assert report.status == "ok", report.summary()
            if day < WEEKS * 7 - 1:
                sandbox.advance("1d")
        until = sandbox.now() + timedelta(seconds=1)
        yield {"store": store, "since": start, "until": until, "keys": keys}
        store.close()


def _report(data: dict[str, Any]) -> Report:
    return load_report(data["store"], since=data["since"], until=data["until"], tz=BERLIN,
                       generated_at=data["until"])


def test_numbers_add_up_to_the_store(eight_weeks: dict[str, Any]) -> None:
    """Flagged, would-have, comments, reassignments and the open backlog equal the store's."""
    store: Store = eight_weeks["store"]
    report = _report(eight_weeks)
    matched = sorted(MATCHED_VERDICTS)
    with store.engine.connect() as conn:
        flagged = conn.execute(
            sa.select(sa.func.count(sa.distinct(decisions.c.issue + "|" + decisions.c.policy)))
            .where(decisions.c.verdict.in_(matched), decisions.c.mode == "enforce")
        ).scalar_one()
        would = conn.execute(
            sa.select(sa.func.count(sa.distinct(decisions.c.issue + "|" + decisions.c.policy)))
            .where(decisions.c.verdict.in_(matched), decisions.c.mode == "dry-run")
        ).scalar_one()
        written = conn.execute(
            sa.select(outcomes.c.actions).where(outcomes.c.status.in_(("applied", "fallback")))
        ).scalars().all()
        last_run = conn.execute(
            sa.select(decisions.c.run_id).order_by(decisions.c.at.desc()).limit(1)
        ).scalar_one()
        still = conn.execute(
            sa.select(sa.func.count()).where(decisions.c.run_id == last_run,
                                             decisions.c.verdict.in_(matched),
                                             decisions.c.mode == "enforce")
        ).scalar_one()
    assert len(report.weeks) == WEEKS
    assert report.flagged == flagged == WEEKS
    assert report.would_have == would
    assert sum(report.fates().values()) == report.flagged
    assert sum(w.comments for w in report.weeks) == sum("comment" in a for a in written)
    assert sum(w.reassignments for w in report.weeks) == sum("reassign" in a for a in written)
    assert report.weeks[-1].backlog == still == report.fates()["open"]
    assert sum(b.flagged for b in report.by_customer) == report.flagged
    assert sum(b.flagged for b in report.by_pm) == report.flagged
    assert sum(b.flagged for b in report.by_account_executive) == report.flagged
    assert report.cycles == WEEKS * 7


def test_fates_follow_the_script(eight_weeks: dict[str, Any]) -> None:
    """Each scripted ticket ends where the script put it; the rest the bot reassigned."""
    report = _report(eight_weeks)
    fate = {s.issue: s.fate for s in report.stories if s.policy == P1}
    keys = eight_weeks["keys"]
    expected = {keys[w]: {"move": "moved", "opt-out": "opted-out",
                          "take-back": "overridden"}.get(SCRIPT.get(w, ""), "reassigned")
                for w in range(WEEKS)}
    expected[keys[-1]] = "open"
    assert fate == expected
    assert [w.flagged_total for w in report.weeks] == [1] * WEEKS
    assert report.to_sales_n == 2  # weeks 0 and 4 (week 3 was taken back: overridden)
    assert report.median_to_sales_h == pytest.approx(48.0)


def test_renders_agree(eight_weeks: dict[str, Any]) -> None:
    """Markdown and JSON carry the same figures."""
    report = _report(eight_weeks)
    data = json.loads(json.dumps(as_json(report)))
    assert data["summary"]["flagged"] == report.flagged
    assert [w["flagged"] for w in data["weeks"]] == [w.flagged_total for w in report.weeks]
    text = markdown(report)
    assert f"Flagged: {report.flagged} ticket(s)" in text
    assert "| Week of |" in text
