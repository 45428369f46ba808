"""The request economy, asserted as a formula on the sandbox's request log.

Per cycle: ``1 + ceil(N/100) + G + D + U + k`` requests, where the 1 is ``/serverInfo`` (the
cycle's clock), N the candidates the scope returns, G the group-member pages, D the deal
search pages, U the distinct Confluence user keys the deal pages mention (Data Center stores
mentions as Confluence's own user key: one ``/wiki/rest/api/user?key=`` each per cycle; 0 on
Cloud, whose account ids the directory already knows) and k the acted-on issues: one edit
each, and nothing read to learn the ids of the comments it posted (the next cycle's search
answer names them; no write outcome was unknown here, so no re-reads).
Per-process constants, counted once on the first cycle: ``/myself`` and ``/field`` (2).
Flavor detection (one more ``/serverInfo``) happens in ``connect`` before the first cycle.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter

import pytest

from worker.model.deals import DealSource

GROUP_PAGE = 50


def group_pages(site: dict, groups: tuple[str, ...]) -> int:
    """G: member pages of the groups read (active members only, 50 a page, at least 1)."""
    inactive = {u["name"] for u in site["users"] if u.get("active") is False}
    sizes = [
        len([m for m in g["members"] if m not in inactive])
        for g in site["groups"]
        if g["name"] in groups
    ]
    return sum(max(1, math.ceil(size / GROUP_PAGE)) for size in sizes)


@pytest.mark.parametrize("n", [10, 300, 1000])
def test_request_economy(kit, flavor, n) -> None:
    """Cycle 1 costs the formula plus the per-process constants; cycle 2 writes nothing."""
    spec = dataclasses.replace(kit.spec, deals=DealSource())
    site = kit.sitegen.make_site(n, flavor=flavor)
    g = group_pages(site, spec.groups)
    d = 1  # three deal pages fit in one CQL page
    u = 0 if flavor == "cloud" else 2  # Sam and Dana are the example's account executives
    with kit.open_site(site) as (sb, atl):
        journal = kit.journal()

        first = kit.run_cycle(sb, atl, journal, spec=spec, with_deals=True)
        k = len(first.outcomes)
        assert len(first.snapshots) == n
        assert k == math.ceil(n / 5)
        assert {o.status for o in first.outcomes} == {"applied"}
        formula = 1 + math.ceil(n / 100) + g + d + u + k
        assert len(first.requests) == formula + 2, Counter(
            (r["method"], r["path"]) for r in first.requests
        )
        per_issue_gets = [
            r for r in first.requests if r["method"] == "GET" and "/issue/" in r["path"]
        ]
        assert per_issue_gets == []

        second = kit.run_cycle(sb, atl, journal, spec=spec, with_deals=True)
        n2 = len(second.snapshots)  # acted-on issues were reassigned to Sales: out of scope
        assert n2 == n - k
        assert len(second.requests) == 1 + math.ceil(n2 / 100) + g + d + u
        assert [r for r in second.requests if r["method"] == "PUT"] == []
        print(
            f"economy {flavor} N={n}: cycle1={len(first.requests)} (formula {formula} + 2 "
            f"constants; k={k}, G={g}, D={d}, U={u}) cycle2={len(second.requests)} (N2={n2})"
        )
