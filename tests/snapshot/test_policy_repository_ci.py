"""The policy-repository check that the CI samples run (examples/policy-repository), for real:
a git repository with the policy folder and a committed anonymized snapshot, a branch with an
edit, and ``check-policies.sh`` against the base branch."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.snapshot.conftest import POLICIES
from worker.atlassian.clients import Atlassian
from worker.policy import Policies
from worker.sandbox import Sandbox
from worker.snapshot import dump_site, policy_words, take_snapshot

ROOT = POLICIES.parents[1]
EXAMPLE = ROOT / "examples" / "policy-repository"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                   env={**os.environ, "GIT_AUTHOR_NAME": "t",
                        "GIT_AUTHOR_EMAIL": "t@example.invalid", "GIT_COMMITTER_NAME": "t",
                        "GIT_COMMITTER_EMAIL": "t@example.invalid"})


@pytest.fixture(scope="module")
def cloud_demo(demo_data: dict[str, Any]) -> Iterator[Sandbox]:
    """The demo site on Cloud (the script is the same for both flavors; the snapshot and
    plan --against are tested in both elsewhere)."""
    with Sandbox.start(demo_data) as sb:
        yield sb


@pytest.fixture
def repo(cloud_demo: Sandbox, policies: Policies,
         open_atlassian: Callable[[Sandbox], Atlassian], tmp_path: Path) -> Path:
    """A policy repository: config/ as shipped, an anonymized snapshot, the CI script."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    source = cloud_demo
    repo = tmp_path / "policies"
    (repo / "snapshot").mkdir(parents=True)
    shutil.copytree(POLICIES.parent / "templates", repo / "config" / "templates")
    shutil.copy(POLICIES, repo / "config" / "policies.yaml")
    shutil.copy(EXAMPLE / "check-policies.sh", repo / "check-policies.sh")
    snap = take_snapshot(open_atlassian(source), policies, anonymize=True,
                         protected=policy_words(POLICIES.read_text(encoding="utf-8")))
    dump_site(snap, repo / "snapshot" / "site.yaml")
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "policies as they run today")
    _git(repo, "checkout", "-qb", "edit")
    return repo


def _check(repo: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("JIRA_", "CONFLUENCE_", "HANDOFF_GUARD"))}
    env.update(PORT=str(_free_port()), HANDOFF_GUARD=f"{sys.executable} -m worker",
               HANDOFF_GUARD_LOG_FORMAT="json")
    return subprocess.run(["bash", "check-policies.sh", "main"], cwd=repo, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def test_an_edit_shows_its_difference_and_exits_4(repo: Path) -> None:
    """A branch that counts "In negotiation" as signed: exit 4, the Acme tickets listed."""
    policy = repo / "config" / "policies.yaml"
    policy.write_text(policy.read_text().replace("signed_values: [Signed]",
                                                 "signed_values: [Signed, In negotiation]"))
    _git(repo, "commit", "-qam", "In negotiation counts as signed")
    done = _check(repo)
    assert done.returncode == 4, done.stderr[-2000:]
    text = (repo / "plan-diff.txt").read_text()
    assert "5 no-longer-acted" in text
    assert "ACME-1  no-longer-acted" in text
    assert '"differs": true' in (repo / "plan-diff.json").read_text()


def test_no_edit_is_exit_0(repo: Path) -> None:
    """The same policies on both branches: exit 0, "no difference"."""
    done = _check(repo)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "no difference" in (repo / "plan-diff.txt").read_text()


def test_an_invalid_edit_fails_validation(repo: Path) -> None:
    """An invalid policy file stops the check at validate (exit 1)."""
    policy = repo / "config" / "policies.yaml"
    policy.write_text(policy.read_text().replace("mode: dry-run", "mode: sometimes"))
    done = _check(repo)
    assert done.returncode == 1
    assert "policies.yaml:" in done.stderr
