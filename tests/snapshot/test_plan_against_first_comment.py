"""``plan --against`` before any comment is posted: an edit that changes what the first
comment would announce, or how it reads, is a difference (both flavors, over HTTP)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cli_support import Cli, in_process_cli, private_config, site_env
from tests.snapshot.conftest import with_flavor
from worker.sandbox import Sandbox

#: the Sales-deliverable tickets whose first comment (announcing step 2) is due now
FIRST = ["ACME-1", "ACME-2", "ACME-3", "HOOLI-1", "INITECH-1", "INITECH-2", "SALES-3",
         "SALES-5", "UMB-4"]

@pytest.fixture(scope="module", params=["cloud", "datacenter"])
def fresh(request: pytest.FixtureRequest, demo_data: dict[str, Any]) -> Iterator[Sandbox]:
    """The demo site before any cycle."""
    with Sandbox.start(with_flavor(demo_data, str(request.param))) as sb:
        yield sb


@pytest.fixture
def cli(fresh: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> Iterator[Cli]:
    """``main(argv)`` in-process against the fresh site, with a private policy folder."""
    config = private_config(tmp_path)
    env = site_env(fresh, config=config / "policies.yaml", state=tmp_path / "state.db")
    yield from in_process_cli(env, monkeypatch, capsys)


def _new_file(tmp_path: Path, old: str, new: str) -> Path:
    config = tmp_path / "config"
    text = (config / "policies.yaml").read_text(encoding="utf-8")
    assert old in text
    target = config / "new.yaml"
    target.write_text(text.replace(old, new, 1), encoding="utf-8")
    return target


def test_a_longer_grace_period_moves_the_announced_date(cli: Cli, tmp_path: Path) -> None:
    """2 -> 4 business days: each first comment due now would announce Friday instead of
    Wednesday (the demo clock is Monday 2 November): different-date, with both dates."""
    new = _new_file(tmp_path, "after: 2 business days", "after: 4 business days")
    code, out, err = cli("plan", "--against", str(new), "--format", "json")
    assert code == 4, err
    changes = {c["issue"]: c for c in json.loads(out)["changes"]}
    assert {k: c["change"] for k, c in changes.items()} == dict.fromkeys(FIRST, "different-date")
    before, after = changes["ACME-1"]["before"][0], changes["ACME-1"]["after"][0]
    assert before["step"] == after["step"] == 1
    assert before["announces"]["step"] == after["announces"]["step"] == 2
    assert before["announces"]["at"].startswith("2026-11-04")
    assert after["announces"]["at"].startswith("2026-11-06")
    assert before["texts"] != after["texts"]  # the comment says the date too
    code, text, _ = cli("plan", "--against", str(new))
    assert code == 4
    line = next(x.strip() for x in text.splitlines()
                if x.strip().startswith("ACME-1  different-date:"))
    assert "announcing step 2 for Wed 2026-11-04" in line
    assert "announcing step 2 for Fri 2026-11-06" in line


def test_a_reworded_comment_is_a_difference(cli: Cli, tmp_path: Path) -> None:
    """A template edit that changes only words: different-text, quoting the line."""
    current = tmp_path / "config" / "policies.yaml"
    # the current file keeps the shipped template; the new one points at a reworded copy
    templates = tmp_path / "config" / "templates-new"
    shutil.copytree(tmp_path / "config" / "templates", templates)
    path = templates / "sales-deliverable.j2"
    shipped = path.read_text(encoding="utf-8")
    assert "Hello from Handoff Guard." in shipped
    path.write_text(shipped.replace("Hello from Handoff Guard.", "Hi, Handoff Guard here.", 1),
                    encoding="utf-8")
    text = current.read_text(encoding="utf-8")
    new = tmp_path / "config" / "new.yaml"
    assert "templates: templates\n" in text
    new.write_text(text.replace("templates: templates\n", "templates: templates-new\n", 1),
                   encoding="utf-8")
    code, out, err = cli("plan", "--against", str(new), "--format", "json")
    assert code == 4, err
    changes = {c["issue"]: c for c in json.loads(out)["changes"]}
    assert {k: c["change"] for k, c in changes.items()} == dict.fromkeys(FIRST, "different-text")
    (detail,) = changes["ACME-1"]["details"]
    assert detail.startswith("sales-deliverable-before-signature comment line 1: "
                             "'Hello from Handoff Guard. ACME-1 looks like Sales work")
    assert "-> 'Hi, Handoff Guard here. ACME-1 looks like Sales work" in detail
