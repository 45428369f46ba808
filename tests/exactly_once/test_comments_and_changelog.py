"""Issue 9 item 4 over HTTP: comments and changelog as real Jira returns them (Cloud lists at
most 100 comments in search and a capped changelog, newest first)."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import requests

from tests.exactly_once.conftest import POLICIES, example_site
from tests.humans import Human, with_logins
from worker.cycle.runner import CycleRunner
from worker.state.store import Store

IDLE = """\
version: 1
policies:
  - id: stale
    description: a PM ticket nobody touched for three days
    mode: enforce
    conditions:
      - assignee_in: pm
      - idle_for: 3d
    actions:
      - label: stale
"""


def _comment_reads(b: Any) -> list[str]:
    """The tickets whose comments a cycle read in full (not the read of the newest after a
    write, which records the ids of the comments it posted)."""
    return [r["path"].split("/issue/")[1].split("/")[0] for r in b.sandbox.requests()
            if r["method"] == "GET" and r["path"].endswith("/comment")
            and "orderBy=-created" not in str(r.get("query"))]


def test_a_sales_chase_beyond_the_first_100_comments_is_seen(bench: Any) -> None:
    """Cloud: Sales' "any update?" is the 101st comment. It is read (the rest of that
    ticket's comments, one request), and only for the ticket where a comment condition can
    still change the verdict: a signed customer's ticket with as many comments is not."""
    site = with_logins(example_site("cloud"))
    b = bench(dict(site))
    sam, dana = Human.named(b.sandbox, "sam"), Human.named(b.sandbox, "dana")
    key = sam.create("ACME", "Kickoff logistics", assignee="712020:priya")
    for n in range(100):
        dana.comment(key, f"noted ({n})")
        dana.comment("GLOBEX-7", f"noted ({n})")
    sam.comment(key, "Priya, any update? I need this by EOD.")
    dana.comment("GLOBEX-7", "Marco, any update?")
    b.sandbox.clear_requests()
    report = b.cycle(b.runner())
    assert report.counts["sales-directing-pm"].get("act") == 1
    assert _comment_reads(b) == [key]


def _policy_dir(tmp: Path, text: str) -> Path:
    folder = tmp / "config"
    folder.mkdir(exist_ok=True)
    shutil.copytree(POLICIES.parent / "templates", folder / "templates", dirs_exist_ok=True)
    (folder / "policies.yaml").write_text(text, encoding="utf-8")
    return folder / "policies.yaml"


def test_idle_for_counts_human_comments_even_beyond_the_first_100(bench: Any,
                                                                  flavor: str) -> None:
    """A human comment made yesterday makes the ticket not idle, also when it is the 101st
    comment (Cloud's search shows only the first 100): no ``stale`` label."""
    b = bench(with_logins(example_site(flavor)))
    marco = Human.named(b.sandbox, "marco")
    for n in range(100):
        marco.comment("GLOBEX-7", f"working on it ({n})")
    b.sandbox.advance("10d")
    marco.comment("GLOBEX-7", "still on it, workshop moved")
    marco.comment("ACME-2", "redlines in progress")
    b.sandbox.advance("1d")
    runner_settings = replace(b.settings(), config_path=_policy_dir(b.tmp, IDLE))
    runner = CycleRunner(runner_settings, Store.open(runner_settings.state))
    b.cycle(runner)
    labels = {i["key"]: i.get("labels", []) for i in b.sandbox.site()["issues"]}
    assert "stale" not in labels["GLOBEX-7"]
    assert "stale" not in labels["ACME-2"]
    assert "stale" in labels["ACME-1"]  # nobody commented there: idle


def test_idle_for_reads_the_changelog_when_the_bots_entries_fill_the_cap(bench: Any) -> None:
    """Cloud's search lists the 40 newest changelog entries; when they are all the bot's,
    the human edit before them is read from ``/issue/{key}/changelog``: not idle."""
    b = bench(with_logins(example_site("cloud")))
    marco = Human.named(b.sandbox, "marco")
    b.sandbox.advance("10d")
    marco.edit("GLOBEX-7", fields={"summary": "Plan kickoff workshop (moved)"})
    bot = requests.Session()
    bot.auth = (b.sandbox.bot_email, b.sandbox.bot_token)
    for n in range(41):
        r = bot.put(f"{b.sandbox.url}/rest/api/2/issue/GLOBEX-7", timeout=10,
                    json={"update": {"labels": [{"add": f"tick-{n}"}]}})
        assert r.status_code == 204
    b.sandbox.advance("1d")
    runner_settings = replace(b.settings(), config_path=_policy_dir(b.tmp, IDLE))
    b.sandbox.clear_requests()
    b.cycle(CycleRunner(runner_settings, Store.open(runner_settings.state)))
    labels = {i["key"]: i.get("labels", []) for i in b.sandbox.site()["issues"]}
    assert "stale" not in labels["GLOBEX-7"]
    reads = [r["path"] for r in b.sandbox.requests() if r["path"].endswith("/changelog")]
    assert reads == ["/rest/api/3/issue/GLOBEX-7/changelog"]
