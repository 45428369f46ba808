"""Schedules: cron checked by APScheduler's own parser, `every` at least a minute, real words."""

from __future__ import annotations

import pytest
from policy_factories import CONFIG

from worker.policy import PolicyError, load_policies_text, summarize
from worker.policy.durations import parse_duration
from worker.policy.schedule import cron_problem, interval_problem, schedule_words

TEMPLATES = CONFIG.parent


@pytest.mark.parametrize(
    ("expression", "offset", "message"),
    [
        ("*/15 7-19 * * mon-fry", 14, "day of week field 'mon-fry': invalid weekday name \"fry\""),
        ("61 * * * *", 0, "minute field '61': the last value (61) is higher than the maximum"),
        ("0 7-25 * * *", 2, "hour field '7-25': the last value (25) is higher than the maximum"),
        ("0 9 32 * *", 4, "day of month field '32'"),
        ("0 9 * 13 *", 6, "month field '13'"),
        ("*/0 * * * *", 0, "minute field '*/0': increment must be higher than 0"),
        ("0 9 * *", 0, "found 4 field(s), expected 5 fields"),
        ("0 9 * * mon-fri 2026", 0, "found 6 field(s)"),
        ("0 0 31 2 *", 0, "'0 0 31 2 *' never fires"),
    ],
)
def test_bad_cron(expression: str, offset: int, message: str) -> None:
    """Each bad cron is refused at the field that is wrong, in the scheduler's words."""
    found = cron_problem(expression)
    assert found is not None
    assert found.offset == offset
    assert found.message.startswith(message), found.message


@pytest.mark.parametrize(
    "expression", ["*/15 7-19 * * mon-fri", "0 9 * * 1-5", "0 0 29 2 *", "30 8 1 jan,jul *"]
)
def test_good_cron(expression: str) -> None:
    """Expressions the scheduler runs pass."""
    assert cron_problem(expression) is None


@pytest.mark.parametrize(
    ("every", "problem"),
    [("0m", True), ("10s", True), ("59s", True), ("60s", False), ("1m", False), ("1h", False)],
)
def test_every_has_a_minimum_of_one_minute(every: str, problem: bool) -> None:
    """`every` below one minute is refused."""
    assert (interval_problem(parse_duration(every, allow_business=False)) is not None) == problem


@pytest.mark.parametrize(
    ("interval_s", "cron", "words"),
    [
        (900, None, "every 15 minutes"),
        (90, None, "every 90 seconds"),
        (60, None, "every 1 minute"),
        (7200, None, "every 2 hours"),
        (None, "0 9 * * mon-fri", "cron '0 9 * * mon-fri'"),
    ],
)
def test_schedule_words_say_the_real_interval(
    interval_s: int | None, cron: str | None, words: str
) -> None:
    """The summary prints the real interval, never a rounded-down "every 0 min"."""
    assert schedule_words(interval_s=interval_s, cron=cron) == words


GOOD = """\
version: 1
schedule:
  {schedule}
policies:
  - id: p1
    description: test
    conditions:
      - assignee_in: pm
    actions:
      - comment: sales-deliverable
"""


@pytest.mark.parametrize(
    ("schedule", "col", "message"),
    [
        ('cron: "*/15 7-19 * * mon-fry"', 24, "day of week field 'mon-fry'"),
        ("cron: '61 * * * *'", 10, "minute field '61'"),
        ("cron: 0 7-25 * * *", 11, "hour field '7-25'"),
        ("every: 0m", 10, "found '0m': `every` must be at least 1 minute"),
        ("every: 10s", 10, "found '10s': `every` must be at least 1 minute"),
    ],
)
def test_bad_schedule_in_a_file(schedule: str, col: int, message: str) -> None:
    """A bad schedule is reported as file:line:col at the faulty field."""
    with pytest.raises(PolicyError) as info:
        load_policies_text(
            GOOD.format(schedule=schedule), filename="bad.yaml", base_dir=TEMPLATES
        )
    (problem,) = info.value.problems
    assert (problem.file, problem.line, problem.column) == ("bad.yaml", 3, col)
    assert problem.message.startswith(message), problem.message


def test_summary_of_a_90_second_interval() -> None:
    """`every: 90s` loads and is summarized as 90 seconds."""
    policies = load_policies_text(GOOD.format(schedule="every: 90s"), base_dir=TEMPLATES)
    assert policies.schedule.interval_s == 90
    assert "cycles every 90 seconds" in summarize(policies)[0]
