"""Every setting a person can get wrong ends in one line that says what to do, never in a
traceback; library chatter stays out of the output unless --verbose; every subcommand's
--help has a description and examples. Real commands against the demo sandbox."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.service.conftest import Cli
from tests.service.service_support import DEMO_SITE, subprocess_env
from worker.__main__ import main
from worker.cli.parser import build_parser
from worker.sandbox import Sandbox
from worker.telemetry import logs

#: (what is set (None: unset), the command, exit code, words the one error line holds)
MISTAKES: list[tuple[dict[str, str | None], tuple[str, ...], int, str]] = [
    ({"JIRA_URL": None}, ("plan",), 1, "JIRA_URL is not set (e.g. https://"),
    ({"JIRA_URL": "jira.example.com"}, ("plan",), 1, "JIRA_URL must be an http(s) URL"),
    ({"JIRA_URL": "https://bot:secret@jira.example.com"}, ("plan",), 1,
     "JIRA_URL must not contain credentials"),
    ({"JIRA_URL": "http://127.0.0.1:9"}, ("plan",), 2, "cannot reach Atlassian"),
    ({"JIRA_FLAVOR": "onprem"}, ("plan",), 1, "JIRA_FLAVOR must be 'cloud' or 'datacenter'"),
    ({"JIRA_API_TOKEN": None}, ("plan",), 1, "JIRA_API_TOKEN is not set"),
    ({"JIRA_USERNAME": None}, ("plan",), 1, "JIRA_USERNAME is not set"),
    ({"JIRA_API_TOKEN": "wrong-token"}, ("plan",), 2, "cannot authenticate to Atlassian"),
    ({"JIRA_FLAVOR": "datacenter", "JIRA_API_TOKEN": None}, ("plan",), 1,
     "JIRA_PERSONAL_TOKEN is not set"),
    ({"CONFLUENCE_URL": "wiki.example.com"}, ("plan",), 1,
     "CONFLUENCE_URL must be an http(s) URL"),
    ({"HANDOFF_GUARD_CONFIG": "/nonexistent/policies.yaml"}, ("plan",), 1,
     "/nonexistent/policies.yaml"),
    ({"HANDOFF_GUARD_CONFIG": "/tmp"}, ("plan",), 1, "/tmp"),
    ({"HANDOFF_GUARD_STATE": "mysql://bot:pw@db.example.com/guard"}, ("plan",), 1,
     "HANDOFF_GUARD_STATE: mysql:// is not a supported state store; use a file path"),
    ({"HANDOFF_GUARD_STATE": "postgresql+asyncpg://bot@db/guard"}, ("history",), 1,
     "postgresql+asyncpg:// is not a supported state store"),
    ({"HANDOFF_GUARD_STATE": "/proc/no-such-dir/state.db"}, ("history",), 1,
     "cannot open the state store"),
    ({"HANDOFF_GUARD_HTTP_PORT": "http"}, ("plan",), 1, "HANDOFF_GUARD_HTTP_PORT must be"),
    ({"HANDOFF_GUARD_HTTP_PORT": "70000"}, ("plan",), 1, "within 0-65535"),
    ({"HANDOFF_GUARD_HTTP_HOST": "http://0.0.0.0:9464"}, ("plan",), 1,
     "HANDOFF_GUARD_HTTP_HOST must be an address"),
    ({"HANDOFF_GUARD_LOG_FORMAT": "xml"}, ("plan",), 1, "'json' or 'console'"),
    ({"HANDOFF_GUARD_TIMEOUT_S": "0.5"}, ("plan",), 1, "HANDOFF_GUARD_TIMEOUT_S must be"),
    ({"HANDOFF_GUARD_RETENTION_DAYS": "-3"}, ("plan",), 1, "greater than 0"),
    ({"HANDOFF_GUARD_INCREMENTAL": "maybe"}, ("plan",), 1, "HANDOFF_GUARD_INCREMENTAL"),
    ({"HANDOFF_GUARD_READ_MARGIN_S": "soon"}, ("plan",), 1, "HANDOFF_GUARD_READ_MARGIN_S"),
    ({"HANDOFF_GUARD_FULL_SWEEP_S": "0"}, ("plan",), 1, "HANDOFF_GUARD_FULL_SWEEP_S"),
    ({"HANDOFF_GUARD_WRITES_IN_FLIGHT": "many"}, ("plan",), 1,
     "HANDOFF_GUARD_WRITES_IN_FLIGHT"),
    ({"HANDOFF_GUARD_WRITE_RATE": "1.5"}, ("plan",), 1, "HANDOFF_GUARD_WRITE_RATE"),
    ({"HANDOFF_GUARD_LEASE_S": "x"}, ("plan",), 1, "HANDOFF_GUARD_LEASE_S"),
]


def _no_traceback(out: str, err: str) -> None:
    assert "Traceback" not in out + err
    for line in err.splitlines():
        if line.startswith("{"):
            assert "exception" not in json.loads(line), line


@pytest.mark.parametrize(("env", "argv", "code", "words"), MISTAKES,
                         ids=[" ".join(f"{k}={v}" for k, v in m[0].items()) for m in MISTAKES])
def test_a_setting_gone_wrong_says_what_to_do(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, env: dict[str, str | None],
    argv: tuple[str, ...], code: int, words: str,
) -> None:
    """One error line naming the setting and the fix; the exit code of its family."""
    for key, value in env.items():
        if value is None:
            monkeypatch.delenv(key, raising=False)
        else:
            monkeypatch.setenv(key, value)
    got, out, err = cli(*argv)
    _no_traceback(out, err)
    assert got == code, err
    errors = [line for line in err.splitlines() if line.startswith("handoff-guard: error: ")]
    assert len(errors) == 1, err
    assert words in errors[0]
    assert "Reading None" not in out
    assert "pw@" not in err  # the store URL's password is not shown


@pytest.fixture
def dc_demo(tmp_path: Path) -> Iterator[Sandbox]:
    """The demo site as Jira Data Center (its Confluence under /wiki, which Jira links to)."""
    site = yaml.safe_load(DEMO_SITE.read_text(encoding="utf-8"))
    site["site"]["flavor"] = "datacenter"
    with Sandbox.start(site) as sandbox:
        yield sandbox


def test_data_center_without_confluence_url(
    dc_demo: Sandbox, config_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """On Data Center, an unset CONFLUENCE_URL is named, with the Confluence Jira links to;
    set to that, the same plan reads the deal pages."""
    env = subprocess_env(dc_demo, config_dir, tmp_path)
    env.pop("JIRA_USERNAME")
    env.pop("JIRA_API_TOKEN")
    env.update(JIRA_FLAVOR="datacenter", JIRA_PERSONAL_TOKEN=dc_demo.bot_token)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("CONFLUENCE_URL", raising=False)
    try:
        assert main(["plan"]) == 1
        out, err = capsys.readouterr()
        _no_traceback(out, err)
        (line,) = [x for x in err.splitlines() if x.startswith("handoff-guard: error: ")]
        assert line == (
            f"handoff-guard: error: CONFLUENCE_URL is not set, and Confluence is not at Jira's "
            f"URL {dc_demo.url} (GET rest/api/content/search answered 404). On Jira Data "
            f"Center, Confluence is a server of its own: Jira links to a Confluence at "
            f"{dc_demo.url}/wiki: set CONFLUENCE_URL={dc_demo.url}/wiki")
        monkeypatch.setenv("CONFLUENCE_URL", f"{dc_demo.url}/wiki")
        assert main(["plan"]) == 0
        out, err = capsys.readouterr()
        _no_traceback(out, err)
        assert "ACME-1" in out
    finally:
        logs.configure(log_format="json", level="WARNING", stream=io.StringIO())


@pytest.mark.parametrize(("verbose", "chatty"), [(False, False), (True, True)])
def test_library_chatter_only_with_verbose(cli: Cli, verbose: bool, chatty: bool) -> None:
    """Alembic's INFO lines (a new store is migrated here) show only with --verbose."""
    argv = ("--verbose", "run", "--once", "--dry-run") if verbose else ("run", "--once",
                                                                          "--dry-run")
    code, _, err = cli(*argv, HANDOFF_GUARD_LOG_FORMAT="console")
    assert code == 0, err
    assert ("alembic" in err) is chatty
    assert ("Context impl" in err) is chatty
    assert "cycle.finished" in err  # our own INFO events stay


def test_every_subcommand_has_a_description_and_examples() -> None:
    """--help of each subcommand explains it and shows how it is called."""
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    names = sorted(sub.choices)  # type: ignore[arg-type]
    assert {"validate", "explain", "sandbox", "snapshot", "schema", "demo"} <= set(names)
    for name in names:
        text = sub.choices[name].format_help()  # type: ignore[index]
        _usage, _, rest = text.partition("\n\n")
        description = rest.split("\n\n", 1)[0]
        assert not description.startswith(("positional", "options")), (name, text)
        assert len(description) > 40, name
        assert "examples:\n  handoff-guard " + name in text, name
