"""A tiny end-to-end run of the benchmark harness (N=50, no latency) and its pure helpers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bench.__main__ import main as bench_main
from bench.report import chart, performance_markdown, write_json
from bench.run import (
    DEFAULT_POLICIES,
    GUARD_SCRIPT,
    BenchConfig,
    baseline_covers,
    cycle,
    extrapolate,
    run_benchmark,
)


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One benchmark run at N=50 without latency (module-scoped: it spawns three processes)."""
    if not DEFAULT_POLICIES.exists():
        pytest.fail(f"the default policy file is missing: {DEFAULT_POLICIES}")
    logs = tmp_path_factory.mktemp("bench-logs")
    config = BenchConfig(sizes=(50,), latency_ms=0, baseline_max_n=50, planner_n=50, log_dir=logs)
    return run_benchmark(config)


def test_results_file_shape(smoke: dict[str, Any], tmp_path: Path) -> None:
    """The results document has the machine, config, per-size, planner and target sections."""
    path = write_json(smoke, tmp_path / "results.json")
    loaded = json.loads(path.read_text(encoding="utf-8"))
    assert set(loaded) >= {"schema", "machine", "config", "sizes", "planner", "slopes", "targets"}
    assert set(loaded["machine"]) >= {"cpu", "cores", "memory_gb", "python"}
    (size,) = loaded["sizes"]
    assert size["n"] == 50
    assert [c["label"] for c in size["guard"]["cycles"]] == [s[0] for s in GUARD_SCRIPT]
    for part in (*size["guard"]["cycles"], size["baseline"]):
        assert part["wall_s"] > 0
        assert part["peak_rss_mb"] > 0
        assert set(part["requests"]) >= {"total", "reads", "writes"}
    assert loaded["planner"]["tickets"] == 50
    assert loaded["planner"]["tickets_per_s"] > 0
    assert all({"target", "measured", "met"} <= set(t) for t in loaded["targets"])


def test_both_sides_act_on_the_same_tickets(smoke: dict[str, Any]) -> None:
    """Handoff Guard and the baseline write to exactly the same, non-empty set of tickets."""
    (size,) = smoke["sizes"]
    guard = set(size["guard"]["cycles"][0]["acted_keys"])
    assert guard
    assert guard == set(size["baseline"]["acted_keys"])
    assert size["same_tickets"] is True
    assert size["acted_on_exactly_the_deliverables"] is True


def test_unchanged_cycle_writes_nothing(smoke: dict[str, Any]) -> None:
    """The unchanged cycle makes zero write requests and reads no ticket; the first wrote
    once per issue."""
    (size,) = smoke["sizes"]
    first, unchanged = cycle(size, "first"), cycle(size, "unchanged")
    assert unchanged["requests"]["writes"] == 0
    assert (unchanged["read"], unchanged["issues_read"]) == ("incremental", 0)
    assert first["requests"]["writes"] == first["requests"]["acted"] == size["guard_acted"]


def test_churn_is_read_incrementally_and_the_sweep_reads_all(smoke: dict[str, Any]) -> None:
    """People changed tickets and signed a deal before the churn cycles: those read what
    changed (more than nothing, less than everything); the full read reads all 50."""
    (size,) = smoke["sizes"]
    for label in ("churn 0.1%", "churn 1%"):
        c = cycle(size, label)
        assert c["churn"]["tickets"] >= 1
        assert c["read"] == "incremental"
        assert 1 <= c["issues_read"] < 50
    full = cycle(size, "full read")
    assert (full["read"], full["issues_read"], full["requests"]["writes"]) == ("full", 50, 0)
    assert full["cpu_s"] > 0


def test_guard_reads_no_issue_one_by_one(smoke: dict[str, Any]) -> None:
    """The guard's read path makes no per-issue GET (a new store reads the state of the
    tickets it writes to, at most k; the ids of the comments it posted come from the next
    search answer); the baseline makes one per ticket."""
    (size,) = smoke["sizes"]
    first = size["guard"]["cycles"][0]["requests"]
    assert first["per_issue_reads"] == 0
    assert first["state_reads"] <= first["acted"]
    assert size["baseline"]["requests"]["per_issue_reads"] == 50


def test_chart_and_section(smoke: dict[str, Any], tmp_path: Path) -> None:
    """The chart is a PNG and the Performance section carries the table and the targets."""
    png = chart(smoke, tmp_path / "chart.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = performance_markdown(smoke, chart_link="chart.png", json_link="results.json")
    assert text.startswith("# Performance")
    assert "| 50 |" in text
    assert "![wall time and requests against N](chart.png)" in text


def _size(n: int, wall_s: float, total: int) -> dict[str, Any]:
    base = {"wall_s": wall_s, "peak_rss_mb": 100.0,
            "requests": {"total": total, "reads": total - 10, "writes": 10}}  # fmt: skip
    return {"n": n, "baseline": base}


def test_extrapolation_is_linear_from_the_two_largest_sizes() -> None:
    """The baseline at 50,000 continues the line through its two largest measured sizes."""
    sizes = [_size(100, 99.0, 9), _size(1_000, 10.0, 1_100), _size(10_000, 100.0, 11_000)]
    est = extrapolate(sizes, 50_000)
    assert est["extrapolated"] is True
    assert est["from_sizes"] == [1_000, 10_000]
    assert est["wall_s"] == pytest.approx(500.0)
    assert est["requests"]["total"] == 55_000


@pytest.mark.parametrize(
    ("sizes", "baseline_max_n", "covered"),
    [
        ((1_000,), 10_000, True),  # measured
        ((1_000, 10_000, 50_000), 10_000, True),  # 50,000 extrapolated from two
        ((50_000,), 2_000, False),  # nothing to extrapolate from
        ((1_000, 50_000), 2_000, False),  # one measured size is not a line
        ((1_000, 1_000, 50_000), 2_000, False),  # the same size twice is one point
    ],
)
def test_sizes_the_baseline_cannot_cover_are_refused(
    sizes: tuple[int, ...], baseline_max_n: int, covered: bool
) -> None:
    """Every size gets a baseline, measured or extrapolated from two measured sizes."""
    assert baseline_covers(sizes, baseline_max_n) is covered


def test_the_cli_refuses_them_before_measuring(capsys: pytest.CaptureFixture[str]) -> None:
    """`python -m bench --sizes 50000 --baseline-max-n 2000` stops at once with why."""
    with pytest.raises(SystemExit) as stop:
        bench_main(["--sizes", "50000", "--baseline-max-n", "2000"])
    assert stop.value.code == 2
    assert "fewer than two are at or below it" in capsys.readouterr().err
