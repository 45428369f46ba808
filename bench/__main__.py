"""``python -m bench [--quick]`` (``make bench``): cost per cycle against the minimum and
against the script a user would write. Prints a table, writes a JSON results file and a PNG
chart, and says where."""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

from rich.console import Console

from bench.report import chart, performance_markdown, print_report, write_json
from bench.run import (
    DEFAULT_POLICIES,
    PROJECT_ROOT,
    BenchConfig,
    baseline_covers,
    run_benchmark,
)

PUBLISHED = PROJECT_ROOT / "docs" / "performance"


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; exit 0 whatever the targets say (they are reported, not enforced)."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="N = 1,000 only (under a minute)")
    parser.add_argument("--sizes", type=lambda s: tuple(int(x) for x in s.split(",")),
                        help="comma-separated N values (default 1000,10000,50000)")  # fmt: skip
    parser.add_argument("--latency-ms", type=int, default=20,
                        help="latency injected per request (default 20)")  # fmt: skip
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--baseline-max-n", type=int, default=10_000,
                        help="the baseline's largest N; larger N are extrapolated")  # fmt: skip
    parser.add_argument("--policies", type=Path, default=DEFAULT_POLICIES)
    parser.add_argument("--out", type=Path, help="results JSON path "
                        "(default var/bench/results-<timestamp>.json)")  # fmt: skip
    parser.add_argument("--publish", action="store_true",
                        help="also write docs/performance.md and docs/performance/")  # fmt: skip
    args = parser.parse_args(argv)

    sizes = args.sizes or ((1_000,) if args.quick else (1_000, 10_000, 50_000))
    if not baseline_covers(sizes, args.baseline_max_n):
        # Said before the hours of measuring, not after them.
        parser.error(f"--sizes {','.join(map(str, sizes))} with --baseline-max-n "
                     f"{args.baseline_max_n}: the baseline is extrapolated above it from two "
                     "measured sizes, and fewer than two are at or below it")
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    out: Path = args.out or PROJECT_ROOT / "var" / "bench" / f"results-{stamp}.json"
    config = BenchConfig(
        sizes=sizes,
        latency_ms=args.latency_ms,
        seed=args.seed,
        baseline_max_n=args.baseline_max_n,
        policies=args.policies.resolve(),
        log_dir=out.parent / f"logs-{stamp}",
        fast_path=True,
    )
    # Piped output (CI logs, files) gets a width that fits the table instead of rich's 80.
    console = Console(width=None if sys.stdout.isatty() else 160)
    with console.status("benchmark") as status:

        def progress(message: str) -> None:
            status.update(message)
            console.log(message)

        results = run_benchmark(config, progress=progress)
    print_report(results, console)
    json_path = write_json(results, out)
    png_path = chart(results, out.with_suffix(".png"))
    md_path = out.with_suffix(".md")
    md_path.write_text(
        performance_markdown(results, chart_link=png_path.name, json_link=json_path.name),
        encoding="utf-8",
    )
    console.print(f"results: {json_path}")
    console.print(f"chart:   {png_path}")
    console.print(f"section: {md_path}")
    if args.publish:
        PUBLISHED.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(json_path, PUBLISHED / "results.json")
        shutil.copyfile(png_path, PUBLISHED / "chart.png")
        (PROJECT_ROOT / "docs" / "performance.md").write_text(
            performance_markdown(
                results,
                chart_link="performance/chart.png",
                json_link="performance/results.json",
            ),
            encoding="utf-8",
        )
        console.print(f"published: {PUBLISHED}/results.json, chart.png, docs/performance.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
