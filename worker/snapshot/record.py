"""What a read answered, kept as it came: a transport that records JSON answers.

The snapshot reads through the very code a cycle runs (``worker.read.site.read_site`` over the
same gateways), so it needs the same permissions and makes the same requests. The gateways
turn answers into snapshots and drop what the site file needs (ADF bodies, changelog items,
field schemas); this transport keeps a copy of every answer on the way through.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from worker.atlassian.transport import Transport

#: what the snapshot asks Confluence's deal search to expand besides what the cycle asks for:
#: a page's space and labels are what the site needs to answer the same CQL again (the same
#: requests, a wider answer)
SNAPSHOT_PAGE_EXPANDS = ("space", "metadata.labels")


@dataclass(frozen=True, slots=True)
class Exchange:
    """One request and its JSON answer."""

    service: str  # "jira" | "confluence"
    method: str
    path: str
    params: dict[str, Any]
    answer: Any


@dataclass(slots=True)
class Recording:
    """Every answer a read received, in order."""

    exchanges: list[Exchange] = field(default_factory=list)

    def answers(self, service: str, suffix: str) -> list[Exchange]:
        """The exchanges with ``service`` whose path ends with ``suffix`` (query excluded)."""
        return [
            x for x in self.exchanges
            if x.service == service and x.path.split("?", 1)[0].rstrip("/").endswith(suffix)
        ]


class RecordingTransport(Transport):
    """A :class:`Transport` that also appends each JSON answer to a :class:`Recording`."""

    recording: Recording

    @classmethod
    def wrap(cls, inner: Transport, recording: Recording) -> RecordingTransport:
        """The same client, counters and retry policy as ``inner``, recording answers."""
        out = cls(inner.client, inner.service, inner.counters, inner.policy)
        out.recording = recording
        return out

    def call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
        idempotent: bool | None = None,
        absolute: bool = False,
    ) -> Any:
        """Send like :meth:`Transport.call`; refuse writes; remember the answer."""
        if method != "GET" and not _is_search(path):
            raise PermissionError(f"the snapshot is read-only: refused {method} {path}")
        if self.service == "confluence" and params and "expand" in params:
            params = {**params, "expand": _wider(str(params["expand"]))}
        answer = super().call(method, path, params=params, body=body, idempotent=idempotent,
                              absolute=absolute)
        self.recording.exchanges.append(
            Exchange(self.service, method, path, dict(params or {}), answer)
        )
        return answer


def _is_search(path: str) -> bool:
    # Jira's search is a POST that reads (Cloud's /search/jql, Data Center's /search).
    return path.rstrip("/").endswith(("/search/jql", "/search"))


def _wider(expand: str) -> str:
    parts = [p for p in expand.split(",") if p]
    return ",".join([*parts, *(e for e in SNAPSHOT_PAGE_EXPANDS if e not in parts)])
