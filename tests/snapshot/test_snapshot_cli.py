"""``python -m worker snapshot``: in-process, against the demo site in both flavors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli_support import POLICIES, Cli, in_process_cli, site_env
from worker.sandbox import Sandbox, load_site


@pytest.fixture
def cli(source: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> Iterator[Cli]:
    """``main(argv)`` with the environment pointing at the served demo site."""
    yield from in_process_cli(site_env(source, config=POLICIES, state=tmp_path / "state.db"),
                              monkeypatch, capsys)


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
