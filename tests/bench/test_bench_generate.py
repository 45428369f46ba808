"""The seeded site generator: deterministic, contract-shaped, loadable, ~5% deliverables."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import EXAMPLE_SITE
from worker.sandbox.generate import (
    DELIVERABLE_SHARE,
    UNSIGNED_STATUSES,
    deliverable_keys,
    generate_site,
    write_site,
)

#: Maps whose keys are data (status names, field ids, property names), not format.
FREE_FORM = {"workflow", "issues[].fields", "issues[].properties", "confluence.pages[].properties"}


def _keys_by_path(node: Any, path: str, out: dict[str, set[str]]) -> None:
    """Collect, per structural path ("issues[].comments[]"), the mapping keys used there."""
    if isinstance(node, dict):
        out.setdefault(path, set()).update(node)
        for key, value in node.items():
            child = f"{path}.{key}" if path else key
            if child not in FREE_FORM:
                _keys_by_path(value, child, out)
    elif isinstance(node, list):
        for item in node:
            _keys_by_path(item, f"{path}[]", out)


@pytest.mark.parametrize("n", [0, 1, 50, 1000])
def test_same_seed_same_site(n: int) -> None:
    """The same size and seed give the same site, key for key."""
    assert generate_site(n, seed=7) == generate_site(n, seed=7)


def test_different_seed_differs() -> None:
    """A different seed gives a different site of the same size."""
    a, b = generate_site(200, seed=1), generate_site(200, seed=2)
    assert len(a["issues"]) == len(b["issues"]) == 200
    assert a != b


@pytest.mark.parametrize("flavor", ["cloud", "datacenter"])
def test_flavor_is_set(flavor: str) -> None:
    """The flavor lands in the site header and nothing else changes."""
    site = generate_site(30, seed=3, flavor=flavor)
    assert site["site"]["flavor"] == flavor
    other = generate_site(30, seed=3, flavor="cloud")
    assert site["issues"] == other["issues"]


@pytest.mark.parametrize(("n", "low", "high"), [(1000, 0.045, 0.055), (10000, 0.049, 0.051)])
def test_about_five_percent_are_deliverables(n: int, low: float, high: float) -> None:
    """About 5% of the issues are pre-signature Sales deliverables, and all are assigned to PMs."""
    site = generate_site(n, seed=11)
    share = len(deliverable_keys(site)) / n
    assert low <= share <= high, share
    assert abs(share - DELIVERABLE_SHARE) < 0.01


def test_every_issue_is_a_candidate() -> None:
    """Every issue is open and assigned to an active project manager, so N is what scope returns."""
    site = generate_site(2000, seed=5)
    active = {u["name"] for u in site["users"] if u.get("active", True)}
    pms = next(g for g in site["groups"] if g["name"] == "project-managers")["members"]
    done = {s for s, cat in site["workflow"].items() if cat == "done"}
    for issue in site["issues"]:
        assert issue["assignee"] in pms
        assert issue["assignee"] in active
        assert issue["status"] not in done


def test_deal_page_for_every_customer_project() -> None:
    """Every customer project has one deal page in SALES labelled deal with the properties read."""
    site = generate_site(3000, seed=9)
    pages = {p["properties"]["Jira project"]: p for p in site["confluence"]["pages"]}
    customer_projects = {p["key"] for p in site["projects"]} - {"SALES"}
    assert set(pages) == customer_projects
    assert len(customer_projects) >= 3000 // 200
    sales = next(g for g in site["groups"] if g["name"] == "sales")["members"]
    for page in pages.values():
        assert page["space"] == "SALES"
        assert page["labels"] == ["deal"]
        props = page["properties"]
        assert list(props) == [
            "Account", "Jira project", "Contract status", "Signed on", "Account executive",
        ]  # fmt: skip
        assert props["Account executive"].removeprefix("@") in sales
        assert (props["Signed on"] == "") == (props["Contract status"] in UNSIGNED_STATUSES)


def test_fields_have_realistic_sizes() -> None:
    """Descriptions run to a few hundred characters and issues carry a few comments on average."""
    site = generate_site(1000, seed=4)
    issues = site["issues"]
    mean_desc = sum(len(i["description"]) for i in issues) / len(issues)
    mean_comments = sum(len(i["comments"]) for i in issues) / len(issues)
    assert 150 <= mean_desc <= 600
    assert 1.0 <= mean_comments <= 3.0
    assert len({i["key"] for i in issues}) == len(issues)


#: sandbox extensions the generator uses on purpose (documented in docs/sandbox.md)
EXTENSIONS = {"confluence.pages[]": {"shape", "created", "updated"}}


def test_uses_only_keys_of_the_site_file_contract() -> None:
    """Every mapping key the generator writes appears at the same place in the example site
    file, except the documented extensions it uses on purpose (page shapes and times)."""
    allowed: dict[str, set[str]] = {}
    _keys_by_path(yaml.safe_load(EXAMPLE_SITE.read_text(encoding="utf-8")), "", allowed)
    for path, keys in EXTENSIONS.items():
        allowed.setdefault(path, set()).update(keys)
    used: dict[str, set[str]] = {}
    _keys_by_path(generate_site(500, seed=2), "", used)
    for path, keys in used.items():
        assert keys <= allowed.get(path, set()), (path, keys - allowed.get(path, set()))


def test_loads_in_the_sandbox(tmp_path: Path) -> None:
    """The sandbox's own loader accepts a generated site, from a dict and from a written file."""
    from worker.sandbox.site import site_from_dict

    site_from_dict(generate_site(300, seed=6))
    path = write_site(tmp_path / "site.yaml", 300, 6)
    site_from_dict(yaml.safe_load(path.read_text(encoding="utf-8")))


def test_generation_is_fast() -> None:
    """10,000 issues generate well within 3 s (about 0.3 s unloaded: 50,000 take a few seconds)."""
    import time

    started = time.perf_counter()
    site = generate_site(10_000, seed=1)
    assert len(site["issues"]) == 10_000
    assert time.perf_counter() - started < 3.0
