"""The simulated Atlassian site (Jira Cloud / Data Center and Confluence) used by the tests,
the demo and the benchmark. Start one with :meth:`Sandbox.start`."""

from __future__ import annotations

from worker.sandbox.server import Sandbox
from worker.sandbox.site import Site, SiteError, load_site, site_from_dict

__all__ = ["Sandbox", "Site", "SiteError", "load_site", "site_from_dict"]
