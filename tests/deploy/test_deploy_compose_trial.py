"""compose.yaml's local trial, played without a container engine: the sandbox service's own
command and healthcheck, then the worker service's own command and environment (the sandbox's
port and the PostgreSQL server swapped for this machine's), as processes over real HTTP and a
real PostgreSQL store. What compose adds (images, the shared network namespace) is checked
by the structure tests and, where an engine answers, by building the image."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
import sqlalchemy as sa

from tests.deploy.kit import ROOT, SETTING, compose

#: the files compose mounts at /etc/handoff-guard, here
CONFIG_DIR = ROOT / "config"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _here(path: str) -> str:
    """A path inside the containers (compose mounts ./config at /etc/handoff-guard)."""
    assert path.startswith("/etc/handoff-guard/"), path
    return str(CONFIG_DIR / path.removeprefix("/etc/handoff-guard/"))


def _clean_env() -> dict[str, str]:
    """This process's environment without any setting of the worker's (the trial's own only)."""
    return {k: v for k, v in os.environ.items() if not SETTING.fullmatch(k)}


@pytest.fixture
def trial_sandbox() -> Iterator[tuple[str, int]]:
    """The sandbox service's command, on a free port; yields (its URL, the compose port)."""
    command = list(compose()["services"]["sandbox"]["command"])
    at = command.index("--port")
    compose_port = int(command[at + 1])
    command[at + 1] = str(_free_port())
    site = command.index("--site") + 1
    command[site] = _here(command[site])
    process = subprocess.Popen([sys.executable, "-m", "worker", *command], cwd=ROOT,
                               env=_clean_env(), stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()  # the sandbox prints its URL first
        assert url.startswith("http://127.0.0.1:"), url
        yield url, compose_port
    finally:
        process.terminate()
        process.wait(timeout=30)


def _worker_env(sandbox_url: str, compose_port: int, store_url: str) -> dict[str, str]:
    environment: dict[str, Any] = compose()["services"]["worker"]["environment"]
    env = {k: str(v) for k, v in environment.items()}
    assert env["JIRA_URL"] == f"http://127.0.0.1:{compose_port}"
    env["JIRA_URL"] = sandbox_url
    env["HANDOFF_GUARD_CONFIG"] = _here(env["HANDOFF_GUARD_CONFIG"])
    # compose's PostgreSQL (host `postgres`) is this machine's test server here
    assert urlsplit(env["HANDOFF_GUARD_STATE"]).scheme == "postgresql+psycopg"
    env["HANDOFF_GUARD_STATE"] = store_url
    return {**_clean_env(), **env}


def _run_once(env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-m", "worker", "run", "--once"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=110, check=False)
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert isinstance(summary, dict)
    return summary


def test_the_compose_trial_acts_on_the_sandbox_once_through_postgresql(
    trial_sandbox: tuple[str, int], postgres_url: str
) -> None:
    url, compose_port = trial_sandbox
    # the sandbox service's healthcheck, as compose runs it (CMD python -c ...)
    check = compose()["services"]["sandbox"]["healthcheck"]["test"]
    assert check[:3] == ["CMD", "python", "-c"]
    probe = check[3].replace(f"127.0.0.1:{compose_port}", url.removeprefix("http://"))
    assert probe != check[3]
    healthy = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                             timeout=60, check=False)
    assert healthy.returncode == 0, healthy.stderr
    env = _worker_env(url, compose_port, postgres_url)
    first = _run_once(env)
    assert first["status"] == "ok"
    assert first["actions_failed"] == 0
    assert first["actions_applied"] > 0
    log = requests.get(f"{url}/_sandbox/requests", timeout=10).json()["requests"]
    writes = [r for r in log if r["method"] in ("PUT", "POST") and "/rest/api/" in r["path"]]
    assert writes  # the edits reached the sandbox over HTTP
    # the store is the PostgreSQL one: its cycle is there, and a second run writes nothing
    engine = sa.create_engine(postgres_url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM cycles")).scalar_one() == 1
    engine.dispose()
    second = _run_once(env)
    assert (second["status"], second["actions_applied"]) == ("ok", 0)
