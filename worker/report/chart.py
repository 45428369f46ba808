"""The report's chart: flagged tickets per week by cause (stacked bars, dry-run policies
hatched as "would have"), and the open backlog at the end of each week.

matplotlib with the Agg backend: no display, no fonts beyond its own, a PNG of a fixed size
(:data:`SIZE_PX`) so a Confluence page lays out the same every week.
"""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # before pyplot: a service has no display

import matplotlib.pyplot as plt

from worker.report.build import Report

#: width, height of the PNG in pixels
SIZE_PX = (1000, 700)
_DPI = 100


def chart_png(report: Report) -> bytes:
    """The chart as PNG bytes (an empty period still draws both axes and says so)."""
    width, height = SIZE_PX
    fig, (bars, backlog) = plt.subplots(
        2, 1, figsize=(width / _DPI, height / _DPI), dpi=_DPI, sharex=True,
        gridspec_kw={"height_ratios": [3, 2]},
    )
    try:
        labels = [f"{w.start:%d %b}" for w in report.weeks]
        x = list(range(len(labels)))
        bottom = [0] * len(x)
        for policy in report.policies:
            values = [w.flagged.get(policy, 0) for w in report.weeks]
            bars.bar(x, values, bottom=bottom, label=policy)
            bottom = [b + v for b, v in zip(bottom, values, strict=True)]
        for policy in report.dry_run_policies:
            values = [w.would_have.get(policy, 0) for w in report.weeks]
            bars.bar(x, values, bottom=bottom, label=f"{policy} (dry-run: would have)",
                     hatch="//", fill=False, edgecolor="grey")
            bottom = [b + v for b, v in zip(bottom, values, strict=True)]
        bars.set_title("Tickets flagged per week, by cause")
        bars.set_ylabel("tickets")
        if report.policies or report.dry_run_policies:
            bars.legend(loc="upper left", fontsize="small")
        else:
            bars.text(0.5, 0.5, report.empty_reason or "nothing flagged",
                      transform=bars.transAxes, ha="center", va="center")
        backlog.plot(x, [w.backlog for w in report.weeks], marker="o", color="tab:red")
        backlog.set_title("Open backlog at the end of each week")
        backlog.set_ylabel("tickets")
        backlog.set_ylim(bottom=0)
        backlog.set_xticks(x, labels, rotation=45, ha="right", fontsize="small")
        for axes in (bars, backlog):
            axes.yaxis.get_major_locator().set_params(integer=True)
            axes.grid(axis="y", alpha=0.3)
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=_DPI)
        return buffer.getvalue()
    finally:
        plt.close(fig)


def write_chart(report: Report, path: Path) -> Path:
    """Write the chart to ``path`` (parent folders created); returns the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(chart_png(report))
    return path
