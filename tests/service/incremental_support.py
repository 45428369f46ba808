"""Helpers for the incremental-read tests: a policy file with short ladders, workers with
their own stores, and site-file edits that play the people who change tickets."""

from __future__ import annotations

import copy
import socket
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from worker.cycle.report import CycleReport
from worker.cycle.runner import CycleRunner
from worker.model.plan import CommentAction, IssueWrite
from worker.sandbox import Sandbox
from worker.sandbox.site import FIRST_ID
from worker.settings.env import Settings
from worker.settings.secret import Secret
from worker.state.store import INSTALLATION_KEY, Store

ROOT = Path(__file__).resolve().parents[2]
POLICIES = ROOT / "config" / "policies.yaml"

#: a policy whose verdict changes with time alone (idle_for), on top of the shipped ones
IDLE_POLICY: dict[str, Any] = {
    "id": "idle-before-signature",
    "description": "A PM's ticket for an unsigned customer has been idle for six hours.",
    "mode": "enforce",
    "continue": True,
    "conditions": [
        {"assignee_in": "pm"},
        {"not": {"status_category_in": ["done"]}},
        {"contract": "unsigned"},
        {"idle_for": "6h"},
    ],
    "exempt": [{"labels_any": ["handoff-exception"]}],
    "actions": [{"label": {"add": ["idle-pre-signature"]}}],
}

CHASING = "Any update? I need an update by EOD."
NEUTRAL = "Notes from the workshop are attached to the project page."
DELIVERABLE_WORDS = ("Draft SOW for phase 2", "Contract redlines", "Kickoff workshop notes")
STATUSES = ("To Do", "In Progress", "Done")
LABELS = ("sow", "handoff-exception", "reporting")
#: mostly below the journal window (24 h), so that incremental cycles carry time forward;
#: "3d" forces the full read that follows a long gap
CLOCK_MOVES = ("20m", "3h", "3h", "11h", "23h", "3d")
#: the ladder's later steps: short, so that steps come due between cycles
LADDER_STEP = "5h"
#: the incremental worker's full sweep: long, so that rechecks (not sweeps) carry the ladder
FULL_SWEEP_S = 30 * 24 * 3600
CONTRACT_STATES = ("Signed", "In negotiation", "Draft")


def policy_file(tmp: Path, *, unlimited: bool = False) -> Path:
    """The shipped policies, every one enforcing, safety limits lifted, plus IDLE_POLICY.

    Lifted as large numbers, a budget and a breaker still count the whole cycle, so the
    writes wait for the plan; ``unlimited`` lifts them by name, and each ticket's write then
    starts as soon as it is planned (see ``writes_wait_for_read``).
    """
    data: dict[str, Any] = yaml.safe_load(POLICIES.read_text(encoding="utf-8"))
    data["templates"] = str((POLICIES.parent / data.get("templates", "templates")).resolve())
    data["safety"] = {
        "max_actions_per_cycle": 1_000_000,
        "breaker": {"max_matches": 1_000_000, "max_percent": 100, "min_scope": 1_000_000},
    }
    if unlimited:
        data["safety"] = {"max_actions_per_cycle": "unlimited",
                          "breaker": {"max_matches": "unlimited", "max_percent": 100}}
    for policy in data["policies"]:
        policy["mode"] = "enforce"  # the dry-run Sales-chasing policy writes too: comments_by
        for step in policy["actions"]:
            if "after" in step:
                step["after"] = LADDER_STEP  # due within a few steps, not days
        policy.pop("breaker", None)
        policy.pop("max_actions_per_cycle", None)
    data["policies"].append(IDLE_POLICY)
    path = tmp / ("policies-unlimited.yaml" if unlimited else "policies.yaml")
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _now(site: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(str(site["site"]["now"]).replace("Z", "+00:00"))


def write_fingerprint(write: IssueWrite, site_url: str = "") -> tuple[object, ...]:
    """Everything a write sends: issue, actions (comment words included), our new state.

    The site's own URL (links to deal pages) is folded, since the two copies of a site are
    served on two ports.
    """
    def fold(text: str) -> str:
        return text.replace(site_url, "<site>") if site_url else text

    actions = tuple(
        (a.kind, fold(a.document.plain_text())) if isinstance(a, CommentAction) else fold(repr(a))
        for a in write.actions
    )
    return (write.issue, actions, write.state.to_json())


class Worker:
    """One worker with its own store, pointed at a fresh sandbox each step."""

    def __init__(
        self,
        tmp: Path,
        name: str,
        policies: Path,
        *,
        incremental: bool,
        full_sweep_s: int = FULL_SWEEP_S,
    ) -> None:
        self.state = str(tmp / f"{name}.db")
        self.store = Store.open(self.state)
        self.policies = policies
        self.incremental = incremental
        self.full_sweep_s = full_sweep_s
        #: the installation's name (None: derived from the site, which differs per copy)
        self.installation: str | None = None

    def cycle(self, sandbox: Sandbox, *, expect_ok: bool = True) -> CycleReport:
        """One enforcing cycle against ``sandbox``."""
        settings = Settings(
            jira_url=sandbox.url,
            jira_username=sandbox.bot_email,
            jira_api_token=Secret(sandbox.bot_token),
            jira_flavor="cloud",
            config_path=self.policies,
            state=self.state,
            incremental=self.incremental,
            full_sweep_s=self.full_sweep_s,
            installation=self.installation,
        )
        runner = CycleRunner(settings, self.store)
        try:
            report = runner.run(dry_run=False, stopping=threading.Event())
        finally:
            if runner.connected is not None:
                runner.connected.close()
        if expect_ok:
            assert report.status == "ok", report.error
        return report


def one_installation(a: Worker, b: Worker) -> None:
    """Two workers play the same bot on copies of one site, each copy carrying the other's
    writes forward: one installation whose store was copied, written by two processes
    without a leader lease, so each one's writes are its own to the other."""
    a.installation = b.installation = "twin"
    b.store.set_meta(INSTALLATION_KEY, a.store.installation_id)
    b.store.close()
    b.store = Store.open(b.state)


class Pair:
    """An incremental worker and a full-read worker on two copies of one site document."""

    def __init__(self, tmp: Path, site: dict[str, Any], **incremental: Any) -> None:
        self.site = site
        # One file for both (tests edit it); its limits are lifted by name, so both write
        # while they read (the equivalence test pits that against writes after the plan).
        self.policies = policy_file(tmp, unlimited=True)
        self.ports = (free_port(), free_port())
        self.incremental = Worker(tmp, "incremental", self.policies, incremental=True,
                                  **incremental)
        self.full = Worker(tmp, "full", self.policies, incremental=False)
        one_installation(self.incremental, self.full)
        self.requests: list[dict[str, Any]] = []

    def cycle(self, *, faults: list[dict[str, Any]] | None = None
              ) -> tuple[CycleReport, CycleReport]:
        """Both cycles; they must plan the same writes. The site then holds what they wrote.
        ``faults`` apply to the incremental worker's site only."""
        with Sandbox.start(copy.deepcopy(self.site), port=self.ports[0]) as a, Sandbox.start(
            copy.deepcopy(self.site), port=self.ports[1]
        ) as b:
            if faults:
                a.add_faults(faults)
            inc = self.incremental.cycle(a)
            self.requests = a.requests()
            full = self.full.cycle(b)
            assert inc.plan is not None
            assert full.plan is not None
            assert [write_fingerprint(w, a.url) for w in inc.plan.writes] == [
                write_fingerprint(w, b.url) for w in full.plan.writes
            ]
            self.site = a.site()
        return inc, full

    def close(self) -> None:
        """Close both stores."""
        self.incremental.store.close()
        self.full.store.close()




def pin_ids(site: dict[str, Any]) -> None:
    """Write every issue's id into the site document, so that removing one issue from the
    list does not renumber the ones after it (ids default to their position)."""
    for n, issue in enumerate(site["issues"]):
        issue.setdefault("id", str(FIRST_ID + n + 1))


def move_issue(site: dict[str, Any], issue: dict[str, Any], project: str) -> str:
    """Move ``issue`` to ``project`` as Jira does: a new key, the old one remembered (the
    caller decides whether ``updated`` moves). Returns the new key."""
    pin_ids(site)
    numbers = [int(i["key"].rsplit("-", 1)[1]) for i in site["issues"]
               if i["key"].startswith(project + "-")]
    for i in site["issues"]:
        numbers += [int(k.rsplit("-", 1)[1]) for k in i.get("moved_from", [])
                    if k.startswith(project + "-")]
    new = f"{project}-{max(numbers, default=0) + 1}"
    issue["moved_from"] = [*issue.get("moved_from", []), issue["key"]]
    issue["key"] = new
    return new


def edit_page(site: dict[str, Any], page: dict[str, Any]) -> None:
    """What Confluence does on any edit of a page: a new version, modified now (a label added
    or removed is not an edit: it moves neither)."""
    page["version"] = int(page.get("version", 1)) + 1
    page["updated"] = _iso(_now(site))


def now_of(site: dict[str, Any]) -> datetime:
    """The site clock of a site document."""
    return _now(site)


def iso(at: datetime) -> str:
    """A site-file timestamp."""
    return _iso(at)


def advance(site: dict[str, Any], delta: timedelta) -> None:
    """Move a site document's clock."""
    site["site"]["now"] = _iso(_now(site) + delta)


def free_port() -> int:
    """A free loopback port (sandboxes restarted on it keep their URLs)."""
    return _free_port()
