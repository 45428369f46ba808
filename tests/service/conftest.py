"""Fixtures for the service tests: the demo site in a sandbox, a private policy folder,
settings and a subprocess environment pointing at the sandbox, and retries that never sleep."""

from __future__ import annotations

import io
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.service.service_support import DEMO_SITE, POLICIES, TEMPLATES, subprocess_env
from worker.__main__ import main
from worker.atlassian import retry
from worker.sandbox import Sandbox
from worker.settings import Secret, Settings
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
    target = tmp_path / "config"
    target.mkdir()
    shutil.copy(POLICIES, target / "policies.yaml")
    shutil.copytree(TEMPLATES, target / "templates")
    return target


@pytest.fixture
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Retry waits are recorded, never slept."""
    waits: list[float] = []
    monkeypatch.setattr(retry, "sleep", waits.append)
    return waits


@pytest.fixture
def settings(demo_sandbox: Sandbox, config_dir: Path, tmp_path: Path) -> Settings:
    """Settings pointing at the demo sandbox, a private policy file and a temporary store."""
    return Settings(
        jira_url=demo_sandbox.url,
        jira_username=demo_sandbox.bot_email,
        jira_api_token=Secret(demo_sandbox.bot_token),
        jira_flavor="cloud",
        config_path=config_dir / "policies.yaml",
        state=str(tmp_path / "var" / "state.db"),
    )


@pytest.fixture(autouse=True)
def _forget_secrets() -> Iterator[None]:
    yield
    logs.clear_secrets()


Cli = Callable[..., tuple[int, str, str]]


@pytest.fixture
def cli(
    demo_sandbox: Sandbox, config_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Iterator[Cli]:
    """Run ``main(argv)`` in-process with the environment pointing at the demo sandbox."""
    for key, value in subprocess_env(demo_sandbox, config_dir, tmp_path).items():
        monkeypatch.setenv(key, value)

    def run(*argv: str, **env: str) -> tuple[int, str, str]:
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        capsys.readouterr()
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    yield run
    # main() pointed logging at pytest's captured stderr; point it somewhere that stays open.
    logs.configure(log_format="json", level="WARNING", stream=io.StringIO())
