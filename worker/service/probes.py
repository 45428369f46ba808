"""The probe port: ``/livez``, ``/readyz`` (alias ``/healthz``) and ``/metrics`` over HTTP,
and ``/webhooks/jira`` when a webhook secret is set (:mod:`worker.service.webhooks`;
otherwise it is not found).

What the answers mean is :mod:`worker.telemetry.health`'s; this module only serves them. Every
body goes through :func:`worker.telemetry.logs.scrub_value`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Mapping

import structlog
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

from worker.telemetry.health import Health, HealthStatus, liveness
from worker.telemetry.logs import scrub_value
from worker.telemetry.metrics import CONTENT_TYPE, Metrics

log = structlog.get_logger(__name__)


#: the readiness paths (``/healthz``: the name before probes were split)
READY_PATHS = frozenset({"/readyz", "/healthz"})
#: where Jira's signed webhook events arrive (when a webhook secret is set)
WEBHOOK_PATH = "/webhooks/jira"


def _verdict(verdict: HealthStatus) -> Response:
    body = scrub_value({"status": "ok" if verdict.ok else "unhealthy",
                        "reason": verdict.reason, **verdict.detail})
    return Response(json.dumps(body), status=200 if verdict.ok else 503,
                    content_type="application/json")


def wsgi_app(
    health: Health,
    metrics: Metrics,
    *,
    live: Callable[[], Mapping[str, bool]] | None = None,
    pages: Mapping[str, Callable[[Request], Response]] | None = None,
    webhook: Callable[[Request], Response | None] | None = None,
) -> Callable[..., Iterable[bytes]]:
    """The WSGI application for ``/livez``, ``/readyz`` (alias ``/healthz``) and ``/metrics``.

    ``live`` names the threads that must be alive (None: answering is alive enough);
    ``pages`` adds handlers by path (the status page, :mod:`worker.service.status`); it is
    read at each request, so a page added to it later is served from then on.
    """
    extra: Mapping[str, Callable[[Request], Response]] = pages if pages is not None else {}

    @Request.application
    def app(request: Request) -> Response:
        page = extra.get(request.path)
        if page is not None:
            return page(request)
        if request.path == WEBHOOK_PATH and webhook is not None:
            answer = webhook(request)
            if answer is not None:
                return answer
        if request.path == "/livez":
            return _verdict(liveness(live() if live is not None else {}))
        if request.path in READY_PATHS:
            return _verdict(health.status())
        if request.path == "/metrics":
            return Response(metrics.render(), status=200, content_type=CONTENT_TYPE)
        return Response(json.dumps({"error": "not found"}), status=404,
                        content_type="application/json")

    return app


class HealthServer:
    """A werkzeug server on ``host`` (loopback by default) in a daemon thread."""

    def __init__(
        self,
        health: Health,
        metrics: Metrics,
        *,
        port: int,
        host: str = "127.0.0.1",
        live: Callable[[], Mapping[str, bool]] | None = None,
        pages: Mapping[str, Callable[[Request], Response]] | None = None,
        webhook: Callable[[Request], Response] | None = None,
    ) -> None:
        #: the threads ``/livez`` requires alive (settable: the service names them once it
        #: runs; until then answering is alive enough)
        self.live = live
        #: extra pages by path (the service adds its status page once it runs)
        self.pages: dict[str, Callable[[Request], Response]] = dict(pages or {})
        #: the webhook endpoint (settable like ``live``; None: /webhooks/jira is not found)
        self.webhook = webhook
        self._server: BaseWSGIServer = make_server(
            host, port, wsgi_app(health, metrics, live=self._live, webhook=self._webhook,
                                 pages=self.pages),
            threaded=True,
        )
        self.host = host
        self.port = self._server.port
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="health-http", daemon=True
        )

    def _live(self) -> Mapping[str, bool]:
        return {} if self.live is None else self.live()

    def _webhook(self, request: Request) -> Response | None:
        return None if self.webhook is None else self.webhook(request)

    @property
    def url(self) -> str:
        """``http://host:port`` (an IPv6 host in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> HealthServer:
        """Start serving; returns self."""
        self._thread.start()
        log.info("health.listening", url=self.url)
        return self

    def stop(self) -> None:
        """Stop serving and wait for the thread."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
