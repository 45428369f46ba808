"""What runs inside a scenario's own process: Handoff Guard's cycles, the baseline script, and
the planner on its own. Each measures its own wall time and peak RSS; the requests it made are
counted by the parent from the sandbox's request log.

* **guard** runs the worker's real cycle (:class:`~worker.cycle.runner.CycleRunner`, enforcing,
  with a
  fresh SQLite store), exactly what ``python -m worker run --once`` ships.
* **baseline** is the script a user would write with the same client library: one
  ``Jira(..., cloud=True).enhanced_jql_get_list_of_tickets(jql)`` with the library's default
  fields (``*all``) and page size, then per ticket a property read, and where it acts a comment,
  an assign and a property write (plus a labels edit where a policy labels). It reads the
  directory and the deal pages with the worker's own readers (the same G + D requests as the
  guard: the comparison is about issues) and decides with the **same pure planner**, so the
  two sides differ only in I/O.
* **planner** reads the site once without latency, then times ``worker.policy.plan`` alone on
  one core (tickets per CPU second; best of a few repetitions).
"""

from __future__ import annotations

import os
import resource
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import requests

from worker.model.issue import IssueSnapshot
from worker.model.plan import CommentAction, FlagAction, LabelAction, ReassignAction


@dataclass(frozen=True, slots=True)
class Site:
    """How a scenario reaches the sandbox and which policies it runs."""

    url: str
    email: str
    token: str
    policies: Path


def peak_rss_mb() -> float:
    """This process's peak resident set size so far, in MiB.

    Linux's ``VmHWM`` belongs to this process image alone. ``ru_maxrss`` does not: it survives
    fork and exec, so a scenario started by a parent that holds a 50,000-ticket site would
    report the parent's peak (seen: 270 MB reported for a worker that peaked at 105 MB).
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _settings(site: Site, state: str) -> Any:
    from worker.settings.env import Settings
    from worker.settings.secret import Secret

    return Settings(
        jira_url=site.url,
        jira_username=site.email,
        jira_api_token=Secret(site.token),
        jira_flavor="cloud",
        config_path=site.policies,
        state=state,
    )


# --------------------------------------------------------------------------- guard


def run_guard(
    site: Site, *, between: Callable[[dict[str, Any]], str], max_cycles: int = 20
) -> list[dict[str, Any]]:
    """Enforcing cycles, one store, one process, as the service runs them. ``between`` gets
    each cycle's result and answers what comes next: ``next`` (the service's next cycle),
    ``full`` (one that reads everything, as a full sweep does) or ``stop``."""
    import worker.atlassian.clients
    import worker.write.execute  # noqa: F401  (imported lazily by the cycle; not part of its cost)
    from worker.cycle.runner import CycleRunner
    from worker.state.store import Store

    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-guard-") as tmp:
        state = str(Path(tmp) / "state.db")
        settings = _settings(site, state)
        runner = CycleRunner(settings, Store.open(state))
        command = "next"
        for number in range(1, max_cycles + 1):
            runner.settings = replace(settings, incremental=command != "full")
            started = time.perf_counter()
            cpu_started = time.process_time()
            report = runner.run(dry_run=False, stopping=threading.Event())
            wall_s = time.perf_counter() - started
            result = {
                "cycle": number,
                "wall_s": wall_s,
                # every thread of the worker process (the search prefetch included)
                "cpu_s": time.process_time() - cpu_started,
                "peak_rss_mb": peak_rss_mb(),
                "status": report.status,
                "error": report.error,
                "issues_read": report.issues_read,
                "read": "full" if report.read_full else "incremental",
                "read_reason": report.read_reason,
                "writes_planned": len(report.plan.writes) if report.plan is not None else 0,
                "outcomes": dict(report.outcomes),
                "requests_reported": report.requests,
                "retries": report.retries,
            }
            results.append(result)
            # The service keeps the last cycle's id and status, not its report (the plan and
            # the outcomes): neither does this process while the next cycle runs.
            del report
            command = between(result)
            if command == "stop":
                break
    return results


# --------------------------------------------------------------------------- baseline


def run_baseline(site: Site) -> dict[str, Any]:
    """The sequential script a user would write (see the module docstring); one pass."""
    from atlassian import Jira

    from worker.atlassian.clients import Connection, connect
    from worker.atlassian.markup import to_wiki
    from worker.atlassian.snapshots import issue_to_snapshot
    from worker.policy import load_policies, plan, search_spec

    started = time.perf_counter()
    policies = load_policies(site.policies)
    spec = search_spec(policies)
    worker_side = connect(
        Connection(jira_url=site.url, flavor="cloud", username=site.email, api_token=site.token)
    )
    # The user's own client, with the library's defaults (its retries included).
    jira = Jira(site.url, username=site.email, password=site.token, cloud=True)
    now = worker_side.jira.server_now()
    bot_id = worker_side.jira.myself().id
    info = worker_side.jira.field_info()
    extra = {info.by_name[n]: n for n in spec.field_names if n in info.by_name}
    directory = worker_side.jira.directory(spec.groups)
    deals = worker_side.confluence.deals(spec.deals).deals if spec.deals is not None else ()

    issues = jira.enhanced_jql_get_list_of_tickets(spec.jql)
    snapshots: list[IssueSnapshot] = []
    for raw in issues:
        stored = _property(jira, raw["key"], spec.property_key)
        with_state = {**raw, "properties": {spec.property_key: stored}}
        snap = issue_to_snapshot(
            with_state,
            flavor="cloud",
            extra_fields=extra,
            flagged_field_id=info.flagged_id,
            property_key=spec.property_key,
            bot_id=bot_id,
        )
        if isinstance(snap, IssueSnapshot):
            snapshots.append(snap)
    the_plan = plan(snapshots, directory, tuple(deals), policies, now, keep_no_match=False)
    labels_of = {s.key: list(s.labels) for s in snapshots}
    for write in the_plan.writes:
        for action in write.actions:
            if isinstance(action, CommentAction):
                visibility = (
                    {"type": action.visibility.type, "value": action.visibility.value}
                    if action.visibility is not None
                    else None
                )
                body = to_wiki(action.document, mentions="accountid")
                jira.issue_add_comment(write.issue, body, visibility=visibility)
            elif isinstance(action, ReassignAction):
                jira.assign_issue(write.issue, action.to.id)
            elif isinstance(action, LabelAction):
                current = [x for x in labels_of.get(write.issue, []) if x not in action.remove]
                current += [x for x in action.add if x not in current]
                jira.update_issue_field(write.issue, {"labels": current})
            elif isinstance(action, FlagAction) and info.flagged_id is not None:
                value = [{"value": "Impediment"}] if action.on else None
                jira.update_issue_field(write.issue, {info.flagged_id: value})
        jira.set_issue_property(write.issue, spec.property_key, write.state.to_json())
    wall_s = time.perf_counter() - started
    worker_side.close()
    return {
        "wall_s": wall_s,
        "peak_rss_mb": peak_rss_mb(),
        "issues_read": len(snapshots),
        "writes_planned": len(the_plan.writes),
    }


def _property(jira: Any, key: str, property_key: str) -> object | None:
    try:
        found = jira.get_issue_property(key, property_key)
    except requests.HTTPError as exc:
        if exc.response is not None and exc.response.status_code == 404:
            return None
        raise
    return found.get("value") if isinstance(found, dict) else None


# --------------------------------------------------------------------------- planner


def run_planner(site: Site, *, repeat: int = 3, min_time_s: float = 0.5) -> dict[str, Any]:
    """Read once, then time the pure planner alone on one core (best of ``repeat`` runs, in
    CPU time: other processes on the machine do not count against it)."""
    from worker.atlassian.clients import Connection, connect
    from worker.policy import load_policies, plan, search_spec
    from worker.read.site import read_site

    if hasattr(os, "sched_setaffinity"):
        # One core, as the target says; the first one this process may use.
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    policies = load_policies(site.policies)
    atlassian = connect(
        Connection(jira_url=site.url, flavor="cloud", username=site.email, api_token=site.token)
    )
    reading = read_site(atlassian, search_spec(policies), journal=None)
    atlassian.close()
    snapshots = reading.snapshots
    best_s = float("inf")
    runs = 0
    total_s = 0.0
    best_wall_s = float("inf")
    while runs < repeat or total_s < min_time_s:
        # CPU time, not wall time: on a shared machine the wall clock also counts the time
        # other processes held the core (seen: 8,600 tickets/s by the wall clock at load 4
        # for a planner doing 26,000 per CPU second).
        started, cpu_started = time.perf_counter(), time.process_time()
        the_plan = plan(
            snapshots, reading.directory, reading.deal_read, policies, reading.now,
            keep_no_match=False,
        )  # fmt: skip
        elapsed = time.process_time() - cpu_started
        best_wall_s = min(best_wall_s, time.perf_counter() - started)
        best_s = min(best_s, elapsed)
        total_s += elapsed
        runs += 1
    return {
        "tickets": len(snapshots),
        "runs": runs,
        "best_s": best_s,
        "best_wall_s": best_wall_s,
        "tickets_per_s": len(snapshots) / best_s if best_s > 0 else float("inf"),
        "load_avg_1m": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "writes_planned": len(the_plan.writes),
    }
