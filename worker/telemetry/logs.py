"""structlog, configured once: JSON lines for machines, colours for people, no secrets.

This module holds the one scrubber. Every event goes through :func:`redact` last-but-one,
and every other way out of the process calls :func:`scrub` (or :func:`scrub_value`) on what it
prints: the ``run --once`` summary, ``/healthz``, metrics labels, the state store, CLI and
settings errors. Both mask

* any value whose key looks like a credential (``token``, ``password``, ``secret``,
  ``authorization``, ``api_key``...), however deeply nested;
* any occurrence of a registered secret (the tokens from the settings, and their HTTP Basic
  form) inside any string, so a token echoed in an exception message is masked too;
* ``Authorization: <scheme> <credentials>`` and ``Bearer``/``Basic`` credentials in strings;
* the password (or the whole userinfo, when it has no ``user:`` part) of any URL
  (``postgresql://u:pw@host/db``, ``https://token@site``), registered or not.

The standard library's logging (atlassian-python-api, urllib3, APScheduler, werkzeug) is routed
through the same processors. ``atlassian.rest_client`` logs whole response bodies at DEBUG
(personal data), so it and ``urllib3`` are pinned at WARNING whatever the root level is.
"""

from __future__ import annotations

import base64
import logging
import re
import sys
import threading
from collections.abc import Iterable, Mapping
from typing import TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

MASK = "***"

_SECRET_KEY = re.compile(
    r"(token|password|passwd|secret|authorization|api[_-]?key|credential|cookie)", re.IGNORECASE
)
_AUTH_IN_TEXT = re.compile(
    r"(?P<head>\b(?:authorization|proxy-authorization)\b['\"]?\s*[:=]\s*['\"]?"
    r"(?:(?:basic|bearer|token)\s+)?)(?P<cred>[^\s'\",}]+)",
    re.IGNORECASE,
)
_SCHEME_CRED = re.compile(r"(?P<head>\b(?:Basic|Bearer)\s+)(?P<cred>[A-Za-z0-9+/=._~-]{8,})")
_URL_USERINFO = re.compile(
    r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.\-]*://)(?P<userinfo>[^\s/@'\"<>?#]+)@"
)

#: packages whose DEBUG output must never reach the log (bodies, headers)
QUIET_LOGGERS = ("atlassian.rest_client", "atlassian", "urllib3", "requests")
#: libraries that narrate at INFO what is noise to a person (Alembic's "Context impl
#: SQLiteImpl." and each migration, watchfiles' "N changes detected"): kept at WARNING
#: unless the level is DEBUG (``--verbose``)
CHATTY_LOGGERS = ("alembic", "watchfiles")

_lock = threading.Lock()
_secrets: set[str] = set()


def register_secrets(values: Iterable[str], *, usernames: Iterable[str] = ()) -> None:
    """Add credential values the redactor masks wherever they appear in a log event.

    ``usernames`` are combined with each secret into the HTTP Basic form too, because a
    header dump shows ``base64(username:token)``, not the token itself.
    """
    with _lock:
        names = [u for u in usernames if u]
        for value in values:
            if len(value) < 4:  # a tiny "secret" would mask ordinary words everywhere
                continue
            _secrets.add(value)
            for name in names:
                _secrets.add(base64.b64encode(f"{name}:{value}".encode()).decode())


def clear_secrets() -> None:
    """Forget every registered secret (for tests)."""
    with _lock:
        _secrets.clear()


def scrub(text: str) -> str:
    """``text`` with every registered secret and Authorization credential masked (for the
    state store and error lines, which do not pass through the log processors)."""
    with _lock:
        secrets = tuple(sorted(_secrets, key=len, reverse=True))
    return _scrub_text(text, secrets)


def scrub_value(value: object, *, keys: bool = True) -> object:
    """``value`` (strings, mappings, lists, exceptions, nested) with credentials masked:
    strings go through :func:`scrub`; with ``keys``, a key that names a credential loses its
    value too (off for documents whose keys are ours, like ``plan --format json``)."""
    with _lock:
        secrets = tuple(sorted(_secrets, key=len, reverse=True))
    return _scrub(value, secrets, keys=keys)


def url_password(url: str) -> str | None:
    """The password (or a user-only userinfo) in a URL, to register as a secret."""
    m = _URL_USERINFO.search(url)
    if m is None:
        return None
    user, sep, password = m.group("userinfo").partition(":")
    return password if sep else user


def _userinfo(m: re.Match[str]) -> str:
    user, sep, _password = m.group("userinfo").partition(":")
    return m.group("scheme") + (f"{user}:{MASK}@" if sep else f"{MASK}@")


def _scrub_text(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    text = _URL_USERINFO.sub(_userinfo, text)
    text = _AUTH_IN_TEXT.sub(lambda m: m.group("head") + MASK, text)
    return _SCHEME_CRED.sub(lambda m: m.group("head") + MASK, text)


def _scrub(value: object, secrets: tuple[str, ...], depth: int = 0, *, keys: bool = True
           ) -> object:
    if depth > 16:  # cycles or absurd nesting: stop walking, keep the event
        return value
    if isinstance(value, str):
        return _scrub_text(value, secrets)
    if isinstance(value, Mapping):
        return {
            k: (MASK if keys and isinstance(k, str) and _SECRET_KEY.search(k) else
                _scrub(v, secrets, depth + 1, keys=keys))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return type(value)(_scrub(v, secrets, depth + 1, keys=keys) for v in value)
    if isinstance(value, BaseException):
        return _scrub_text(repr(value), secrets)
    return value


def redact(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """structlog processor: mask credentials in keys, values and free text (see module doc)."""
    with _lock:
        secrets = tuple(sorted(_secrets, key=len, reverse=True))
    out: EventDict = {}
    for key, value in event_dict.items():
        if _SECRET_KEY.search(key) and value is not None:
            out[key] = MASK
        else:
            out[key] = _scrub(value, secrets)
    return out


def _redact_rendered(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    # format_exc_info turns tracebacks into text after redact ran; scrub that text too.
    exc = event_dict.get("exception")
    if isinstance(exc, str):
        with _lock:
            secrets = tuple(sorted(_secrets, key=len, reverse=True))
        event_dict["exception"] = _scrub_text(exc, secrets)
    return event_dict


def _shared_processors() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.ExtraAdder(),
        redact,
    ]


def configure(
    *,
    log_format: str | None = None,
    level: str = "INFO",
    stream: TextIO | None = None,
    secrets: Iterable[str] = (),
    usernames: Iterable[str] = (),
) -> None:
    """Configure structlog and the standard library's logging (safe to call again).

    ``log_format`` is ``"json"`` or ``"console"``; None picks JSON unless ``stream`` (stderr by
    default) is a terminal.
    """
    register_secrets(secrets, usernames=usernames)
    out = stream if stream is not None else sys.stderr
    fmt = log_format or ("console" if _isatty(out) else "json")
    renderer: Processor
    if fmt == "console":
        # Tracebacks are rendered to text first so the redactor sees them; rich's default
        # traceback would print local variables (credentials among them) after redaction.
        renderer = structlog.dev.ConsoleRenderer(
            colors=_isatty(out), exception_formatter=structlog.dev.plain_traceback
        )
        final: list[Processor] = [structlog.processors.format_exc_info, _redact_rendered,
                                  renderer]
    else:
        final = [
            structlog.processors.format_exc_info,
            _redact_rendered,
            structlog.processors.JSONRenderer(default=str, sort_keys=False),
        ]

    shared = _shared_processors()
    structlog.configure(
        processors=[
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *final],
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_handoff_guard", False):
            root.removeHandler(old)
    handler._handoff_guard = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    for name in CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(
            logging.NOTSET if level.upper() == "DEBUG" else logging.WARNING)
    # APScheduler and werkzeug narrate every job run and request at INFO: ours say it better.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def get_logger(name: str | None = None) -> structlog.stdlib.BoundLogger:
    """A structlog logger (``log.info("cycle.started", run_id=...)``)."""
    return structlog.stdlib.get_logger(name)
