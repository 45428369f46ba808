"""Who wrote a ticket's state, tried as an attacker and as an operator would (issue 20 item 4,
issue 23 item 1): real cycles against the sandbox, with real stores on disk.

* A PM with edit rights writes the bot's issue property (a decoy installation dated 2099, or
  a forged "every step done" state): that ticket is a visible skip; nothing stops elsewhere.
* Two installations on one site: a live one stops the other, trusted or not (trust is for a
  retired installation).
* One installation whose store is lost, made anew at each restart (``docker run --rm``
  without a volume), restored from an old backup, run twice at once, or copied while the
  original runs: its own past is history, a live second writer is another actor, and no
  comment is posted twice.
"""

from __future__ import annotations

import shutil
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from tests.exactly_once.conftest import ACTED, Bench, example_site
from tests.humans import Human, with_logins
from worker.cycle.runner import CycleRunner
from worker.model.plan import Plan
from worker.state.installation import Actors
from worker.state.signature import Signer, key_from_secret
from worker.telemetry.metrics import Metrics

POLICY = "sales-deliverable-before-signature"
#: what a PM wrote on a ticket in the attack of issue 20
DECOY = {"v": 1, "by": {"installation": "decoy", "at": "2099-01-01T00:00:00+00:00"},
         "policies": {}}


def _site(flavor: str, **settings: Any) -> dict[str, Any]:
    site = dict(with_logins(example_site(flavor)))
    site["site"].update(settings)
    return site


def _write_property(b: Bench, key: str, value: dict[str, Any] | None) -> None:
    """A PM (edit rights on the ticket, nothing more) writes or deletes the bot's property."""
    priya = Human.named(b.sandbox, "priya")
    path = f"rest/api/latest/issue/{key}/properties/handoff-guard"
    if value is None:
        priya.jira.delete(path)
    else:
        priya.jira.put(path, data=value)


def _new_ticket(b: Bench) -> str:
    """Sales files a new deliverable on a PM before signature (like ACME-2): due at once."""
    dana = Human.named(b.sandbox, "dana")
    fields = {"customfield_10050": "Acme Corp"}
    return dana.create("ACME", "Send Acme the revised MSA", issue_type="Task",
                       assignee=Human.named(b.sandbox, "marco").ident,
                       labels=("redline", "msa"), fields=fields)


def _duplicates(b: Bench) -> dict[str, int]:
    """Bot comments posted more than once, per ticket (the same words twice)."""
    found: dict[str, int] = {}
    for issue in b.sandbox.site()["issues"]:
        bodies = [str(c["body"]) for c in issue.get("comments") or ()
                  if c["author"] in (b.sandbox.bot_account_id, b.sandbox.bot_name)]
        if len(bodies) != len(set(bodies)):
            found[issue["key"]] = len(bodies) - len(set(bodies))
    return found


def _copy_store(source: str, target: str) -> None:
    """Copy a SQLite store as a file copy of a running host would (its write-ahead log with
    it: the pages not yet checkpointed are in there)."""
    for suffix in ("", "-wal"):
        if Path(source + suffix).exists():
            shutil.copyfile(source + suffix, target + suffix)


def _exit(runner: CycleRunner) -> None:
    """The process ends cleanly: it gives the lease up and closes its store."""
    if runner.lease is not None:
        runner.lease.release()
    runner.store.close()


def _decision(plan: Plan | None, key: str) -> tuple[str, str | None]:
    assert plan is not None
    found = next(d for d in plan.decisions if d.issue == key and d.policy == POLICY)
    return found.verdict, found.reason


# --------------------------------------------------------------------------- ticket data


def test_a_forged_property_stops_nothing_site_wide(bench: Any, flavor: str) -> None:
    """A PM writes ``by: decoy, at: 2099`` on one acted ticket. Today every later cycle
    stops site-wide (exit 6), even after she deletes it. Now: that ticket is a skip with the
    reason, a warning and a metric; the others get their next step; deleting the property
    clears it."""
    b = bench(_site(flavor))
    metrics = Metrics()
    runner = b.runner(lease_s=60)
    runner.metrics = metrics
    b.cycle(runner)
    assert b.comment_counts() == dict.fromkeys(ACTED, 1)

    _write_property(b, "ACME-1", DECOY)
    b.sandbox.advance("3d")  # the next step (reassign to Sales, a note) is due
    b.sandbox.clear_requests()
    report = b.cycle(runner)
    assert report.another_actor is None
    assert report.exit_code == 0
    assert report.state_unverified == ("ACME-1",)
    verdict, reason = _decision(report.plan, "ACME-1")
    assert verdict == "skip"
    assert reason is not None
    assert "cannot be trusted" in reason
    assert "signature" in reason
    assert "handoff_guard_state_unverified 1.0" in metrics.render().decode()
    assert sorted(b.puts()) == ["ACME-2", "SALES-3"]
    assert b.comment_counts() == {"ACME-1": 1, "ACME-2": 2, "SALES-3": 2}

    _write_property(b, "ACME-1", None)
    b.sandbox.advance("31d")
    report = b.cycle(runner)
    assert report.another_actor is None
    assert report.state_unverified == ()
    assert _duplicates(b) == {}


def test_a_forged_state_is_a_visible_skip(bench: Any, flavor: str) -> None:
    """Before the bot acts, a PM writes a state saying every step is done on ACME-1: today
    the ticket is silently handled (opted out). Now it is a skip naming why, and the admin's
    warning and the report list it; the other tickets are acted on."""
    b = bench(_site(flavor))
    forged = {"v": 1, "policies": {POLICY: {
        "first_flagged_at": "2026-10-01T09:00:00+00:00",
        "steps": [{"step": i, "at": "2026-10-01T09:00:00+00:00", "actions": ["comment"]}
                  for i in range(5)]}}}
    _write_property(b, "ACME-1", forged)
    runner = b.runner(lease_s=60)
    report = b.cycle(runner)
    verdict, reason = _decision(report.plan, "ACME-1")
    assert verdict == "skip", reason
    assert reason is not None
    assert "cannot be trusted" in reason
    assert report.state_unverified == ("ACME-1",)
    assert report.another_actor is None
    assert b.comment_counts() == {"ACME-1": 0, "ACME-2": 1, "SALES-3": 1}


# --------------------------------------------------------------------------- installations


def test_another_installation_stops_this_one_without_trust(bench: Any, flavor: str) -> None:
    """prod acts; staging (its own name and store) finds prod's writes an hour later: it
    writes nothing, and its message says to stop one of them, never to trust a live one."""
    b = bench(_site(flavor))
    b.cycle(b.runner(state=str(b.tmp / "prod.db"), installation="prod", lease_s=60))
    b.sandbox.advance("1h")
    b.sandbox.clear_requests()
    staging = b.runner(state=str(b.tmp / "staging.db"), installation="staging", lease_s=60)
    report = staging.run()
    assert report.exit_code == 6
    assert report.another_actor is not None
    assert "another installation (prod)" in report.another_actor
    assert "stop one of them" in report.another_actor
    assert "TRUSTED_INSTALLATIONS=" not in report.another_actor
    assert b.puts() == []


def test_a_trusted_installation_that_still_writes_stops_the_other(bench: Any,
                                                                    flavor: str) -> None:
    """prod and staging trust each other (what today's message suggested): staging, started
    after prod's writes, goes on; a new ticket comes in and staging comments on it; prod then
    sees a write made since its store began by an installation it trusts as retired: it
    stops (today: both act). Nothing is posted twice."""
    b = bench(_site(flavor))
    prod = b.runner(state=str(b.tmp / "prod.db"), installation="prod",
                    trusted=frozenset({"staging"}), lease_s=60)
    b.cycle(prod)
    b.sandbox.advance("1h")
    staging = b.runner(state=str(b.tmp / "staging.db"), installation="staging",
                       trusted=frozenset({"prod"}), lease_s=60)
    assert b.cycle(staging).another_actor is None
    key = _new_ticket(b)
    b.sandbox.advance("1h")
    b.cycle(staging)
    assert len(b.bot_comments(key)) == 1

    b.sandbox.advance("1h")
    b.sandbox.clear_requests()
    report = prod.run()
    assert report.exit_code == 6
    assert report.another_actor is not None
    assert "a trusted installation that still writes" in report.another_actor
    assert b.puts() == []
    assert _duplicates(b) == {}


# --------------------------------------------------------------------------- one installation


def test_docker_run_rm_three_restarts_never_stall(bench: Any, flavor: str) -> None:
    """The README's ``docker run --rm`` without a volume, restarted three times an hour
    apart: each restart opens a new SQLite store. Today the second start stops at once
    (another_actor, exit 6) and nothing is written for a day. Now each goes on, reading a
    ticket's state before writing it, with one warning that the store is new; the new
    ticket of each hour gets its comment and nothing is posted twice."""
    b = bench(_site(flavor))
    reports, tickets = [], []
    for restart in range(3):
        if restart:
            b.sandbox.advance("1h")
            tickets.append(_new_ticket(b))
            b.sandbox.advance("1m")
        runner = b.runner(state=str(b.tmp / f"container-{restart}.db"), lease_s=60)
        reports.append(runner.run())
        _exit(runner)
    assert [r.exit_code for r in reports] == [0, 0, 0]
    assert [r.another_actor for r in reports] == [None, None, None]
    assert b.comment_counts() == dict.fromkeys(ACTED, 1)
    assert [len(b.bot_comments(k)) for k in tickets] == [1, 1]
    assert _duplicates(b) == {}


def test_a_week_old_backup_restored_goes_on_without_duplicates(bench: Any,
                                                                flavor: str) -> None:
    """A store backed up, written for a week more, then lost minutes after its last write
    and restored from the backup, while search still lags behind that write: the restored
    store's journal misses the week, so it reads each ticket's state before writing (today
    it trusts the lagging search and posts the comment again); the original's writes were
    made before the restored copy began: history, not another actor. It goes on."""
    b = bench(_site(flavor, search_lag_s=3600))
    live = str(b.tmp / "live.db")
    backup = str(b.tmp / "backup.db")

    def original_cycle() -> None:  # a fresh process each time, as a timer would start it
        runner = b.runner(state=live, lease_s=60)
        b.cycle(runner)
        _exit(runner)

    original_cycle()
    shutil.copyfile(live, backup)
    b.sandbox.advance("56h")  # the next step (reassign, a note to the new owner)
    original_cycle()
    b.sandbox.advance("5d")
    key = _new_ticket(b)
    b.sandbox.advance("61m")  # search shows it now
    original_cycle()
    assert b.comment_counts() == dict.fromkeys(ACTED, 2)
    assert len(b.bot_comments(key)) == 1

    b.sandbox.advance("10m")  # the store is lost; last week's backup is restored
    restored_path = str(b.tmp / "restored.db")
    shutil.copyfile(backup, restored_path)
    report = b.cycle(b.runner(state=restored_path, lease_s=60))
    assert report.exit_code == 0
    assert report.another_actor is None
    assert len(b.bot_comments(key)) == 1
    assert _duplicates(b) == {}


def test_two_live_stores_at_once_one_stops(bench: Any, flavor: str) -> None:
    """Two containers of one installation, each with its own new store, both running. The
    second starts after the first wrote: that is history, so it goes on (today: exit 6 at
    once). It writes a new ticket's step; the first then sees a write by another store of
    its own installation made since it began: it stops. Nothing is posted twice."""
    b = bench(_site(flavor))
    first = b.runner(state=str(b.tmp / "one.db"), lease_s=60)
    b.cycle(first)
    b.sandbox.advance("1h")
    second = b.runner(state=str(b.tmp / "two.db"), lease_s=60)
    assert b.cycle(second).another_actor is None
    key = _new_ticket(b)
    b.sandbox.advance("1h")
    b.cycle(second)
    assert len(b.bot_comments(key)) == 1

    b.sandbox.advance("1h")
    b.sandbox.clear_requests()
    report = first.run()
    assert report.exit_code == 6
    assert report.another_actor is not None
    assert "another store" in report.another_actor
    assert b.puts() == []
    assert _duplicates(b) == {}


def test_two_live_copies_of_one_store_one_stops(bench: Any, flavor: str) -> None:
    """A store copied while its process runs (a host migrated by copying the file). The
    copy's process takes the copied lease once it expires, with the next fencing number;
    both run. The copy comments on a new ticket under a grant the original never made, after
    the original's own grant: the original stops (today both go on, sharing one id); the copy
    goes on. Nothing is posted twice."""
    b = bench(_site(flavor))
    live = str(b.tmp / "host-a.db")
    original = b.runner(state=live, lease_s=1)
    b.cycle(original)
    _copy_store(live, str(b.tmp / "host-b.db"))
    copy = b.runner(state=str(b.tmp / "host-b.db"), lease_s=1)
    _wait_for_expiry(copy)
    b.sandbox.advance("1h")
    key = _new_ticket(b)
    b.sandbox.advance("1m")
    b.cycle(copy)
    assert len(b.bot_comments(key)) == 1

    b.sandbox.advance("1h")
    b.sandbox.clear_requests()
    report = original.run()
    assert report.exit_code == 6
    assert report.another_actor is not None
    assert "a copy of this store" in report.another_actor
    assert b.puts() == []

    b.sandbox.advance("1h")
    assert b.cycle(copy).another_actor is None
    assert _duplicates(b) == {}


def _wait_for_expiry(runner: CycleRunner) -> None:
    """Until the copied lease row (the original's hold) has expired in the copy."""
    assert runner.lease is not None
    deadline = time.monotonic() + 10
    while not runner.lease.acquire():
        assert time.monotonic() < deadline, "the copied lease never expired"
        time.sleep(0.2)


def test_the_grant_is_recorded_before_any_write(bench: Any) -> None:
    """The grant a cycle writes under is in the store once the cycle ran, so a copy of the
    store made at any moment knows every grant its past writes name."""
    b = bench(_site("cloud"))
    runner = b.runner(lease_s=60)
    report = b.cycle(runner)
    assert runner.lease is not None
    assert report.site_now is not None
    actors = Actors.load(runner.store, name="x", signer=Signer.of([key_from_secret("k")]),
                         trusted=frozenset(), window=timedelta(hours=24), now=report.site_now)
    assert actors.me.granted(runner.lease.holder, runner.lease.fencing)
