"""Helpers shared by the service tests (paths, the subprocess environment)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import requests

from tests.cli_support import DEMO_SITE, POLICIES, ROOT, TEMPLATES  # noqa: F401  (this area's paths)
from worker.sandbox import Sandbox
from worker.settings.env import Settings
from worker.settings.secret import Secret

PYTHON = sys.executable

T = TypeVar("T")


def sandbox_settings(sandbox: Sandbox, *, config_path: Path, state: str, **extra: Any
                     ) -> Settings:
    """In-process settings for ``sandbox``'s bot (Cloud: email and API token; Data Center: a
    personal token), a policy file and a store; ``extra`` sets any other field."""
    auth: dict[str, Any] = (
        {"jira_username": sandbox.bot_email, "jira_api_token": Secret(sandbox.bot_token)}
        if sandbox.flavor == "cloud" else {"jira_personal_token": Secret(sandbox.bot_token)})
    return Settings(jira_url=sandbox.url, jira_flavor=sandbox.flavor, config_path=config_path,
                    state=state, **auth, **extra)


def subprocess_env(
    sandbox: Sandbox, config_dir: Path, tmp_path: Path, **extra: str
) -> dict[str, str]:
    """The environment for ``python -m worker`` against ``sandbox`` (JSON logs, no TTY)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JIRA_", "CONFLUENCE_",
                                                                     "HANDOFF_GUARD_"))}
    env.update(
        JIRA_URL=sandbox.url,
        JIRA_USERNAME=sandbox.bot_email,
        JIRA_API_TOKEN=sandbox.bot_token,
        JIRA_FLAVOR="cloud",
        HANDOFF_GUARD_CONFIG=str(config_dir / "policies.yaml"),
        HANDOFF_GUARD_STATE=str(tmp_path / "var" / "state.db"),
        HANDOFF_GUARD_LOG_FORMAT="json",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def until(check: Callable[[], T | None], *, timeout_s: float = 30.0, every_s: float = 0.05) -> T:
    """Poll ``check`` until it returns something truthy (a generous deadline, never a timing
    assertion: it fails only when the outcome never comes)."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s}s: {getattr(check, '__name__', check)}")
        time.sleep(every_s)


def probe(url: str) -> tuple[int, dict[str, Any]]:
    """GET a probe: (status, JSON body)."""
    answer = requests.get(url, timeout=5)
    return answer.status_code, answer.json()


class ServiceProcess:
    """``python -m worker run`` in a subprocess, its JSON log lines collected as they come."""

    def __init__(self, env: Mapping[str, str], *args: str) -> None:
        self.proc = subprocess.Popen(
            [PYTHON, "-m", "worker", "run", *args], cwd=ROOT, env=dict(env),
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        self.events: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._pump = threading.Thread(target=self._read, daemon=True)
        self._pump.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            try:
                item = json.loads(raw)
            except json.JSONDecodeError:
                item = {"event": "raw", "text": raw}
            with self._lock:
                self.events.append(item)

    def mark(self) -> int:
        """How many log lines so far (``wait_for(..., since=mark)`` looks only after it)."""
        with self._lock:
            return len(self.events)

    def find(self, event: str, *, since: int = 0,
             where: Callable[[dict[str, Any]], bool] = lambda _: True) -> dict[str, Any] | None:
        """The first log line ``event`` after ``since`` that ``where`` accepts."""
        with self._lock:
            return next((e for e in self.events[since:]
                         if e.get("event") == event and where(e)), None)

    def wait_for(self, event: str, *, since: int = 0, timeout_s: float = 30.0,
                 where: Callable[[dict[str, Any]], bool] = lambda _: True) -> dict[str, Any]:
        """Wait for a log line (fails early, with the log, if the process exits)."""
        def seen() -> dict[str, Any] | None:
            found = self.find(event, since=since, where=where)
            if found is None and self.proc.poll() is not None:
                raise AssertionError(f"exited {self.proc.returncode} before {event!r}: "
                                     f"{[e.get('event') for e in self.events]}")
            return found
        seen.__name__ = f"log event {event!r}"
        return until(seen, timeout_s=timeout_s)

    @property
    def port(self) -> int:
        """The health server's port (from ``health.listening``)."""
        return int(self.wait_for("health.listening")["url"].rsplit(":", 1)[1])

    def stop(self) -> int:
        """SIGTERM, then the exit code (killed if it does not stop in 15 s)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._pump.join(timeout=5)
        return self.proc.returncode

    def __enter__(self) -> ServiceProcess:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()
