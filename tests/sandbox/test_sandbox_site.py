"""The site file: loading unchanged, round-tripping, and errors that name key, file and line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from worker.sandbox import Sandbox, SiteError, load_site, site_from_dict

SMALL_SITE = Path(__file__).resolve().parent / "fixtures" / "site-small.yaml"


def test_example_site_loads_unchanged_and_round_trips(
    example_site_path: Path, sandbox: Sandbox
) -> None:
    """The example file loads as is, and GET /_sandbox/site gives back exactly its data."""
    original = yaml.safe_load(example_site_path.read_text(encoding="utf-8"))
    assert load_site(example_site_path).to_dict() == original
    assert sandbox.site() == original


def test_small_site_round_trips_with_extensions() -> None:
    """The sandbox's optional extension keys (hidden, assignee_on_edit_screen) round-trip."""
    original = yaml.safe_load(SMALL_SITE.read_text(encoding="utf-8"))
    assert load_site(SMALL_SITE).to_dict() == original


def test_writes_show_in_the_site_dump(small: Sandbox) -> None:
    """A write through the API is visible in GET /_sandbox/site, and reset undoes it."""
    import requests

    response = requests.put(small.url + "/rest/api/2/issue/ACME-2",
                            auth=(small.bot_email, small.bot_token),
                            json={"update": {"labels": [{"add": "late"}]}}, timeout=10)
    assert response.status_code == 204
    issue = next(i for i in small.site()["issues"] if i["key"] == "ACME-2")
    assert issue["labels"] == ["late"]
    assert issue["changelog"][0]["author"] == small.bot_name
    small.reset()
    assert "labels" not in next(i for i in small.site()["issues"] if i["key"] == "ACME-2")


@pytest.mark.parametrize(
    ("text", "line", "key"),
    [
        ("sight:\n  flavor: cloud\n", 1, "sight"),
        (None, 6, "emial"),
        (None, 12, "colour"),
        (None, 19, "asignee"),  # the other typo lines are removed
        (None, 22, "tiltle"),
    ],
)
def test_unknown_keys_name_key_file_and_line(
    tmp_path: Path, text: str | None, line: int, key: str
) -> None:
    """Every level of the file rejects an unknown key with its file and line."""
    if text is None:
        text = _SITE_WITH_TYPO.replace("TYPO_" + key, key)
        for other in ("emial", "colour", "asignee", "tiltle"):
            text = text.replace(f"TYPO_{other}: x, ", "").replace(f"    TYPO_{other}: x\n", "")
    path = tmp_path / "site.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SiteError) as info:
        load_site(path)
    message = str(info.value)
    assert f"{path}:{line}:" in message
    assert repr(key) in message


_SITE_WITH_TYPO = """\
site:
  flavor: cloud
  now: "2026-11-02T09:00:00Z"
  bot: {account_id: a, name: b, display_name: c, email: d, api_token: e}
users:
  - {account_id: u1, name: u1, display_name: U, TYPO_emial: x, email: u@x}
groups:
  - {name: g, members: [u1]}
fields:
  - id: customfield_10050
    name: Account
    TYPO_colour: x
    type: string
projects:
  - {key: P, name: P, lead: u1}
issues:
  - key: P-1
    summary: S
    status: To Do
    TYPO_asignee: x
confluence:
  spaces: [{key: S, name: S}]
  pages:
    - {id: "1", space: S, TYPO_tiltle: x, title: T}
"""


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["site"].update(flavor="server"), "flavor must be one of"),
        (lambda d: d["site"].update(timezone="Mars/Base"), "unknown timezone"),
        (lambda d: d["issues"][0].update(assignee="nobody"), "not a known user"),
        (lambda d: d["issues"][0].update(status="Blocked"), "not in workflow"),
        (lambda d: d["issues"][0].update(key="NOPE-1"), "not in projects"),
        (lambda d: d["issues"][0]["fields"].update(customfield_10051="Maybe"), "not one of"),
        (lambda d: d["issues"][0]["fields"].update(customfield_99999="x"), "not in fields"),
        (lambda d: d["issues"][1].update(key="ACME-1"), "duplicate issue key"),
        (lambda d: [i.update(id="77") for i in d["issues"][:2]], "duplicate issue id"),
        (lambda d: d["workflow"].update(Blocked="stuck"), "category"),
        (lambda d: d["groups"][0]["members"].append("ghost"), "not a known user"),
        (lambda d: d["issues"][0].update(created="last week"), "ISO timestamp"),
        (lambda d: d["confluence"]["pages"][0].update(space="NOPE"), "not a known space"),
        (lambda d: d["site"].pop("bot"), "bot"),
    ],
)
def test_bad_values_are_refused_with_a_reason(change: Any, message: str) -> None:
    """Values that do not describe a valid site raise SiteError saying what is wrong."""
    data = yaml.safe_load(SMALL_SITE.read_text(encoding="utf-8"))
    change(data)
    with pytest.raises(SiteError, match=message):
        site_from_dict(data, source="test")


def test_fifty_thousand_issues_load_and_reset_fast() -> None:
    """A generated site of 50,000 issues loads and copies (reset) into independent objects.

    How fast is the benchmark's business (``make bench``), not a wall-clock assertion here.
    """
    data = yaml.safe_load(SMALL_SITE.read_text(encoding="utf-8"))
    data["issues"] = [
        {"key": f"ACME-{n}", "type": "Task", "summary": f"Issue {n}", "status": "To Do",
         "assignee": "ann", "reporter": "bob", "labels": ["x"],
         "created": "2026-10-01T10:00:00Z", "fields": {"customfield_10050": "Acme"},
         "comments": [{"author": "bob", "created": "2026-10-02T10:00:00Z", "body": "hi"}]}
        for n in range(1, 50_001)
    ]
    site = site_from_dict(data)
    copied = site.copy()
    assert len(copied.issues) == 50_000
    assert copied.issues[0] is not site.issues[0]


def test_flagged_field_is_added_when_missing() -> None:
    """Sites without a Flagged field get Jira Software's checkbox field (not in the dump)."""
    site = load_site(SMALL_SITE)
    flagged = site.flagged_field()
    assert (flagged.name, flagged.type, flagged.options) == ("Flagged", "multi_option",
                                                            ("Impediment",))
    assert flagged.id not in {f["id"] for f in site.to_dict()["fields"]}


def test_changelog_and_flagged_extensions_load_and_dump() -> None:
    """A site-file changelog round-trips; ``flagged: true`` becomes the Flagged field's value."""
    data = yaml.safe_load(SMALL_SITE.read_text(encoding="utf-8"))
    data["issues"][1]["changelog"] = [
        {"author": "ann", "created": "2026-10-29T10:00:00Z",
         "items": [{"field": "status", "fromString": "To Do", "toString": "In Progress"}]}]
    data["issues"][1]["flagged"] = True
    dumped = site_from_dict(data).to_dict()["issues"][1]
    assert dumped["changelog"] == data["issues"][1]["changelog"]
    assert dumped["fields"] == {"customfield_10021": ["Impediment"]}
    assert site_from_dict(site_from_dict(data).to_dict()).to_dict()["issues"][1] == dumped


@pytest.mark.parametrize(
    ("given", "served"),
    [
        ([None, None, None], ["10001", "10002", "10003"]),
        # ids pinned, the first issue deleted, one created: the position's id is taken
        (["10002", "10003", None], ["10002", "10003", "10004"]),
        (["10002", "10003", "10004", None], ["10002", "10003", "10004", "10005"]),
        # an id-less issue keeps its position's id when free, whatever comes after it
        (["10003", None, None], ["10003", "10002", "10004"]),
        ([None, "10001", None], ["10004", "10001", "10003"]),
        (["ABC", None], ["ABC", "10002"]),
    ],
)
def test_an_issue_without_an_id_gets_one_no_other_issue_has(
    given: list[str | None], served: list[str]
) -> None:
    """An issue's id defaults to its position's unless another issue holds that one, then to
    the next number above every id in the file; the ids round-trip through the dump."""
    data = yaml.safe_load(SMALL_SITE.read_text(encoding="utf-8"))
    template = {k: v for k, v in data["issues"][1].items() if k != "id"}
    data["issues"] = []
    for n, ident in enumerate(given):
        issue = {**template, "key": f"ACME-{n + 1}"}
        if ident is not None:
            issue["id"] = ident
        data["issues"].append(issue)
    site = site_from_dict(data)
    assert [i.id for i in site.issues] == served
    assert [i.id for i in site_from_dict(site.to_dict()).issues] == served
