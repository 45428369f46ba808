"""Snapshots over HTTP, both flavors: the copy plans as the site, anonymized or not."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.snapshot.conftest import POLICIES, plan_site, with_flavor
from worker.atlassian.clients import Atlassian
from worker.policy import Policies
from worker.sandbox import Sandbox, load_site
from worker.snapshot import Snapshot, dump_site, policy_words, take_snapshot

PROTECTED = policy_words(POLICIES.read_text(encoding="utf-8"))


@pytest.fixture
def serve() -> Iterator[Callable[[dict[str, Any] | Path], Sandbox]]:
    """Serve site files for this test; all stopped at the end."""
    running: list[Sandbox] = []

    def start(site: dict[str, Any] | Path) -> Sandbox:
        sb = Sandbox.start(site)
        running.append(sb)
        return sb

    yield start
    for sb in running:
        sb.stop()


def _snapshot(atl: Atlassian, policies: Policies, path: Path, **kw: Any) -> Snapshot:
    snap = take_snapshot(atl, policies, protected=PROTECTED, **kw)
    dump_site(snap, path)
    return snap


def test_snapshot_served_plans_as_the_site_itself(
    source: Sandbox, policies: Policies, open_atlassian: Callable[[Sandbox], Atlassian],
    serve: Callable[[Path], Sandbox], tmp_path: Path,
) -> None:
    """A snapshot of the demo site, served by the sandbox, gives the same plan, decision for
    decision, with the same number of requests as a plan's read."""
    expected = plan_site(source, policies)
    assert any(d["verdict"] == "act" for d in expected.decisions)
    snap = _snapshot(open_atlassian(source), policies, tmp_path / "site.yaml")
    assert source.requests()
    assert all(r["method"] in ("GET", "POST") for r in source.requests())
    assert not [r for r in source.requests() if r["method"] == "POST"
                and not r["path"].endswith(("/search/jql", "/search"))]
    assert snap.requests == expected.requests
    copy_site = serve(tmp_path / "site.yaml")
    got = plan_site(copy_site, policies)
    assert got.decisions == expected.decisions
    assert snap.issues == len({d["issue"] for d in expected.decisions})


def test_deal_pages_keep_their_storage_body_verbatim(
    source: Sandbox, policies: Policies, open_atlassian: Callable[[Sandbox], Atlassian],
    tmp_path: Path,
) -> None:
    """Each deal page's storage body in the file is byte for byte what Confluence served."""
    snap = _snapshot(open_atlassian(source), policies, tmp_path / "site.yaml")
    served = {
        p["id"]: p["body"]["storage"]["value"]
        for p in source._http.get(
            source.wiki_url + "/rest/api/content/search",
            params={"cql": 'space = "SALES" and label = "deal"', "expand": "body.storage",
                    "limit": 100},
            auth=(source.bot_email, source.bot_token) if source.flavor == "cloud" else None,
            headers={} if source.flavor == "cloud"
            else {"Authorization": f"Bearer {source.bot_token}"},
            timeout=5,
        ).json()["results"]
    }
    pages = {p["id"]: p for p in snap.site["confluence"]["pages"]}
    assert served
    assert set(pages) == set(served)
    for page_id, storage in served.items():
        assert pages[page_id]["storage"] == storage
        assert "deal" in pages[page_id]["labels"]
    assert load_site(tmp_path / "site.yaml").pages  # and the file loads


def test_tokens_never_reach_the_file(
    demo_data: dict[str, Any], policies: Policies, serve: Callable[[dict[str, Any]], Sandbox],
    open_atlassian: Callable[[Sandbox], Atlassian], tmp_path: Path,
) -> None:
    """The bot's real token is nowhere in the file; the placeholder the sandbox takes is."""
    data = copy.deepcopy(demo_data)
    data["site"]["bot"]["api_token"] = "real-token-Zq81x"
    sb = serve(data)
    _snapshot(open_atlassian(sb), policies, tmp_path / "site.yaml")
    text = (tmp_path / "site.yaml").read_text(encoding="utf-8")
    assert "real-token-Zq81x" not in text
    assert "api_token: sandbox-token" in text


def test_issues_n_keeps_the_first_n_tickets(
    source: Sandbox, policies: Policies, open_atlassian: Callable[[Sandbox], Atlassian],
    tmp_path: Path,
) -> None:
    """--issues N keeps N candidate tickets and a site file that still loads."""
    snap = _snapshot(open_atlassian(source), policies, tmp_path / "site.yaml", limit=5)
    assert snap.issues == 5
    assert len(load_site(tmp_path / "site.yaml").issues) == 5


# --------------------------------------------------------------------------- anonymization


def _originals(site: dict[str, Any]) -> dict[str, set[str]]:
    """What must not survive anonymization, read from the *source* site file."""
    people = site["users"] + [site["site"]["bot"]]
    out: dict[str, set[str]] = {
        "email": {str(u["email"]) for u in people if u.get("email")},
        "account id": {str(u["account_id"]) for u in people},
        "username": {str(u["name"]) for u in site["users"]},
        "name": {str(u["display_name"]) for u in site["users"]},
        "customer": set(),
    }
    for u in site["users"]:
        out["name"] |= set(str(u["display_name"]).split())
    generic = {"corp", "inc", "ltd", "gmbh", "co", "group", "the", "and", "industries",
               "corporation", "llc", "ag", "plc", "solutions", "systems", "services"}
    for page in site.get("confluence", {}).get("pages", []):
        account = (page.get("properties") or {}).get("Account")
        if account:
            out["customer"].add(str(account))
            out["customer"] |= {w for w in re.findall(r"\w+", str(account))
                                if w.lower() not in generic and len(w) >= 3}
    return out


def _leaks(text: str, originals: dict[str, set[str]]) -> list[str]:
    found = []
    for kind, values in originals.items():
        for value in values:
            # whole words, any case, except an all-capitals project key (ACME-1 stays)
            for m in re.finditer(rf"(?<![\w-]){re.escape(value)}(?![\w-])", text, re.IGNORECASE):
                if m.group(0).isupper() and re.match(r"-\d", text[m.end():m.end() + 2]):
                    continue
                if m.group(0).isupper() and kind == "customer" and " " not in value:
                    continue  # a project key written on its own
                found.append(f"{kind} {value!r} at {text[max(0, m.start() - 30):m.end() + 30]!r}")
    return found


def test_anonymized_snapshot_leaks_no_one_and_plans_the_same(
    source: Sandbox, demo_data: dict[str, Any], policies: Policies,
    open_atlassian: Callable[[Sandbox], Atlassian], serve: Callable[[Path], Sandbox],
    tmp_path: Path,
) -> None:
    """--anonymize: no original name, email, account id or customer anywhere in the file, and
    the plan on the served copy is the source plan with the same pseudonyms."""
    expected = plan_site(source, policies)
    snap = _snapshot(open_atlassian(source), policies, tmp_path / "anon.yaml", anonymize=True)
    assert snap.anonymizer is not None
    text = (tmp_path / "anon.yaml").read_text(encoding="utf-8")
    originals = _originals(with_flavor(demo_data, source.flavor))
    assert all(originals.values())
    assert _leaks(text, originals) == []
    # what the policies match on stays
    for kept in ("Statement of Work", "sow", "redline", "by EOD", "In Progress",
                 "project-managers"):
        assert kept in text
    got = plan_site(serve(tmp_path / "anon.yaml"), policies)
    assert got.decisions == snap.anonymizer.json(expected.decisions)
    assert sum(d["verdict"] == "act" for d in got.decisions) == sum(
        d["verdict"] == "act" for d in expected.decisions)


def test_the_same_person_gets_the_same_pseudonym_everywhere(
    source: Sandbox, policies: Policies, open_atlassian: Callable[[Sandbox], Atlassian],
    tmp_path: Path,
) -> None:
    """An assignee, a group member, a comment author and a deal page's account executive that
    are one person before are one pseudonym after."""
    snap = _snapshot(open_atlassian(source), policies, tmp_path / "anon.yaml", anonymize=True)
    site = snap.site
    ids = {u["account_id"] if source.flavor == "cloud" else u["name"] for u in site["users"]}
    members = {m for g in site["groups"] for m in g["members"]}
    assert members <= ids
    refs = {i[k] for i in site["issues"] for k in ("assignee", "reporter") if k in i}
    refs |= {c["author"] for i in site["issues"] for c in i.get("comments", []) if c["author"]}
    assert refs <= ids | {site["site"]["bot"]["name"], site["site"]["bot"]["account_id"]}
    # Data Center stores a mention as Confluence's own user key (ri:userkey), which the
    # snapshot keeps on the user it belongs to (confluence_key).
    attr = "ri:account-id" if source.flavor == "cloud" else "ri:userkey"
    linked = {m for p in site["confluence"]["pages"]
              for m in re.findall(rf'{attr}="([^"]+)"', p.get("storage", ""))}
    assert linked
    keys = ids if source.flavor == "cloud" else {
        u["confluence_key"] for u in site["users"] if u.get("confluence_key")}
    assert linked <= keys
    loaded = yaml.safe_load((tmp_path / "anon.yaml").read_text(encoding="utf-8"))
    assert loaded == site


def _long_thread(demo_data: dict[str, Any], flavor: str) -> dict[str, Any]:
    """The demo site plus a ticket with 130 comments whose newest is Sales chasing: the
    search shows only the oldest 100 on Cloud, so the verdict needs the rest."""
    data = with_flavor(demo_data, flavor)
    comments = [{"author": "ravi", "created": f"2026-10-{20 + n // 20:02d}T{8 + n % 10:02d}:"
                 f"{n % 60:02d}:00Z", "body": f"Notes from the workshop, part {n}."}
                for n in range(129)]
    comments.append({"author": "sam", "created": "2026-10-30T16:00:00Z",
                     "body": "Marco, any update? I need an update by EOD."})
    data["issues"].append({
        "key": "ACME-90", "type": "Task", "summary": "Workshop notes for the data migration",
        "status": "In Progress", "assignee": "marco", "reporter": "sam",
        "created": "2026-10-19T08:00:00Z", "updated": "2026-10-30T16:00:00Z",
        "fields": {"customfield_10050": "Acme Corp"}, "comments": comments,
    })
    return data


def test_comments_beyond_the_search_cap_are_kept(
    demo_data: dict[str, Any], policies: Policies, serve: Callable[[dict[str, Any]], Sandbox],
    open_atlassian: Callable[[Sandbox], Atlassian], tmp_path: Path,
) -> None:
    """Comments the cycle read apart (past search's cap) are in the copy: the same verdict."""
    for flavor in ("cloud", "datacenter"):
        source = serve(_long_thread(demo_data, flavor))
        expected = plan_site(source, policies)
        chased = [d for d in expected.decisions
                  if d["issue"] == "ACME-90" and d["policy"] == "sales-directing-pm"]
        assert chased
        assert chased[0]["verdict"] == "act"
        snap = _snapshot(open_atlassian(source), policies, tmp_path / f"{flavor}.yaml")
        (issue,) = [i for i in snap.site["issues"] if i["key"] == "ACME-90"]
        assert len(issue["comments"]) == 130
        assert plan_site(serve(tmp_path / f"{flavor}.yaml"), policies).decisions == (
            expected.decisions)
