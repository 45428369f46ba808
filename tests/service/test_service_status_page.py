"""The live status page on the probe port: a real service against the sandbox, read over HTTP
and in a real browser (headless Chromium from the OS packages, driven by Selenium).

The browser test skips when Chromium, its driver or Selenium is absent, unless
``HANDOFF_GUARD_TEST_REQUIRE_BROWSER=1`` (CI sets it): then their absence fails the run. Its
screenshot is kept at ``$HANDOFF_GUARD_TEST_ARTIFACTS/status-page.png`` (default
``var/test-artifacts/``).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
import yaml

from tests.service.service_support import (
    DEMO_SITE,
    PYTHON,
    ROOT,
    ServiceProcess,
    subprocess_env,
)
from worker.model.plan import Decision
from worker.sandbox import Sandbox
from worker.service.status import (
    DueStep,
    PageContext,
    SiteClock,
    StatusData,
    Watched,
    is_unreadable,
    load_status,
    render_status,
)
from worker.state.records import CycleRecord
from worker.state.store import Store
from worker.state.tables import REVERT_RUN_PREFIX
from worker.telemetry.health import HealthStatus

#: a summary someone typed into Jira: it must show as these characters, never run or style
HOSTILE = ('<script>document.title="pwned"</script><b class="x">Finalize</b> SOW '
           '<img src=x onerror="document.title=\'img\'">')
TOKEN = "status-token-4f9c2e7a1b"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
BROWSER_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--window-size=1280,1600")
ARTIFACTS = Path(os.environ.get("HANDOFF_GUARD_TEST_ARTIFACTS") or ROOT / "var" / "test-artifacts")


# --------------------------------------------------------------------------- pure rendering


def _watched(issue: str, summary: str, *, verdict: str = "waiting", reason: str = "r") -> Watched:
    at = datetime(2026, 11, 2, 9, tzinfo=UTC)
    return Watched(issue=issue, policy="p", mode="enforce", verdict=verdict, step=None,
                   summary=summary,
                   customer="Acme & Sons", assignee="Priya", reason=reason, at=at,
                   recheck_at=at + timedelta(days=2))


def _context(**health: object) -> PageContext:
    return PageContext(health=HealthStatus(True, None, dict(health)), next_cycle_at=None,
                       jira_url="https://jira.example.test", tz=ZoneInfo("Europe/Berlin"),
                       policy_names={"p": "A <i>plain</i> name"})


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"),
        ('"quoted" & <b>bold</b>', "&quot;quoted&quot; &amp; &lt;b&gt;bold&lt;/b&gt;"),
        ("it's", "it&#x27;s"),
    ],
)
def test_every_text_is_escaped(text: str, shown: str) -> None:
    """Summaries, customers, names and reasons are escaped where they are shown."""
    data = StatusData(now=datetime(2026, 11, 2, 9, tzinfo=UTC), last_cycle=None,
                      watched=(_watched("ACME-1", text),), due=(), today=(), skips=(),
                      unreadable=())
    page = render_status(data, _context())
    assert shown in page
    assert text not in page
    assert "A &lt;i&gt;plain&lt;/i&gt; name" in page
    assert "Acme &amp; Sons" in page


def test_due_steps_and_times_in_the_file_zone() -> None:
    """A promise falling due shows ticket, step and date in the policy file's zone."""
    due = DueStep("ACME-1", "p", 2, datetime(2026, 11, 4, 8, tzinfo=UTC))
    data = StatusData(now=datetime(2026, 11, 2, 9, tzinfo=UTC), last_cycle=None, watched=(),
                      due=(due,), today=(), skips=(), unreadable=())
    page = render_status(data, _context())
    assert "<td>2026-11-04 09:00</td>" in page  # 08:00 UTC is 09:00 in Berlin
    assert 'href="https://jira.example.test/browse/ACME-1"' in page


@pytest.mark.parametrize(
    ("reason", "unreadable"),
    [
        ("contract unreadable: the deal page's status 'Maybe' is in neither list", True),
        ("contract conflicting: two pages disagree", True),
        ("opted out by label handoff-exception", False),
        (None, False),
    ],
)
def test_unreadable_skips_are_told_apart(reason: str | None, unreadable: bool) -> None:
    """A value that could not be read is its own list, not an ordinary skip."""
    assert is_unreadable(reason) is unreadable


WALL = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # this server's clock when the page is asked
DAY, HOUR, MINUTE = timedelta(days=1), timedelta(hours=1), timedelta(minutes=1)


@pytest.mark.parametrize(
    ("clock", "now", "next_run", "next_shown"),
    [
        # no cycle yet: nothing says the site's clock differs from this server's
        (SiteClock(), WALL, WALL + MINUTE, WALL + MINUTE),
        # the site a day ahead (a sandbox moved on): both moments move with it
        (SiteClock(WALL - 5 * MINUTE + DAY, WALL - 5 * MINUTE), WALL + DAY,
         WALL + MINUTE, WALL + DAY + MINUTE),
        # the site two hours behind this server
        (SiteClock(WALL - 2 * HOUR - MINUTE, WALL - MINUTE), WALL - 2 * HOUR,
         WALL + 10 * MINUTE, WALL - 2 * HOUR + 10 * MINUTE),
        # the newest cycle started on a server ahead of this one: the site's time stands
        (SiteClock(WALL + DAY, WALL + 3 * MINUTE), WALL + DAY, WALL + MINUTE,
         WALL + DAY + MINUTE),
        # an overdue run (the scheduler's next run already past) shows before now
        (SiteClock(WALL + HOUR, WALL), WALL + HOUR, WALL - MINUTE, WALL + HOUR - MINUTE),
    ],
)
def test_the_site_clock(clock: SiteClock, now: datetime, next_run: datetime,
                        next_shown: datetime) -> None:
    """The page's "as of" and its next cycle are on the clock the cycles plan by (the site's),
    the next cycle as far ahead of "as of" as the scheduler's run is ahead of this server."""
    assert clock.now(WALL) == now
    assert clock.at(next_run, wall=WALL) == next_shown


def _ran(store: Store, run_id: str, *, started: datetime, site: datetime | None) -> None:
    store.start_cycle(CycleRecord(run_id, started, False, "running"))
    store.finish_cycle(CycleRecord(run_id, started, False, "ok", finished_at=started,
                                   site_now=site))


def test_the_page_reads_its_clock_from_the_newest_cycle_not_a_revert(store_target: str) -> None:
    """The site's clock comes from the newest cycle that read it: not a revert run (an admin's
    laptop, its clock a week off, started it) and not a cycle still running; "today" is the
    site's day."""
    store = Store.open(store_target)
    try:
        _ran(store, "c1", started=WALL - HOUR, site=WALL - HOUR + DAY)
        _ran(store, f"{REVERT_RUN_PREFIX}1", started=WALL - 30 * MINUTE + 7 * DAY,
             site=WALL - 30 * MINUTE + DAY)
        store.start_cycle(CycleRecord("c2", WALL - MINUTE, False, "running"))
        data = load_status(store, wall=WALL, tz=ZoneInfo("UTC"))
    finally:
        store.close()
    assert data.clock == SiteClock(WALL - HOUR + DAY, WALL - HOUR)
    assert data.now == WALL + DAY
    assert data.last_cycle is not None
    assert data.last_cycle.run_id == "c2"


def test_falling_due_reads_the_step_and_date_as_recorded(store_target: str) -> None:
    """The list of promises falling due takes each waiting decision's next step and date as
    the plan recorded them, not from its reason's words nor from the ticket's next recheck
    (another policy's condition may recheck it sooner); a decision recorded before they were
    kept shows its recheck and no step; one due after 7 days is not listed."""
    store = Store.open(store_target)
    try:
        _ran(store, "c1", started=WALL, site=WALL)
        store.record_decisions("c1", WALL, [
            Decision("ACME-1", "p1", "enforce", "waiting", reason="something else entirely",
                     due_step=1, due_at=WALL + 3 * DAY),
            Decision("ACME-1", "p2", "enforce", "act", step=0),
            Decision("ACME-2", "p1", "enforce", "waiting", reason="step 2 (...) is due ..."),
            Decision("ACME-3", "p1", "enforce", "waiting", due_step=2, due_at=WALL + 9 * DAY),
        ], recheck_at={"ACME-1": WALL + HOUR, "ACME-2": WALL + 2 * DAY,
                       "ACME-3": WALL + 9 * DAY})
        data = load_status(store, wall=WALL, tz=ZoneInfo("UTC"))
    finally:
        store.close()
    assert data.due == (DueStep("ACME-2", "p1", None, WALL + 2 * DAY),
                        DueStep("ACME-1", "p1", 2, WALL + 3 * DAY))


# --------------------------------------------------------------------------- a real service


@pytest.fixture
def hostile_sandbox() -> Iterator[Sandbox]:
    """The demo site with one summary that holds markup and a script."""
    site = yaml.safe_load(DEMO_SITE.read_text(encoding="utf-8"))
    for issue in site["issues"]:
        if issue["key"] == "ACME-1":
            issue["summary"] = HOSTILE
    with Sandbox.start(site) as sandbox:
        yield sandbox


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    """A private copy of the default policy file and templates."""
    target = tmp_path / "config"
    shutil.copytree(ROOT / "config", target, ignore=shutil.ignore_patterns("sandbox"))
    return target


@pytest.fixture
def service(hostile_sandbox: Sandbox, config_dir: Path, tmp_path: Path) -> Iterator[ServiceProcess]:
    """A first cycle (``run --once``, enforcing) on the hostile site, a day later ``run``
    with its probe port ephemeral, its first cycle done: step 1 is taken, step 2 is due."""
    env = subprocess_env(hostile_sandbox, config_dir, tmp_path, HANDOFF_GUARD_HTTP_PORT="0",
                         HANDOFF_GUARD_STATUS_TOKEN=TOKEN)
    once = subprocess.run([PYTHON, "-m", "worker", "run", "--once"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert once.returncode == 0, once.stderr[-2000:]
    hostile_sandbox.advance("1d")
    with ServiceProcess(env) as proc:
        proc.wait_for("cycle.finished", timeout_s=60)
        yield proc


def _page(proc: ServiceProcess, *, token: str | None = TOKEN) -> requests.Response:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    return requests.get(f"http://127.0.0.1:{proc.port}/", headers=headers, timeout=10)


def test_status_page_over_http(service: ServiceProcess, hostile_sandbox: Sandbox) -> None:
    """The page asks for the token, then shows the cycle, the matches, today's actions with
    links, and the hostile summary as escaped text; the token never shows."""
    assert _page(service, token=None).status_code == 401
    assert _page(service, token="wrong").status_code == 401
    answer = _page(service)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("text/html")
    assert "default-src 'none'" in answer.headers["Content-Security-Policy"]
    page = answer.text
    assert TOKEN not in page
    for markup in ("<script", "<img", "<b class"):
        assert markup not in page
    assert "&lt;script&gt;document.title=&quot;pwned&quot;&lt;/script&gt;" in page
    assert f'href="{hostile_sandbox.url}/browse/ACME-1"' in page
    assert "Watching now" in page
    assert "Today" in page
    assert "Nothing falls due in the next 7 days." not in page  # step 2 of the ladder
    assert "is due 2026-" in page  # the waiting reason names the date
    # ACME-1's next step, as the plan recorded it: step 2 of its ladder
    assert re.search(r'ACME-1</a></td><td>[^<]+</td><td>2</td></tr>', page), page
    # the site's clock is a day ahead of this machine's (the sandbox moved on): the next
    # cycle is shown on the site's clock, as "as of" is, within the shipped `every: 1m`
    as_of, next_cycle = (datetime.strptime(m, "%Y-%m-%d %H:%M") for m in (
        _shown(page, r"As of (\S+ \S+) "), _shown(page, r"<dt>Next cycle</dt><dd>([^<]+)</dd>")))
    assert timedelta(0) <= next_cycle - as_of <= 2 * MINUTE, (as_of, next_cycle)
    # the probes stay open without a token (a kubelet sends none)
    assert requests.get(f"http://127.0.0.1:{service.port}/livez", timeout=5).status_code == 200


def _shown(page: str, pattern: str) -> str:
    found = re.search(pattern, page)
    assert found is not None, pattern
    return found.group(1)


def _driver_or_skip() -> Any:
    required = os.environ.get("HANDOFF_GUARD_TEST_REQUIRE_BROWSER") == "1"
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).exists()]
    try:
        # optional: the skip says how to get it
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service as DriverService
    except ImportError:
        missing.append("selenium (pip install selenium)")
    if missing:
        why = f"no browser here: {', '.join(missing)} (apt-get install chromium chromium-driver)"
        if required:
            pytest.fail(why)
        pytest.skip(why)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in BROWSER_FLAGS:
        options.add_argument(flag)
    return webdriver.Chrome(options=options, service=DriverService(executable_path=CHROMEDRIVER))


def test_status_page_in_a_browser(service: ServiceProcess, hostile_sandbox: Sandbox) -> None:
    """What a person sees in Chromium: the headings, a linked ticket, the hostile summary as
    literal text (no script ran, no markup applied); a screenshot is kept."""
    driver = _driver_or_skip()
    from selenium.webdriver.common.by import By  # after the check: it skips without selenium
    try:
        # a browser sends no Authorization header by itself: the test serves the page with
        # the token through Chromium's DevTools protocol (extra headers), as a proxy would
        driver.execute_cdp_cmd("Network.enable", {})
        driver.execute_cdp_cmd(
            "Network.setExtraHTTPHeaders", {"headers": {"Authorization": f"Bearer {TOKEN}"}})
        driver.get(f"http://127.0.0.1:{service.port}/")
        title = driver.title
        assert title == "Handoff Guard status"  # neither the script nor the img handler ran
        body = driver.find_element(By.TAG_NAME, "body").text
        for heading in ("Handoff Guard", "Watching now", "Falling due in the next 7 days",
                        "Today", "Failures and skips", "Could not read"):
            assert heading in body
        assert "ready" in body
        assert HOSTILE.replace("  ", " ") in body  # the characters, as typed
        cells = driver.find_elements(By.XPATH, "//td[contains(., 'Finalize')]")
        assert cells, body
        assert not cells[0].find_elements(By.TAG_NAME, "b")
        assert not driver.find_elements(By.TAG_NAME, "img")
        link = driver.find_element(By.LINK_TEXT, "ACME-1")
        assert link.get_attribute("href") == f"{hostile_sandbox.url}/browse/ACME-1"
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shot = ARTIFACTS / "status-page.png"
        assert driver.save_screenshot(str(shot))
        assert shot.stat().st_size > 10_000
    finally:
        driver.quit()
