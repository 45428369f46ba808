"""The service's process leaves out what it never uses: Alembic on a current store, rich always,
and of atlassian-python-api everything but its REST client.

Each check runs in a fresh interpreter, since this one has imported everything by now. The
service path is what ``python -m worker run`` imports (``worker.cli.run``), the cycle and the
writers included, then opens the store as the service does.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from worker.state.engine import StoreError, engine_for
from worker.state.migrate import head, migrate
from worker.state.revision import HEAD_REVISION
from worker.state.store import Store

ROOT = Path(__file__).resolve().parents[2]

#: the packages a long-running worker should not hold: Alembic and Mako (migrations), rich and
#: Pygments (console prettiness: structlog's, Mako's), the client library's product classes and
#: the BeautifulSoup its Confluence classes import; and the one module of the library it needs
HEAVY = ("alembic", "mako", "rich", "pygments", "atlassian.jira", "atlassian.confluence",
         "atlassian.bitbucket", "bs4")
NEEDED = "atlassian.rest_client"

SERVICE_PATH = """
import json, sys
import worker.cli.app
from worker.cycle.runner import CycleRunner
from worker.cycle.source import PolicySource
from worker.service.shell import Service
from worker.service.store_wait import wait_for_store
from worker.state.lease import Lease
from worker.state.store import Store
from worker.telemetry.health import Health
from worker.telemetry.metrics import Metrics
import worker.atlassian.clients, worker.write.execute
from worker.atlassian.clients import Connection, connect
# the clients as the service builds them (a flavor given: no request is made)
connect(Connection(jira_url="http://127.0.0.1:9", flavor="cloud", username="bot",
                   api_token="t")).close()
store = Store.open(sys.argv[1])
print(json.dumps({"version": store.version,
                  "imported": sorted(m for m in sys.argv[2:] if m in sys.modules)}))
"""


def _open_in_service_process(target: Path) -> dict[str, object]:
    done = subprocess.run([sys.executable, "-c", SERVICE_PATH, str(target), *HEAVY, NEEDED],
                          cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    answer: dict[str, object] = json.loads(done.stdout)
    return answer


def _prints_ok(code: str) -> None:
    """``code`` run in a fresh interpreter ends well and prints ``ok`` (its asserts held)."""
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, check=False)
    assert (done.returncode, done.stdout.strip()) == (0, "ok"), done.stderr


def test_the_known_head_is_alembics_head() -> None:
    """HEAD_REVISION names the newest migration: a new revision must update it, or a store at
    the old head would be opened as current and never gain the new revision's schema."""
    assert head() == HEAD_REVISION


def test_a_current_store_opens_without_alembic_rich_or_pygments(tmp_path: Path) -> None:
    """Restarting on a store at the newest revision imports none of the heavy packages."""
    target = tmp_path / "state.db"
    Store.open(target).close()
    assert _open_in_service_process(target) == {"version": HEAD_REVISION, "imported": [NEEDED]}


def test_a_fresh_store_is_still_made_by_alembic(tmp_path: Path) -> None:
    """A store to create is created by the migrations (Alembic imported then, and only then;
    Mako with it, but not the Pygments Mako would highlight its errors with)."""
    answer = _open_in_service_process(tmp_path / "state.db")
    assert answer == {"version": HEAD_REVISION, "imported": ["alembic", NEEDED, "mako"]}


@pytest.mark.parametrize("stamp", ["0005_cycle_reads", "9999_future"])
def test_a_store_at_another_revision_goes_to_alembic(tmp_path: Path, stamp: str) -> None:
    """Any revision but the newest is Alembic's to judge: an older one is upgraded (from 0005
    it gains the due step), an unknown one refused (the shortcut never skips either)."""
    target = tmp_path / "state.db"
    engine = engine_for(str(target))
    if stamp == "9999_future":
        migrate(engine)
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE alembic_version SET version_num = :v"), {"v": stamp})
        engine.dispose()
        with pytest.raises(StoreError, match="9999_future"):
            Store.open(target)
        return
    assert migrate(engine, target=stamp) == stamp
    engine.dispose()
    store = Store.open(target)
    columns = {c["name"] for c in sa.inspect(store.engine).get_columns("decisions")}
    assert (store.version, {"due_step", "due_at"} <= columns) == (HEAD_REVISION, True)
    store.close()


def test_structlog_is_imported_without_rich_yet_rich_still_works() -> None:
    """structlog's module-level rich is unset (its pretty tracebacks are never used), and a
    command that draws a table still imports rich afterwards."""
    code = ("import sys, worker.telemetry.logs, structlog.dev; "
            "assert 'rich' not in sys.modules and structlog.dev.rich is None; "
            "import rich.console, rich.table; print('ok')")
    _prints_ok(code)


def test_the_client_library_stays_whole_for_everyone_else() -> None:
    """After the worker took the REST client alone, ``from atlassian import Jira`` (the tests',
    the benchmark baseline's) still gets the whole package, built on the same REST client."""
    code = "\n".join([
        "import sys",
        "from worker.atlassian.library import rest_client_class",
        "rest_client = rest_client_class()",
        "assert 'atlassian.jira' not in sys.modules",
        "assert 'Jira' not in vars(sys.modules['atlassian'])",
        "from atlassian import ConfluenceServer, Jira, JiraCloud",
        "import atlassian, atlassian.utils",
        "assert issubclass(Jira, rest_client) and issubclass(JiraCloud, rest_client)",
        "assert issubclass(ConfluenceServer, rest_client)",
        "assert 'Bitbucket' in atlassian.__all__ and sys.modules['atlassian'] is atlassian",
        "assert rest_client_class() is rest_client",
        "print('ok')",
    ])
    _prints_ok(code)


def test_threads_asking_at_once_get_the_whole_package_once() -> None:
    """Threads asking for the package's names at the same moment all get them: one runs the
    deferred ``__init__``, the others wait for it instead of seeing a half-made package."""
    code = "\n".join([
        "import sys, threading",
        "from worker.atlassian.library import rest_client_class",
        "rest_client = rest_client_class()",
        "start, got, errors = threading.Barrier(8), [], []",
        "def ask():",
        "    start.wait()",
        "    try:",
        "        from atlassian import Confluence, Jira",
        "        got.append((Jira, Confluence))",
        "    except Exception as exc:",
        "        errors.append(repr(exc))",
        "threads = [threading.Thread(target=ask) for _ in range(8)]",
        "[t.start() for t in threads]",
        "[t.join() for t in threads]",
        "assert errors == [] and len(set(got)) == 1 and len(got) == 8, errors",
        "assert issubclass(got[0][0], rest_client)",
        "print('ok')",
    ])
    _prints_ok(code)
