"""One scenario in its own process, so its peak RSS is the worker's alone (not the sandbox's).

Run by the parent as ``python -m bench.child {guard,baseline,planner} --url ... --policies ...``.
It speaks JSON lines on stdout: after each guard cycle a ``{"kind": "cycle", ...}`` line, then
it waits for one command line on stdin (the parent reads and clears the sandbox's request log,
and plays the people who change the site, in between): ``next`` runs the next cycle as the
service would, ``full`` runs one that reads everything, ``stop`` ends; at the end one
``{"kind": "result"}`` line, or ``{"kind": "error"}`` with the exception. Logs go to stderr as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from pathlib import Path
from typing import Any

from bench.scenarios import Site, run_baseline, run_guard, run_planner


def _emit(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def _wait_for_parent(result: dict[str, Any]) -> str:
    _emit({"kind": "cycle", **result})
    return sys.stdin.readline().strip() or "stop"


def main(argv: list[str] | None = None) -> int:
    """Run the named scenario and report on stdout; exit 0 on success, 1 on an error."""
    parser = argparse.ArgumentParser(prog="python -m bench.child")
    parser.add_argument("scenario", choices=("guard", "baseline", "planner"))
    parser.add_argument("--url", required=True)
    parser.add_argument("--email", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--policies", required=True, type=Path)
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)

    from worker.telemetry.logs import configure

    configure(log_format="json", level=args.log_level, stream=sys.stderr, secrets=[args.token])
    site = Site(url=args.url, email=args.email, token=args.token, policies=args.policies)
    try:
        if args.scenario == "guard":
            cycles = run_guard(site, between=_wait_for_parent)
            _emit({"kind": "result", "cycles": cycles})
        elif args.scenario == "baseline":
            _emit({"kind": "result", **run_baseline(site)})
        else:
            _emit({"kind": "result", **run_planner(site)})
    except Exception as exc:
        _emit({"kind": "error", "error": f"{type(exc).__name__}: {exc}",
               "traceback": traceback.format_exc()})  # fmt: skip
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
