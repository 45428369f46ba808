"""``python -m worker snapshot``: in-process, against the demo site in both flavors."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.snapshot.conftest import POLICIES
from worker.__main__ import main
from worker.sandbox import Sandbox, load_site
from worker.telemetry import logs

Cli = Callable[..., tuple[int, str, str]]


@pytest.fixture
def cli(source: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> Iterator[Cli]:
    """``main(argv)`` with the environment pointing at the served demo site."""
    for key in ("JIRA_USERNAME", "JIRA_API_TOKEN", "JIRA_PERSONAL_TOKEN", "CONFLUENCE_URL"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("JIRA_URL", source.url)
    monkeypatch.setenv("JIRA_FLAVOR", source.flavor)
    if source.flavor == "cloud":
        monkeypatch.setenv("JIRA_USERNAME", source.bot_email)
        monkeypatch.setenv("JIRA_API_TOKEN", source.bot_token)
    else:
        monkeypatch.setenv("JIRA_PERSONAL_TOKEN", source.bot_token)
        monkeypatch.setenv("CONFLUENCE_URL", source.url + "/wiki")
    monkeypatch.setenv("HANDOFF_GUARD_CONFIG", str(POLICIES))
    monkeypatch.setenv("HANDOFF_GUARD_STATE", str(tmp_path / "state.db"))
    monkeypatch.setenv("HANDOFF_GUARD_LOG_FORMAT", "json")

    def run(*argv: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    yield run
    logs.configure(log_format="json", level="WARNING", stream=io.StringIO())


def test_snapshot_writes_a_site_file_the_sandbox_loads(cli: Cli, tmp_path: Path,
                                                       source: Sandbox) -> None:
    """snapshot --out FILE --anonymize exits 0, says what it wrote, and the file loads."""
    out_file = tmp_path / "site.yaml"
    code, out, err = cli("snapshot", "--out", str(out_file), "--anonymize", "--issues", "10")
    assert code == 0, err
    assert "10 tickets" in out
    assert "anonymized" in out
    assert f"sandbox --site {out_file}" in out
    site = load_site(out_file)
    assert len(site.issues) == 10
    assert site.flavor == source.flavor
    # read-only: nothing but reads reached the site
    assert {r["method"] for r in source.requests()} <= {"GET", "POST"}
    assert all(r["path"].endswith(("/search/jql", "/search")) for r in source.requests()
               if r["method"] == "POST")


def test_snapshot_needs_out(cli: Cli) -> None:
    """Without --out the command is a usage error (exit 1)."""
    assert cli("snapshot")[0] == 1
