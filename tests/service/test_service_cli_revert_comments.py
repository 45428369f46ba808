"""`revert` takes back the bot's comments: rewritten into a retraction (or deleted with
``--delete-comments``), exactly once, dry run first, in both flavors, over HTTP against the
demo sandbox; the sandbox lets only a comment's author or an admin edit or delete it. The ids
are named by the next cycle's search answer (no request of their own), and `revert` reads the
comments by them; a write left without ids (recorded before they were, or never named without
doubt) is served by the stamp each comment carries, found in the comment list."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa
import yaml

from tests.cli_support import DEMO_SITE, Cli, in_process_cli, site_env
from tests.humans import Human, with_logins
from worker.sandbox import Sandbox
from worker.state.store import Store
from worker.state.tables import outcomes

REASON = "Lee Okafor: the deliverable policy was wrong"
RETRACTION = f"Withdrawn by an admin: {REASON}"


@pytest.fixture(params=["cloud", "datacenter"])
def site(request: pytest.FixtureRequest) -> Iterator[Sandbox]:
    """The demo site in the flavor asked for, everyone able to log in, Lee a Jira admin."""
    data = with_logins(yaml.safe_load(DEMO_SITE.read_text(encoding="utf-8")))
    data["site"]["flavor"] = request.param
    data["groups"].append({"name": "jira-administrators", "group_id": "grp-admins",
                           "members": ["lee"]})
    with Sandbox.start(data) as sandbox:
        yield sandbox


@pytest.fixture
def cli(site: Sandbox, config_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> Iterator[Cli]:
    """``main(argv)`` in-process against ``site`` in its flavor."""
    env = site_env(site, config=config_dir / "policies.yaml", state=tmp_path / "state.db")
    yield from in_process_cli(env, monkeypatch, capsys)


def _bot_comments(sandbox: Sandbox, key: str) -> list[dict[str, Any]]:
    issue = next(i for i in sandbox.site()["issues"] if i["key"] == key)
    return [c for c in issue.get("comments", []) if c.get("author") == sandbox.bot_name]


def test_revert_takes_back_a_runs_comments(cli: Cli, site: Sandbox) -> None:
    """The first cycle's comments: a dry run lists them and sends nothing; the revert rewrites
    each into the retraction once (a second revert sends no comment edit); the ids are in the
    store; the bot does not comment again for that cause; a person's comment is untouched."""
    human = Human.named(site, "sam")
    human.comment("ACME-1", "Priya, where is the SOW?")
    code, out, err = cli("run", "--once")
    assert code == 0, err
    run_id = json.loads(out.strip().splitlines()[-1])["run_id"]
    (posted,) = _bot_comments(site, "ACME-1")

    site.clear_requests()
    code, out, err = cli("revert", "--run", run_id, "--dry-run", "--reason", REASON)
    assert code == 0, err
    assert f"ACME-1: would revert: 1 comment withdrawn ({posted['id']})" in out
    assert not [r for r in site.requests() if r["method"] in ("PUT", "DELETE")]

    code, out, err = cli("revert", "--run", run_id, "--reason", REASON)
    assert code == 0, err
    assert f"ACME-1: reverted: 1 comment withdrawn ({posted['id']})" in out
    withdrawn, revert_note = _bot_comments(site, "ACME-1")
    assert withdrawn["id"] == posted["id"]
    assert withdrawn["body"] == RETRACTION
    assert "undone at the request of" in revert_note["body"]
    issue = next(i for i in site.site()["issues"] if i["key"] == "ACME-1")
    assert any(c["body"] == "Priya, where is the SOW?" for c in issue["comments"])

    code, out, _ = cli("history", "--format", "json", "--issue", "ACME-1")
    undo = [r for r in json.loads(out)["rows"]
            if r["run_id"].startswith("revert-") and not r["dry_run"]]
    assert undo[0]["changes"]["comments_withdrawn"] == [posted["id"]]

    site.clear_requests()
    code, out, err = cli("revert", "--run", run_id, "--reason", REASON)
    assert code == 0, err
    assert "ACME-1: nothing to undo" in out
    assert not [r for r in site.requests() if "/comment/" in r["path"]
                and r["method"] in ("PUT", "DELETE")]

    site.advance("3d")
    code, _, err = cli("run", "--once")
    assert code == 0, err
    assert len(_bot_comments(site, "ACME-1")) == 2  # no new comment for that cause


def test_revert_deletes_comments_when_asked(cli: Cli, site: Sandbox) -> None:
    """--delete-comments deletes the run's comments instead; a second revert finds none."""
    code, out, err = cli("run", "--once")
    assert code == 0, err
    run_id = json.loads(out.strip().splitlines()[-1])["run_id"]
    (posted,) = _bot_comments(site, "ACME-2")
    code, out, err = cli("revert", "ACME-2", "--delete-comments", "--reason", REASON)
    assert code == 0, err
    assert f"ACME-2: reverted: 1 comment deleted ({posted['id']})" in out
    bodies = [c["body"] for c in _bot_comments(site, "ACME-2")]
    assert len(bodies) == 1
    assert "undone at the request of" in bodies[0]
    code, out, _ = cli("revert", "--run", run_id, "--delete-comments", "--reason", REASON)
    assert code == 0
    assert "ACME-2: nothing to undo" in out


@pytest.mark.parametrize(("who", "status"), [("sam", 403), ("lee", None)])
def test_only_the_author_or_an_admin_edits_a_comment(site: Sandbox, who: str,
                                                     status: int | None) -> None:
    """Another user's comment: 403 for an ordinary user, allowed for an admin (edit and
    delete), as Jira's comment permissions have it."""
    author = Human.named(site, "priya")
    comment_id = author.comment("ACME-2", "My notes on the MSA")
    actor = Human.named(site, who)
    path = f"rest/api/2/issue/ACME-2/comment/{comment_id}"
    if status is not None:
        for call in (lambda: actor.jira.put(path, data={"body": "changed"}),
                     lambda: actor.jira.delete(path)):
            with pytest.raises(requests.HTTPError) as caught:
                call()
            assert caught.value.response.status_code == status
        assert any(c["body"] == "My notes on the MSA"
                   for c in next(i for i in site.site()["issues"]
                                 if i["key"] == "ACME-2")["comments"])
        return
    actor.jira.put(path, data={"body": "changed by an admin"})
    issue = next(i for i in site.site()["issues"] if i["key"] == "ACME-2")
    assert any(c["body"] == "changed by an admin" for c in issue["comments"])
    actor.jira.delete(path)
    issue = next(i for i in site.site()["issues"] if i["key"] == "ACME-2")
    assert all(c["id"] != comment_id for c in issue.get("comments", []))


def _comment_requests(sandbox: Sandbox, key: str) -> list[tuple[str, str]]:
    """(method, what) for each request about ``key``'s comments: a comment id, or ``list``
    (the whole list, the stamp's way)."""
    out = []
    for r in sandbox.requests():
        path = r["path"]
        if f"/issue/{key}/comment" in path:
            tail = path.rsplit("/comment", 1)[1].strip("/")
            out.append((r["method"], tail or "list"))
    return out


def _recorded(state: Path, run_id: str, key: str) -> dict[str, Any]:
    """The outcome row's ``changes`` for ``key`` in ``run_id``."""
    store = Store.open(state)
    try:
        with store.engine.connect() as conn:
            changes = conn.execute(sa.select(outcomes.c.changes).where(
                outcomes.c.run_id == run_id, outcomes.c.issue == key)).scalar_one()
    finally:
        store.close()
    assert isinstance(changes, dict)
    return changes


def _run_once(cli: Cli) -> str:
    """One cycle; its run id."""
    code, out, err = cli("run", "--once")
    assert code == 0, err
    return str(json.loads(out.strip().splitlines()[-1])["run_id"])


def test_the_next_cycle_names_the_ids_and_revert_uses_them(
    cli: Cli, site: Sandbox, tmp_path: Path
) -> None:
    """The write records how many comments it posted and sends no request to learn their
    ids; the next cycle's search answer names them, again with no comment request; the
    revert, dry run first, reads the comment by its id (never the comment list), rewrites it
    once, and a second revert sends no edit."""
    site.clear_requests()
    run_id = _run_once(cli)
    (posted,) = _bot_comments(site, "ACME-1")
    first = _recorded(tmp_path / "state.db", run_id, "ACME-1")
    assert (first["comments_posted"], "comment_ids" in first) == (1, False)
    assert _comment_requests(site, "ACME-1") == []

    site.advance("1m")
    site.clear_requests()
    _run_once(cli)
    named = _recorded(tmp_path / "state.db", run_id, "ACME-1")
    assert named["comment_ids"] == [posted["id"]]
    assert "comments_posted" not in named
    assert named["policies"] == first["policies"]
    assert _comment_requests(site, "ACME-1") == []

    site.clear_requests()
    code, out, err = cli("revert", "--run", run_id, "--dry-run", "--reason", REASON)
    assert code == 0, err
    assert f"ACME-1: would revert: 1 comment withdrawn ({posted['id']})" in out
    assert _comment_requests(site, "ACME-1") == [("GET", posted["id"])]

    site.clear_requests()
    code, out, err = cli("revert", "--run", run_id, "--reason", REASON)
    assert code == 0, err
    assert f"ACME-1: reverted: 1 comment withdrawn ({posted['id']})" in out
    # the lookup by id, then the comment rewritten once
    assert _comment_requests(site, "ACME-1") == [("GET", posted["id"]), ("PUT", posted["id"])]
    withdrawn = next(c for c in _bot_comments(site, "ACME-1") if c["id"] == posted["id"])
    assert withdrawn["body"] == RETRACTION

    site.clear_requests()
    code, out, err = cli("revert", "--run", run_id, "--reason", REASON)
    assert code == 0, err
    assert "ACME-1: nothing to undo" in out
    assert ("PUT", posted["id"]) not in _comment_requests(site, "ACME-1")


def test_a_recorded_comment_deleted_since_is_said_so(cli: Cli, site: Sandbox) -> None:
    """An admin deleted the bot's comment by hand after its id was named: the revert reads
    its id, finds it gone, says so, and sends no comment edit."""
    run_id = _run_once(cli)
    (posted,) = _bot_comments(site, "ACME-2")
    site.advance("1m")
    _run_once(cli)
    Human.named(site, "lee").jira.delete(f"rest/api/2/issue/ACME-2/comment/{posted['id']}")
    site.clear_requests()
    code, out, err = cli("revert", "--run", run_id, "--reason", REASON)
    assert code == 0, err
    assert f"comment {posted['id']} already deleted" in out
    assert _comment_requests(site, "ACME-2") == [("GET", posted["id"])]


def test_a_run_recorded_without_ids_is_found_by_the_stamp(
    cli: Cli, site: Sandbox, tmp_path: Path
) -> None:
    """A run recorded before ids were (its outcome rows with neither ``comment_ids`` nor a
    count): no later cycle names them, and the revert lists the ticket's comments and takes
    back the one its stamp marks."""
    run_id = _run_once(cli)
    (posted,) = _bot_comments(site, "ACME-1")
    store = Store.open(tmp_path / "state.db")
    try:
        with store.engine.begin() as conn:
            rows = conn.execute(sa.select(outcomes.c.id, outcomes.c.changes)
                                .where(outcomes.c.run_id == run_id)).all()
            for row in rows:
                older = {k: v for k, v in (row.changes or {}).items()
                         if k not in ("comment_ids", "comments_posted")}
                conn.execute(sa.update(outcomes).where(outcomes.c.id == row.id)
                             .values(changes=older))
    finally:
        store.close()
    site.advance("1m")
    _run_once(cli)
    assert "comment_ids" not in _recorded(tmp_path / "state.db", run_id, "ACME-1")
    site.clear_requests()
    code, out, err = cli("revert", "--run", run_id, "--reason", REASON)
    assert code == 0, err
    assert f"ACME-1: reverted: 1 comment withdrawn ({posted['id']})" in out
    assert _comment_requests(site, "ACME-1") == [("GET", "list"), ("PUT", posted["id"])]


def test_a_comment_the_count_does_not_explain_leaves_the_ids_unnamed(
    cli: Cli, site: Sandbox, tmp_path: Path
) -> None:
    """Someone posts a comment with the bot's own account between the cycles: the answer
    then lists two comments of the bot's newer than the write, for one it posted. Which is
    the write's cannot be told by the answer, so none is named, and the revert finds the
    write's comment by its stamp (the other one, unstamped, is left alone)."""
    run_id = _run_once(cli)
    (posted,) = _bot_comments(site, "ACME-1")
    as_bot = Human(site, {"name": "handoff-bot", "account_id": "712020:bot-handoff-guard",
                          "email": site.bot_email, "api_token": site.bot_token})
    site.advance("1m")
    other = as_bot.comment("ACME-1", "Checked by hand with the bot's login")
    _run_once(cli)
    changes = _recorded(tmp_path / "state.db", run_id, "ACME-1")
    assert ("comment_ids" in changes, changes["comments_posted"]) == (False, 1)
    site.clear_requests()
    code, out, err = cli("revert", "--run", run_id, "--reason", REASON)
    assert code == 0, err
    assert f"ACME-1: reverted: 1 comment withdrawn ({posted['id']})" in out
    assert ("PUT", other) not in _comment_requests(site, "ACME-1")
