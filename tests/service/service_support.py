"""Helpers shared by the service tests (paths, the subprocess environment)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from worker.sandbox import Sandbox

ROOT = Path(__file__).resolve().parents[2]
DEMO_SITE = ROOT / "config" / "sandbox" / "demo-site.yaml"
POLICIES = ROOT / "config" / "policies.yaml"
TEMPLATES = ROOT / "config" / "templates"
PYTHON = sys.executable


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
