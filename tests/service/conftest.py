"""Fixtures for the service tests: the demo site in a sandbox, a private policy folder,
settings and a subprocess environment pointing at the sandbox, and retries that never sleep."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli_support import DEMO_SITE, Cli, in_process_cli, private_config
from tests.service.service_support import sandbox_settings, subprocess_env
from worker.atlassian import retry
from worker.sandbox import Sandbox
from worker.settings.env import Settings
from worker.telemetry import logs


@pytest.fixture(scope="session")
def _demo_sandbox() -> Iterator[Sandbox]:
    with Sandbox.start(DEMO_SITE) as sandbox:
        yield sandbox


@pytest.fixture
def demo_sandbox(_demo_sandbox: Sandbox) -> Sandbox:
    """The demo site (Jira Cloud + Confluence), reset for this test."""
    _demo_sandbox.reset()
    return _demo_sandbox


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    """A private copy of the default policy file and its templates (safe to edit)."""
    return private_config(tmp_path)


@pytest.fixture
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Retry waits are recorded, never slept."""
    waits: list[float] = []
    monkeypatch.setattr(retry, "sleep", waits.append)
    return waits


@pytest.fixture
def settings(demo_sandbox: Sandbox, config_dir: Path, tmp_path: Path) -> Settings:
    """Settings pointing at the demo sandbox, a private policy file and a temporary store."""
    return sandbox_settings(demo_sandbox, config_path=config_dir / "policies.yaml",
                            state=str(tmp_path / "var" / "state.db"))


@pytest.fixture(autouse=True)
def _forget_secrets() -> Iterator[None]:
    yield
    logs.clear_secrets()


@pytest.fixture
def cli(
    demo_sandbox: Sandbox, config_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Iterator[Cli]:
    """Run ``main(argv)`` in-process with the environment pointing at the demo sandbox."""
    yield from in_process_cli(subprocess_env(demo_sandbox, config_dir, tmp_path), monkeypatch,
                              capsys)
