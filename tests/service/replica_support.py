"""Helpers for the replica tests: a site where most tickets are acted on, worker processes
whose JSON log lines can be waited for, and the bot's comments counted per ticket."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import pytest
import yaml

from tests.service.service_support import POLICIES, PYTHON, ROOT, TEMPLATES, subprocess_env
from worker.sandbox import Sandbox
from worker.sandbox import generate as generated

#: a short lease: a standby takes over within 2 s of the leader's death
LEASE_S = "2"


def acted_site(monkeypatch: pytest.MonkeyPatch, *, tickets: int, share: float = 0.75,
               seed: int = 7) -> tuple[dict[str, Any], frozenset[str]]:
    """A generated site where ``share`` of the ``tickets`` are pre-signature Sales work (each
    gets one comment in the first cycle), and those keys."""
    monkeypatch.setattr(generated, "DELIVERABLE_SHARE", share)
    site = generated.generate_site(tickets, seed=seed)
    return site, generated.deliverable_keys(site)


def unlimited_policies(tmp_path: Path) -> Path:
    """The shipped policy file without its action budget and breakers (every ticket acted),
    at ``tmp_path/config/policies.yaml`` (where :func:`worker_env` points)."""
    data: dict[str, Any] = yaml.safe_load(POLICIES.read_text(encoding="utf-8"))
    data["templates"] = str(TEMPLATES)
    data["safety"] = {"max_actions_per_cycle": 1_000_000,
                      "breaker": {"max_matches": 1_000_000, "max_percent": 100,
                                  "min_scope": 1_000_000}}
    for policy in data["policies"]:
        policy.pop("max_actions_per_cycle", None)
        policy.pop("breaker", None)
    out = tmp_path / "config" / "policies.yaml"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return out


def bot_comments(sandbox: Sandbox) -> Counter[str]:
    """The bot's comments per ticket, as the site holds them now."""
    site = sandbox.site()
    bot = site["site"]["bot"]["name"]
    found: Counter[str] = Counter()
    for issue in site["issues"]:
        for comment in issue.get("comments") or ():
            if comment.get("author") == bot:
                found[issue["key"]] += 1
    return found


def worker_env(sandbox: Sandbox, tmp_path: Path, state: str, **extra: str) -> dict[str, str]:
    """The environment of a worker process on ``sandbox`` with the store at ``state``."""
    settings = {"HANDOFF_GUARD_STATE": state, "HANDOFF_GUARD_LEASE_S": LEASE_S,
                "HANDOFF_GUARD_WRITE_RATE": "500", **extra}
    return subprocess_env(sandbox, tmp_path / "config", tmp_path, **settings)


class WorkerProcess:
    """``python -m worker ARGS`` with its JSON log lines collected as they come."""

    def __init__(self, args: list[str], env: dict[str, str], *, name: str) -> None:
        self.name = name
        self.proc = subprocess.Popen(
            [PYTHON, "-m", "worker", *args], cwd=ROOT, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        self.events: list[dict[str, Any]] = []
        self._new = threading.Condition()
        self.stdout = ""
        assert self.proc.stderr is not None
        assert self.proc.stdout is not None
        self._pump = threading.Thread(target=self._read, args=(self.proc.stderr,), daemon=True)
        self._pump.start()
        # stdout has its own reader: `communicate()` would read stderr too, racing the pump for
        # the log lines (a refusal's message went missing that way under load).
        self._out: list[str] = []
        self._out_pump = threading.Thread(
            target=lambda stream: self._out.extend(stream), args=(self.proc.stdout,), daemon=True
        )
        self._out_pump.start()

    def _read(self, stream: IO[str]) -> None:
        for raw in stream:
            try:
                item = json.loads(raw)
            except json.JSONDecodeError:
                item = {"event": "raw", "text": raw}
            with self._new:
                self.events.append(item)
                self._new.notify_all()
        with self._new:
            self._new.notify_all()

    def count(self, event: str) -> int:
        """How many log lines of ``event`` so far."""
        with self._new:
            return sum(1 for e in self.events if e.get("event") == event)

    def wait_for(self, event: str, *, times: int = 1, timeout_s: float = 60,
                 where: Callable[[dict[str, Any]], bool] = lambda _e: True) -> dict[str, Any]:
        """The ``times``-th log line of ``event`` (matching ``where``), waiting for it."""
        deadline = time.monotonic() + timeout_s
        with self._new:
            while True:
                found = [e for e in self.events if e.get("event") == event and where(e)]
                if len(found) >= times:
                    return found[times - 1]
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self._pump.is_alive()):
                    seen = [e.get("event") for e in self.events][-30:]
                    raise AssertionError(f"{self.name}: no {event!r} x{times}; last: {seen}")
                self._new.wait(timeout=min(left, 0.5))

    def finish(self, *, timeout_s: float = 90) -> int:
        """Wait for the exit; the exit code (stdout kept)."""
        self.proc.wait(timeout=timeout_s)
        self._pump.join(timeout=5)
        self._out_pump.join(timeout=5)
        self.stdout = "".join(self._out)
        return int(self.proc.returncode)

    def stop(self, *, timeout_s: float = 15) -> int:
        """SIGTERM (if still running) and wait."""
        if self.proc.poll() is None:
            self.proc.terminate()
        return self.finish(timeout_s=timeout_s)

    def kill(self) -> None:
        """``kill -9``: no cleanup, no release of the lease."""
        self.proc.kill()
        self.proc.wait(timeout=10)
        self._pump.join(timeout=5)

    def close(self) -> None:
        """Make sure the process is gone (test teardown)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
