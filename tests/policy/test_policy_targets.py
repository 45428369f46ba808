"""Admins' targets checked before they act: a ``to`` one typo from a symbolic value is refused
with did-you-mean, a literal user must look like an account id or a username (tables), and
``validate`` says where (file:line:col)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from worker.__main__ import main
from worker.policy import PolicyError, load_policies
from worker.policy.checks import Loc, run_file_checks
from worker.policy.targets import flavor_problem, symbolic_typo, target_problem

CONFIG = Path(__file__).resolve().parents[2] / "config"


@pytest.mark.parametrize(
    ("value", "typo"),
    [("sales-owner", "sales_owner"), ("Sales Owner", "sales_owner"), ("sales_ownr", "sales_owner"),
     ("salesowner", "sales_owner"), ("Reporter", "reporter"), ("reportr", "reporter"),
     ("sales_owner", None), ("712020:dana", None), ("dana.kim", None), ("sam", None)],
)
def test_symbolic_typos(value: str, typo: str | None) -> None:
    """Case, hyphens, spaces and one slip of the finger still read as the symbolic value."""
    assert symbolic_typo(value) == typo


@pytest.mark.parametrize(
    ("value", "symbolic", "problem"),
    [
        ("sales_owner", True, None),
        ("reporter", True, None),
        ("712020:2c1e8f0a-7d2b-4f6e-9a41-2f0d8c3b6e10", True, None),
        ("5b10a2844c20165700ede21g"[:-1] + "f", True, None),
        ("larry.cheng", True, None),
        ("sales-owner", True, "unknown target 'sales-owner'; did you mean 'sales_owner'?"),
        ("Dana Kim", True, "'Dana Kim' is not a user id"),
        ("sales-owner", False, "it reads like 'sales_owner', which a fallback cannot be"),
        ("712020:dana", False, None),
    ],
)
def test_target_problem(value: str, symbolic: bool, problem: str | None) -> None:
    """``to`` takes a symbolic value or a user id; ``fallback`` a user id only."""
    found = target_problem(value, symbolic=symbolic)
    assert (found is None) == (problem is None)
    if problem is not None:
        assert problem in (found or "")


@pytest.mark.parametrize(
    ("value", "flavor", "ok"),
    [("712020:dana", "cloud", True), ("dana", "cloud", False),
     ("dana", "datacenter", True), ("712020:dana", "datacenter", False)],
)
def test_flavor_shape(value: str, flavor: str, ok: bool) -> None:
    """Cloud names users by account id only; Data Center by username."""
    assert (flavor_problem(value, flavor) is None) == ok


def policy_copy(tmp_path: Path, old: str, new: str) -> Path:
    """The shipped policy file with one edit, next to its templates."""
    shutil.copytree(CONFIG / "templates", tmp_path / "templates")
    text = (CONFIG / "policies.yaml").read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "policies.yaml"
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


def test_the_hyphen_typo_is_refused_at_its_line(tmp_path: Path) -> None:
    """`reassign: {to: sales-owner}` no longer passes: the problem points at the value."""
    path = policy_copy(tmp_path, "reassign: {to: sales_owner}", "reassign: {to: sales-owner}")
    with pytest.raises(PolicyError) as caught:
        load_policies(path)
    [problem] = caught.value.problems
    line = next(n for n, text in enumerate(path.read_text().splitlines(), 1)
                if "sales-owner" in text)
    assert (problem.line, problem.column) == (line, path.read_text().splitlines()[line - 1]
                                              .index("sales-owner") + 1)
    assert "did you mean 'sales_owner'?" in problem.message


def test_a_display_name_as_fallback_owner_is_refused(tmp_path: Path) -> None:
    """The fallback sales owner is a user id, not a name."""
    path = policy_copy(tmp_path, "  fallback: null",
                       '  fallback: {id: "Dana Kim", display_name: Dana Kim}')
    with pytest.raises(PolicyError) as caught:
        load_policies(path)
    assert "'Dana Kim' is not a user id" in str(caught.value)


class RecordingSink:
    """A problem sink that keeps what the checks said, by path."""

    def __init__(self) -> None:
        self.said: list[tuple[Loc, str]] = []

    def problem(self, loc: Loc, message: str, *, at_key: bool = False) -> None:
        """Keep the problem at ``loc``."""
        self.said.append((loc, message))

    def problem_in(self, loc: Loc, message: str, *, offset: int) -> None:
        """Keep the problem at ``loc`` (the offset does not matter here)."""
        self.said.append((loc, message))


def _reassign(spec: object, **step: object) -> dict[str, Any]:
    """A raw file whose one policy has one step holding ``reassign: spec``."""
    return {"people": {"pm": {}}, "policies": [{"actions": [{"reassign": spec, **step}]}]}


_AT = ("policies", 0, "actions", 0, "reassign")
#: where the fallback owner's id starts on its line (the quote)
OWNER_ID = '"Dana Kim"'


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (_reassign({"to": "sales_owner"}), []),
        (_reassign("reporter"), []),
        (_reassign({"to": "sales-owner"}), [((*_AT, "to"), "did you mean 'sales_owner'?")]),
        (_reassign("Sales Owner"), [(_AT, "did you mean 'sales_owner'?")]),
        (_reassign({"to": "reportr", "notte": "x"}), [((*_AT, "to"), "did you mean 'reporter'?")]),
        (_reassign({"to": "Sam Ortiz"}, after="2 days"),
         [((*_AT, "to"), "'Sam Ortiz' is not a user id")]),
        (_reassign({"fallback": "Dana Kim"}),
         [((*_AT, "fallback"), "'Dana Kim' is not a user id")]),
        (_reassign({"to": 7, "fallback": ""}), []),  # wrong type, empty: the model says so
        (_reassign(None), []),
        ({"policies": "not a list"}, []),
        ({"policies": [{"actions": [{"comment": "x"}, "not a step"]}]}, []),
        ({"sales_owner": {"fallback": {"id": "Dana Kim"}}},
         [(("sales_owner", "fallback", "id"), "'Dana Kim' is not a user id")]),
        ({"sales_owner": {"fallback": {"id": "712020:dana"}}}, []),
        ({"sales_owner": {"fallback": None}}, []),
    ],
)
def test_target_checks_read_the_raw_file(
    raw: dict[str, Any], expected: list[tuple[Loc, str]]
) -> None:
    """The registry's target checks find a bad ``to``/``fallback`` in the raw YAML data, whatever
    else the file or the step holds, and name its path."""
    sink = RecordingSink()
    run_file_checks(raw, sink)
    assert [loc for loc, _ in sink.said] == [loc for loc, _ in expected]
    for (_, said), (_, fragment) in zip(sink.said, expected, strict=True):
        assert fragment in said


def test_validate_reports_key_typos_and_target_typos_in_one_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A key typo at the top, a key typo in the reassign step and a display name as the fallback
    owner hide neither the `to:` typo nor each other: `validate` prints all four at
    file:line:col, sorted by line."""
    path = policy_copy(tmp_path, "reassign: {to: sales_owner}",
                       "reassign: {to: sales-owner, notte: x}")
    text = path.read_text(encoding="utf-8")
    for old, new in (("  max_actions_per_cycle: 50", "  max_action_per_cycle: 50"),
                     ("  fallback: null", '  fallback: {id: "Dana Kim", display_name: Dana Kim}')):
        assert old in text
        text = text.replace(old, new, 1)
    path.write_text(text, encoding="utf-8")
    lines = text.splitlines()

    def at(needle: str) -> str:
        number = next(n for n, line in enumerate(lines, 1) if needle in line)
        return f"{path}:{number}:{lines[number - 1].index(needle) + 1}"

    assert main(["validate", str(path)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err == [
        f"{at('max_action_per_cycle')}: safety.max_action_per_cycle: unknown key "
        "'max_action_per_cycle'; did you mean 'max_actions_per_cycle'?",
        f"{at(OWNER_ID)}: sales_owner.fallback.id: 'Dana Kim' is not a user id: name a Jira "
        "Cloud account id (like 712020:2c1e8f0a-…) or a Data Center username, not a display "
        "name or an email",
        f"{at('sales-owner')}: policies[0].actions[1].reassign.to: unknown target "
        "'sales-owner'; did you mean 'sales_owner'?",
        f"{at('notte')}: policies[0].actions[1].reassign.notte: unknown key 'notte'; did you "
        "mean 'note'?",
        f"{path}: invalid (4 problem(s))",
    ]
