"""``plan --against NEW.yaml`` over HTTP, both flavors: eleven edits, each with the difference an
admin should expect, on the demo site after one enforcing cycle (comments posted, step 2 of
the Sales-deliverable ladder waiting two business days)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cli_support import DEMO_SITE, POLICIES, Cli, in_process_cli, private_config, site_env
from tests.snapshot.conftest import with_flavor
from worker.sandbox import Sandbox

ROOT = POLICIES.parents[1]
TEMPLATES = POLICIES.parent / "templates"
#: the Sales-deliverable tickets the first cycle commented on; their step 2 waits
WAITING = ["ACME-1", "ACME-2", "ACME-3", "HOOLI-1", "INITECH-1", "INITECH-2", "SALES-3",
           "SALES-5", "UMB-4"]

@pytest.fixture(scope="module", params=["cloud", "datacenter"])
def after_cycle(request: pytest.FixtureRequest, demo_data: dict[str, Any],
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """The demo site after one enforcing cycle (a real ``run --once`` in a subprocess)."""
    assert DEMO_SITE.exists()
    with Sandbox.start(with_flavor(demo_data, str(request.param))) as sb:
        tmp = tmp_path_factory.mktemp(f"cycle-{request.param}")
        done = subprocess.run(
            [str(ROOT / ".venv" / "bin" / "python"), "-m", "worker", "run", "--once"],
            cwd=ROOT, env=site_env(sb, config=POLICIES, state=tmp / "state.db"),
            capture_output=True,
            text=True, timeout=120, check=False,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        yield sb


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    """The shipped policy file and its templates, in a folder the test may edit."""
    return private_config(tmp_path)


@pytest.fixture
def cli(after_cycle: Sandbox, config_dir: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Iterator[Cli]:
    """``main(argv)`` in-process against the site after the cycle (read-only from here)."""
    env = site_env(after_cycle, config=config_dir / "policies.yaml", state=tmp_path / "state.db")
    yield from in_process_cli(env, monkeypatch, capsys)


def _edit(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


MEI = {"cloud": "712020:mei", "datacenter": "mei"}

NEW_POLICY = """
  - id: escalation-on-pm
    description: An escalation sits with a project manager.
    mode: dry-run
    conditions:
      - assignee_in: pm
      - not: {status_category_in: [done]}
      - issue_type_in: [Escalation]
    actions:
      - comment: sales-directing-pm
"""


def _remove_policy(text: str, policy_id: str) -> str:
    start = text.index(f"  - id: {policy_id}")
    # up to the comment that introduces the next policy, or the end of the file
    nxt = text.find("\n  - id: ", start + 1)
    nxt = text.rfind("\n  #", start, nxt) if nxt != -1 else len(text)
    return text[:start] + text[nxt + 1:]


#: edit name -> (how to edit the shipped file, {issue: change} expected)
EDITS: dict[str, tuple[Callable[[str, str], str], dict[str, str]]] = {
    "grace period 2 -> 4 business days": (
        lambda t, f: _edit(t, "after: 2 business days", "after: 4 business days"),
        dict.fromkeys(WAITING, "different-date"),
    ),
    "grace period 2 -> 1 business day: the announced dates are kept": (
        lambda t, f: _edit(t, "after: 2 business days", "after: 1 business day"),
        {},  # no ticket changes: the bot waits for the dates its comments announced
    ),
    "step 2 also labels needs-sales": (
        lambda t, f: _edit(t, "label: {add: [sales-owned]}",
                           "label: {add: [sales-owned, needs-sales]}"),
        dict.fromkeys(WAITING, "different-action"),
    ),
    "new exemption: Mei is out of the Sales-deliverable policy": (
        lambda t, f: _edit(
            _edit(t, "  sales:\n    groups: [sales]\n",
                  f'  sales:\n    groups: [sales]\n  on-leave:\n    users: ["{MEI[f]}"]\n'),
            "    actions:\n      - comment: sales-deliverable",
            "    exempt:\n      - assignee_in: on-leave\n"
            "    actions:\n      - comment: sales-deliverable"),
        {"INITECH-1": "moved", "INITECH-2": "moved"},
    ),
    "mode switch: sales-directing-pm dry-run -> enforce": (
        lambda t, f: _edit(t, "mode: dry-run                              # reported",
                           "mode: enforce                              # reported"),
        {"ACME-6": "different-action"},
    ),
    "a new policy": (
        lambda t, f: t.rstrip("\n") + "\n" + NEW_POLICY,
        {"GLOBEX-9": "newly-acted"},
    ),
    "a removed policy: engaged-before-signature": (
        lambda t, f: _remove_policy(t, "engaged-before-signature"),
        {"ACME-4": "no-longer-acted", "INITECH-4": "no-longer-acted",
         "UMB-1": "no-longer-acted", "UMB-3": "no-longer-acted",
         "ACME-6": "different-action"},
    ),
    "changed keyword list: 'proposal' out of the summary keywords": (
        lambda t, f: _edit(t, "keywords: [sow, statement of work, contract, msa, redline, "
                              "redlines, proposal,",
                           "keywords: [sow, statement of work, contract, msa, redline, "
                           "redlines,"),
        {"UMB-4": "moved"},
    ),
    "signed values: In negotiation counts as signed": (
        lambda t, f: _edit(t, "signed_values: [Signed]", "signed_values: [Signed, In negotiation]"),
        dict.fromkeys(["ACME-1", "ACME-2", "ACME-3", "ACME-4", "ACME-6"], "no-longer-acted"),
    ),
    "policy switched off: sales-directing-pm": (
        lambda t, f: _edit(t, "mode: dry-run                              # reported",
                           "mode: off                                  # reported"),
        {"ACME-6": "different-action"},
    ),
    "a comment-only edit changes nothing": (
        lambda t, f: t + "\n# reviewed by the services leadership team\n",
        {},
    ),
}


#: edit name -> the tickets whose announced date the edit would bring forward (kept anyway)
PROMISES = {"grace period 2 -> 1 business day: the announced dates are kept": WAITING}


@pytest.mark.parametrize("edit", list(EDITS))
def test_plan_against_names_what_each_edit_changes(
    edit: str, cli: Cli, config_dir: Path, after_cycle: Sandbox,
) -> None:
    """Each edit gives exactly the expected per-ticket difference, exit 4 (0 when none)."""
    how, expected = EDITS[edit]
    new = config_dir / "new.yaml"
    new.write_text(how((config_dir / "policies.yaml").read_text(encoding="utf-8"),
                       after_cycle.flavor), encoding="utf-8")
    promises = PROMISES.get(edit, [])
    code, out, err = cli("plan", "--against", str(new), "--format", "json")
    assert code == (4 if expected or promises else 0), err
    got = json.loads(out)
    assert {c["issue"]: c["change"] for c in got["changes"]} == expected
    assert got["differs"] is bool(expected or promises)
    assert [p["issue"] for p in got["promises"]] == promises
    assert got["summary"]["promises"] == len(got["promises"])
    assert got["tickets_read"] >= 24
    code, text, _ = cli("plan", "--against", str(new))
    assert code == (4 if expected or promises else 0)
    for issue, change in expected.items():
        assert f"{issue}  {change}:" in text
    for issue in promises:
        assert f"{issue}  promise kept:" in text
    if not expected and not promises:
        assert "no difference" in text


def test_grace_period_dates_move_by_two_business_days(cli: Cli, config_dir: Path) -> None:
    """The different date is the new ladder date: two more business days."""
    new = config_dir / "new.yaml"
    new.write_text(EDITS["grace period 2 -> 4 business days"][0](
        (config_dir / "policies.yaml").read_text(encoding="utf-8"), "cloud"), encoding="utf-8")
    _, out, _ = cli("plan", "--against", str(new), "--format", "json", "--issue", "ACME-1")
    (change,) = json.loads(out)["changes"]
    before, after = change["before"][0], change["after"][0]
    assert before["policy"] == after["policy"] == "sales-deliverable-before-signature"
    # the demo clock is Monday 2 November: 2 business days is Wednesday, 4 is Friday
    assert before["due"].startswith("2026-11-04")
    assert after["due"].startswith("2026-11-06")


def test_an_invalid_new_file_is_exit_1_with_file_line_col(cli: Cli, config_dir: Path) -> None:
    """NEW.yaml that does not load: its problems as file:line:col, exit 1, nothing read."""
    new = config_dir / "new.yaml"
    new.write_text((config_dir / "policies.yaml").read_text(encoding="utf-8").replace(
        "mode: dry-run", "mode: sometimes"), encoding="utf-8")
    code, _, err = cli("plan", "--against", str(new))
    assert code == 1
    assert f"{new}:" in err
