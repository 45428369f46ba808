"""No secret in any output (issue 15 item 7, issue 11 item 4): a server that echoes the
request's Authorization header back, URL passwords, and tokens set in the wrong variable."""

from __future__ import annotations

import base64
import io
import json
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from werkzeug.test import Client

from tests.service.service_support import PYTHON, ROOT, subprocess_env
from worker.__main__ import main
from worker.cycle.runner import CycleRunner
from worker.cycle.source import PolicySource
from worker.sandbox import Sandbox
from worker.service.probes import wsgi_app
from worker.settings.env import Settings
from worker.settings.errors import SettingsError
from worker.state.store import Store
from worker.telemetry import logs
from worker.telemetry.health import Health
from worker.telemetry.metrics import Metrics

#: the fault: any search answers 500 with the request's credentials in its body
ECHO = [{"path": "/search", "status": 500, "echo_auth": True}]


def _leaks(sandbox: Sandbox) -> tuple[str, ...]:
    """Every form of the bot's credentials that must never be printed."""
    pair = f"{sandbox.bot_email}:{sandbox.bot_token}"
    return (sandbox.bot_token, base64.b64encode(pair.encode()).decode(), pair)


def _found(text: str, leaks: tuple[str, ...]) -> list[str]:
    return [leak for leak in leaks if leak in text]


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """The process's log as JSON lines, in memory."""
    stream = io.StringIO()
    logs.configure(log_format="json", level="DEBUG", stream=stream)
    yield stream
    logs.configure(log_format="json", level="WARNING", stream=io.StringIO())


def test_the_echo_fault_really_echoes_the_credentials(demo_sandbox: Sandbox) -> None:
    """The sandbox side: the fault's body holds the header, its decoded pair and the token."""
    import requests

    demo_sandbox.add_faults(ECHO)
    answer = requests.post(f"{demo_sandbox.url}/rest/api/3/search/jql", json={"jql": ""},
                           auth=(demo_sandbox.bot_email, demo_sandbox.bot_token), timeout=10)
    assert answer.status_code == 500
    assert len(_found(answer.text, _leaks(demo_sandbox))) == 3


def test_no_secret_in_any_output_when_the_server_echoes_it(
    demo_sandbox: Sandbox, settings: Settings, json_log: io.StringIO, no_sleep: list[float]
) -> None:
    """A cycle whose search answers with the Authorization header echoed: the token, its
    Basic form and the decoded user:token appear in no log line, summary, /readyz (/healthz) body,
    metrics text or store row (before: the summary's and /healthz's `error` printed them)."""
    demo_sandbox.add_faults(ECHO)
    health, metrics = Health(interval_s=60), Metrics()
    store = Store.open(settings.state)
    runner = CycleRunner(settings, store, health=health, metrics=metrics,
                         source=PolicySource(settings.config_path, health=health))
    report = runner.run()
    store.close()
    assert report.error_kind == "unreachable"
    assert report.error is not None
    assert "Authorization: Basic ***" in report.error  # the message stays, the secret not
    leaks = _leaks(demo_sandbox)
    outputs = {
        "summary": json.dumps(report.summary(), default=str),
        "healthz": Client(wsgi_app(health, metrics)).get("/healthz").get_data(as_text=True),
        "readyz": Client(wsgi_app(health, metrics)).get("/readyz").get_data(as_text=True),
        "metrics": metrics.render().decode(),
        "log": json_log.getvalue(),
        "store": "\n".join(sqlite3.connect(settings.state).iterdump()),
    }
    assert "Authorization" in outputs["healthz"]
    assert outputs["readyz"] == outputs["healthz"]
    assert {name: _found(text, leaks) for name, text in outputs.items()} == {
        name: [] for name in outputs
    }


@pytest.mark.timeout(120)
def test_run_once_prints_no_secret_when_the_server_echoes_it(
    demo_sandbox: Sandbox, config_dir: Path, tmp_path: Path
) -> None:
    """`run --once` as a process: stdout (the summary), stderr (logs and the error line) and
    the store hold none of the echoed credentials."""
    demo_sandbox.add_faults(ECHO)
    env = subprocess_env(demo_sandbox, config_dir, tmp_path)
    done = subprocess.run([PYTHON, "-m", "worker", "run", "--once"], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=110, check=False)
    assert done.returncode == 2, done.stderr[-2000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["error_kind"] == "unreachable"
    assert "cycle failed (unreachable)" in done.stderr
    store = "\n".join(sqlite3.connect(tmp_path / "var" / "state.db").iterdump())
    leaks = _leaks(demo_sandbox)
    assert _found(done.stdout, leaks) == []
    assert _found(done.stderr, leaks) == []
    assert _found(store, leaks) == []


TOKEN = "ATATT3xFfGF0-not-a-real-token-9f8e7d"


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("JIRA_URL", f"https://bot%40example.com:{TOKEN}@acme.atlassian.net",
         "JIRA_URL must not contain credentials"),
        ("JIRA_URL", f"https://{TOKEN}@acme.atlassian.net", "JIRA_URL must not contain"),
        ("JIRA_URL", TOKEN, "JIRA_URL must be an http(s) URL"),
        ("CONFLUENCE_URL", f"https://u:{TOKEN}@acme.atlassian.net/wiki",
         "CONFLUENCE_URL must not contain credentials"),
        ("JIRA_FLAVOR", TOKEN, "JIRA_FLAVOR must be 'cloud' or 'datacenter'"),
        ("HANDOFF_GUARD_HTTP_PORT", TOKEN, "HANDOFF_GUARD_HTTP_PORT must be a port number"),
        ("HANDOFF_GUARD_LOG_FORMAT", TOKEN, "HANDOFF_GUARD_LOG_FORMAT must be 'json'"),
        ("HANDOFF_GUARD_TIMEOUT_S", TOKEN, "HANDOFF_GUARD_TIMEOUT_S must be a whole number"),
        ("HANDOFF_GUARD_RETENTION_DAYS", "-" + TOKEN,
         "HANDOFF_GUARD_RETENTION_DAYS must be a whole number"),
    ],
    ids=["url-userinfo", "url-user-only", "url-is-a-token", "confluence-userinfo", "flavor",
         "port", "log-format", "timeout", "retention"],
)
def test_settings_errors_name_the_variable_never_the_value(
    name: str, value: str, expected: str
) -> None:
    """A token in the wrong variable: the error names the variable and hides the value."""
    with pytest.raises(SettingsError) as info:
        Settings.from_env({name: value})
    message = str(info.value)
    assert message.startswith(expected)
    assert "its value is not shown" in message
    assert TOKEN not in message
    assert value not in message


def test_cli_settings_error_hides_the_value(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The CLI prints the settings error with the variable's name and exits 1, no value."""
    monkeypatch.setenv("JIRA_URL", f"https://bot:{TOKEN}@acme.atlassian.net")
    assert main(["validate", str(ROOT / "config" / "policies.yaml")]) == 1
    err = capsys.readouterr().err
    assert "JIRA_URL must not contain credentials" in err
    assert TOKEN not in err


def test_a_store_url_password_is_a_secret_everywhere(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`HANDOFF_GUARD_STATE=postgresql://u:pw@host/db`: the password is registered with the
    scrubber, so neither the "cannot open" error nor any later output shows it."""
    password = "s3cretPassw0rd-for-the-store"
    monkeypatch.setenv("HANDOFF_GUARD_STATE", f"postgresql://u:{password}@127.0.0.1:1/db")
    assert password in Settings.from_env().secrets()
    assert main(["history"]) == 1
    err = capsys.readouterr().err
    assert "cannot open the state store at" in err
    assert password not in err
    logs.register_secrets(Settings.from_env().secrets())
    assert logs.scrub(f"psql: password {password} rejected") == "psql: password *** rejected"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("at postgresql+psycopg://u:pw@db:5432/hg", "at postgresql+psycopg://u:***@db:5432/hg"),
        ("GET https://tok3n@acme.atlassian.net/rest", "GET https://***@acme.atlassian.net/rest"),
        ("see https://example.com/a@b and mailto:a@b.com", "see https://example.com/a@b and "
                                                           "mailto:a@b.com"),
        ('{"Authorization": "Basic Ym90OnRva2Vu"}', '{"Authorization": "Basic ***"}'),
    ],
    ids=["store-url", "user-only", "not-userinfo", "json-header"],
)
def test_scrub_masks_url_passwords_and_echoed_headers(text: str, expected: str) -> None:
    """The one scrubber masks URL userinfo and Authorization values, registered or not."""
    assert logs.scrub(text) == expected


def test_cli_json_documents_go_through_the_scrubber() -> None:
    """`plan`/`history --format json` print through print_json: a reason quoting a secret is
    masked; our own keys stay (a key named like a credential is not ours to hide here)."""
    from worker.cli.render import print_json

    logs.register_secrets([TOKEN])
    out = io.StringIO()
    print_json({"decisions": [{"reason": f"read failed: echo {TOKEN}", "token_count": 3}]},
               stream=out)
    assert json.loads(out.getvalue()) == {
        "decisions": [{"reason": "read failed: echo ***", "token_count": 3}]
    }
