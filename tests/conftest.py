"""Shared fixtures: the read-only ``../shared`` folder, the example site, and sandboxes.

``sandbox`` (Jira Cloud flavor) and ``dc_sandbox`` (Data Center flavor) serve the example site
``../shared/fixtures/site-example.yaml``; one server per session, reset before each test.
They skip when ``../shared`` is absent.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from worker.sandbox import Sandbox

SHARED_DIR = Path(__file__).resolve().parents[1] / ".." / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The read-only ``../shared`` folder (skips when absent)."""
    if not SHARED_DIR.is_dir():
        pytest.skip(f"../shared is absent ({SHARED_DIR.resolve()}); this test needs it")
    return SHARED_DIR


@pytest.fixture(scope="session")
def example_site_path(shared_dir: Path) -> Path:
    """``../shared/fixtures/site-example.yaml`` (skips when absent)."""
    path = shared_dir / "fixtures" / "site-example.yaml"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    return path


@pytest.fixture(scope="session")
def _example_site_data(example_site_path: Path) -> dict[str, Any]:
    data = yaml.safe_load(example_site_path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


@pytest.fixture
def example_site_dict(_example_site_data: dict[str, Any]) -> dict[str, Any]:
    """A fresh, freely modifiable copy of the example site as a dict."""
    return copy.deepcopy(_example_site_data)


@pytest.fixture(scope="session")
def _cloud_sandbox(example_site_path: Path) -> Iterator[Sandbox]:
    with Sandbox.start(example_site_path) as sandbox:
        yield sandbox


@pytest.fixture(scope="session")
def _dc_sandbox(_example_site_data: dict[str, Any]) -> Iterator[Sandbox]:
    data = copy.deepcopy(_example_site_data)
    data["site"]["flavor"] = "datacenter"
    with Sandbox.start(data) as sandbox:
        yield sandbox


@pytest.fixture
def sandbox(_cloud_sandbox: Sandbox) -> Sandbox:
    """The example site as Jira Cloud + Confluence Cloud, reset for this test."""
    _cloud_sandbox.reset()
    return _cloud_sandbox


@pytest.fixture
def dc_sandbox(_dc_sandbox: Sandbox) -> Sandbox:
    """The example site as Jira Data Center (REST v2, usernames, PAT), reset for this test."""
    _dc_sandbox.reset()
    return _dc_sandbox
