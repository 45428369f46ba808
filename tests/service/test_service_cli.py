"""Every CLI command: exit codes, output shapes, and secrets kept out of --help."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
from pathlib import Path

import pytest

from tests.service.conftest import Cli
from tests.service.service_support import DEMO_SITE, PYTHON, ROOT, subprocess_env
from worker.sandbox import Sandbox

VERDICTS = {"act", "waiting", "handled", "deferred", "exempt", "no-match", "skip", "breaker"}
DECISION_KEYS = {"issue", "policy", "mode", "verdict", "actions", "evidence", "reason"}

def test_validate_ok_and_invalid(cli: Cli, config_dir: Path) -> None:
    """validate prints a summary and exits 0; an invalid file prints file:line:col and exits 1."""
    code, out, _ = cli("validate", str(config_dir / "policies.yaml"))
    assert code == 0
    assert "sales-deliverable-before-signature [enforce]" in out
    bad = config_dir / "bad.yaml"
    bad.write_text((config_dir / "policies.yaml").read_text().replace("mode: dry-run",
                                                                       "mode: sometimes"))
    code, _, err = cli("validate", str(bad))
    assert code == 1
    assert f"{bad}:" in err
    assert "policies[2].mode" in err


def test_validate_uses_the_configured_path(cli: Cli) -> None:
    """Without PATH, validate reads --config / HANDOFF_GUARD_CONFIG."""
    assert cli("validate")[0] == 0
    code, _, err = cli("validate", "--config", "/nonexistent.yaml")
    assert code == 1
    assert "/nonexistent.yaml" in err


def test_schema_is_json(cli: Cli) -> None:
    """schema prints one JSON Schema document."""
    code, out, _ = cli("schema")
    assert code == 0
    schema = json.loads(out)
    assert "policies" in json.dumps(schema)


def test_plan_json_is_exactly_one_object_of_the_documented_shape(cli: Cli) -> None:
    """plan --format json: one object, one decision per ticket and policy evaluated."""
    code, out, _ = cli("plan", "--format", "json")
    assert code == 0
    result = json.loads(out)  # the whole of stdout is one JSON document
    assert set(result) == {"decisions", "summary"}
    decisions = result["decisions"]
    assert len(decisions) == result["summary"]["issues_read"] * 3
    for d in decisions:
        assert set(d) == DECISION_KEYS
        assert d["verdict"] in VERDICTS
        assert d["mode"] in {"enforce", "dry-run"}
        for e in d["evidence"]:
            assert set(e) == {"condition", "result", "detail"}
            assert isinstance(e["result"], bool)
        for a in d["actions"]:
            assert "kind" in a
    acme1 = [d for d in decisions if d["issue"] == "ACME-1"]
    assert [d["verdict"] for d in acme1] == ["act", "no-match", "no-match"]
    assert acme1[0]["actions"][0]["kind"] == "comment"
    assert result["summary"]["writes"] == 14


def test_plan_for_named_issues_and_as_a_table(cli: Cli) -> None:
    """plan --issue limits the decisions; the table shows them and names out-of-scope keys."""
    code, out, _ = cli("plan", "--format", "json", "--issue", "UMB-2", "--issue", "GLOBEX-8")
    assert code == 0
    result = json.loads(out)
    assert {d["issue"] for d in result["decisions"]} == {"UMB-2"}
    # UMB-2 carries the opt-out label: every policy leaves it alone, before any condition.
    assert {d["verdict"] for d in result["decisions"]} == {"exempt"}
    assert {d["reason"] for d in result["decisions"]} == {"opted out by label handoff-exception"}
    assert result["summary"]["not_in_scope"] == ["GLOBEX-8"]
    code, out, _ = cli("plan", "--issue", "UMB-2", "--issue", "GLOBEX-8")
    assert code == 0
    assert "UMB-2" in out
    assert "exempt" in out
    assert "GLOBEX-8" in out


def test_explain_a_ticket(cli: Cli) -> None:
    """explain shows decisions, the deal and owner, and the next step; JSON has the same."""
    code, out, _ = cli("explain", "ACME-1")
    assert code == 0
    assert "Sam Ortiz" in out
    assert "sales-deliverable-before-signature" in out
    code, out, _ = cli("explain", "ACME-1", "--format", "json")
    data = json.loads(out)
    assert data["sales_owner"]["name"] == "Sam Ortiz"
    assert data["contract_state"] == "unsigned"
    assert len(data["decisions"]) == 3
    assert data["next_steps"][0]["policy"] == "sales-deliverable-before-signature"


def test_explain_an_out_of_scope_and_an_unknown_ticket(cli: Cli) -> None:
    """A ticket outside every scope is still explained; an unknown key exits 1."""
    code, out, _ = cli("explain", "GLOBEX-8", "--format", "json")
    assert code == 0
    assert {d["verdict"] for d in json.loads(out)["decisions"]} == {"no-match"}
    code, _, err = cli("explain", "NOPE-404")
    assert code == 1
    assert "NOPE-404: not found" in err


def test_history_after_a_cycle(cli: Cli, demo_sandbox: Sandbox, tmp_path: Path) -> None:
    """history --cycles lists recorded cycles with what was written and why, as JSON and as
    tables; plain history lists the decisions."""
    code, out, _ = cli("history", "--cycles", "--format", "json")
    assert (code, json.loads(out)) == (0, {"cycles": []})
    done = subprocess.run(
        [PYTHON, "-m", "worker", "run", "--once"], cwd=ROOT, check=False, timeout=60,
        env=subprocess_env(demo_sandbox, tmp_path / "config", tmp_path),
        capture_output=True, text=True,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads(done.stdout)
    assert summary["actions_applied"] == 14
    code, out, _ = cli("history", "--cycles", "--format", "json", "--limit", "1")
    (cycle,) = json.loads(out)["cycles"]
    assert cycle["run_id"] == summary["run_id"]
    acme1 = next(o for o in cycle["outcomes"] if o["issue"] == "ACME-1")
    assert acme1["actions"] == ["comment"]
    assert "sales-deliverable-before-signature" in acme1["why"]
    code, out, _ = cli("history")
    assert code == 0
    assert "ACME-1" in out
    code, out, _ = cli("history", "--cycles")
    assert summary["run_id"] in out


@pytest.mark.usefixtures("no_sleep")
def test_unreachable_jira_exits_2(cli: Cli) -> None:
    """Connection refused (after retries) is exit code 2 with one clear line."""
    code, _, err = cli("plan", JIRA_URL="http://127.0.0.1:9")
    assert code == 2
    assert "cannot reach Atlassian" in err


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"JIRA_URL": "not-a-url"}, "JIRA_URL must be an http(s) URL"),
        ({"HANDOFF_GUARD_HTTP_PORT": "abc"}, "HANDOFF_GUARD_HTTP_PORT must be a port number"),
        ({"JIRA_API_TOKEN": "", "JIRA_FLAVOR": "cloud"}, "JIRA_API_TOKEN is not set"),
    ],
)
def test_bad_settings_exit_1_with_one_line(cli: Cli, env: dict[str, str], message: str) -> None:
    """A malformed or missing setting stops the command at start with one line on stderr."""
    code, _, err = cli("plan", **env)
    assert code == 1
    assert err.strip().splitlines() == [f"handoff-guard: error: {err.split('error: ', 1)[1]}"
                                        .strip()]
    assert message in err


def test_bad_arguments_exit_1(cli: Cli) -> None:
    """Unknown commands or options are invalid input (exit 1)."""
    assert cli("frobnicate")[0] == 1
    assert cli("history", "--limit", "0")[0] == 1


def test_help_never_shows_secrets(cli: Cli, demo_sandbox: Sandbox) -> None:
    """--help documents the exit codes and never echoes the environment's token."""
    code, out, _ = cli("--help")
    assert code == 0
    assert "exit codes" in out
    assert demo_sandbox.bot_token not in out
    code, out, _ = cli("run", "--help")
    assert code == 0
    assert demo_sandbox.bot_token not in out


def _run_once(sandbox: Sandbox, config_dir: Path, tmp_path: Path, *args: str,
              **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PYTHON, "-m", "worker", "run", "--once", *args], cwd=ROOT, check=False, timeout=60,
        env=subprocess_env(sandbox, config_dir, tmp_path, **env), capture_output=True, text=True,
    )


def test_run_once_exit_codes(demo_sandbox: Sandbox, config_dir: Path, tmp_path: Path) -> None:
    """run --once: 0 ok (dry run writes nothing), 3 failed actions, 2 bad credentials."""
    dry = _run_once(demo_sandbox, config_dir, tmp_path, "--dry-run")
    assert dry.returncode == 0, dry.stderr[-2000:]
    assert json.loads(dry.stdout)["outcomes"] == {"dry-run": 14}

    demo_sandbox.add_faults([{"method": "PUT", "path": "/issue/", "status": 500}])
    failed = _run_once(demo_sandbox, config_dir, tmp_path)
    assert failed.returncode == 3, failed.stderr[-2000:]
    assert json.loads(failed.stdout)["actions_failed"] == 14
    demo_sandbox.clear_faults()

    denied = _run_once(demo_sandbox, config_dir, tmp_path, JIRA_API_TOKEN="wrong-token")
    assert denied.returncode == 2
    assert "wrong-token" not in denied.stdout + denied.stderr


def test_run_with_an_invalid_policy_file_exits_1(
    demo_sandbox: Sandbox, config_dir: Path, tmp_path: Path
) -> None:
    """The service refuses to start on an invalid policy file, naming file:line:col."""
    bad = config_dir / "policies.yaml"
    bad.write_text(bad.read_text().replace("every: 1m", "every: often"))
    done = _run_once(demo_sandbox, config_dir, tmp_path)
    assert done.returncode == 1
    assert f"{bad}:" in done.stderr


def test_run_refuses_a_store_it_did_not_create(
    demo_sandbox: Sandbox, config_dir: Path, tmp_path: Path
) -> None:
    """A foreign unversioned `cycles` table: run --once exits 1 naming it, and writes nothing."""
    state = tmp_path / "var" / "state.db"
    state.parent.mkdir()
    with sqlite3.connect(state) as conn:
        conn.execute("CREATE TABLE cycles (id INTEGER PRIMARY KEY, note TEXT)")
    conn.close()
    done = _run_once(demo_sandbox, config_dir, tmp_path)
    assert done.returncode == 1, done.stderr[-2000:]
    assert "tables Handoff Guard did not create (cycles)" in done.stderr
    assert [r for r in demo_sandbox.requests() if r["method"] != "GET"] == []


def test_sandbox_command_serves_until_terminated(tmp_path: Path) -> None:
    """`sandbox --site FILE --port 0` prints its base URL first and stops on SIGTERM."""
    proc = subprocess.Popen(
        [PYTHON, "-m", "worker", "sandbox", "--site", str(DEMO_SITE), "--port", "0"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        import requests

        site = requests.get(f"{url}/_sandbox/site", timeout=5).json()
        assert len(site["issues"]) == 34
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    missing = subprocess.run(
        [PYTHON, "-m", "worker", "sandbox", "--site", str(tmp_path / "none.yaml")],
        cwd=ROOT, capture_output=True, text=True, timeout=30, check=False,
    )
    assert missing.returncode == 1
