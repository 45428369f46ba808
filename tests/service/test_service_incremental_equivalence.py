"""Incremental cycles plan exactly the writes a full read plans (a stateful property test).

Each step changes the site the way people do: a human edits a ticket (labels, summary,
assignee, status), a Sales person comments, a ticket is created, moved to another project,
deleted or hidden from the bot, a deal page is edited (modified now), loses or regains its
label (not modified) or disappears, someone joins or leaves a group, or the clock moves.
Then two workers run one enforcing cycle each, on two copies of the same site: one reads
incrementally (its store persists across steps) and writes each ticket as soon as it is
planned, while it still reads; the other reads everything every time and writes once its plan
is whole. They must plan the same writes and send the same edits; both apply them, so the two
copies stay the same for the next step.

Sites are edited as site-file documents (``GET /_sandbox/site``) and served again by fresh
sandboxes: the same route a site file takes, so every field the worker reads is the
sandbox's real rendering over HTTP.

``HG_EQUIVALENCE_EXAMPLES`` / ``HG_EQUIVALENCE_STEPS`` raise the number of examples and steps
(CI keeps the defaults; the benchmark note cites a longer run); ``HG_EQUIVALENCE_NO_SHRINK=1``
reports a failing sequence without shrinking it (to check quickly that a broken read path
fails the test).
"""

from __future__ import annotations

import copy
import json
import os
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, Phase, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule  # noqa: E402

from tests.service.incremental_support import (  # noqa: E402
    CHASING,
    CLOCK_MOVES,
    CONTRACT_STATES,
    DELIVERABLE_WORDS,
    LABELS,
    NEUTRAL,
    STATUSES,
    Worker,
    edit_page,
    free_port,
    iso,
    move_issue,
    now_of,
    one_installation,
    pin_ids,
    policy_file,
    write_fingerprint,
)
from worker.atlassian import retry  # noqa: E402
from worker.read.deal_facts import META_DEAL_FACTS  # noqa: E402
from worker.sandbox import Sandbox  # noqa: E402
from worker.sandbox.generate import generate_site  # noqa: E402

EXAMPLES = int(os.environ.get("HG_EQUIVALENCE_EXAMPLES", "4"))
STEPS = int(os.environ.get("HG_EQUIVALENCE_STEPS", "8"))


class IncrementalEquivalence(RuleBasedStateMachine):
    """Random human changes; after each, incremental and full workers plan the same writes."""

    def __init__(self) -> None:
        super().__init__()
        self.tmp: Path = Path()
        self.site: dict[str, Any] = {}
        self.steps = 0

    @initialize(seed=st.integers(min_value=0, max_value=10_000))
    def start(self, seed: int) -> None:
        """A generated site of 40 tickets (both workers' first cycle is a full read)."""
        import tempfile

        TOTALS["examples"] += 1

        self.tmp = Path(tempfile.mkdtemp(prefix="hg-equivalence-"))
        self.site = generate_site(40, seed=seed)
        self.site["site"]["search_lag_s"] = 0
        self.ports = (free_port(), free_port())
        # Limits lifted by name for the incremental worker: it writes each ticket as soon as
        # it is planned, while reading; the full worker's limits are numbers, so its writes
        # wait for the whole plan. Same writes either way.
        self.incremental = Worker(self.tmp, "incremental", policy_file(self.tmp, unlimited=True),
                                  incremental=True)
        self.full = Worker(self.tmp, "full", policy_file(self.tmp), incremental=False)
        one_installation(self.incremental, self.full)

    # ------------------------------------------------------------------ people's changes

    def _issues(self) -> list[dict[str, Any]]:
        return list(self.site["issues"])

    def _members(self, group: str) -> list[str]:
        return next(g["members"] for g in self.site["groups"] if g["name"] == group)

    def _touch(self, issue: dict[str, Any]) -> None:
        issue["updated"] = iso(now_of(self.site))

    @rule(data=st.data(), kind=st.sampled_from(("labels", "summary", "assignee", "status")))
    def human_edit(self, data: st.DataObject, kind: str) -> None:
        """A person edits one ticket."""
        issue = data.draw(st.sampled_from(self._issues()))
        if kind == "labels":
            label = data.draw(st.sampled_from(LABELS))
            labels = list(issue.get("labels") or [])
            issue["labels"] = [x for x in labels if x != label] if label in labels else [
                *labels, label]
        elif kind == "summary":
            issue["summary"] = data.draw(st.sampled_from(DELIVERABLE_WORDS))
        elif kind == "assignee":
            people = self._members("project-managers") + self._members("sales")
            issue["assignee"] = data.draw(st.sampled_from(people))
        else:
            issue["status"] = data.draw(st.sampled_from(STATUSES))
        self._touch(issue)

    @rule(data=st.data(), chasing=st.booleans())
    def sales_comment(self, data: st.DataObject, chasing: bool) -> None:
        """Someone in Sales comments on a ticket (chasing status, or not)."""
        issue = data.draw(st.sampled_from(self._issues()))
        author = data.draw(st.sampled_from(self._members("sales")))
        issue.setdefault("comments", []).append(
            {"author": author, "created": iso(now_of(self.site)), "body": CHASING if chasing
             else NEUTRAL}
        )
        self._touch(issue)

    @rule(data=st.data(), deliverable=st.booleans())
    def new_ticket(self, data: st.DataObject, deliverable: bool) -> None:
        """A ticket is created in a customer's project, assigned to a PM."""
        projects = [p["key"] for p in self.site["projects"] if p["key"] != "SALES"]
        project = data.draw(st.sampled_from(projects))
        numbers = [int(i["key"].split("-")[1]) for i in self._issues()
                   if i["key"].startswith(project + "-")]
        at = iso(now_of(self.site))
        self.site["issues"].append({
            "key": f"{project}-{max(numbers, default=0) + 1}",
            "type": "Statement of Work" if deliverable else "Task",
            "summary": "New SOW draft" if deliverable else "Plan the next workshop",
            "status": "To Do",
            "assignee": data.draw(st.sampled_from(self._members("project-managers"))),
            "reporter": data.draw(st.sampled_from(self._members("sales"))),
            "created": at,
            "updated": at,
        })

    @rule(data=st.data(), kind=st.sampled_from(("status", "executive", "unlabel", "relabel",
                                               "delete", "project")))
    def deal_change(self, data: st.DataObject, kind: str) -> None:
        """A deal page changes: contract status, account executive, label removed or given
        back, page deleted, project. Edits move the page's ``lastmodified``; labels do not."""
        pages = [p for p in self.site["confluence"]["pages"] if "properties" in p]
        if kind == "relabel":
            pages = [p for p in pages if "deal" not in p.get("labels", [])]
        if not pages:
            return
        page = data.draw(st.sampled_from(pages))
        props = page["properties"]
        if kind == "status":
            props["Contract status"] = data.draw(st.sampled_from(CONTRACT_STATES))
        elif kind == "executive":
            props["Account executive"] = "@" + data.draw(st.sampled_from(self._members("sales")))
        elif kind == "unlabel":
            page["labels"] = [x for x in page.get("labels", []) if x != "deal"]
        elif kind == "relabel":
            page["labels"] = [*page.get("labels", []), "deal"]
        elif kind == "delete":
            self.site["confluence"]["pages"].remove(page)
        else:
            projects = [p["key"] for p in self.site["projects"]]
            props["Jira project"] = data.draw(st.sampled_from(projects))
        if kind in ("status", "executive", "project"):
            edit_page(self.site, page)

    @rule(data=st.data(), kind=st.sampled_from(("move", "delete", "hide")))
    def jira_admin(self, data: st.DataObject, kind: str) -> None:
        """An admin moves a ticket to another project (new key, modified now), deletes one,
        or takes it out of the bot's sight: ticket keys the last cycles recorded as due for a
        recheck may then answer under a new key or not at all."""
        issue = data.draw(st.sampled_from(self._issues()))
        if kind == "move":
            own = issue["key"].rsplit("-", 1)[0]
            projects = [p["key"] for p in self.site["projects"] if p["key"] != own]
            move_issue(self.site, issue, data.draw(st.sampled_from(projects)))
            self._touch(issue)
        elif kind == "delete":
            pin_ids(self.site)
            self.site["issues"].remove(issue)
        else:
            issue["hidden"] = True

    @rule(data=st.data(), group=st.sampled_from(("project-managers", "sales")), join=st.booleans())
    def membership(self, data: st.DataObject, group: str, join: bool) -> None:
        """Someone joins or leaves the PM or Sales group."""
        members = self._members(group)
        if join:
            everyone = [u["name"] for u in self.site["users"] if u.get("active", True)]
            candidates = [u for u in everyone if u not in members]
            if candidates:
                members.append(data.draw(st.sampled_from(candidates)))
        elif len(members) > 1:
            members.remove(data.draw(st.sampled_from(members)))

    @rule(move=st.sampled_from(CLOCK_MOVES))
    def clock(self, move: str) -> None:
        """Time passes."""
        units = {"m": "minutes", "h": "hours", "d": "days"}
        delta = timedelta(**{units[move[-1]]: int(move[:-1])})
        self.site["site"]["now"] = iso(now_of(self.site) + delta)

    # ------------------------------------------------------------------ the property

    @invariant()
    def same_writes(self) -> None:
        """After every change, both workers plan the same writes."""
        if self.site:
            self.compare()

    def compare(self) -> None:
        # The same ports every step: deal page URLs (which comments may quote) stay the same,
        # as they do on a real site.
        with Sandbox.start(copy.deepcopy(self.site), port=self.ports[0]) as a, Sandbox.start(
            copy.deepcopy(self.site), port=self.ports[1]
        ) as b:
            inc = self.incremental.cycle(a)
            full = self.full.cycle(b)
            assert inc.plan is not None
            assert full.plan is not None
            mine = [write_fingerprint(w, a.url) for w in inc.plan.writes]
            theirs = [write_fingerprint(w, b.url) for w in full.plan.writes]
            assert mine == theirs, (inc.summary(), full.summary())
            assert inc.site_now == full.site_now
            # The deal pages as read (what each customer's deal is built from): exactly what
            # a full read found, whatever the incremental read skipped.
            assert self._deal_facts(self.incremental, a.url) == self._deal_facts(
                self.full, b.url)
            # Every ticket the incremental worker decided, it decided as the full worker did.
            theirs_by_issue = {(d.issue, d.policy): d.verdict for d in full.plan.decisions}
            for d in inc.plan.decisions:
                assert theirs_by_issue.get((d.issue, d.policy)) == d.verdict, d
            # and what each site received: the same edits, each once
            assert _edits(a) == _edits(b), (inc.summary(), full.summary())
            self.site = a.site()
        self.steps += 1
        TOTALS["incremental cycles" if inc.read_full is False else "full cycles"] += 1

    @staticmethod
    def _deal_facts(worker: Worker, site_url: str) -> object:
        raw = worker.store.get_meta(META_DEAL_FACTS) or "{}"
        return json.loads(raw.replace(site_url, "<site>"))

    def teardown(self) -> None:
        for worker in (getattr(self, "incremental", None), getattr(self, "full", None)):
            if worker is not None:
                worker.store.close()


def _edits(sandbox: Sandbox) -> list[str]:
    """The issue edits a site answered, in issue order."""
    return sorted(f"{r['method']} {r['path']} {r['status']}" for r in sandbox.requests()
                  if r["method"] in ("PUT", "POST") and "/issue/" in r["path"]
                  and not r["path"].endswith("/bulkfetch"))


#: what the run covered, over all examples (printed at the end; see the module docstring)
TOTALS: Counter[str] = Counter()


@pytest.fixture(autouse=True)
def _no_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(retry, "sleep", lambda _s: None)


@pytest.fixture(autouse=True, scope="module")
def _coverage() -> Iterator[None]:
    """The run must have compared incremental cycles, not only full ones."""
    yield
    print(f"\nincremental equivalence: {dict(TOTALS)}")
    if TOTALS["examples"]:
        assert TOTALS["incremental cycles"] > 0, dict(TOTALS)


IncrementalEquivalence.TestCase.settings = settings(
    max_examples=EXAMPLES,
    stateful_step_count=STEPS,
    # HG_EQUIVALENCE_NO_SHRINK=1: report the first failing sequence as found (mutation runs)
    phases=([Phase.explicit, Phase.reuse, Phase.generate]
            if os.environ.get("HG_EQUIVALENCE_NO_SHRINK") else list(Phase)),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
TestIncrementalEquivalence = pytest.mark.timeout(1800)(IncrementalEquivalence.TestCase)
