"""Exit code 2 when what answers at JIRA_URL is not Jira (issue 15 item 9): an SSO login page
served with 200, or a server without ``serverInfo``; with a hint, never "invalid config" (1)."""

from __future__ import annotations

import pytest

from tests.cli_support import Cli
from worker.sandbox import Sandbox

SSO_PAGE = ("<!DOCTYPE html><html><head><title>Sign in - Example Corp SSO</title></head>"
            "<body><form action=\"/idp/login\">...</form></body></html>")
HTML = {"Content-Type": "text/html; charset=utf-8"}


@pytest.mark.parametrize(
    ("fault", "hint"),
    [
        ({"path": "/serverInfo", "status": 200, "body": SSO_PAGE, "headers": HTML},
         "answer is an HTML page, not JSON (is JIRA_URL the site's base URL? an SSO page "
         "answered)"),
        ({"path": "/", "status": 200, "body": SSO_PAGE, "headers": HTML},
         "(is JIRA_URL the site's base URL? an SSO page answered)"),
        ({"path": "/serverInfo", "status": 404, "body": SSO_PAGE, "headers": HTML},
         "-> 404: NOT FOUND (is JIRA_URL the site's base URL? it has no Jira REST API)"),
    ],
    ids=["sso-page-at-serverinfo", "sso-page-everywhere", "no-serverinfo"],
)
@pytest.mark.parametrize("flavor", ["cloud", ""], ids=["flavor-set", "flavor-detected"])
@pytest.mark.parametrize("command", [("run", "--once"), ("plan",)], ids=["run-once", "plan"])
def test_not_jira_at_jira_url_exits_2_with_a_hint(
    cli: Cli, demo_sandbox: Sandbox, fault: dict[str, object], hint: str, flavor: str,
    command: tuple[str, ...],
) -> None:
    """Whether the flavor is set or detected, `run --once` and `plan` exit 2 (cannot reach the
    site) and say what to check; before, they exited 1 ("invalid configuration")."""
    demo_sandbox.add_faults([fault])
    code, _out, err = cli(*command, JIRA_FLAVOR=flavor)
    assert code == 2, err
    assert hint in err
    assert "Sign in" not in err  # the page itself is not echoed
