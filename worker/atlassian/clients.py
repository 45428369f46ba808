"""Builds the atlassian-python-api clients from settings: auth, timeouts, flavor, retries off.

The library's own retries are turned off (``backoff_and_retry=False``,
``retry_with_header=False``): one of them sleeps up to 30 minutes inside a call, the other
resends POST/PUT (duplicate comments). :mod:`worker.atlassian.retry` retries instead.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import requests

from worker.atlassian.confluence import ConfluenceGateway
from worker.atlassian.jira import JiraGateway
from worker.atlassian.library import rest_client_class
from worker.atlassian.pacing import DEFAULT_WRITE_RATE_PER_S, PacerStats, WritePacer
from worker.atlassian.transport import (
    Counters,
    RequestCounts,
    Transport,
    UnexpectedBodyError,
    WriteGate,
)
from worker.model.people import Person
from worker.model.vocabulary import Flavor

if TYPE_CHECKING:
    from atlassian.rest_client import AtlassianRestAPI

# Its DEBUG level prints whole request and response bodies (personal data) and auth headers.
logging.getLogger("atlassian.rest_client").setLevel(logging.INFO)
logging.getLogger("atlassian").setLevel(logging.INFO)


@dataclass(frozen=True, slots=True)
class Connection:
    """What settings resolve to. ``flavor`` None: detected from ``/serverInfo``."""

    jira_url: str
    flavor: Flavor | None = None
    username: str | None = None
    api_token: str | None = field(default=None, repr=False)
    personal_token: str | None = field(default=None, repr=False)
    confluence_url: str | None = None
    confluence_username: str | None = None
    confluence_api_token: str | None = field(default=None, repr=False)
    confluence_personal_token: str | None = field(default=None, repr=False)
    timeout_s: int = 30
    #: Jira edits per second at most, over every writer in flight
    write_rate_per_s: float = DEFAULT_WRITE_RATE_PER_S
    #: True when ``confluence_url`` was not set (on Data Center, Jira's URL is tried; a 404
    #: there says to set CONFLUENCE_URL)
    confluence_guessed: bool = False


def _auth(
    username: str | None, api_token: str | None, personal_token: str | None
) -> dict[str, Any]:
    if personal_token:
        return {"token": personal_token}
    if username and api_token:
        return {"username": username, "password": api_token}
    raise ValueError("no credentials: set a personal access token, or a username and API token")


#: connections kept open per host: the search prefetch and the writers in flight
POOL_SIZE = 8


def http_session(url: str) -> requests.Session:
    """A keep-alive session whose proxy and CA settings are read from the environment once.

    ``requests`` otherwise re-reads ``*_PROXY``/``NO_PROXY`` and the CA bundle variables on
    every request (``trust_env``), a measurable share of a small request's CPU. Resolving
    them here keeps what a proxied deployment relies on, once per process.
    """
    session = requests.Session()
    session.proxies.update(requests.utils.get_environ_proxies(url))
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if bundle:
        session.verify = bundle
    session.trust_env = False
    adapter = requests.adapters.HTTPAdapter(pool_connections=2, pool_maxsize=POOL_SIZE)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def _common(timeout_s: int, url: str) -> dict[str, Any]:
    if int(timeout_s) < 1:
        # The library casts the timeout to int for the whole client: 0.5 would become 0.
        raise ValueError(f"timeout_s must be a whole number of seconds >= 1, got {timeout_s!r}")
    return {
        "timeout": int(timeout_s),
        "backoff_and_retry": False,
        "retry_with_header": False,
        "session": http_session(url),
    }


def _client(
    url: str, auth: dict[str, Any], timeout_s: int, *, cloud: bool = False,
    api_version: int | str,
) -> AtlassianRestAPI:
    """The library's REST client for one product: the worker calls only its ``request``, so the
    product classes (``JiraCloud``, ``Jira``, ``ConfluenceServer``) would add nothing but
    imports (see :mod:`worker.atlassian.library`)."""
    return rest_client_class()(url, cloud=cloud, api_version=api_version, **auth,
                               **_common(timeout_s, url))


def detect_flavor(
    jira_url: str, auth: dict[str, Any], timeout_s: int, counters: Counters
) -> Flavor:
    """Cloud or Data Center, from ``/serverInfo`` ``deploymentType``."""
    probe = Transport(_client(jira_url, auth, timeout_s, api_version="2"), "jira", counters)
    try:
        info = probe.call("GET", "rest/api/2/serverInfo")
    finally:
        probe.client.close()
    if not isinstance(info, dict):
        raise UnexpectedBodyError("serverInfo: expected a JSON object")
    return "cloud" if str(info.get("deploymentType", "")).lower() == "cloud" else "datacenter"


class Atlassian:
    """The connected site: Jira and Confluence gateways, the flavor, the bot, and counters."""

    def __init__(
        self,
        *,
        flavor: Flavor,
        jira: JiraGateway,
        confluence: ConfluenceGateway,
        counters: Counters,
        pacer: WritePacer | None = None,
    ) -> None:
        self.flavor: Flavor = flavor
        self.jira = jira
        self.confluence = confluence
        self._counters = counters
        self._pacer = pacer

    def pacing(self) -> PacerStats:
        """The write pacer's numbers: writers waiting now, seconds waited in all."""
        return PacerStats() if self._pacer is None else self._pacer.stats()

    @property
    def bot(self) -> Person:
        """The account the worker runs as (``/myself``; read once per process)."""
        return self.jira.myself()

    @property
    def requests_made(self) -> int:
        """Requests sent by this process (Jira and Confluence, retries included)."""
        return self._counters.requests

    @property
    def retries(self) -> int:
        """Retries made by this process."""
        return self._counters.retries

    def counts(self) -> RequestCounts:
        """A snapshot of the counters; subtract two snapshots to get one cycle's numbers."""
        return self._counters.snapshot()

    def gate_writes(self, gate: WriteGate | None) -> None:
        """Every Jira and Confluence write checks ``gate`` as it leaves (None: no check)."""
        self.jira.transport.gate = gate
        self.confluence.transport.gate = gate

    def close(self) -> None:
        """Close the HTTP sessions."""
        self.jira.transport.client.close()
        self.confluence.transport.client.close()


def connect(conn: Connection) -> Atlassian:
    """Build the clients for one site (one ``/serverInfo`` request when the flavor is unset)."""
    counters = Counters()
    jira_auth = _auth(conn.username, conn.api_token, conn.personal_token)
    flavor = conn.flavor or detect_flavor(conn.jira_url, jira_auth, conn.timeout_s, counters)
    # The API versions JiraCloud (3) and Jira (2) would set; the worker's paths name theirs.
    jira_client = _client(conn.jira_url, jira_auth, conn.timeout_s, cloud=flavor == "cloud",
                          api_version=3 if flavor == "cloud" else "2")

    confluence_url = conn.confluence_url or (
        conn.jira_url.rstrip("/") + "/wiki" if flavor == "cloud" else conn.jira_url
    )
    has_own_credentials = conn.confluence_personal_token or (
        conn.confluence_username and conn.confluence_api_token
    )
    confluence_auth = (
        _auth(conn.confluence_username, conn.confluence_api_token, conn.confluence_personal_token)
        if has_own_credentials
        else jira_auth
    )
    # The /wiki base is passed explicitly: the library's Confluence classes add it only for
    # *.atlassian.net hosts. The API version ConfluenceServer would set; the paths name theirs.
    confluence_client = _client(confluence_url.rstrip("/"), confluence_auth, conn.timeout_s,
                                cloud=flavor == "cloud", api_version="latest")
    pacer = WritePacer(rate_per_s=conn.write_rate_per_s)
    jira = JiraGateway(Transport(jira_client, "jira", counters, pacer=pacer), flavor)
    confluence = ConfluenceGateway(
        Transport(confluence_client, "confluence", counters), flavor=flavor, jira=jira,
        guessed=flavor == "datacenter" and (conn.confluence_guessed or not conn.confluence_url),
    )
    return Atlassian(flavor=flavor, jira=jira, confluence=confluence, counters=counters,
                     pacer=pacer)
