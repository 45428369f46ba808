"""The report as a Services leader reads it, over real cycles on the demo sandbox with
clock-driven weeks: it starts at the first cycle, counts cycles (not revert runs), groups
deliverables and heads-up comments, lists the tickets with links, keeps people who left apart,
uses one time zone, and shows the second sign (Sales chasing or approving PMs) with quotes."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.humans import Human, with_logins
from tests.service.conftest import Cli
from tests.service.service_support import DEMO_SITE
from worker.sandbox import Sandbox

REPORT = """
report:
  space: SALES
  title: Handoff Guard weekly report
  schedule: "0 8 * * mon"
  weeks: 12
"""


@pytest.fixture
def demo_sandbox() -> Iterator[Sandbox]:
    """The demo site, everyone able to log in (Sam comments as himself)."""
    site = with_logins(yaml.safe_load(DEMO_SITE.read_text(encoding="utf-8")))
    with Sandbox.start(site) as sandbox:
        yield sandbox


@pytest.fixture
def weeks(cli: Cli, demo_sandbox: Sandbox) -> Cli:
    """Two weeks of the bot: cycles on Monday 2 and Wednesday 4 November, a revert (dry run
    first), Sam chasing (on 30 October) and approving PMs' work, and cycles on Monday 9 and
    Tuesday 10."""
    sam = Human.named(demo_sandbox, "sam")
    assert cli("run", "--once")[0] == 0
    demo_sandbox.advance("2d")
    sam.comment("ACME-6", "Great job Marco, approved - send the questionnaire back today.")
    code, out, _ = cli("run", "--once")
    assert code == 0
    run_id = json.loads(out.strip().splitlines()[-1])["run_id"]
    assert cli("revert", "--run", run_id, "--dry-run", "--reason", "Lee")[0] == 0
    assert cli("revert", "ACME-3", "--reason", "Lee")[0] == 0
    demo_sandbox.advance("5d")
    sam.comment("ACME-4", "Nice work on the plan. Can you send it to Acme by EOD?")
    assert cli("run", "--once")[0] == 0
    demo_sandbox.advance("1d")
    assert cli("run", "--once")[0] == 0
    return cli


def _json(cli: Cli, *extra: str) -> dict[str, Any]:
    code, out, err = cli("report", "--format", "json", *extra)
    assert code == 0, err
    return dict(json.loads(out))


def test_the_report_starts_at_the_first_cycle(weeks: Cli) -> None:
    """Asked for 12 weeks, it shows the two the bot ran, says since when, finds no trend yet,
    and counts the four cycles, not the revert runs."""
    data = _json(weeks, "--since", "12w")
    assert [w["week_of"] for w in data["weeks"]] == ["2026-11-02", "2026-11-09"]
    assert data["since_first_cycle"].startswith("2026-11-02T09:00")
    assert data["summary"]["cycles"] == 4
    assert "not enough history yet (2 week(s)" in data["summary"]["trend"]
    _, md, _ = weeks("report")
    assert "- Since 02 Nov 2026, when Handoff Guard's first cycle ran" in md
    assert "in 4 cycle(s)" in md


def test_groups_tickets_people_and_time_zone(weeks: Cli, demo_sandbox: Sandbox) -> None:
    """Deliverables and heads-up comments apart; the ticket list links to Jira; Tom Becker,
    who left, is not charged; one time zone from the title to the footer."""
    data = _json(weeks)
    groups = {t["issue"]: t["group"] for t in data["tickets"] if t["mode"] == "enforce"}
    assert groups["ACME-1"] == "hand back"
    assert groups["ACME-4"] == "heads-up"
    acme1 = next(t for t in data["tickets"] if t["issue"] == "ACME-1")
    assert acme1["url"] == f"{demo_sandbox.url}/browse/ACME-1"
    assert acme1["summary"] == "Finalize SOW for Acme phase 2"
    assert "Tom Becker" not in [b["name"] for b in data["by_account_executive"]]
    assert [b["name"] for b in data["left"]] == ["Tom Becker"]
    _, md, _ = weeks("report")
    assert "Deliverables, what happened next:" in md
    assert "Heads-up comments: 5 posted" in md
    assert f"[ACME-1]({demo_sandbox.url}/browse/ACME-1)" in md
    assert "| A Sales deliverable (SOW, contract, proposal, quote...) is assigned" in md
    assert "People who have left (their account is deactivated), shown apart and not " \
           "charged: Tom Becker" in md
    assert "(Europe/Berlin, site time)" in md
    assert "UTC" not in md
    assert "sales-deliverable-before-signature" not in md  # plain names, not ids


def test_the_second_sign(weeks: Cli, demo_sandbox: Sandbox) -> None:
    """The dry-run policy's matches, per week and per Sales person, approvals told apart,
    with quoted comments linking to the comment."""
    sign = _json(weeks)["second_sign"]
    assert sign is not None
    by_week = {w["week_of"]: (w["chasing"], w["approving"]) for w in sign["weeks"]}
    # week 1: the chase of 30 October (seen at the first cycle) and "Great job ... approved"
    assert by_week == {"2026-11-02": (1, 1), "2026-11-09": (0, 1)}
    assert [(p["name"], p["chasing"], p["approving"]) for p in sign["people"]] == [
        ("Sam Ortiz", 1, 2)]
    assert sign["total"] == 3
    # one quote per ticket, the newest approval and the newest chase first
    quotes = {q["issue"]: q for q in sign["quotes"]}
    assert "Nice work on the plan" in quotes["ACME-4"]["excerpt"]
    assert quotes["ACME-6"]["excerpt"] == "What's the status of the questionnaire? Chase them " \
                                          "again today."
    assert re.fullmatch(rf"{re.escape(demo_sandbox.url)}/browse/ACME-6\?focusedCommentId=\d+",
                        quotes["ACME-6"]["url"])
    assert len(sign["quotes"]) == 2
    _, md, _ = weeks("report")
    assert "## Second sign, in their words" in md


def test_html_reads_well_in_a_mail_client(weeks: Cli, tmp_path: Path) -> None:
    """Inline styles only, nothing external (the chart embedded), every name escaped."""
    out = tmp_path / "report.html"
    code, _, err = weeks("report", "--format", "html", "--out", str(out))
    assert code == 0, err
    page = out.read_text(encoding="utf-8")
    assert "<style" not in page
    assert "<link" not in page
    assert "<script" not in page
    sources = re.findall(r'src="([^"]+)"', page)
    assert sources
    assert all(src.startswith("data:image/png;base64,") for src in sources)
    assert 'style="border-collapse:collapse;' in page
    assert "Tickets flagged in the period" in page
    assert "(Europe/Berlin, site time)" in page


def test_the_confluence_page_uses_its_macros(weeks: Cli, config_dir: Path,
                                             demo_sandbox: Sandbox) -> None:
    """The published page: Confluence tables and a status lozenge per ticket."""
    policies = config_dir / "policies.yaml"
    policies.write_text(policies.read_text(encoding="utf-8") + REPORT, encoding="utf-8")
    code, _, err = weeks("report", "--publish")
    assert code == 0, err
    page = next(p for p in demo_sandbox.site()["confluence"]["pages"]
                if p["title"] == "Handoff Guard weekly report")
    body = page["body"]
    assert '<ac:structured-macro ac:name="status"' in body
    assert '<ac:parameter ac:name="title">still open</ac:parameter>' in body
    assert "<th><p>Ticket</p></th>" in body
    assert f'<a href="{demo_sandbox.url}/browse/ACME-1">ACME-1</a>' in body
