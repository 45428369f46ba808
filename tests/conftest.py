"""Shared fixtures: the example site and sandboxes.

``sandbox`` (Jira Cloud flavor) and ``dc_sandbox`` (Data Center flavor) serve the example site
``config/sandbox/site-example.yaml`` (the site-file format, copied from
``../shared/fixtures/``); one server per session, reset before each test. Nothing here needs
files outside the repository.
"""

from __future__ import annotations

import copy
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from worker.sandbox import Sandbox

ROOT = Path(__file__).resolve().parents[1]
#: The site-file format example (a contract: the sandbox loads it unchanged).
EXAMPLE_SITE = ROOT / "config" / "sandbox" / "site-example.yaml"
#: Atlassian's OpenAPI documents, trimmed to what the tests check (``scripts/trim_specs.py``).
SPECS = ROOT / "tests" / "specs"


@pytest.fixture(scope="session")
def example_site_path() -> Path:
    """``config/sandbox/site-example.yaml``."""
    return EXAMPLE_SITE


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


# --------------------------------------------------------------------------- PostgreSQL

#: where the PostgreSQL tests connect (a database they may create databases from)
POSTGRES_URL_ENV = "HANDOFF_GUARD_TEST_POSTGRES_URL"
POSTGRES_URL_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"
#: set (to 1) by .ci/run: an unreachable server fails the PostgreSQL tests instead of skipping
POSTGRES_REQUIRED_ENV = "HANDOFF_GUARD_TEST_REQUIRE_POSTGRES"


def _postgres_unavailable(reason: str) -> None:
    if os.environ.get(POSTGRES_REQUIRED_ENV, "") not in ("", "0"):
        pytest.fail(f"PostgreSQL is required ({POSTGRES_REQUIRED_ENV} is set): {reason}",
                    pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A PostgreSQL database of this test session's own, dropped at the end (its URL).

    Several people run the suite on one machine at once: a unique name keeps sessions apart.
    Skips with the reason when the server is unreachable (fails when CI requires it).
    """
    base = sa.make_url(os.environ.get(POSTGRES_URL_ENV, POSTGRES_URL_DEFAULT))
    if base.drivername in ("postgresql", "postgres"):
        base = base.set(drivername="postgresql+psycopg")
    name = f"hg_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT",
                             connect_args={"connect_timeout": 3})
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.SQLAlchemyError as exc:
        admin.dispose()
        shown = base.render_as_string(hide_password=True)
        _postgres_unavailable(f"PostgreSQL at {shown} is unreachable or refused "
                              f"CREATE DATABASE ({type(exc.orig or exc).__name__}); "
                              f"set {POSTGRES_URL_ENV}")
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def postgres_url(postgres_database: str) -> str:
    """A URL to an empty schema of its own in the session's database (one per test)."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(postgres_database)
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    url = sa.make_url(postgres_database).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a state store lives: a SQLite file, then a PostgreSQL schema (each test twice)."""
    if request.param == "sqlite":
        return str(tmp_path / "nested" / "state.db")
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture(autouse=True)
def pacer_waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The write pacer computes its waits but never sleeps in tests (its own tests use a
    fake clock and a recorder)."""
    from worker.atlassian import pacing

    waited: list[float] = []
    monkeypatch.setattr(pacing, "sleep", waited.append)
    return waited
