"""``python -m bench.reload [--edits N]``: seconds from a policy file edit (or SIGHUP) to
``/readyz`` answering the new verdict, with inotify, with the 2-second poll, and on SIGHUP.

A service runs in this process against the demo sandbox (dry run, a private copy of the
policy file); edits alternate between an invalid schedule (``/readyz`` -> ``config_invalid``)
and a valid one (-> ready), at random moments. ``/readyz`` is asked every 10 ms over HTTP.
Prints one line per mode: median, max and every sample.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import shutil
import signal
import statistics
import tempfile
import threading
import time
from pathlib import Path

import requests

from worker.cycle.runner import CycleRunner
from worker.cycle.source import PolicySource
from worker.sandbox import Sandbox
from worker.service.shell import Service
from worker.settings.env import Settings
from worker.settings.secret import Secret
from worker.state.store import Store
from worker.telemetry import logs
from worker.telemetry.health import Health
from worker.telemetry.metrics import Metrics

ROOT = Path(__file__).resolve().parents[1]
GOOD, BAD = "  every: 15m\n", '  cron: "*/15 7-19 * * mon-fry"\n'
MODES = ("inotify", "poll", "sighup")


def _reason(port: int) -> str | None:
    body = requests.get(f"http://127.0.0.1:{port}/readyz", timeout=5).json()
    return body["reason"] if isinstance(body["reason"], str) else None


def _seconds_until(port: int, want: str | None, since: float, limit_s: float = 30.0
                   ) -> float | None:
    while time.monotonic() - since < limit_s:
        if _reason(port) == want:
            return time.monotonic() - since
        time.sleep(0.01)
    return None


def measure(mode: str, edits: int) -> list[float | None]:
    """Seconds from each edit to /readyz changing (None: not within 30 s)."""
    work = Path(tempfile.mkdtemp(prefix="bench-reload-"))
    config = work / "config"
    config.mkdir()
    shutil.copy(ROOT / "config" / "policies.yaml", config / "policies.yaml")
    shutil.copytree(ROOT / "config" / "templates", config / "templates")
    policy = config / "policies.yaml"
    good = policy.read_text()
    samples: list[float | None] = []
    pause = random.Random(42)
    try:
        with Sandbox.start(ROOT / "config" / "sandbox" / "demo-site.yaml") as sandbox:
            settings = Settings(jira_url=sandbox.url, jira_username=sandbox.bot_email,
                                jira_api_token=Secret(sandbox.bot_token), jira_flavor="cloud",
                                config_path=policy, state=str(work / "state.db"))
            health, metrics = Health(interval_s=900), Metrics()
            runner = CycleRunner(settings, Store.open(settings.state), health=health,
                                 metrics=metrics, source=PolicySource(policy, health=health))
            service = Service(runner, dry_run=True, http_port=0, health=health,
                              metrics=metrics, watch=mode == "inotify")
            if mode == "sighup":
                service.reloader.poll_s = 3600.0  # only the signal re-reads the file
                service.install_signal_handlers()
            thread = threading.Thread(target=service.run, daemon=True)
            thread.start()
            try:
                while service.health_port is None or _reason(service.health_port) is not None:
                    time.sleep(0.05)
                while mode == "inotify" and not service.reloader.watching.is_set():
                    time.sleep(0.05)
                for i in range(edits):
                    bad = i % 2 == 0
                    policy.write_text(good.replace(GOOD, BAD) if bad
                                      else good.replace(GOOD, f"  every: {16 + i}m\n"))
                    since = time.monotonic()
                    if mode == "sighup":
                        os.kill(os.getpid(), signal.SIGHUP)
                    samples.append(_seconds_until(service.health_port,
                                                  "config_invalid" if bad else None, since))
                    # a random pause, so an edit lands anywhere in the poll's 2 seconds
                    time.sleep(pause.uniform(0.3, 2.3))
            finally:
                service.stop()
                thread.join(timeout=15)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return samples


def main(argv: list[str] | None = None) -> int:
    """Measure each mode and print the figures."""
    parser = argparse.ArgumentParser(prog="python -m bench.reload", description=__doc__)
    parser.add_argument("--edits", type=int, default=8)
    parser.add_argument("--modes", default=",".join(MODES))
    args = parser.parse_args(argv)
    logs.configure(log_format="json", level="WARNING", stream=io.StringIO())
    for mode in args.modes.split(","):
        samples = measure(mode, args.edits)
        seen = [s for s in samples if s is not None]
        figures = (f"median {statistics.median(seen):.3f} s, max {max(seen):.3f} s"
                   if seen else "never")
        print(f"{mode:8} {len(seen)}/{len(samples)} seen: {figures}; samples "
              + ", ".join("-" if s is None else f"{s:.3f}" for s in samples), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
