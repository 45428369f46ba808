"""`make demo`'s script end to end: a fresh process, no network, exit 0, the story told."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.service.service_support import PYTHON, ROOT

CHAPTERS = (
    "1. The plan",
    "2. An enforcing cycle",
    "3. The comments, as the PMs read them in Jira",
    "4. The site clock moves 3d",
    "5. A cycle that reassigns",
    "6. The next cycle has nothing left to do",
    "Summary",
    "The report leadership reads",
    "Ask the audit trail",
)


def test_demo_tells_the_whole_story_offline_and_deterministically() -> None:
    """`python -m worker demo` exits 0 offline, prints every chapter, twice the same.

    Its duration is measured by the benchmark, not asserted here (a loaded machine is slower).
    """
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("JIRA_", "CONFLUENCE_", "HANDOFF_GUARD_"))}
    # Any attempt to leave the machine would go through this dead proxy and fail.
    env.update(HTTP_PROXY="http://127.0.0.1:9", HTTPS_PROXY="http://127.0.0.1:9",
               NO_PROXY="127.0.0.1,localhost", COLUMNS="140")
    done = subprocess.run([PYTHON, "-m", "worker", "demo"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=240, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    positions = [out.index(chapter) for chapter in CHAPTERS]
    assert positions == sorted(positions)
    assert "Tom Becker (left the company)" in out
    assert "HOOLI-3 'Contractor onboarding for the analytics pilot'" in out  # not a contract
    assert "Hello from Handoff Guard. ACME-1 looks like Sales work" in out
    assert "Until signature, Sales owns this work: @Sam Ortiz is the sales owner." in out
    assert "ACME-1 is now assigned to Sam Ortiz" in out
    assert "0 ticket(s) written" in out
    assert "Demo complete." in out
    assert "unexpected:" not in out
    assert "# Handoff Guard report" in out
    assert "- Flagged: 14 ticket(s) by enforcing policies" in out
    chart = Path(out.split("Chart: ", 1)[1].splitlines()[0])
    assert chart.read_bytes()[:4] == b"\x89PNG"
    printed = out.strip().splitlines()[-1].strip()  # the demo ends on the history command
    assert printed.startswith("HANDOFF_GUARD_STATE=")
    story = subprocess.run(printed, shell=True, cwd=ROOT, env=env, capture_output=True,
                           text=True, timeout=60, check=False)
    assert story.returncode == 0, story.stderr
    assert "The story of ACME-1" in story.stdout
    assert "reassign -> Sam Ortiz" in story.stdout
    assert "Traceback" not in done.stderr
    again = subprocess.run([PYTHON, "-m", "worker", "demo"], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=240, check=True)
    assert again.stdout == out  # the site has its own clock: the same story every time

