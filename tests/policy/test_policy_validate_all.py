"""`validate` reports every problem at once: a key typo hides neither a bad cron nor a bad
regular expression nor a bad scope; each at file:line:col, sorted by line; checks plug in."""

from __future__ import annotations

import re
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from policy_factories import CONFIG

from worker.__main__ import main
from worker.policy import PolicyError, load_policies
from worker.policy import checks as checks_module
from worker.policy.checks import ProblemSink, file_check

#: the default policy file with four mistakes of different kinds, as an admin made them
MISTAKES: list[tuple[str | None, str]] = [
    (None, '  cron: "*/15 7-19 * * mon-fry"\n'),  # in place of the schedule's `every:` line
    ("  max_actions_per_cycle: 50", "  max_action_per_cycle: 50"),
    ("    description: A project manager is working",
     "    descripton: A project manager is working"),
    ("          keywords: [what's the status",
     "          regex: '(?=foo)bar'\n          keywords: [what's the status"),
]
#: (the line's text, the column, what is said there): lines are found in the broken file
EXPECTED = [
    ('  cron: "*/15', 24,
     "schedule.cron: day of week field 'mon-fry': invalid weekday name \"fry\""),
    ("  max_action_per_cycle: 50", 3,
     "safety.max_action_per_cycle: unknown key 'max_action_per_cycle'; did you mean "
     "'max_actions_per_cycle'?"),
    ("  - id: engaged-before-signature", 5, "policies[1]: missing required key 'description'"),
    ("    descripton: A project manager", 5,
     "policies[1].descripton: unknown key 'descripton'; did you mean 'description'?"),
    ("          regex: '(?=foo)bar'", 18,
     "policies[2].conditions[3].comments_by.regex: found '(?=foo)bar': regular expression "
     "does not compile"),
]


def _where(path: Path, line_text: str, column: int) -> str:
    lines = path.read_text(encoding="utf-8").splitlines()
    return f"{next(n for n, x in enumerate(lines, 1) if x.startswith(line_text))}:{column}"


@pytest.fixture
def broken(tmp_path: Path) -> Path:
    """A copy of the default policy file (and its templates) with the four mistakes."""
    shutil.copytree(CONFIG.parent / "templates", tmp_path / "templates")
    text = CONFIG.read_text(encoding="utf-8")
    for old, new in MISTAKES:
        if old is None:  # the shipped interval, whatever it is, becomes a bad cron
            text, n = re.subn(r"(?m)^  every: .*\n", new, text, count=1)
            assert n == 1
            continue
        assert old in text
        text = text.replace(old, new, 1)
    path = tmp_path / "policies.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_every_problem_at_once(broken: Path) -> None:
    """All five problems come in one answer, at file:line:col, sorted by line."""
    with pytest.raises(PolicyError) as info:
        load_policies(broken)
    lines = str(info.value).splitlines()
    assert len(lines) == len(EXPECTED)
    for line, (line_text, column, text) in zip(lines, EXPECTED, strict=True):
        assert line.startswith(f"{broken}:{_where(broken, line_text, column)}: {text}"), line
    problems = info.value.problems
    assert [(p.line, p.column) for p in problems] == sorted((p.line, p.column) for p in problems)


def test_validate_prints_them_all(broken: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The command prints each problem and the count, and exits 1."""
    assert main(["validate", str(broken)]) == 1
    err = capsys.readouterr().err
    for line_text, column, text in EXPECTED:
        assert f"{broken}:{_where(broken, line_text, column)}: {text}" in err
    assert err.rstrip().endswith(f"{broken}: invalid (5 problem(s))")


def test_a_bad_scope_shows_beside_a_key_typo(tmp_path: Path) -> None:
    """A policy with a typo still has its scope's JQL checked."""
    shutil.copytree(CONFIG.parent / "templates", tmp_path / "templates")
    text = CONFIG.read_text(encoding="utf-8").replace(
        "    description: A Sales deliverable",
        "    scope: project in (ACME\n    descripton: x\n    description: A Sales deliverable", 1)
    path = tmp_path / "policies.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PolicyError) as info:
        load_policies(path)
    paths = [p.path for p in info.value.problems]
    assert paths == ["policies[0].scope", "policies[0].descripton"]


def test_a_registered_check_reports_with_the_others(
    broken: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A check registered with @file_check runs on the raw file beside the built-in ones;
    its problem lands in the same sorted list, at the node it names."""
    monkeypatch.setattr(checks_module, "_CHECKS", list(checks_module._CHECKS))

    @file_check
    def _timezone_is_berlin(raw: Mapping[str, Any], sink: ProblemSink) -> None:
        schedule = raw.get("schedule")
        if isinstance(schedule, dict) and schedule.get("timezone") == "Europe/Berlin":
            sink.problem(("schedule", "timezone"), "a test check saw Berlin")

    with pytest.raises(PolicyError) as info:
        load_policies(broken)
    lines = str(info.value).splitlines()
    assert len(lines) == len(EXPECTED) + 1
    where = _where(broken, "  timezone: Europe/Berlin", 13)
    assert f"{broken}:{where}: schedule.timezone: a test check saw Berlin" in lines
