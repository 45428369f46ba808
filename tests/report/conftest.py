"""Fixtures shared by the history and report tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.report.history_factories import recorded
from worker.state.store import Store


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """Three recorded cycles in the week of ``T0`` (see ``history_factories.recorded``)."""
    target: Path | str = tmp_path
    if request.param == "postgresql":
        target = request.getfixturevalue("postgres_url")
    opened = recorded(target)
    yield opened
    opened.close()
