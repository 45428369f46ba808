"""Admins' targets checked before they act: a ``to`` one typo from a symbolic value is refused
with did-you-mean, a literal user must look like an account id or a username (tables), and
``validate`` says where (file:line:col)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from worker.policy import PolicyError, load_policies
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
