"""Run the sandbox on loopback in a background thread, and drive it through its control API.

Every control helper goes over HTTP: the control API is the contract, and a test that uses
these helpers exercises it.
"""

from __future__ import annotations

import io
import socket
import threading
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import requests
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from worker.sandbox.app import SandboxApp
from worker.sandbox.site import Site, format_time, load_site, site_from_dict
from worker.sandbox.world import World

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

HOST = "127.0.0.1"
CONTROL_TIMEOUT_S = 10.0
#: how long an idle persistent connection stays open
KEEP_ALIVE_S = 30


class _QuietHandler(WSGIRequestHandler):
    """No access log on stderr (the sandbox keeps its own request log).

    HTTP/1.1 with persistent connections, as Jira and Confluence answer: a client that keeps
    its connection pool (requests' Session does) reuses one connection for many requests.
    An idle connection is closed after :data:`KEEP_ALIVE_S`, as a real server does.
    """

    protocol_version = "HTTP/1.1"
    timeout = KEEP_ALIVE_S
    _drained: socket.socket | None = None

    def setup(self) -> None:
        """No Nagle delay: headers and body are written separately, and waiting for the
        client's delayed ACK between them costs tens of milliseconds per request."""
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def make_environ(self) -> WSGIEnvironment:
        """The environ (bound to the real socket and stream); then hand werkzeug's
        after-response drain an empty stream, so it cannot swallow the client's next request.

        Werkzeug answers ``Connection: close`` and drains the socket after each response
        because an application may leave part of a request body unread; the sandbox's app
        reads every body before answering, so there is nothing to drain.
        """
        environ = super().make_environ()
        if self._drained is None:
            # A socket whose peer is gone: always readable, at end of file.
            self._drained, peer = socket.socketpair()
            peer.close()
        self._real = (self.connection, self.rfile)
        self.connection, self.rfile = self._drained, io.BytesIO()
        return environ

    def run_wsgi(self) -> None:
        """One request; the real socket and stream are back in place afterwards."""
        try:
            super().run_wsgi()
        finally:
            real = getattr(self, "_real", None)
            if real is not None:
                self.connection, self.rfile = real

    def send_header(self, keyword: str, value: str) -> None:
        """Keep the connection open unless the client asked to close it."""
        if keyword.lower() == "connection" and value.lower() == "close" \
                and not self.close_connection:
            value = "keep-alive"
        super().send_header(keyword, value)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Say nothing per request."""

    def send_response(self, code: int, message: str | None = None) -> None:
        """Like the base class, minus its wall-clock ``Date``: the app sends the site's."""
        self.log_request(code)
        self.send_response_only(code, message)
        self.send_header("Server", self.version_string())

    def log(self, type: str, message: str, *args: Any) -> None:
        """Say nothing (dropped connections are deliberate)."""

    def finish(self) -> None:
        """Close the stand-in socket with the connection."""
        super().finish()
        if self._drained is not None:
            self._drained.close()


def as_site(site: Path | str | dict[str, Any] | Site) -> Site:
    """A :class:`Site` from a path, a site-file dict or a Site."""
    if isinstance(site, Site):
        return site
    if isinstance(site, dict):
        return site_from_dict(site)
    return load_site(Path(site))


class Sandbox:
    """A running simulated Atlassian site (Jira at ``url``, Confluence at ``url + "/wiki"``)."""

    def __init__(self, world: World, server: BaseWSGIServer, thread: threading.Thread) -> None:
        self._world = world
        self._server = server
        self._thread = thread
        self._http = requests.Session()
        self.url = f"http://{HOST}:{server.server_port}"
        site = world.pristine
        self.flavor = site.flavor
        self.bot_email = site.bot.email
        self.bot_token = site.bot.api_token
        self.bot_account_id = site.bot.account_id
        self.bot_name = site.bot.name

    @classmethod
    def start(cls, site: Path | str | dict[str, Any] | Site, *, port: int = 0) -> Sandbox:
        """Load ``site`` and serve it on 127.0.0.1:``port`` (0 picks a free port)."""
        world = World(as_site(site))
        server = make_server(HOST, port, SandboxApp(world), threaded=True,
                             request_handler=_QuietHandler)
        # Persistent connections keep handler threads waiting for the next request: stop()
        # must not wait for them (they are daemon threads and end with their connection).
        server.block_on_close = False  # type: ignore[attr-defined]
        # A short poll interval makes stop() quick; tests start and stop many sandboxes.
        thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="sandbox",
            daemon=True,
        )
        thread.start()
        return cls(world, server, thread)

    @property
    def wiki_url(self) -> str:
        """The Confluence base URL."""
        return f"{self.url}/wiki"

    @property
    def port(self) -> int:
        """The port served."""
        return int(self._server.server_port)

    def stop(self) -> None:
        """Stop serving and wait for the server thread."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        self._world.webhooks.close()
        self._http.close()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # ------------------------------------------------------------------ control API

    def _control(self, method: str, action: str, body: dict[str, Any] | None = None
                 ) -> Any:
        response = self._http.request(method, f"{self.url}/_sandbox/{action}", json=body,
                                      timeout=CONTROL_TIMEOUT_S)
        if response.status_code >= 400:
            raise ValueError(f"sandbox control {method} {action}: {response.status_code} "
                             f"{response.text}")
        return response.json()

    def reset(self) -> None:
        """Back to the loaded site; clears faults and the request log."""
        self._control("POST", "reset")

    def set_clock(self, now: datetime | str) -> None:
        """Set the site clock."""
        value = format_time(now) if isinstance(now, datetime) else now
        self._control("POST", "clock", {"now": value})

    def advance(self, delta: str) -> None:
        """Move the site clock forward (``"90s"``, ``"15m"``, ``"4h"``, ``"3d"``)."""
        self._control("POST", "clock", {"advance": delta})

    def now(self) -> datetime:
        """The site clock."""
        value = self._control("GET", "clock")["now"]
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))

    def add_faults(self, rules: list[dict[str, Any]]) -> None:
        """Add fault rules (see ARCHITECTURE.md's control API)."""
        self._control("POST", "faults", {"rules": rules})

    def clear_faults(self) -> None:
        """Remove every fault rule."""
        self._control("DELETE", "faults")

    def requests(self) -> list[dict[str, Any]]:
        """The request log since reset: method, path, query, status (and fault)."""
        return list(self._control("GET", "requests")["requests"])

    def clear_requests(self) -> None:
        """Clear only the request log."""
        self._control("DELETE", "requests")

    def register_webhook(self, url: str, *, secret: str | None, jql: str | None = None,
                         events: tuple[str, ...] = ("jira:issue_created", "jira:issue_updated",
                                                    "comment_created")) -> dict[str, Any]:
        """Register an admin webhook (the body of Jira's ``/rest/webhooks/1.0/webhook``)."""
        body: dict[str, Any] = {"name": "handoff-guard", "url": url, "events": list(events),
                                "filters": {"issue-related-events-section": jql or ""},
                                "excludeBody": False}
        if secret is not None:
            body["secret"] = secret
        return dict(self._control("POST", "webhooks", body))

    def webhook_deliveries(self) -> list[dict[str, Any]]:
        """Every webhook delivery since reset, oldest first (event, issue, status)."""
        return list(self._control("GET", "webhooks")["deliveries"])

    def clear_webhooks(self) -> None:
        """Remove every webhook (and the delivery log)."""
        self._control("DELETE", "webhooks")

    def wait_webhooks(self, timeout_s: float = 10.0) -> bool:
        """Wait until every queued webhook event was delivered (False on timeout)."""
        return self._world.webhooks.wait_idle(timeout_s)

    def site(self) -> dict[str, Any]:
        """The current site in the site-file format."""
        return dict(self._control("GET", "site"))
