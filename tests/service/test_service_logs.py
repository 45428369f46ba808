"""Secret redaction: tokens never reach a log line, whatever path they take to get there."""

from __future__ import annotations

import base64
import io
import json
import logging
import subprocess
from pathlib import Path
from typing import Any

import pytest
import structlog
from structlog.testing import capture_logs

from tests.service.service_support import PYTHON, ROOT, subprocess_env
from worker.sandbox import Sandbox
from worker.telemetry import logs

TOKEN = "s3cr3t-token-value"


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        ({"event": "x", "api_token": TOKEN}, {"event": "x", "api_token": "***"}),
        ({"event": "x", "password": "hunter22"}, {"event": "x", "password": "***"}),
        ({"event": "x", "headers": {"Authorization": "Basic abc", "Accept": "json"}},
         {"event": "x", "headers": {"Authorization": "***", "Accept": "json"}}),
        ({"event": "x", "detail": f"sent {TOKEN} to the server"},
         {"event": "x", "detail": "sent *** to the server"}),
        ({"event": "x", "detail": "Authorization: Bearer abcdefghijkl"},
         {"event": "x", "detail": "Authorization: Bearer ***"}),
        ({"event": "x", "items": [f"a {TOKEN}", {"client_secret": 1}]},
         {"event": "x", "items": ["a ***", {"client_secret": "***"}]}),
        ({"event": "x", "token": None}, {"event": "x", "token": None}),
        ({"event": "jira.retry", "attempt": 2, "wait_s": 1.5},
         {"event": "jira.retry", "attempt": 2, "wait_s": 1.5}),
    ],
)
def test_redact_masks_secret_keys_values_and_headers(
    event: dict[str, Any], expected: dict[str, Any]
) -> None:
    """The processor masks credential keys, registered secrets and Authorization credentials."""
    logs.register_secrets([TOKEN])
    assert logs.redact(None, "info", dict(event)) == expected


def test_basic_auth_form_of_a_secret_is_masked() -> None:
    """base64(username:token), as in a dumped Basic header, is masked too."""
    logs.register_secrets([TOKEN], usernames=["bot@example.com"])
    encoded = base64.b64encode(f"bot@example.com:{TOKEN}".encode()).decode()
    out = logs.redact(None, "info", {"event": "x", "raw": f"header {encoded} end"})
    assert encoded not in json.dumps(out)


def test_capture_logs_with_the_redactor() -> None:
    """Events logged through structlog carry no secret once the redactor ran."""
    logs.register_secrets([TOKEN])
    with capture_logs(processors=[logs.redact]) as captured:
        structlog.get_logger("t").error("jira.failed", error=f"401 for token {TOKEN}",
                                        auth_token=TOKEN)
    assert captured == [
        {"event": "jira.failed", "error": "401 for token ***", "auth_token": "***",
         "log_level": "error"}
    ]


def test_configured_pipeline_redacts_structlog_and_stdlib_and_quiets_atlassian() -> None:
    """A real configured pipeline: JSON lines, ISO timestamps, no secret, no library DEBUG."""
    stream = io.StringIO()
    logs.configure(log_format="json", level="DEBUG", stream=stream, secrets=[TOKEN])
    try:
        structlog.get_logger("t").info("demo.event", note=f"token={TOKEN}")
        logging.getLogger("some.library").warning("Authorization: Basic %s", "QWxhZGRpbjpvcGVu")
        logging.getLogger("atlassian.rest_client").debug("response body %s", TOKEN)
        logging.getLogger("urllib3.connectionpool").debug("https://x %s", TOKEN)
        try:
            raise RuntimeError(f"boom {TOKEN}")
        except RuntimeError:
            structlog.get_logger("t").exception("demo.failed")
    finally:
        logs.configure(log_format="json", level="WARNING", stream=io.StringIO())
    text = stream.getvalue()
    lines = [json.loads(line) for line in text.splitlines()]
    assert [line["event"] for line in lines] == [
        "demo.event", "Authorization: Basic ***", "demo.failed"
    ]
    assert TOKEN not in text
    assert "QWxhZGRpbjpvcGVu" not in text
    assert lines[0]["timestamp"].endswith("Z")
    assert "boom ***" in lines[2]["exception"]


def test_a_real_debug_run_never_logs_the_token(
    demo_sandbox: Sandbox, config_dir: Path, tmp_path: Path
) -> None:
    """`run --once --dry-run -v` against the sandbox: the token is nowhere in its output."""
    env = subprocess_env(demo_sandbox, config_dir, tmp_path)
    done = subprocess.run(
        [PYTHON, "-m", "worker", "-v", "run", "--once", "--dry-run"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    both = done.stdout + done.stderr
    basic = base64.b64encode(f"{demo_sandbox.bot_email}:{demo_sandbox.bot_token}".encode())
    assert demo_sandbox.bot_token not in both
    assert basic.decode() not in both
    assert '"event": "cycle.finished"' in done.stderr
