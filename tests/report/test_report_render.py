"""The report's renderings and chart: formats parse, an empty store or period is a clear,
non-failing report, and the PNG is a real image of the documented size that shows data."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import matplotlib.image
import pytest

from tests.report.history_factories import T0
from worker.report import FATES, Report, load_report
from worker.report.build import Breakdown, build_report, period_start
from worker.report.chart import SIZE_PX, chart_png
from worker.report.html import html_page, storage
from worker.report.render import as_json, markdown, write_csv
from worker.report.trend import trend_words
from worker.state.store import Store

UTC_TZ = ZoneInfo("UTC")



def _report(store: Store, weeks: int = 3) -> Report:
    until = T0 + timedelta(days=4)
    return load_report(store, since=until - timedelta(weeks=weeks), until=until, tz=UTC_TZ,
                       generated_at=until)


def _pixels(png: bytes) -> tuple[tuple[int, int], int]:
    image = matplotlib.image.imread(io.BytesIO(png), format="png")
    height, width = image.shape[0], image.shape[1]
    rgb = image[:, :, :3]
    drawn = int((rgb.sum(axis=2) < 2.9).sum())  # anything visibly darker than white
    return (width, height), drawn


def test_the_recorded_week_reads_right(store: Store) -> None:
    """ACME-1 flagged and still open (its reassignment failed); INI-2 is a would-have."""
    report = _report(store)
    assert report.flagged == 1
    assert report.would_have == 1
    assert report.fates() == {**dict.fromkeys(FATES, 0), "open": 1}
    assert report.weeks[-1].comments == 1
    assert report.weeks[-1].reassignments == 0  # it failed: nothing was reassigned
    assert [b.name for b in report.by_customer] == ["Acme Corp"]
    assert report.by_customer[0].link == "https://example.test/wiki/x/2001"


def test_formats_parse(store: Store) -> None:
    """Markdown has the tables, HTML is a page, JSON has the documented keys, CSV a header."""
    report = _report(store)
    md = markdown(report, chart="chart.png")
    assert md.startswith("# Handoff Guard report")
    assert "![flagged tickets per week and open backlog](chart.png)" in md
    assert "[Acme Corp](https://example.test/wiki/x/2001)" in md
    assert "<table style=" in html_page(report, chart_png=b"png")
    data = json.loads(json.dumps(as_json(report)))
    assert set(data) == {"period", "generated_at", "empty_reason", "summary", "weeks",
                         "by_customer", "by_pm", "by_account_executive", "tickets",
                         "since_first_cycle", "left", "second_sign"}
    assert set(data["summary"]["fates"]) == set(FATES)
    buffer = io.StringIO()
    write_csv(report, buffer)
    rows = list(csv.DictReader(io.StringIO(buffer.getvalue())))
    # asked from the Friday three weeks before: the store's first cycle (Monday T0) starts it
    assert len(rows) == len(report.weeks) == 1
    assert rows[0]["week_of"]
    assert "flagged" in rows[0]
    assert "backlog" in rows[0]
    assert sum(int(r["flagged"]) for r in rows) == report.flagged


def test_storage_escapes_names() -> None:
    """Names from Jira cannot inject markup into the Confluence page."""
    empty = build_report([], [], since=T0 - timedelta(weeks=2), until=T0, tz=UTC_TZ,
                         generated_at=T0)
    hostile = replace(empty, by_pm=(Breakdown("<script>x</script>", 1, 1),))
    body = storage(hostile, attachment="c.png")
    assert "<script>" not in body
    assert "&lt;script&gt;" in body


def _empty(tmp_path: Path) -> Report:
    store = Store.open(tmp_path / "fresh.db")
    try:
        return load_report(store, since=period_start(T0, 2, UTC_TZ), until=T0, tz=UTC_TZ,
                           generated_at=T0, store_name="fresh.db")
    finally:
        store.close()


def test_a_fresh_store_gives_a_clear_report(tmp_path: Path) -> None:
    """No cycles: every format still renders and says why it is empty; the chart draws."""
    report = _empty(tmp_path)
    assert report.empty_reason == "No cycles recorded yet in fresh.db: nothing to report."
    assert report.flagged == 0
    assert len(report.weeks) == 2
    assert "No cycles recorded yet" in markdown(report)
    assert as_json(report)["empty_reason"] == report.empty_reason
    size, drawn = _pixels(chart_png(report))
    assert size == SIZE_PX
    assert drawn > 1000


def test_a_period_before_the_first_cycle_shows_no_week(store: Store) -> None:
    """Weeks before the bot's first cycle are never shown: the report says when it began."""
    until = T0 - timedelta(weeks=1)
    report = load_report(store, since=until - timedelta(weeks=4), until=until, tz=UTC_TZ,
                         generated_at=until)
    assert report.empty_reason == ("Handoff Guard's first cycle ran on 02 Nov 2026, after "
                                   "this period: nothing to report.")
    assert report.weeks == ()
    assert "after this period" in markdown(report)


def test_a_long_period_starts_at_the_first_cycle(store: Store) -> None:
    """12 weeks asked on a store whose first cycle ran this week: one week, "since"."""
    until = T0 + timedelta(days=4)
    report = load_report(store, since=until - timedelta(weeks=12), until=until, tz=UTC_TZ,
                         generated_at=until)
    assert [w.start for w in report.weeks] == [T0.date()]
    assert report.since == T0
    assert "Since 02 Nov 2026, when Handoff Guard's first cycle ran" in markdown(report)


def test_the_chart_is_a_real_png_with_data(store: Store) -> None:
    """PNG magic, the documented size, and far more drawn pixels than the empty chart."""
    png = chart_png(_report(store))
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    size, drawn = _pixels(png)
    assert size == SIZE_PX
    assert drawn > 5000


@pytest.mark.parametrize(
    ("flagged", "backlog", "words"),
    [
        ([], [], "nothing to compare"),
        ([0, 0], [0, 0], "nothing to compare"),
        ([3], [3], "not enough history yet (1 week(s)"),
        ([4, 4, 2, 2], [4, 6, 5, 3], "not enough history yet (4 week(s)"),
        ([4, 4, 2, 2, 1, 1, 1], [4] * 7, "not enough history yet (7 week(s)"),
        ([4, 4, 4, 4, 2, 2, 2, 2], [4, 6, 5, 3, 3, 3, 3, 3], "down (50%): 4.0 flagged per week "
                                                             "in the first 4 week(s)"),
        ([1, 1, 1, 1, 3, 3, 3, 3], [1, 2, 4, 6, 6, 6, 6, 6], "up (200%)"),
        ([2] * 8, [2] * 8, "flat at 2.0"),
    ],
)
def test_trend_words(flagged: list[int], backlog: list[int], words: str) -> None:
    """The first half of the weeks against the second, in one sentence."""
    assert words in trend_words(flagged, backlog)
