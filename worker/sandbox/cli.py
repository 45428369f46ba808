"""``python -m worker sandbox --site FILE --port N``: serve a site until interrupted."""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from worker.sandbox.server import Sandbox
from worker.sandbox.site import Site, SiteError, load_site


def summary(sandbox: Sandbox) -> list[str]:
    """What a running sandbox serves, in a few lines."""
    site = sandbox.site()
    pages = site.get("confluence", {}).get("pages", [])
    return [
        f"flavor: {sandbox.flavor} (Jira at {sandbox.url}, Confluence at {sandbox.wiki_url})",
        f"users: {len(site['users'])}, groups: {len(site['groups'])}, "
        f"projects: {len(site['projects'])}, issues: {len(site['issues'])}, pages: {len(pages)}",
        f"bot: {sandbox.bot_email} (account {sandbox.bot_account_id}, name {sandbox.bot_name})",
        "control API: /_sandbox/site, /_sandbox/reset, /_sandbox/clock, /_sandbox/faults, "
        "/_sandbox/requests",
    ]


def serve(site_path: Path, *, port: int) -> int:
    """Serve ``site_path`` on 127.0.0.1:``port`` until SIGINT/SIGTERM; print the base URL first.

    Returns the process exit code (2 when the site file is invalid).
    """
    try:
        site = load_site(site_path)
    except (SiteError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return serve_site(site, port=port)


def serve_site(site: Site, *, port: int) -> int:
    """Serve an already loaded (or generated) site until SIGINT/SIGTERM; URL first."""
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    sandbox = Sandbox.start(site, port=port)
    try:
        print(sandbox.url, flush=True)
        for line in summary(sandbox):
            print(line, flush=True)
        stop.wait()
    finally:
        sandbox.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
