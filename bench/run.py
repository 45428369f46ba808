"""The benchmark's orchestration: generate a site per size, serve it from the sandbox with a
fixed injected latency, run each scenario in its own process, and count from the request log.

For every N: the planner alone (at ``planner_n`` only, without latency), then Handoff Guard's
two enforcing cycles, then (on the reset site) the baseline script. The baseline is run up to
``baseline_max_n``; above it the baseline's cost is extrapolated linearly from its two largest
measured sizes and labelled ``"extrapolated": true`` (a sequential script at 50,000 tickets and
20 ms per request would take over 20 minutes by itself).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any

from bench.churn import People, churn, with_logins
from bench.fastpath import Deliverable, fast_path_targets, run_fast_path
from bench.measure import acted_issues, count_requests, formula_check
from bench.policies import bench_policies
from worker.sandbox.generate import deliverable_keys, generate_site

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_POLICIES = PROJECT_ROOT / "config" / "policies.yaml"

Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class BenchConfig:
    """What one benchmark run measures."""

    sizes: tuple[int, ...] = (1_000, 10_000, 50_000)
    latency_ms: int = 20
    seed: int = 42
    #: the baseline runs up to this N; larger sizes are extrapolated
    baseline_max_n: int = 10_000
    #: the size at which the planner is timed alone (the largest size up to this one)
    planner_n: int = 10_000
    policies: Path = DEFAULT_POLICIES
    #: run the policies enforcing with budget and breaker lifted (see ``bench.policies``)
    lift_safety: bool = True
    #: where scenario logs (stderr of each child) are kept
    log_dir: Path = field(default_factory=lambda: PROJECT_ROOT / "var" / "bench" / "logs")
    #: a child scenario that takes longer than this is killed (a hang is a failure)
    child_timeout_s: float = 1800.0
    #: measure event-to-comment latency (webhook and polling) at the largest size (a few
    #: minutes: ``make bench`` does, the harness tests do not)
    fast_path: bool = False
    fast_path_samples: int = 20


class ScenarioError(RuntimeError):
    """A scenario's process failed; the message carries its error and the log path."""


def _log_rows(raw: Sequence[Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for row in raw:
        if isinstance(row, Mapping):
            rows.append(dict(row))
        elif hasattr(row, "to_dict"):
            rows.append(row.to_dict())
        else:
            rows.append({k: getattr(row, k) for k in ("method", "path", "query", "status")})
    return rows


@contextmanager
def _child(
    scenario: str, sandbox: Any, config: BenchConfig, n: int
) -> Iterator[tuple[subprocess.Popen[str], Path]]:
    config.log_dir.mkdir(parents=True, exist_ok=True)
    log_path = config.log_dir / f"{scenario}-{n}.log"
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    with log_path.open("w", encoding="utf-8") as stderr:
        command = [
            sys.executable, "-m", "bench.child", scenario,
            "--url", sandbox.url,
            "--email", sandbox.bot_email,
            "--token", sandbox.bot_token,
            "--policies", str(config.policies),
        ]  # fmt: skip
        proc = subprocess.Popen(
            command,
            cwd=PROJECT_ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
        try:
            yield proc, log_path
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()


def _read_message(stdout: IO[str] | None, log_path: Path) -> dict[str, Any]:
    assert stdout is not None
    line = stdout.readline()
    if not line:
        raise ScenarioError(f"scenario ended without a result; see {log_path}")
    message: dict[str, Any] = json.loads(line)
    if message.get("kind") == "error":
        raise ScenarioError(f"{message['error']} (log: {log_path})\n{message.get('traceback')}")
    return message


#: The guard's cycles at every size, in order: (label, what people do before it, command).
#: A quarter of an hour passes before every cycle after the first (the default schedule).
GUARD_SCRIPT: tuple[tuple[str, float | None, str], ...] = (
    ("first", None, "next"),
    # the cycle after a first one reads back the bot's own writes (updated >= minus the margin)
    ("settle", None, "next"),
    ("unchanged", None, "next"),
    ("churn 0.1%", 0.001, "next"),
    ("churn 1%", 0.01, "next"),
    ("full read", None, "full"),
    # CPU time on a shared machine swells with the load (two processes on one core's
    # siblings): the target takes the lower of two identical full reads
    ("full read again", None, "full"),
    # ``every: 1m``: what a cycle costs a minute after the last one on a quiet site
    ("a minute later", None, "next"),
    ("another minute", None, "next"),
)
CYCLE_GAP = "15m"
#: the cycles that come a minute after the one before (the rest: :data:`CYCLE_GAP`)
MINUTE_CYCLES = frozenset({"a minute later", "another minute"})


def run_guard(
    sandbox: Any, config: BenchConfig, n: int, people: People | None = None
) -> dict[str, Any]:
    """The worker's cycles of :data:`GUARD_SCRIPT`; requests counted per cycle.

    Between cycles the parent moves the site clock and (for the churn cycles) plays the
    Sales people who comment, edit labels and sign a deal, without latency and off the
    request count.
    """
    sandbox.clear_requests()
    cycles: list[dict[str, Any]] = []
    churned: dict[str, Any] | None = None
    with _child("guard", sandbox, config, n) as (proc, log_path):
        assert proc.stdin is not None
        for index, (label, _fraction, _command) in enumerate(GUARD_SCRIPT):
            message = _read_message(proc.stdout, log_path)
            log = _log_rows(sandbox.requests())
            counts = count_requests(log)
            cycles.append(
                {
                    **{k: v for k, v in message.items() if k != "kind"},
                    "label": label,
                    "requests": counts.to_json(),
                    "formula": formula_check(n, counts),
                    "acted_keys": sorted(acted_issues(log)),
                    **({"churn": churned} if churned else {}),
                }
            )
            churned = None
            if index + 1 == len(GUARD_SCRIPT):
                proc.stdin.write("stop\n")
                proc.stdin.flush()
                break
            upcoming, churn_fraction, command = GUARD_SCRIPT[index + 1]
            sandbox.clear_faults()
            sandbox.advance("1m" if upcoming in MINUTE_CYCLES else CYCLE_GAP)
            if churn_fraction is not None and people is not None:
                churned = churn(people, fraction=churn_fraction, seed=config.seed + index,
                                deal=sum(1 for c in cycles if "churn" in c))
            sandbox.clear_requests()
            _latency(sandbox, config.latency_ms)
            proc.stdin.write(command + "\n")
            proc.stdin.flush()
        _read_message(proc.stdout, log_path)
    return {"cycles": cycles, "peak_rss_mb": max(c["peak_rss_mb"] for c in cycles)}


def cycle(size: Mapping[str, Any], label: str) -> dict[str, Any]:
    """One labelled guard cycle of a size's results."""
    return next(c for c in size["guard"]["cycles"] if c.get("label", "") == label)


def run_baseline(sandbox: Any, config: BenchConfig, n: int) -> dict[str, Any]:
    """The user's script on the same (reset) site."""
    sandbox.clear_requests()
    with _child("baseline", sandbox, config, n) as (proc, log_path):
        message = _read_message(proc.stdout, log_path)
    log = _log_rows(sandbox.requests())
    sandbox.clear_requests()
    counts = count_requests(log)
    return {
        **{k: v for k, v in message.items() if k != "kind"},
        "extrapolated": False,
        "requests": counts.to_json(),
        "acted_keys": sorted(acted_issues(log)),
    }


def run_planner(sandbox: Any, config: BenchConfig, n: int) -> dict[str, Any]:
    """The planner alone (read once without latency, then timed with no I/O)."""
    with _child("planner", sandbox, config, n) as (proc, log_path):
        message = _read_message(proc.stdout, log_path)
    sandbox.clear_requests()
    return {k: v for k, v in message.items() if k != "kind"}


def _latency(sandbox: Any, latency_ms: int) -> None:
    if latency_ms > 0:
        sandbox.add_faults([{"latency_ms": latency_ms}])


def run_size(
    n: int, config: BenchConfig, *, planner: bool, progress: Progress, fast_path: bool = False
) -> dict[str, Any]:
    """Everything measured at one size N."""
    from worker.sandbox import Sandbox

    site = with_logins(generate_site(n, seed=config.seed))
    expected = deliverable_keys(site)
    result: dict[str, Any] = {"n": n, "deliverables": len(expected)}
    with Sandbox.start(site, port=0) as sandbox:
        people = People.of(sandbox.url, site)
        template = Deliverable.of(site)
        del site  # the sandbox holds its own copy; ours would only inflate the parent
        if planner:
            progress(f"N={n:,}: planner alone")
            result["planner"] = run_planner(sandbox, config, n)
        sandbox.reset()
        _latency(sandbox, config.latency_ms)
        progress(f"N={n:,}: Handoff Guard, {len(GUARD_SCRIPT)} cycles")
        result["guard"] = run_guard(sandbox, config, n, people)
        if fast_path:
            # on the site as the guard left it: the bot's state is on every ticket
            sandbox.clear_faults()
            _latency(sandbox, config.latency_ms)
            progress(f"N={n:,}: event to comment, webhook and polling at every: 1m")
            result["fast_path"] = run_fast_path(sandbox, template, policies=config.policies,
                                                log_dir=config.log_dir,
                                                samples=config.fast_path_samples,
                                                seed=config.seed)
        if n <= config.baseline_max_n:
            sandbox.reset()
            _latency(sandbox, config.latency_ms)
            progress(f"N={n:,}: baseline script")
            result["baseline"] = run_baseline(sandbox, config, n)
    guard_acted = set(cycle(result, "first")["acted_keys"])
    result["guard_acted"] = len(guard_acted)
    result["guard_acted_deliverables"] = len(guard_acted & expected)
    result["acted_on_exactly_the_deliverables"] = guard_acted == expected
    if "baseline" in result:
        baseline_acted = set(result["baseline"]["acted_keys"])
        result["same_tickets"] = guard_acted == baseline_acted
        result["only_guard"] = sorted(guard_acted - baseline_acted)[:20]
        result["only_baseline"] = sorted(baseline_acted - guard_acted)[:20]
    return result


def baseline_covers(sizes: Sequence[int], baseline_max_n: int) -> bool:
    """Whether every size gets a baseline: measured (at or below ``baseline_max_n``) or
    extrapolated from at least two measured sizes."""
    measured = [n for n in sizes if n <= baseline_max_n]
    return len(measured) == len(sizes) or len(set(measured)) >= 2


def extrapolate(sizes: Sequence[dict[str, Any]], n: int) -> dict[str, Any]:
    """The baseline's cost at ``n`` from its two largest measured sizes (linear in N)."""
    measured = sorted(
        (r for r in sizes if "baseline" in r and not r["baseline"].get("extrapolated")),
        key=lambda r: int(r["n"]),
    )[-2:]
    if len(measured) < 2:
        raise ValueError("extrapolating needs the baseline measured at two sizes")
    (a, b) = measured
    span = int(b["n"]) - int(a["n"])

    def line(at_a: float, at_b: float) -> float:
        return at_b + (at_b - at_a) / span * (n - int(b["n"]))

    base_a, base_b = a["baseline"], b["baseline"]
    return {
        "extrapolated": True,
        "from_sizes": [a["n"], b["n"]],
        "wall_s": line(base_a["wall_s"], base_b["wall_s"]),
        "peak_rss_mb": line(base_a["peak_rss_mb"], base_b["peak_rss_mb"]),
        "requests": {
            key: round(line(base_a["requests"][key], base_b["requests"][key]))
            for key in ("total", "reads", "writes")
        },
    }


def machine() -> dict[str, Any]:
    """The machine the numbers came from."""
    import platform

    import psutil

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def run_benchmark(config: BenchConfig, *, progress: Progress | None = None) -> dict[str, Any]:
    """Run every size and return the results document (see ``bench.report`` for its use)."""
    say = progress or (lambda _message: None)
    started = time.time()
    load_start = _load()
    source = config.policies
    if config.lift_safety:
        config = replace(
            config, policies=bench_policies(source, config.log_dir / "policies.yaml")
        )
    small_enough = [n for n in config.sizes if n <= config.planner_n]
    planner_size = max(small_enough) if small_enough else min(config.sizes)
    sizes: list[dict[str, Any]] = []
    for n in sorted(config.sizes):
        sizes.append(run_size(n, config, planner=n == planner_size, progress=say,
                              fast_path=config.fast_path and n == max(config.sizes)))
    for row in sizes:
        if "baseline" not in row:
            row["baseline"] = extrapolate(sizes, row["n"])
            say(f"N={row['n']:,}: baseline extrapolated from {row['baseline']['from_sizes']}")
    planner = next(r["planner"] for r in sizes if "planner" in r)
    return {
        "schema": 1,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "duration_s": round(time.time() - started, 1),
        # Other work on the machine slows both sides; a loaded run is not representative.
        "load_avg_1m": {"start": load_start, "end": _load()},
        "machine": machine(),
        "config": {
            "sizes": list(config.sizes),
            "latency_ms": config.latency_ms,
            "seed": config.seed,
            "baseline_max_n": config.baseline_max_n,
            "policies": os.path.relpath(source, PROJECT_ROOT),
            "safety_lifted": config.lift_safety,
            "baseline": (
                "Jira(cloud=True).enhanced_jql_get_list_of_tickets(jql) with the library's "
                "default fields (*all) and page size, then per ticket GET issue property; per "
                "acted ticket the single-purpose call of each planned action (POST comment; "
                "PUT assignee when the ladder reassigns; a labels edit when it labels) and PUT "
                "issue property. Directory and deals read with the worker's own readers; "
                "decisions by the same pure worker.policy.plan."
            ),
        },
        "sizes": sizes,
        "planner": planner,
        "slopes": slopes(sizes),
        "targets": targets(sizes, planner, latency_s=config.latency_ms / 1000),
    }


def _load() -> float | None:
    return round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None


def slopes(sizes: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Cost per 1,000 extra tickets (least squares over the measured sizes)."""

    def fit(points: list[tuple[float, float]]) -> float | None:
        if len(points) < 2:
            return None
        mean_x = sum(x for x, _ in points) / len(points)
        mean_y = sum(y for _, y in points) / len(points)
        den = sum((x - mean_x) ** 2 for x, _ in points)
        if den == 0:
            return None
        return 1000 * sum((x - mean_x) * (y - mean_y) for x, y in points) / den

    guard = [(r["n"], r["guard"]["cycles"][0]) for r in sizes]
    base = [(r["n"], r["baseline"]) for r in sizes if not r["baseline"].get("extrapolated")]
    return {
        "guard_requests_per_1000": fit([(n, c["requests"]["total"]) for n, c in guard]),
        "guard_wall_s_per_1000": fit([(n, c["wall_s"]) for n, c in guard]),
        "guard_second_cycle_wall_s_per_1000": fit(
            [(r["n"], cycle(r, "unchanged")["wall_s"]) for r in sizes]
        ),
        "guard_unchanged_requests_per_1000": fit(
            [(r["n"], cycle(r, "unchanged")["requests"]["total"]) for r in sizes]
        ),
        "guard_peak_rss_mb_per_1000": fit([(n, c["peak_rss_mb"]) for n, c in guard]),
        "baseline_requests_per_1000": fit([(n, b["requests"]["total"]) for n, b in base]),
        "baseline_wall_s_per_1000": fit([(n, b["wall_s"]) for n, b in base]),
    }


#: Jira Cloud's per-tenant edit rate we stay below, and the writes in flight (issue 12)
WRITE_RATE_PER_S = 25.0
WRITES_IN_FLIGHT = 4
#: worker CPU per 1,000 tickets in a full read before issue 12 (seconds)
CPU_PER_1000_BEFORE_S = 0.40


def _incremental_targets(
    sizes: Sequence[dict[str, Any]], add: Callable[..., None], *, latency_s: float
) -> None:
    """Issue 12's targets: cycles that cost what changed, and a cheaper full read."""
    for n in (50_000, 100_000):
        row = _at(sizes, n)
        if row is None:
            continue
        c = cycle(row, "unchanged")
        add(f"unchanged incremental cycle at N={n:,}: <= 15 requests, <= 1.5 s",
            f"{c['requests']['total']} requests, {c['wall_s']:.2f} s ({c['read']} read, "
            f"{c['issues_read']} tickets)",
            c["requests"]["total"] <= 15 and c["wall_s"] <= 1.5)  # fmt: skip
    row = _at(sizes, 50_000)
    if row is not None:
        c = cycle(row, "churn 0.1%")
        add("0.1% churn at N=50,000: <= 25 requests, <= 2 s",
            f"{c['requests']['total']} requests, {c['wall_s']:.2f} s ({c['issues_read']} "
            f"tickets read, {c['requests']['writes']} writes)",
            c["requests"]["total"] <= 25 and c["wall_s"] <= 2.0)  # fmt: skip
        first = cycle(row, "first")
        pages, writes = first["requests"]["search_pages"], first["requests"]["writes"]
        floor = max(pages * latency_s + writes * latency_s / WRITES_IN_FLIGHT,
                    writes / WRITE_RATE_PER_S)  # fmt: skip
        add("first (full) cycle at N=50,000 within 1.25x of max(pages x latency + writes x "
            "latency / in-flight, writes / write-rate)",
            f"{first['wall_s']:.1f} s against a floor of {floor:.1f} s "
            f"({first['wall_s'] / floor:.2f}x; {pages} pages, {writes:,} writes, "
            f"{WRITES_IN_FLIGHT} in flight, {WRITE_RATE_PER_S:g}/s)",
            first["wall_s"] <= 1.25 * floor)  # fmt: skip
    full = [(r["n"], _least_cpu(r)) for r in sizes if r["n"] >= 10_000]
    if full:
        n, c = max(full, key=lambda item: item[0])
        per_1000 = c["cpu_s"] / n * 1000
        goal = CPU_PER_1000_BEFORE_S * 0.7
        add(f"worker CPU per 1,000 tickets in a full read <= {goal:.2f} s (30% below "
            f"{CPU_PER_1000_BEFORE_S:.2f} s)",
            f"{per_1000:.3f} s at N={n:,} ({c['cpu_s']:.1f} s CPU, nothing to write; the "
            "lower of two full reads)",
            per_1000 <= goal)  # fmt: skip


def _least_cpu(size: Mapping[str, Any]) -> dict[str, Any]:
    """The full read with the least CPU time (runs made before the second one: the first)."""
    reads = [c for c in size["guard"]["cycles"] if c.get("label", "").startswith("full read")]
    return min(reads, key=lambda c: float(c["cpu_s"]))


def targets(
    sizes: Sequence[dict[str, Any]], planner: Mapping[str, Any], *, latency_s: float = 0.02
) -> list[dict[str, Any]]:
    """Each target of the benchmark issues with the measured value and whether it is met."""
    out: list[dict[str, Any]] = []

    def add(name: str, measured: str, met: bool | None, note: str = "") -> None:
        out.append({"target": name, "measured": measured, "met": met, "note": note})

    for row in sizes:
        first = row["guard"]["cycles"][0]
        f = first["formula"]
        add(
            f"requests <= ceil(N/100)+G+D+k (+constants) at N={row['n']:,}",
            f"{first['requests']['total']:,} requests; bound {f['bound']:,} + {f['constants']} "
            f"constants = {f['bound_with_constants']:,}; search pages {f['search_pages']}/"
            f"{f['search_pages_allowed']}, writes {f['writes']:,} for k={f['writes_allowed']:,}",
            bool(f["within"]) and first["requests"]["total"] <= f["bound_with_constants"],
            "constants: " + ", ".join(f"{k} x{v}" for k, v in first["requests"]["other"].items()),
        )
        second = cycle(row, "unchanged")
        add(
            f"unchanged cycle: zero writes at N={row['n']:,}",
            f"{second['requests']['writes']} writes",
            second["requests"]["writes"] == 0,
        )
    ref = _at(sizes, 10_000) or sizes[-1]
    base, guard = ref["baseline"], ref["guard"]["cycles"][0]
    req_ratio = base["requests"]["total"] / max(guard["requests"]["total"], 1)
    wall_ratio = base["wall_s"] / max(guard["wall_s"], 1e-9)
    label = f"N={ref['n']:,}" + (" (not 10,000: a quick run)" if ref["n"] != 10_000 else "")
    writes_share = guard["requests"]["writes"] / max(guard["requests"]["total"], 1)
    add(
        f">= 20x fewer requests than the baseline at {label}",
        f"{req_ratio:.1f}x",
        req_ratio >= 20,
        f"{writes_share:.0%} of Handoff Guard's requests are its one write per acted ticket, "
        "which the baseline needs too; with ~5% of tickets acted on, ceil(N/100) + k = 0.06 N "
        "against the baseline's N/50 + N + 2k = 1.12 N caps a first cycle near 19x",
    )
    add(f">= 10x shorter wall time than the baseline at {label}", f"{wall_ratio:.1f}x",
        wall_ratio >= 10)  # fmt: skip
    second = cycle(ref, "unchanged")["requests"]["total"]
    if not base.get("extrapolated"):
        steady = base["requests"]["reads"] / max(second, 1)
        add(
            f"steady state (nothing to do) at {label}: fewer requests than the baseline",
            f"{steady:.0f}x ({second:,} vs {base['requests']['reads']:,})",
            None,
            "derived for the baseline: its reads without its writes, since it reads the same "
            "pages and properties whatever it then does",
        )
    _incremental_targets(sizes, add, latency_s=latency_s)
    big = _at(sizes, 100_000) or max(sizes, key=lambda r: r["n"])
    rss = big["guard"]["peak_rss_mb"]
    rss_slope = slopes(sizes)["guard_peak_rss_mb_per_1000"] if len(sizes) >= 2 else None
    add(
        f"peak RSS < 200 MB at N={big['n']:,}",
        f"{rss:.0f} MB",
        rss < 200,
        ""
        if rss_slope is None
        else f"grows {rss_slope:.1f} MB per 1,000 tickets (what grows: the read's list of "
        "ids, the plan's decisions, the journal's recent writes)",
    )
    add("planner > 20,000 tickets/s on one core",
        f"{planner['tickets_per_s']:,.0f} tickets/s over {planner['tickets']:,} tickets",
        planner["tickets_per_s"] > 20_000)  # fmt: skip
    if len(sizes) >= 2:
        s = slopes(sizes)
        add(
            "cost grows linearly with N (slope per 1,000 tickets)",
            f"{s['guard_requests_per_1000']:.1f} requests and "
            f"{s['guard_wall_s_per_1000']:.2f} s per 1,000 tickets (first cycle)",
            None,
            "reported, not a pass/fail target",
        )
    fast_path_targets(list(sizes), add)
    exact = [bool(r["acted_on_exactly_the_deliverables"]) for r in sizes]
    add("Handoff Guard acts on exactly the generated pre-signature deliverables",
        f"{sum(exact)}/{len(exact)} sizes", all(exact))  # fmt: skip
    same = [r.get("same_tickets") for r in sizes if "same_tickets" in r]
    add("both sides act on the same tickets", f"{sum(bool(x) for x in same)}/{len(same)} sizes",
        all(same) and bool(same))  # fmt: skip
    return out


def _at(sizes: Sequence[dict[str, Any]], n: int) -> dict[str, Any] | None:
    return next((r for r in sizes if r["n"] == n), None)
