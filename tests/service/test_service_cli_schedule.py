"""`validate` and `run --once` on the bad schedules of issue 10: exit 1, with the line."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.service.conftest import Cli

BAD = [
    ('  cron: "*/15 7-19 * * mon-fry"\n', ":14:24: schedule.cron: day of week field 'mon-fry'"),
    ('  cron: "61 * * * *"\n', ":14:10: schedule.cron: minute field '61'"),
    ('  cron: "0 7-25 * * *"\n', ":14:12: schedule.cron: hour field '7-25'"),
    ("  every: 0m\n", ":14:10: schedule.every: found '0m': `every` must be at least 1 minute"),
    ("  every: 10s\n", ":14:10: schedule.every: found '10s': `every` must be at least 1 minute"),
]


@pytest.mark.parametrize(("line", "expected"), BAD, ids=[b[0].strip() for b in BAD])
def test_each_bad_schedule_exits_1_with_its_line(
    cli: Cli, config_dir: Path, line: str, expected: str
) -> None:
    """validate and run --once both refuse the file at the schedule's line (nothing runs)."""
    path = config_dir / "policies.yaml"
    text = path.read_text()
    assert "  every: 1m\n" in text
    path.write_text(text.replace("  every: 1m\n", line))
    code, out, err = cli("validate", str(path))
    assert (code, out) == (1, "")
    assert f"{path}{expected}" in err
    code, out, err = cli("run", "--once", "--dry-run")
    assert code == 1
    assert f"{path}{expected}" in err


def test_validate_prints_the_real_interval_and_warns(cli: Cli, config_dir: Path) -> None:
    """`every: 90s` is summarized as 90 seconds; `ignore_opt_out` prints a warning."""
    path = config_dir / "policies.yaml"
    text = path.read_text().replace("  every: 1m\n", "  every: 90s\n")
    text = text.replace("    mode: dry-run ", "    ignore_opt_out: true\n    mode: dry-run ")
    path.write_text(text)
    code, out, err = cli("validate", str(path))
    assert code == 0
    assert "cycles every 90 seconds" in out
    assert "warning: policy sales-directing-pm has `ignore_opt_out: true`" in err
