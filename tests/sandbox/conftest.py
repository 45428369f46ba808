"""Fixtures for the sandbox's own tests that run without ``../shared``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from worker.sandbox import Sandbox

SMALL_SITE = Path(__file__).resolve().parent / "fixtures" / "site-small.yaml"


@pytest.fixture(scope="session")
def _small_sandbox() -> Iterator[Sandbox]:
    with Sandbox.start(SMALL_SITE) as sandbox:
        yield sandbox


@pytest.fixture
def small(_small_sandbox: Sandbox) -> Sandbox:
    """The small test site (Cloud), reset for this test."""
    _small_sandbox.reset()
    return _small_sandbox
