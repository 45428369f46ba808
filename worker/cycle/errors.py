"""Why a cycle failed, in the few kinds that decide health and exit codes."""

from __future__ import annotations

from typing import Literal

import requests
import structlog
from sqlalchemy.exc import SQLAlchemyError

from worker.atlassian.discovery import ConfluenceUrlError
from worker.atlassian.transport import (
    SITE_HINT_NOT_FOUND,
    AtlassianHTTPError,
    OutcomeUnknownError,
    TransportFailedError,
    UnexpectedBodyError,
)
from worker.policy import PolicyError
from worker.settings.errors import SettingsError
from worker.telemetry.logs import scrub

log = structlog.get_logger(__name__)


ErrorKind = Literal["config", "unreachable", "auth", "store", "error"]


class ConfigUnavailableError(Exception):
    """No policy file has ever loaded (missing or unreadable)."""


def classify(exc: BaseException) -> tuple[ErrorKind, str]:
    """Which health reason and exit code an exception means, with a one-line message."""
    message = one_line(exc)  # scrubbed: it reaches the summary, /healthz, the store, the log
    if isinstance(exc, PolicyError | ConfigUnavailableError | SettingsError):
        return "config", message
    if isinstance(exc, ConfluenceUrlError):  # a setting to fix: its words say which
        return "config", scrub(str(exc))
    if isinstance(exc, AtlassianHTTPError):
        if exc.status in (401, 403):
            return "auth", message
        if exc.status >= 500 or exc.status == 429:
            return "unreachable", message
        if exc.status == 404 and exc.path.endswith("serverInfo"):
            # Every Jira answers serverInfo: a 404 means JIRA_URL points somewhere else.
            return "unreachable", f"{message} ({SITE_HINT_NOT_FOUND})"
        return "error", message
    if isinstance(exc, UnexpectedBodyError):  # HTML or a foreign JSON: not the site we expect
        return "unreachable", message
    if isinstance(exc, TransportFailedError | OutcomeUnknownError | requests.ConnectionError
                  | requests.Timeout | ConnectionError | TimeoutError):
        return "unreachable", message
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        if exc.response.status_code in (401, 403):
            return "auth", message
        if exc.response.status_code >= 500:
            return "unreachable", message
    if isinstance(exc, SQLAlchemyError):
        return "store", message
    return "error", message


def one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    return scrub(f"{type(exc).__name__}: {first}" if first else type(exc).__name__)
