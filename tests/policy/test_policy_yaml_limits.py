"""YAML that costs more than it says: alias bombs, anchors, deep nesting and huge files are
refused with file:line before anything walks them (policy file and the sandbox's site file)."""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

import pytest
from policy_factories import alias_bomb

from worker.policy import PolicyError, load_policies
from worker.policy.bounded_yaml import YamlLimitError, YamlLimits, compose
from worker.sandbox import SiteError, load_site

ROOT = Path(__file__).resolve().parents[2]
POLICIES = ROOT / "config" / "policies.yaml"
SMALL_SITE = ROOT / "tests" / "sandbox" / "fixtures" / "site-small.yaml"


def _policy_problems(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "policies.yaml"
    path.write_text(text, encoding="utf-8")
    (tmp_path / "templates").symlink_to(ROOT / "config" / "templates")
    with pytest.raises(PolicyError) as info:
        load_policies(path)
    return [str(p) for p in info.value.problems]


GOOD = POLICIES.read_text(encoding="utf-8")
GOOD_LINES = GOOD.count("\n")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (GOOD + alias_bomb(), f"policies.yaml:{GOOD_LINES + 1}:7: YAML anchors (&l0) are not "
                              "allowed in a policy file; write the value out where it applies"),
        (GOOD.replace("schedule:\n  every: 1m", "schedule:\n  every: &often 1m", 1)
         + "x: *often\n", "YAML anchors (&often) are not allowed in a policy file"),
        (GOOD + "deep: " + "[" * 200 + "]" * 200 + "\n",
         f"policies.yaml:{GOOD_LINES + 1}:70: YAML nesting deeper than 64 levels"),
    ],
    ids=["alias-bomb", "anchor", "deep"],
)
def test_policy_file_refuses_costly_yaml_with_its_line(
    tmp_path: Path, text: str, expected: str
) -> None:
    """Anchors, aliases and absurd nesting are one clear problem with file:line:col."""
    (problem,) = _policy_problems(tmp_path, text)
    assert expected in problem, problem
    assert problem.startswith(str(tmp_path / "policies.yaml") + ":")


def test_policy_file_over_the_size_bound_is_refused_unread(tmp_path: Path) -> None:
    """A policy file over 1 MB is refused by its size, before it is read or parsed."""
    (problem,) = _policy_problems(tmp_path, GOOD + "#" * (1 << 20) + "\n")
    assert ":1:1: file is " in problem
    assert "a policy file is at most 1048576 bytes" in problem


def _limited_memory() -> None:  # runs in the child: 1 GB of address space, no more
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))


@pytest.mark.timeout(120)
def test_validate_on_an_alias_bomb_answers_within_bounded_memory(tmp_path: Path) -> None:
    """`validate` on the alias bomb exits 1 naming the line, inside 1 GB of address space
    (it reached 2.9 GB and a MemoryError before)."""
    path = tmp_path / "policies.yaml"
    path.write_text(GOOD + alias_bomb(), encoding="utf-8")
    (tmp_path / "templates").symlink_to(ROOT / "config" / "templates")
    done = subprocess.run(
        [sys.executable, "-m", "worker", "validate", str(path)],
        capture_output=True, text=True, timeout=100, cwd=ROOT, preexec_fn=_limited_memory,
        check=False,
    )
    assert done.returncode == 1, done.stderr[-2000:]
    assert f"{path}:{GOOD_LINES + 1}:7: YAML anchors (&l0) are not allowed" in done.stderr
    assert "MemoryError" not in done.stderr


def test_site_file_alias_bomb_is_refused_with_its_line(tmp_path: Path) -> None:
    """The sandbox's site file may share values with aliases, but not explode them: a bomb in
    an issue property (free JSON) loaded before and blew up the first search serving it."""
    path = tmp_path / "site.yaml"
    text = SMALL_SITE.read_text(encoding="utf-8")
    anchor = "    fields: {customfield_10050: Acme, customfield_10051: Draft}\n"
    assert anchor in text
    bomb = "".join("        " + ln + "\n" for ln in alias_bomb().splitlines())
    path.write_text(text.replace(anchor, anchor + "    properties:\n      bomb:\n" + bomb, 1),
                    encoding="utf-8")
    with pytest.raises(SiteError) as info:
        load_site(path)
    message = str(info.value)
    assert message.startswith(f"{path}:43:20:")
    assert "YAML aliases expand to more than 100000 values" in message


def test_site_file_with_a_few_aliases_still_loads(tmp_path: Path) -> None:
    """Modest sharing (an anchor reused a few times) stays legal in a site file."""
    path = tmp_path / "site.yaml"
    text = SMALL_SITE.read_text(encoding="utf-8")
    assert "  - key: ACME-1\n" in text
    anchor = "    labels: [sow]\n"
    assert anchor in text
    shared = "".join(f"  - {{key: ACME-{n + 10}, type: Task, summary: Shared, status: To Do, "
                     "labels: *tags}\n" for n in range(1, 4))
    text = text.replace(anchor, "    labels: &tags [sow]\n", 1)
    path.write_text(text.replace("  - {key: LOCK-1,", shared + "  - {key: LOCK-1,", 1),
                    encoding="utf-8")
    site = load_site(path)
    shared_issues = [i for i in site.issues if i.summary == "Shared"]
    assert len(shared_issues) == 3
    assert all(i.labels == ["sow"] for i in shared_issues)


@pytest.mark.parametrize(
    ("text", "limits", "message", "line"),
    [
        ("a: [[[1]]]\n", YamlLimits(100, 3, None), "YAML nesting deeper than 3 levels", 1),
        ("a: &x [1, 2]\nb: [*x, *x]\n", YamlLimits(100, 9, 4),
         "YAML aliases expand to more than 4 values", 2),
        ("a: &x [1, 2]\nb: [[[*x]]]\n", YamlLimits(100, 4, 99),
         "YAML nesting deeper than 4 levels (through alias *x)", 2),
        ("a: &x [1, *x]\n", YamlLimits(100, 9, 99), "refers to a node that contains it", 1),
        ("a: 1234567890\n", YamlLimits(10, 9, None), "file is 14 bytes; this file is at most", 1),
    ],
    ids=["depth", "expansion", "depth-through-alias", "recursive", "size"],
)
def test_limits_table(text: str, limits: YamlLimits, message: str, line: int) -> None:
    """Each limit is refused at the line where it was crossed."""
    with pytest.raises(YamlLimitError) as info:
        compose(text, limits)
    assert message in info.value.message
    assert info.value.line == line


def test_within_limits_the_value_is_the_plain_yaml_value() -> None:
    """Under the limits, compose gives what yaml.safe_load gives, with the node tree."""
    node, value = compose("a: &x [1, 2]\nb: [*x, 3]\n", YamlLimits(100, 9, 9))
    assert value == {"a": [1, 2], "b": [[1, 2], 3]}
    assert node is not None
