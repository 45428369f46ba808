"""The shipped configuration and the command line run in-process against a sandbox, as the
tests of several areas need them."""

from __future__ import annotations

import io
import os
import shutil
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from worker.__main__ import main
from worker.sandbox import Sandbox
from worker.telemetry import logs

ROOT = Path(__file__).resolve().parents[1]
#: the demo site, the shipped policy file and its templates
DEMO_SITE = ROOT / "config" / "sandbox" / "demo-site.yaml"
POLICIES = ROOT / "config" / "policies.yaml"
TEMPLATES = ROOT / "config" / "templates"

#: ``cli(*argv, **env)`` -> (exit code, stdout, stderr)
Cli = Callable[..., tuple[int, str, str]]

#: the variables a test's own environment must not leak into the command under test
SITE_PREFIXES = ("JIRA_", "CONFLUENCE_", "HANDOFF_GUARD_")


def private_config(tmp_path: Path) -> Path:
    """A copy of the shipped policy file and its templates under ``tmp_path`` (safe to edit)."""
    target = tmp_path / "config"
    target.mkdir()
    shutil.copy(POLICIES, target / "policies.yaml")
    shutil.copytree(TEMPLATES, target / "templates")
    return target


def site_env(sandbox: Sandbox, *, config: Path, state: Path) -> dict[str, str]:
    """The environment ``python -m worker`` needs against ``sandbox`` in its flavor (JSON
    logs), on top of this process's environment without any site setting."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(SITE_PREFIXES)}
    env.update(JIRA_URL=sandbox.url, JIRA_FLAVOR=sandbox.flavor,
               CONFLUENCE_URL=sandbox.url + "/wiki", HANDOFF_GUARD_CONFIG=str(config),
               HANDOFF_GUARD_STATE=str(state), HANDOFF_GUARD_LOG_FORMAT="json")
    if sandbox.flavor == "cloud":
        env.update(JIRA_USERNAME=sandbox.bot_email, JIRA_API_TOKEN=sandbox.bot_token)
    else:
        env.update(JIRA_PERSONAL_TOKEN=sandbox.bot_token)
    return env


def in_process_cli(env: Mapping[str, str], monkeypatch: pytest.MonkeyPatch,
                   capsys: pytest.CaptureFixture[str]) -> Iterator[Cli]:
    """Yield ``cli``: ``main(argv)`` in this process with ``env`` in force (a fixture's body:
    ``yield from in_process_cli(...)``); extra keyword arguments set more variables."""
    for key in list(os.environ):
        if key.startswith(SITE_PREFIXES):
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)

    def run(*argv: str, **more: str) -> tuple[int, str, str]:
        for key, value in more.items():
            monkeypatch.setenv(key, value)
        capsys.readouterr()
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    yield run
    # main() pointed logging at pytest's captured stderr; point it somewhere that stays open.
    logs.configure(log_format="json", level="WARNING", stream=io.StringIO())
