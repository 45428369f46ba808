"""The policy file the benchmark runs: the shipped defaults with the safety limits lifted.

The defaults are built for a first deployment: a per-cycle action budget and a blast-radius
breaker that stop a misconfigured policy from commenting on hundreds of tickets. A benchmark
whose site has 2,500 deliverables at N = 50,000 must let every planned action through, or it
would measure a cycle that writes 50 issues (or none, breaker tripped) and call that the cost.
Everything else (modes, scopes, conditions, ladders, templates) is the shipped file, unchanged:
policies shipped in dry-run stay in dry-run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

#: the policy file's word for a lifted limit (then no limit counts the whole cycle, and each
#: ticket is written as soon as it is planned, while later pages are still read)
UNLIMITED = "unlimited"


def bench_policies(default: Path, out: Path) -> Path:
    """Write ``default`` without its action budget and breakers to ``out``.

    The templates folder is made absolute, since ``out`` lives elsewhere. The result is
    checked with the worker's own loader (a :class:`worker.policy.PolicyError` if it fails).
    """
    from worker.policy import load_policies

    data: dict[str, Any] = yaml.safe_load(default.read_text(encoding="utf-8"))
    data["templates"] = str((default.parent / data.get("templates", "templates")).resolve())
    data["safety"] = {
        **data.get("safety", {}),
        "max_actions_per_cycle": UNLIMITED,
        "breaker": {"max_matches": UNLIMITED, "max_percent": 100},
    }
    for policy in data["policies"]:
        policy.pop("max_actions_per_cycle", None)
        policy.pop("breaker", None)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    load_policies(out)
    return out
