"""The report's chart: flagged tickets per week by cause (stacked bars, dry-run policies
hatched as "would have"), and the open backlog at the end of each week.

matplotlib with the Agg backend: no display, no fonts beyond its own, a PNG of a fixed size
(:data:`SIZE_PX`) so a Confluence page lays out the same every week.

matplotlib (with numpy, Pillow and fontTools: 99 MiB even trimmed) is the optional extra
``handoff-guard[chart]``: the container image leaves it out to stay small. Without it
:func:`chart_png` raises :class:`ChartUnavailableError`, whose message says how to get it,
and the report goes out without its chart (see the callers): the chart is never worth a
failed report.
"""

from __future__ import annotations

import importlib
import io
import textwrap
from pathlib import Path
from typing import Any

from worker.report.build import Report

#: what to install for the chart (the one message every caller shows)
CHART_MISSING = (
    "the chart needs matplotlib, which is not installed: pip install 'handoff-guard[chart]' "
    "(container image: docker build --build-arg EXTRAS=chart)"
)


class ChartUnavailableError(RuntimeError):
    """matplotlib is not installed; ``str()`` is :data:`CHART_MISSING`."""

    def __init__(self) -> None:
        super().__init__(CHART_MISSING)


def _pyplot() -> Any:
    """matplotlib's pyplot on the Agg backend, loaded on first use."""
    try:
        matplotlib = importlib.import_module("matplotlib")
    except ImportError:
        raise ChartUnavailableError() from None
    matplotlib.use("Agg")  # before pyplot: a service has no display
    return importlib.import_module("matplotlib.pyplot")


def chart_available() -> bool:
    """Whether :func:`chart_png` can draw (matplotlib importable)."""
    try:
        _pyplot()
    except ChartUnavailableError:
        return False
    return True

#: characters per line of a legend entry, its lines at most, and the lines of all entries at
#: most (the legend fills the picture's height at about that; the report's tables carry each
#: description in full)
LEGEND_CHARS = 34
LEGEND_LINES = 3
LEGEND_TOTAL_LINES = 36
#: width, height of the PNG in pixels
SIZE_PX = (1000, 700)
_DPI = 100


def chart_png(report: Report) -> bytes:
    """The chart as PNG bytes (an empty period still draws both axes and says so).

    Raises :class:`ChartUnavailableError` when matplotlib is not installed."""
    plt = _pyplot()
    fig = chart_figure(report)
    try:
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=_DPI)
        return buffer.getvalue()
    finally:
        plt.close(fig)


def chart_figure(report: Report) -> Any:
    """The chart as a matplotlib ``Figure`` (the caller closes it: ``pyplot.close``); its two
    axes are the bars (``fig.axes[0]``) and the backlog (``fig.axes[1]``), one x position per
    week of the report, and the legend (``fig.legends``) sits outside both.

    Raises :class:`ChartUnavailableError` when matplotlib is not installed."""
    plt = _pyplot()
    width, height = SIZE_PX
    # constrained layout keeps the legend outside the axes: it never covers a bar
    fig, (bars, backlog) = plt.subplots(
        2, 1, figsize=(width / _DPI, height / _DPI), dpi=_DPI, sharex=True,
        gridspec_kw={"height_ratios": [3, 2]}, layout="constrained",
    )
    try:
        _draw(report, fig, bars, backlog)
    except BaseException:
        plt.close(fig)
        raise
    return fig


def _draw(report: Report, fig: Any, bars: Any, backlog: Any) -> None:
    name = report.context.name
    labels = [f"{w.start:%d %b}" for w in report.weeks]
    causes = len(report.policies) + len(report.dry_run_policies)
    lines = max(1, min(LEGEND_LINES, LEGEND_TOTAL_LINES // max(causes, 1)))
    x = list(range(len(labels)))
    bottom = [0] * len(x)
    for policy in report.policies:
        values = [w.flagged.get(policy, 0) for w in report.weeks]
        bars.bar(x, values, bottom=bottom, label=_label(name(policy), lines))
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    for policy in report.dry_run_policies:
        values = [w.would_have.get(policy, 0) for w in report.weeks]
        bars.bar(x, values, bottom=bottom, label=_label(f"{name(policy)} (dry run: would have)",
                                                        lines),
                 hatch="//", fill=False, edgecolor="grey")
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    bars.set_title("Tickets flagged per week, by cause")
    bars.set_ylabel("tickets")
    if report.policies or report.dry_run_policies:
        fig.legend(loc="outside right upper", fontsize="small", title="Cause",
                   title_fontsize="small", frameon=False)
    else:
        bars.text(0.5, 0.5, report.empty_reason or "nothing flagged",
                  transform=bars.transAxes, ha="center", va="center")
    backlog.plot(x, [w.backlog for w in report.weeks], marker="o", color="tab:red")
    backlog.set_title("Deliverables still with a PM at the end of each week")
    backlog.set_ylabel("tickets")
    backlog.set_ylim(bottom=0)
    backlog.set_xticks(x, labels, rotation=45, ha="right", fontsize="small")
    for axes in (bars, backlog):
        axes.yaxis.get_major_locator().set_params(integer=True)
        axes.grid(axis="y", alpha=0.3)


def _label(text: str, lines: int) -> str:
    """A legend entry wrapped to :data:`LEGEND_CHARS` a line and cut to ``lines`` (descriptions
    are sentences: uncut, eight of them ran off the bottom of the picture)."""
    return textwrap.fill(text, width=LEGEND_CHARS, max_lines=lines, placeholder=" …")


def write_chart(report: Report, path: Path) -> Path:
    """Write the chart to ``path`` (parent folders created); returns the path.

    Raises :class:`ChartUnavailableError` (nothing written) when matplotlib is not installed."""
    png = chart_png(report)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png)
    return path
