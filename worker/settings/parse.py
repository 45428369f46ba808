"""Each environment variable's text checked and turned into its value, or a
:class:`~worker.settings.errors.SettingsError` that names the variable and what it expects
(never the value). A URL may not carry credentials (``https://user:token@site``)."""

from __future__ import annotations

import ipaddress
import re
from typing import Literal
from urllib.parse import urlsplit

from worker.model.vocabulary import Flavor
from worker.settings.errors import HIDDEN, SettingsError
from worker.settings.secret import Secret

#: loopback unless told otherwise: /metrics names policies, so it is not published by default
DEFAULT_HTTP_HOST = "127.0.0.1"

#: the log formats ``HANDOFF_GUARD_LOG_FORMAT`` names
LogFormat = Literal["json", "console"]

_FLAVORS: dict[str, Flavor] = {
    "cloud": "cloud",
    "datacenter": "datacenter",
    "data-center": "datacenter",
    "dc": "datacenter",
    "server": "datacenter",
}



def url(name: str, value: str | None) -> str | None:
    """A site's base URL (http or https, no credentials, no trailing slash)."""
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SettingsError(
            f"{name} must be an http(s) URL such as https://your-site.atlassian.net {HIDDEN}"
        )
    if "@" in parts.netloc:
        raise SettingsError(
            f"{name} must not contain credentials (user:password@); set them in the "
            f"*_USERNAME / *_API_TOKEN / *_PERSONAL_TOKEN variables {HIDDEN}"
        )
    return value.rstrip("/")


def flavor(value: str | None) -> Flavor | None:
    """``JIRA_FLAVOR``: cloud or datacenter (and their usual spellings)."""
    if value is None:
        return None
    flavor = _FLAVORS.get(value.lower())
    if flavor is None:
        raise SettingsError(f"JIRA_FLAVOR must be 'cloud' or 'datacenter' {HIDDEN}")
    return flavor


def secret(value: str | None) -> Secret | None:
    """A credential, wrapped."""
    return None if value is None else Secret(value)


def port(value: str | None) -> int | None:
    """``HANDOFF_GUARD_HTTP_PORT``: 0-65535 (0: any free port)."""
    if value is None:
        return None
    try:
        port = int(value)
    except ValueError:
        raise SettingsError(f"HANDOFF_GUARD_HTTP_PORT must be a port number {HIDDEN}") from None
    if not 0 <= port <= 65535:
        raise SettingsError(f"HANDOFF_GUARD_HTTP_PORT must be within 0-65535 {HIDDEN}")
    return port


def host(value: str | None) -> str:
    """An IP address or a host name to bind (``0.0.0.0``, ``::``, ``127.0.0.1``, ``localhost``)."""
    if value is None:
        return DEFAULT_HTTP_HOST
    try:
        ipaddress.ip_address(value)
    except ValueError:
        if _HOST_NAME.fullmatch(value):
            return value
        raise SettingsError(
            "HANDOFF_GUARD_HTTP_HOST must be an address to listen on such as 0.0.0.0, :: or "
            f"127.0.0.1 (no scheme, no port) {HIDDEN}"
        ) from None
    return value


#: a host name; a URL or host:port is a mistake
_HOST_NAME = re.compile(r"[0-9A-Za-z](?:[0-9A-Za-z.-]{0,252}[0-9A-Za-z])?")


def log_format(value: str | None) -> LogFormat | None:
    """``HANDOFF_GUARD_LOG_FORMAT``: json or console."""
    if value is None:
        return None
    lowered = value.lower()
    if lowered == "json":
        return "json"
    if lowered == "console":
        return "console"
    raise SettingsError(f"HANDOFF_GUARD_LOG_FORMAT must be 'json' or 'console' {HIDDEN}")


def positive_int(name: str, value: str | None) -> int | None:
    """A whole number above 0."""
    if value is None:
        return None
    try:
        number = int(value)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number {HIDDEN}") from None
    if number <= 0:
        raise SettingsError(f"{name} must be greater than 0 {HIDDEN}")
    return number


#: an installation's name: it travels in every property the bot writes
_NAME = re.compile(r"[0-9A-Za-z][0-9A-Za-z._-]{0,63}")


def installation_name(name: str, value: str | None) -> str | None:
    """An installation's name: 1-64 letters, digits, dots, underscores or dashes."""
    if value is None:
        return None
    if not _NAME.fullmatch(value):
        raise SettingsError(f"{name} must be 1-64 letters, digits, '.', '_' or '-' {HIDDEN}")
    return value


def id_list(value: str | None) -> frozenset[str]:
    """A comma-separated list of ids (blanks ignored)."""
    if value is None:
        return frozenset()
    return frozenset(part.strip() for part in value.split(",") if part.strip())


_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def flag(name: str, value: str | None, default: bool) -> bool:
    """true/false, yes/no, on/off or 1/0 (any case)."""
    if value is None:
        return default
    folded = value.casefold()
    if folded in _TRUE:
        return True
    if folded in _FALSE:
        return False
    raise SettingsError(f"{name} must be true or false {HIDDEN}")
