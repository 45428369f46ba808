"""`revert`: the command line over HTTP against the demo sandbox (Cloud), recorded in the store."""

from __future__ import annotations

import json

from tests.service.conftest import Cli
from worker.sandbox import Sandbox


def _run_once(cli: Cli) -> dict[str, object]:
    code, out, _ = cli("run", "--once")
    assert code == 0
    summary: dict[str, object] = json.loads(out.strip().splitlines()[-1])
    return summary


def _issue(sandbox: Sandbox, key: str) -> dict[str, object]:
    return next(i for i in sandbox.site()["issues"] if i["key"] == key)


def test_revert_a_run(cli: Cli, demo_sandbox: Sandbox) -> None:
    """revert --run undoes every reassignment of a run (dry run first) and takes back its
    comments, says so in a comment, is recorded for history, is not undone by the next cycle,
    and happens exactly once."""
    _run_once(cli)
    demo_sandbox.advance("2d")
    ladder = _run_once(cli)
    run_id = str(ladder["run_id"])
    code, out, _ = cli("history", "--format", "json")
    changed = [r for r in json.loads(out)["rows"] if r["run_id"] == run_id and r["changes"]]
    reassigned = sorted(o["issue"] for o in changed if "reassign" in o["actions"])
    assert reassigned
    key = reassigned[0]
    before = _issue(demo_sandbox, key)
    assert "sales-owned" in before["labels"]  # type: ignore[operator]

    demo_sandbox.clear_requests()
    code, out, err = cli("revert", "--run", run_id, "--dry-run", "--reason", "Lee Okafor")
    assert code == 0, err
    assert f"{key}: would revert: assignee " in out
    assert [r for r in demo_sandbox.requests() if r["method"] == "PUT"] == []

    code, out, err = cli("revert", "--run", run_id, "--reason", "Lee Okafor")
    assert code == 0, err
    assert f"{key}: reverted: assignee " in out
    # the run's note to the new owner is taken back too (rewritten into a retraction)
    assert "label sales-owned removed; 1 comment withdrawn (" in out
    after = _issue(demo_sandbox, key)
    assert "sales-owned" not in after["labels"]  # type: ignore[operator]
    assert after["assignee"] != before["assignee"]
    puts = [r for r in demo_sandbox.requests()
            if r["method"] == "PUT" and "/comment/" not in r["path"]]
    assert len(puts) == len({o["issue"] for o in changed if o.get("changes")})
    comment_edits = [r for r in demo_sandbox.requests()
                     if r["method"] == "PUT" and "/comment/" in r["path"]]
    assert len(comment_edits) == len(puts)  # one note to the new owner per reassignment

    code, out, _ = cli("history", "--format", "json", "--issue", key)
    rows = [r for r in json.loads(out)["rows"] if r["run_id"].startswith("revert-")]
    tried, undo = rows  # the dry run, then the revert
    assert (tried["dry_run"], tried["outcome"], undo["dry_run"]) == (True, "dry-run", False)
    assert undo["outcome"] == "applied"
    assert undo["reason"].startswith("revert at the request of Lee Okafor: assignee ")
    assert undo["changes"]["reverted"] == {"sales-deliverable-before-signature": "Lee Okafor"}

    demo_sandbox.advance("3d")
    demo_sandbox.clear_requests()
    _run_once(cli)
    assert not [r for r in demo_sandbox.requests()
                if r["method"] == "PUT" and r["path"].endswith(f"/{key}")]
    assert _issue(demo_sandbox, key)["assignee"] == after["assignee"]

    # by key: the first cycle's comment is still up, so it is taken back; then nothing is left
    code, out, _ = cli("revert", key, "--reason", "Lee Okafor")
    assert code == 0
    assert out.startswith(f"{key}: reverted: 1 comment withdrawn (")
    code, out, _ = cli("revert", key, "--reason", "Lee Okafor")
    assert code == 0
    assert out.startswith(f"{key}: nothing to undo: sales-deliverable-before-signature was "
                          "reverted on")


def test_revert_refuses_bad_input(cli: Cli) -> None:
    """An unknown run, no target, or a missing reason exits 1 with a clear line."""
    code, _, err = cli("revert", "--run", "no-such-run", "--reason", "Lee")
    assert code == 1
    assert "no run 'no-such-run' in the state store" in err
    code, _, err = cli("revert", "--reason", "Lee")
    assert code == 1
    assert "give ticket keys or --run RUN_ID" in err
    code, _, err = cli("revert", "ACME-1")
    assert code == 1
    code, _out, err = cli("revert", "NOPE-999", "--reason", "Lee")
    assert code == 1
    assert "NOPE-999: not found" in err
