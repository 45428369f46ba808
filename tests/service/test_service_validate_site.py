"""``validate --site`` over HTTP on both flavors (issue 19 items 2 and 4): the contract
statuses the demo site's deal pages use, loudly the ones in neither list; literal users
checked on the site (shape for the flavor, exists, active, can be assigned), refusing the file
with exit 1 and where the user is named."""

from __future__ import annotations

import copy
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.service.service_support import DEMO_SITE
from worker.__main__ import main
from worker.exits import EXIT_INVALID, EXIT_OK
from worker.sandbox import Sandbox
from worker.telemetry import logs


@pytest.fixture(params=["cloud", "datacenter"])
def site(request: pytest.FixtureRequest) -> Iterator[Sandbox]:
    """The demo site in one flavor, plus a deal page whose status is in neither list and a
    project where Sales may not be assigned."""
    data = copy.deepcopy(yaml.safe_load(DEMO_SITE.read_text(encoding="utf-8")))
    data["site"]["flavor"] = request.param
    data["confluence"]["pages"].append({
        "id": "990001", "space": "SALES", "title": "Deal: Wayne Enterprises", "labels": ["deal"],
        "created_by": "sam", "properties": {"Account": "Wayne Enterprises", "Jira project": "",
                                            "Contract status": "Closed won"}})
    for project in data["projects"]:
        project["not_assignable"] = ["rita"]
    with Sandbox.start(data) as sandbox:
        yield sandbox


@pytest.fixture
def cli(site: Sandbox, config_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> Iterator[object]:
    """``main(argv)`` in-process against the site, as (exit code, stdout, stderr)."""
    monkeypatch.setenv("HANDOFF_GUARD_CONFIG", str(config_dir / "policies.yaml"))
    monkeypatch.setenv("HANDOFF_GUARD_STATE", str(tmp_path / "state.db"))
    monkeypatch.setenv("JIRA_URL", site.url)
    if site.flavor == "cloud":
        monkeypatch.setenv("JIRA_FLAVOR", "cloud")
        monkeypatch.setenv("JIRA_USERNAME", site.bot_email)
        monkeypatch.setenv("JIRA_API_TOKEN", site.bot_token)
    else:
        monkeypatch.setenv("JIRA_FLAVOR", "datacenter")
        monkeypatch.setenv("JIRA_PERSONAL_TOKEN", site.bot_token)
        monkeypatch.setenv("CONFLUENCE_URL", site.wiki_url)

    def run(*argv: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, " ".join(out.split()), err

    yield run
    logs.configure(log_format="json", level="WARNING", stream=io.StringIO())


def test_validate_site_lists_the_statuses_seen(cli, site: Sandbox) -> None:
    """Every status with its count and reading; 'Closed won' loudly, with what to do."""
    code, out, err = cli("validate", "--site")
    assert code == EXIT_OK, (out, err)
    # as first written: one demo page writes its lozenge in capitals
    assert ("Statuses on deal pages: SIGNED 2 (signed), Closed won 1 (unreadable), Draft 1 "
            "(unsigned), In negotiation 1 (unsigned), Sent for signature 1 (unsigned)") in out
    assert ("unreadable status 'Closed won' on 1 page: add it to deals.signed_values or "
            "deals.unsigned_values") in out
    assert "OK on the site" in out


@pytest.mark.parametrize(
    ("cloud_id", "dc_id", "said"),
    [
        ("712020:ghost", "ghost", "no user '{id}' on this site"),
        ("712020:tom", "tom", "Tom Becker ({id}) is inactive"),
        ("712020:rita", "rita", "Rita Alvarez ({id}) cannot be assigned issues in any project"),
        ("dana", "712020:dana", "is not a"),
    ],
    ids=["missing", "inactive", "not-assignable", "wrong-flavor-shape"],
)
def test_validate_site_refuses_a_target_the_site_refuses(
    cli, site: Sandbox, config_dir: Path, cloud_id: str, dc_id: str, said: str,
) -> None:
    """A literal `to:` that the site would refuse makes `validate --site` exit 1, naming the
    policy file, line and step; offline `validate` accepts the same file."""
    ident = cloud_id if site.flavor == "cloud" else dc_id
    path = config_dir / "policies.yaml"
    path.write_text(path.read_text().replace("reassign: {to: sales_owner}",
                                             f'reassign: {{to: "{ident}"}}'))
    code, out, _err = cli("validate")
    assert code == EXIT_OK
    code, out, _err = cli("validate", "--site")
    assert code == EXIT_INVALID, out
    assert "step 2 reassign to" in out
    assert said.format(id=ident) in out
    assert f"{path}:" in out


def test_plan_lists_the_statuses_seen_too(cli, site: Sandbox) -> None:
    """`plan` ends with the same lines, in table and JSON form."""
    code, out, _err = cli("plan")
    assert code == EXIT_OK
    assert "Statuses on deal pages: SIGNED 2 (signed), Closed won 1 (unreadable)" in out
    assert "unreadable status 'Closed won' on 1 page" in out
    code, out, _err = cli("plan", "--format", "json")
    assert code == EXIT_OK
    assert '{ "value": "Closed won", "state": "unreadable", "pages": 1 }' in out
