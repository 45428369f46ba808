"""The report's chart, read from matplotlib's own objects after a draw: the legend sits beside
the bars and never covers one (whatever the number of causes and the length of their names),
and the x axis holds exactly the weeks the report shows, from the bot's first cycle."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import matplotlib.pyplot as plt
import pytest
from matplotlib.transforms import Bbox

from tests.report.history_factories import ACME, COMMENT, T0, shipped_policies
from worker.model.plan import Decision
from worker.model.vocabulary import Mode
from worker.policy import load_policies
from worker.report import Report, load_report
from worker.report.chart import SIZE_PX, chart_figure
from worker.report.context import ReportContext, context_from
from worker.state.records import CycleRecord
from worker.state.store import Store

#: the bot's first cycle ran 5 weeks before the report's end; the report asks for 12
FIRST = T0 - timedelta(weeks=4)
UNTIL = T0 + timedelta(days=4)
ASKED_WEEKS = 12
#: a long cause name, as an admin writes descriptions: whole sentences
LONG = ("Someone outside the delivery team keeps asking a project manager for a document "
        "that only Sales can produce, before the customer has signed anything at all")


def _record(store: Store, policies: dict[str, Mode]) -> None:
    """One cycle a week from ``FIRST``; each week every policy flags more new tickets (the
    bars grow to the right edge, where a legend inside the axes would sit)."""
    for week in range(5):
        at = FIRST + timedelta(weeks=week)
        run_id = f"w{week}"
        store.start_cycle(CycleRecord(run_id=run_id, started_at=at, dry_run=False,
                                      status="running"))
        store.finish_cycle(CycleRecord(run_id=run_id, started_at=at, dry_run=False,
                                       status="ok", finished_at=at, site_now=at))
        store.record_decisions(run_id, at, [
            Decision(f"T{n}-{week}-{i}", policy, mode, "act", (COMMENT,), step=0, subject=ACME)
            for n, (policy, mode) in enumerate(policies.items())
            for i in range(2 + week * 3)
        ])


def _figure(tmp_path: Path, policies: dict[str, Mode], context: ReportContext) -> Iterator[Any]:
    store = Store.open(tmp_path / "chart.db")
    try:
        _record(store, policies)
        report = load_report(store, since=UNTIL - timedelta(weeks=ASKED_WEEKS), until=UNTIL,
                             tz=ZoneInfo("UTC"), generated_at=UNTIL, context=context)
    finally:
        store.close()
    fig = chart_figure(report)
    try:
        fig.canvas.draw()
        yield report, fig
    finally:
        plt.close(fig)


def _shipped(tmp_path: Path) -> tuple[dict[str, Mode], ReportContext]:
    policies = load_policies(shipped_policies(tmp_path))
    return ({p.id: p.mode for p in policies.policies},
            context_from(policies, "https://jira.example.test"))


def _many(count: int) -> tuple[dict[str, Mode], ReportContext]:
    ids = [f"cause-{n}" for n in range(count)]
    return ({pid: "dry-run" if n >= count - 2 else "enforce" for n, pid in enumerate(ids)},
            ReportContext(names={pid: f"{LONG} ({pid})" for pid in ids}))


@pytest.fixture(params=[0, 8, 24], ids=["shipped", "8 long causes", "24 long causes"])
def drawn(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Report, Any]]:
    """The chart of five recorded weeks, drawn: for the shipped policy file's causes, and for
    8 and 24 causes (two of them dry-run) whose names are long sentences."""
    policies, context = _many(request.param) if request.param else _shipped(tmp_path)
    yield from _figure(tmp_path, policies, context)


def test_the_legend_covers_no_bar(drawn: tuple[Report, Any]) -> None:
    """Every cause has its legend entry; the legend lies inside the picture and outside both
    axes, so no bar (and no backlog point) is under it."""
    report, fig = drawn
    bars_axes, backlog_axes = fig.axes
    [legend] = fig.legends
    box = legend.get_window_extent()
    picture = fig.bbox
    assert (picture.x0, picture.y0, picture.x1, picture.y1) == (0, 0, *SIZE_PX)
    assert picture.x0 <= box.x0
    assert box.x1 <= picture.x1
    assert picture.y0 <= box.y0
    assert box.y1 <= picture.y1
    assert len(legend.get_texts()) == len(report.policies) + len(report.dry_run_policies)
    for axes in (bars_axes, backlog_axes):
        assert not box.overlaps(axes.get_window_extent())
    shown = [bar for bar in bars_axes.patches if bar.get_height() > 0]
    assert len(shown) == len(report.weeks) * len(legend.get_texts())
    for bar in shown:
        assert not box.overlaps(bar.get_window_extent())


def test_the_chart_keeps_to_the_weeks_shown(drawn: tuple[Report, Any]) -> None:
    """12 weeks asked of a store whose first cycle ran 5 weeks ago: the x axis holds the 5
    weeks the report shows (labelled with their Mondays), one bar per cause and week, one
    backlog point per week, and no empty slot before the first week or after the last."""
    report, fig = drawn
    bars_axes, backlog_axes = fig.axes
    weeks = len(report.weeks)
    assert weeks == 5
    assert report.weeks[0].start == FIRST.date()
    labels = [t.get_text() for t in backlog_axes.get_xticklabels()]
    assert labels == [f"{w.start:%d %b}" for w in report.weeks]
    for container in bars_axes.containers:
        centres = [bar.get_x() + bar.get_width() / 2 for bar in container]
        assert centres == pytest.approx(list(range(weeks)))
    [line] = backlog_axes.get_lines()
    assert list(line.get_xdata()) == list(range(weeks))
    assert list(line.get_ydata()) == [w.backlog for w in report.weeks]
    for axes in (bars_axes, backlog_axes):
        low, high = axes.get_xlim()
        assert -1 < low < -0.4
        assert weeks - 0.6 < high < weeks
    plotted = Bbox.union([bar.get_window_extent() for bar in bars_axes.patches])
    assert bars_axes.get_window_extent().x0 < plotted.x0
    assert plotted.x1 < bars_axes.get_window_extent().x1

