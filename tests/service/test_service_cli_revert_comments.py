"""`revert` takes back the bot's comments: rewritten into a retraction (or deleted with
``--delete-comments``), found by the stamp each comment carries, exactly once, dry run first,
in both flavors, over HTTP against the demo sandbox; the sandbox lets only a comment's author
or an admin edit or delete it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from tests.cli_support import DEMO_SITE, Cli, in_process_cli, site_env
from tests.humans import Human, with_logins
from worker.sandbox import Sandbox

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
