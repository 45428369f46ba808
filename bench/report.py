"""The benchmark's outputs: a terminal table, the JSON results file, a PNG chart and the
manual's Performance page, all from one results document."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.run import GUARD_SCRIPT, cycle


def write_json(results: Mapping[str, Any], path: Path) -> Path:
    """Write the results document (indented, stable key order)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return path


def _rows(results: Mapping[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for size in results["sizes"]:
        first, second = cycle(size, "first"), cycle(size, "unchanged")
        base = size["baseline"]
        rows.append(
            {
                "n": size["n"],
                "k": size["guard_acted"],
                "g_req": first["requests"]["total"],
                "g_writes": first["requests"]["writes"],
                "bound": first["formula"]["bound_with_constants"],
                "g_wall": first["wall_s"],
                "g2_req": second["requests"]["total"],
                "g2_writes": second["requests"]["writes"],
                "g2_wall": second["wall_s"],
                "g_rss": size["guard"]["peak_rss_mb"],
                "b_req": base["requests"]["total"],
                "b_wall": base["wall_s"],
                "b_rss": base["peak_rss_mb"],
                "b_est": bool(base.get("extrapolated")),
                "same": size.get("same_tickets"),
            }
        )
    return rows


def table(results: Mapping[str, Any]) -> Table:
    """The per-size comparison as a rich table (``~`` marks extrapolated baseline values)."""
    cfg = results["config"]
    t = Table(
        title=f"Handoff Guard vs the baseline script, {cfg['latency_ms']} ms per request",
        caption="G: Handoff Guard 1st cycle, G2: an unchanged (incremental) cycle, "
        "B: the baseline; "
        "k: tickets acted on; bound: ceil(N/100)+G+D+k + constants; (w): writes; "
        "~: extrapolated",
    )
    for name in (
        "N", "k", "G req (w)", "bound", "G s", "G2 req (w)", "G2 s", "G MB",
        "B req", "B s", "B MB", "req ×", "time ×", "same",
    ):  # fmt: skip
        t.add_column(name, justify="right")
    for r in _rows(results):
        est = "~" if r["b_est"] else ""
        t.add_row(
            f"{r['n']:,}",
            f"{r['k']:,}",
            f"{r['g_req']:,} ({r['g_writes']:,})",
            f"{r['bound']:,}",
            f"{r['g_wall']:.1f}",
            f"{r['g2_req']:,} ({r['g2_writes']:,})",
            f"{r['g2_wall']:.1f}",
            f"{r['g_rss']:.0f}",
            f"{est}{r['b_req']:,}",
            f"{est}{r['b_wall']:.1f}",
            f"{est}{r['b_rss']:.0f}",
            f"{est}{r['b_req'] / max(r['g_req'], 1):.1f}",
            f"{est}{r['b_wall'] / max(r['g_wall'], 1e-9):.1f}",
            "-" if r["same"] is None else ("yes" if r["same"] else "NO"),
        )
    return t


def _cycle_rows(results: Mapping[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for size in results["sizes"]:
        for c in size["guard"]["cycles"]:
            churned = c.get("churn")
            rows.append({
                "n": size["n"], "label": c.get("label", "?"), "read": c.get("read", "?"),
                "issues": c["issues_read"], "req": c["requests"]["total"],
                "writes": c["requests"]["writes"], "wall": c["wall_s"],
                "cpu": c.get("cpu_s"), "rss": c["peak_rss_mb"],
                "churn": "" if not churned else f"{churned['tickets']:,} tickets"
                + (", 1 deal signed" if churned.get("deal_signed") else ""),
            })  # fmt: skip
    return rows


def cycles_table(results: Mapping[str, Any]) -> Table:
    """Every guard cycle: what people changed before it, how it read, what it cost."""
    t = Table(title="Handoff Guard per cycle (15 minutes apart)")
    for name in ("N", "cycle", "changed before", "read", "tickets read", "requests (w)",
                 "wall s", "CPU s", "peak RSS MB"):  # fmt: skip
        t.add_column(name, justify="right")
    for r in _cycle_rows(results):
        t.add_row(f"{r['n']:,}", r["label"], r["churn"], r["read"], f"{r['issues']:,}",
                  f"{r['req']:,} ({r['writes']:,})", f"{r['wall']:.2f}",
                  "-" if r["cpu"] is None else f"{r['cpu']:.2f}", f"{r['rss']:.0f}")  # fmt: skip
    return t


def targets_table(results: Mapping[str, Any]) -> Table:
    """Each target, the measured value and met / missed (reported, never enforced)."""
    t = Table(title="Targets (reported, not enforced)")
    t.add_column("target")
    t.add_column("measured")
    t.add_column("met", justify="center")
    for item in results["targets"]:
        met = item["met"]
        t.add_row(item["target"], item["measured"],
                  "-" if met is None else ("yes" if met else "[bold red]NO[/]"))  # fmt: skip
    return t


def print_report(results: Mapping[str, Any], console: Console | None = None) -> None:
    """Both tables and the planner line on the terminal."""
    out = console or Console()
    out.print(table(results))
    out.print(cycles_table(results))
    p = results["planner"]
    out.print(
        f"Planner alone: {p['tickets_per_s']:,.0f} tickets per CPU second "
        f"({p['tickets']:,} tickets, best of {p['runs']} runs, one core)"
    )
    out.print(targets_table(results))


def chart(results: Mapping[str, Any], path: Path) -> Path:
    """A PNG with wall time and requests against N for both sides (log scales)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = _rows(results)
    ns = [r["n"] for r in rows]
    fig, (ax_wall, ax_req) = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, g_key, b_key, label in (
        (ax_wall, "g_wall", "b_wall", "wall time per cycle (s)"),
        (ax_req, "g_req", "b_req", "requests per cycle"),
    ):
        ax.plot(ns, [r[g_key] for r in rows], "o-", label="Handoff Guard, first (full) cycle",
                color="#1f77b4")  # fmt: skip
        metric = "wall_s" if g_key == "g_wall" else "requests"
        for name, style, colour in (
            ("full read", "o--", "#1f77b4"),
            ("churn 1%", "^-", "#2ca02c"),
            ("churn 0.1%", "v-", "#98df8a"),
            ("unchanged", "o:", "#17becf"),
        ):
            values = [cycle(size, name)[metric] for size in results["sizes"]]
            if metric == "requests":
                values = [v["total"] for v in values]
            ax.plot(ns, values, style, color=colour,
                    label=f"Handoff Guard, {name} cycle"
                    + (" (incremental)" if name != "full read" else " (nothing to write)"))
        measured = [r for r in rows if not r["b_est"]]
        ax.plot([r["n"] for r in measured], [r[b_key] for r in measured], "s-",
                label="baseline script", color="#d62728")  # fmt: skip
        estimated = [r for r in rows if r["b_est"]]
        if estimated and measured:
            tail = [measured[-1], *estimated]
            ax.plot([r["n"] for r in tail], [r[b_key] for r in tail], "s--", color="#d62728",
                    alpha=0.5, label="baseline (extrapolated)")  # fmt: skip
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("candidate tickets N")
        ax.set_title(label)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(loc="upper left", fontsize="small")
    cfg = results["config"]
    machine = results["machine"]
    fig.suptitle(
        f"{cfg['latency_ms']} ms injected latency per request; {machine['cores']} cores, "
        f"Python {machine['python']}"
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def performance_markdown(results: Mapping[str, Any], *, chart_link: str, json_link: str) -> str:
    """The manual's Performance page (``docs/performance.md``): table, chart, machine, ratios
    against targets."""
    cfg, m, p = results["config"], results["machine"], results["planner"]
    lines = [
        "# Performance",
        "",
        "After a first full read, a cycle reads only what can have changed (see [Incremental "
        "cycles](operating.md#incremental-cycles)): an unchanged cycle costs the same at 1,000 "
        "and 100,000 tickets. The "
        "benchmark runs, per size, these cycles a quarter of an hour apart (the last two a "
        "minute apart, as `every: 1m` runs them): "
        + ", ".join(label for label, _f, _c in GUARD_SCRIPT)
        + " (churn: Sales people comment on or relabel that share of the tickets through the "
        "REST API, and one deal page is marked signed; full read: a full sweep with nothing "
        "to write, run twice because CPU time on a shared machine swells with its load).",
        "",
        "At the largest size it then measures what a PM feels: the service runs as deployed "
        "(`python -m worker run`, its own process and store, `every: 1m`, a webhook secret) "
        "against the same sandbox; a Sales person creates a Sales deliverable assigned to a PM "
        "through the REST API, and the clock stops when the bot's comment can be read back "
        "through the REST API. With the sandbox's signed webhook (see [the webhook fast "
        "path](webhooks.md)) the samples run one after another; with polling only, the tickets "
        "are created at random moments over a minute. Requests per day at `every: 1m` are the "
        "minute cycles' mean times 1,439 plus one daily full sweep.",
        "",
        f"`make bench` runs Handoff Guard and the script a user would write against the sandbox "
        f"with {cfg['latency_ms']} ms injected per request (a nearby Cloud site), on a generated "
        f"site (seed {cfg['seed']}, ~5% pre-signature Sales deliverables assigned to PMs). "
        "Each side runs in its own process; requests are counted from the sandbox's request "
        "log; peak RSS is the worker process's. `make bench QUICK=1` runs N = 1,000 only.",
        "",
        "| N | acted k | Handoff Guard requests (writes) | bound + constants | wall s "
        "| unchanged cycle requests (writes) | unchanged wall s | peak RSS MB "
        "| baseline requests "
        "| baseline wall s | fewer requests | faster |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in _rows(results):
        est = "~" if r["b_est"] else ""
        lines.append(
            f"| {r['n']:,} | {r['k']:,} | {r['g_req']:,} ({r['g_writes']:,}) | {r['bound']:,} "
            f"| {r['g_wall']:.1f} | {r['g2_req']:,} ({r['g2_writes']:,}) | {r['g2_wall']:.1f} "
            f"| {r['g_rss']:.0f} | {est}{r['b_req']:,} | {est}{r['b_wall']:.1f} "
            f"| {est}{r['b_req'] / max(r['g_req'], 1):.0f}x "
            f"| {est}{r['b_wall'] / max(r['g_wall'], 1e-9):.0f}x |"
        )
    lines += [
        "",
        "`~`: extrapolated linearly from the baseline's measured sizes "
        f"({cfg['baseline_max_n']:,} is the largest run; a sequential script at 50,000 "
        "tickets would take over 20 minutes).",
        "",
        f"![wall time and requests against N]({chart_link})",
        "",
        f"Planner alone (pure, no I/O, one core): **{p['tickets_per_s']:,.0f} tickets/s** "
        f"of CPU time over {p['tickets']:,} tickets (best of {p['runs']} runs).",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB RAM, Python "
        f"{m['python']} ({m['platform']}). Run of {results['started_at']}, "
        f"{results['duration_s']:.0f} s in all; 1-minute load average "
        f"{results['load_avg_1m']['start']} at the start, {results['load_avg_1m']['end']} at "
        f"the end. Raw numbers: [{json_link}]({json_link}).",
        "",
        "Baseline: " + cfg["baseline"],
        "",
        f"Policies: `{cfg['policies']}` as shipped"
        + (
            " (modes unchanged), with the per-cycle action budget and the breaker lifted "
            "(`unlimited`) so that one cycle acts on every flagged ticket; with no limit "
            "counting the whole cycle, each ticket is written as soon as it is planned, "
            "while later pages are still read."
            if cfg.get("safety_lifted")
            else "."
        ),
        "",
        "Per cycle:",
        "",
        "| N | cycle | changed before | read | tickets read | requests (writes) | wall s "
        "| CPU s | peak RSS MB |",
        "|---:|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for c in _cycle_rows(results):
        cpu = "-" if c["cpu"] is None else f"{c['cpu']:.2f}"
        lines.append(
            f"| {c['n']:,} | {c['label']} | {c['churn']} | {c['read']} | {c['issues']:,} "
            f"| {c['req']:,} ({c['writes']:,}) | {c['wall']:.2f} | {cpu} | {c['rss']:.0f} |"
        )
    lines += [
        "",
        "| target | measured | met |",
        "|---|---|:---:|",
    ]
    for item in results["targets"]:
        met = "-" if item["met"] is None else ("yes" if item["met"] else "**no**")
        note = f" ({item['note']})" if item["note"] else ""
        lines.append(f"| {item['target']} | {item['measured']}{note} | {met} |")
    return "\n".join(lines) + "\n"
