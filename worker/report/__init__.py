"""The leadership report: what the bot flagged, per week, and what happened next.

``build`` turns the store's history into a :class:`Report` (pure), ``render`` writes it as
Markdown, HTML, JSON, CSV or Confluence storage format, ``chart`` draws the PNG, and
``publish`` keeps one Confluence page up to date with it.
"""

from __future__ import annotations

from worker.report.build import FATES, Report, build_report, load_report

__all__ = ["FATES", "Report", "build_report", "load_report"]
