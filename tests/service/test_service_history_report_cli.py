"""``history`` and ``report`` on the command line, after a real cycle on the demo site."""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path

import pytest

from tests.service.conftest import Cli
from worker.sandbox import Sandbox

REPORT = """
report:
  space: PS
  title: Handoff Guard weekly report
"""


@pytest.fixture
def cycled(cli: Cli) -> Cli:
    """The demo site after one enforcing cycle (14 tickets written)."""
    code, out, _ = cli("run", "--once")
    assert code == 0, out
    return cli


def test_history_story_filters_and_formats(cycled: Cli) -> None:
    """--issue tells the story; filters narrow; CSV and JSON parse with documented shapes."""
    code, out, _ = cycled("history", "--issue", "ACME-1")
    assert code == 0
    assert "The story of ACME-1" in out
    assert "comment" in out
    assert "applied" in out
    code, out, _ = cycled("history", "--format", "csv", "--outcome", "applied")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rows
    assert {r["outcome"] for r in rows} == {"applied"}
    code, out, _ = cycled("history", "--format", "json", "--policy", "sales-directing-pm")
    data = json.loads(out)
    assert data["rows"]
    assert all(r["dry_run"] for r in data["rows"])
    assert data["filters"]["policy"] == "sales-directing-pm"
    code, out, _ = cycled("history", "--format", "json", "--customer", "no such customer")
    assert json.loads(out)["count"] == 0
    code, out, _ = cycled("history", "--customer", "no such customer")
    assert "matches these filters" in out
    code, _, err = cycled("history", "--since", "last tuesday")
    assert code == 1
    assert "7d" in err


def test_history_on_a_fresh_store(cli: Cli) -> None:
    """A fresh store says so, and exits 0."""
    code, out, _ = cli("history")
    assert code == 0
    assert "No cycles recorded yet" in out


def test_report_markdown_and_chart(cycled: Cli, tmp_path: Path) -> None:
    """The report prints Markdown and writes the chart next to the store."""
    code, out, err = cycled("report")
    assert code == 0
    assert out.startswith("# Handoff Guard report")
    assert "Flagged: " in out
    chart = Path(err.strip().splitlines()[-1].removeprefix("chart: "))
    assert chart.read_bytes()[:4] == b"\x89PNG"
    target = tmp_path / "out" / "report.json"
    code, out, _ = cycled("report", "--format", "json", "--out", str(target), "--since", "2w")
    assert code == 0
    data = json.loads(target.read_text(encoding="utf-8"))
    # 2 weeks asked; the store's first cycle ran this week, so the report starts there
    assert len(data["weeks"]) == 1
    assert data["since_first_cycle"] == data["period"]["since"]
    assert Path(data["chart"]).is_file()


def test_report_on_a_fresh_store(cli: Cli) -> None:
    """No cycles yet: a clear report, exit 0."""
    code, out, _ = cli("report")
    assert code == 0
    assert "No cycles recorded yet" in out


def test_report_publish(cycled: Cli, config_dir: Path, demo_sandbox: Sandbox) -> None:
    """--publish needs a report: section; with one it creates the page and says where."""
    code, _, err = cycled("report", "--publish")
    assert code == 1
    assert "report:" in err
    policies = config_dir / "policies.yaml"
    policies.write_text(policies.read_text(encoding="utf-8") + REPORT, encoding="utf-8")
    code, out, _ = cycled("report", "--publish")
    assert code == 0
    assert "Published: page" in out
    assert "created" in out
    code, out, _ = cycled("report", "--publish")
    assert "updated (version 2)" in out


def test_report_without_matplotlib_says_how_to_get_the_chart(
    cycled: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """matplotlib is the optional extra `chart`: without it `report` still writes every
    format, exit 0, no image link, and says what to install instead of a chart path."""
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    code, out, err = cycled("report")
    assert code == 0
    assert out.startswith("# Handoff Guard report")
    assert "![" not in out
    assert "chart: not drawn (the chart needs matplotlib" in err
    assert "pip install 'handoff-guard[chart]'" in err
    target = tmp_path / "out" / "report.json"
    code, out, _ = cycled("report", "--format", "json", "--out", str(target))
    assert code == 0
    assert json.loads(target.read_text(encoding="utf-8"))["chart"] is None
    assert "chart: not drawn" in out
    assert not list(target.parent.glob("*.png"))
    page = tmp_path / "out" / "report.html"
    code, _, _ = cycled("report", "--format", "html", "--out", str(page))
    assert code == 0
    assert "<img" not in page.read_text(encoding="utf-8")
