"""The first cycle of a policy file checks the people it may assign tickets to (issue 19
item 4), over HTTP on both flavors: a reassign target who does not exist refuses the file
like a syntax error does: ``run --once`` exits 1 saying why; a reload keeps the last good
file running and ``/readyz``'s verdict says ``config_invalid`` with the problem."""

from __future__ import annotations

import copy
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.service.service_support import DEMO_SITE
from worker.__main__ import main
from worker.cycle.runner import CycleRunner
from worker.cycle.source import PolicySource
from worker.exits import EXIT_INVALID
from worker.sandbox import Sandbox
from worker.settings.env import Settings
from worker.state.store import Store
from worker.telemetry import logs
from worker.telemetry.health import Health

GOOD = "reassign: {to: sales_owner}"


@pytest.fixture(params=["cloud", "datacenter"])
def site(request: pytest.FixtureRequest) -> Iterator[Sandbox]:
    """The demo site in one flavor."""
    data = copy.deepcopy(yaml.safe_load(DEMO_SITE.read_text(encoding="utf-8")))
    data["site"]["flavor"] = request.param
    with Sandbox.start(data) as sandbox:
        yield sandbox


def env_for(sb: Sandbox, config_dir: Path, tmp_path: Path) -> dict[str, str]:
    """The environment a person would set for this site."""
    env = {"HANDOFF_GUARD_CONFIG": str(config_dir / "policies.yaml"),
           "HANDOFF_GUARD_STATE": str(tmp_path / "state.db"), "JIRA_URL": sb.url,
           "JIRA_FLAVOR": sb.flavor}
    if sb.flavor == "cloud":
        return {**env, "JIRA_USERNAME": sb.bot_email, "JIRA_API_TOKEN": sb.bot_token}
    return {**env, "JIRA_PERSONAL_TOKEN": sb.bot_token, "CONFLUENCE_URL": sb.wiki_url}


def ghost(sb: Sandbox) -> str:
    """A user id of this flavor's shape that names nobody on the site."""
    return "712020:ghost" if sb.flavor == "cloud" else "ghost"


def test_run_once_refuses_a_file_whose_target_does_not_exist(
    site: Sandbox, config_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """No good file before: exit 1, nothing written, the problem on stderr."""
    for key, value in env_for(site, config_dir, tmp_path).items():
        monkeypatch.setenv(key, value)
    path = config_dir / "policies.yaml"
    path.write_text(path.read_text().replace(GOOD, f'reassign: {{to: "{ghost(site)}"}}'))
    try:
        capsys.readouterr()
        assert main(["run", "--once"]) == EXIT_INVALID
        err = capsys.readouterr().err
        assert f"no user '{ghost(site)}' on this site" in err
        assert not [r for r in site.requests() if r["method"] in ("PUT", "POST")
                    and "/issue/" in r["path"]]
    finally:
        logs.configure(log_format="json", level="WARNING", stream=io.StringIO())


def test_a_reload_naming_a_missing_target_keeps_the_last_good_file(
    site: Sandbox, config_dir: Path, tmp_path: Path,
) -> None:
    """The good file runs; an edit naming nobody is refused at the next cycle, the good one
    keeps running, and the health verdict (what /readyz serves) says why."""
    settings = Settings.from_env(env_for(site, config_dir, tmp_path))
    health = Health(interval_s=60)
    store = Store.open(settings.state)
    runner = CycleRunner(settings, store, health=health,
                         source=PolicySource(settings.config_path, health=health))
    try:
        assert runner.run(dry_run=True).status == "ok"
        path = config_dir / "policies.yaml"
        path.write_text(path.read_text().replace(GOOD, f'reassign: {{to: "{ghost(site)}"}}'))
        report = runner.run(dry_run=True)
        assert report.status == "ok"
        assert any(f"no user '{ghost(site)}'" in p for p in report.config_problems)
        policies = runner.source.current()
        reassign = policies.policies[0].steps[1].actions[0]
        assert getattr(reassign, "to", None) == "sales_owner"  # the last good file
        status = health.status()
        assert (status.ok, status.reason) == (False, "config_invalid")
        assert any(f"no user '{ghost(site)}'" in p for p in status.detail["problems"])
    finally:
        store.close()
