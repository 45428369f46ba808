"""Issue 24 item 2: a cycle's clock costs no request after the first in a process: the
``Date`` of the directory's answers (``/serverInfo`` once, which also tells a site that is
not Jira)."""

from __future__ import annotations

from pathlib import Path

from tests.service.service_support import DEMO_SITE, POLICIES
from worker.cycle.runner import CycleRunner
from worker.sandbox import Sandbox
from worker.settings.env import Settings
from worker.settings.secret import Secret
from worker.state.store import Store


def test_only_the_first_cycle_asks_server_info(tmp_path: Path) -> None:
    """Two cycles in one process: the first asks /serverInfo, the second takes the site's
    clock from the Date of the group answers; both see the site's own time."""
    with Sandbox.start(DEMO_SITE) as sandbox:
        settings = Settings(jira_url=sandbox.url, jira_username=sandbox.bot_email,
                            jira_api_token=Secret(sandbox.bot_token), jira_flavor="cloud",
                            config_path=POLICIES, state=str(tmp_path / "state.db"))
        runner = CycleRunner(settings, Store.open(settings.state))
        first = runner.run(dry_run=True)
        assert sum(1 for r in sandbox.requests() if r["path"].endswith("/serverInfo")) == 1
        sandbox.advance("90s")
        sandbox.clear_requests()
        second = runner.run(dry_run=True)
        assert [r for r in sandbox.requests() if r["path"].endswith("/serverInfo")] == []
        assert first.site_now is not None
        assert second.site_now == sandbox.now()
        assert (second.site_now - first.site_now).total_seconds() == 90
