"""``report``: the leadership report from the state store, as Markdown (default), HTML, JSON
or CSV, with its chart as a PNG; ``--publish`` updates the Confluence page of the policy
file's ``report:`` section."""

from __future__ import annotations

import argparse
import io
import json
import sys
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from worker.policy import PolicyError, load_policies
from worker.policy.config import Policies
from worker.report import load_report
from worker.report.build import period_start
from worker.report.chart import ChartUnavailableError, write_chart
from worker.report.context import context_from
from worker.report.html import html_page
from worker.report.render import as_json, markdown, write_csv
from worker.settings.env import Settings
from worker.state.history import parse_when, store_now
from worker.state.store import Store

CHART_NAME = "handoff-guard-report.png"


class ReportUsageError(ValueError):
    """A report option that cannot be honoured (one line for the CLI)."""


def default_chart_path(settings: Settings, out: Path | None) -> Path:
    """Next to ``--out``, else next to a SQLite store, else under ``./var``."""
    if out is not None:
        return out.with_suffix(".png")
    if "://" not in settings.state:
        return Path(settings.state).expanduser().parent / CHART_NAME
    return Path("var") / CHART_NAME


def _since(text: str, until: datetime, tz: ZoneInfo) -> datetime:
    """``Nw`` is the last N whole weeks (Monday to Monday in ``tz``); anything else as
    :func:`worker.state.history.parse_when` reads it."""
    weeks = text.strip().removesuffix("w")
    if text.strip().endswith("w") and weeks.isdigit() and int(weeks) > 0:
        return period_start(until, int(weeks), tz)
    return parse_when(text, now=until)


def _policies(settings: Settings) -> Policies | None:
    try:
        return load_policies(settings.config_path)
    except (PolicyError, OSError):
        return None  # the report reads the store; the file only adds its time zone


def make_report(args: argparse.Namespace, settings: Settings) -> int:
    """Build, write and (with ``--publish``) publish the report; returns the exit code."""
    policies = _policies(settings)
    tz = policies.tz if policies is not None else ZoneInfo("UTC")
    store = Store.open(settings.state)
    try:
        newest = store_now(store)
        try:
            until = (parse_when(args.until, now=newest, end=True) if args.until
                     else newest + timedelta(seconds=1))
            since = _since(args.since, until, tz)
        except ValueError as exc:
            raise ReportUsageError(str(exc)) from None
        report = load_report(store, since=since, until=until, tz=tz, generated_at=newest,
                             store_name=str(settings.state),
                             context=context_from(policies, settings.jira_url))
        chart: Path | None
        try:
            chart = write_chart(report, args.chart or default_chart_path(settings, args.out))
            chart_said = str(chart)
        except ChartUnavailableError as exc:
            chart, chart_said = None, f"not drawn ({exc})"
        if args.format == "md":
            text = markdown(report, chart=str(chart) if chart else None)
        elif args.format == "html":
            # one self-contained file: the chart is embedded, nothing is linked
            text = html_page(report, chart_png=chart.read_bytes() if chart else None,
                             chart_note=None if chart else f"No chart: {chart_said}.")
        elif args.format == "json":
            text = json.dumps({**as_json(report), "chart": str(chart) if chart else None},
                              indent=2) + "\n"
        else:
            buffer = io.StringIO()
            write_csv(report, buffer)
            text = buffer.getvalue()
        if args.out is not None:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(text, encoding="utf-8")
            sys.stdout.write(f"Report written to {args.out}; chart: {chart_said}\n")
        else:
            sys.stdout.write(text)
            sys.stderr.write(f"chart: {chart_said}\n")
        if args.publish:
            return _publish(settings, store, policies, newest)
        return 0
    finally:
        store.close()


def _publish(settings: Settings, store: Store, policies: Policies | None, now: datetime) -> int:
    from worker.atlassian.clients import connect
    from worker.report.publish import publish_report

    if policies is None or policies.report is None:
        raise ReportUsageError(
            f"--publish needs a valid policy file with a `report:` section (space, title); "
            f"{settings.config_path} has none"
        )
    settings.check_atlassian()
    atlassian = connect(settings.connection())
    try:
        published = publish_report(store, atlassian.confluence.transport, policies.report,
                                   tz=policies.tz, now=now, store_name=str(settings.state),
                                   context=context_from(policies, settings.jira_url))
    finally:
        atlassian.close()
    what = "created" if published.created else "updated"
    sys.stdout.write(f"Published: page {published.page_id} {what} (version {published.version})"
                     f" in space {policies.report.space}"
                     + (f": {published.url}" if published.url else "") + "\n")
    return 0
