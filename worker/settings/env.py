"""Environment -> one frozen :class:`Settings` value, checked once at start.

The names follow the Atlassian ecosystem's usual ones (``JIRA_URL``, ``JIRA_API_TOKEN``,
``JIRA_PERSONAL_TOKEN``...) so an admin can reuse what other tools already read. A missing or
malformed value raises :class:`~worker.settings.errors.SettingsError` whose ``str()`` is one
line naming the variable and what it expects, never the value. The CLI prints it and exits 1.
Secrets are wrapped in :class:`~worker.settings.secret.Secret`; the password in the state
store's URL counts as a secret.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from worker.model.vocabulary import Flavor
from worker.settings import parse
from worker.settings.errors import HIDDEN, SettingsError
from worker.settings.parse import DEFAULT_HTTP_HOST, LogFormat
from worker.settings.secret import Secret
from worker.telemetry.logs import url_password

if TYPE_CHECKING:
    from worker.atlassian.clients import Connection

DEFAULT_CONFIG_PATH = Path("config/policies.yaml")
DEFAULT_STATE_PATH = Path("var/handoff-guard.db")
DEFAULT_TIMEOUT_S = 30
DEFAULT_RETENTION_DAYS = 90
#: how far before the last cycle's start an incremental read looks (above any search lag)
DEFAULT_READ_MARGIN_S = 600
#: the longest time between two full reads
DEFAULT_FULL_SWEEP_S = 24 * 3600
#: Jira edits in flight at once, and per second at most (below Jira Cloud's tenant rate)
DEFAULT_WRITES_IN_FLIGHT = 4
DEFAULT_WRITE_RATE = 25
#: the leader lease's period: a standby takes over this long after the leader dies
DEFAULT_LEASE_S = 60
#: how long the first webhook event of a batch waits for others before its cycle starts
DEFAULT_WEBHOOK_COALESCE_MS = 500
#: webhook requests per second the endpoint takes on average (a burst of 5 s is allowed)
DEFAULT_WEBHOOK_RATE = 20


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the worker reads from its environment, validated."""

    jira_url: str | None = None
    jira_username: str | None = None
    jira_api_token: Secret | None = None
    jira_personal_token: Secret | None = None
    #: None: detected (``*.atlassian.net`` is Cloud; otherwise the server is asked)
    jira_flavor: Flavor | None = None
    confluence_url: str | None = None
    confluence_username: str | None = None
    confluence_api_token: Secret | None = None
    confluence_personal_token: Secret | None = None
    config_path: Path = DEFAULT_CONFIG_PATH
    #: a filesystem path (SQLite) or a SQLAlchemy URL (``postgresql+psycopg://...``)
    state: str = str(DEFAULT_STATE_PATH)
    #: None: no health/metrics endpoint
    http_port: int | None = None
    #: the address the health/metrics endpoint listens on (``0.0.0.0`` in a container)
    http_host: str = DEFAULT_HTTP_HOST
    #: None: JSON when stderr is not a terminal, console otherwise
    log_format: LogFormat | None = None
    #: whole seconds: atlassian-python-api casts its timeout to int
    timeout_s: int = DEFAULT_TIMEOUT_S
    retention_days: int = DEFAULT_RETENTION_DAYS
    #: read only what changed since the last cycle (``HANDOFF_GUARD_INCREMENTAL=false``: all)
    incremental: bool = True
    read_margin_s: int = DEFAULT_READ_MARGIN_S
    full_sweep_s: int = DEFAULT_FULL_SWEEP_S
    writes_in_flight: int = DEFAULT_WRITES_IN_FLIGHT
    #: edits per second
    write_rate: int = DEFAULT_WRITE_RATE
    #: the leader lease's period (renewed every third of it while a cycle runs)
    lease_s: int = DEFAULT_LEASE_S
    #: installations an operator retired (their names): their writes made before this
    #: store began are history, not ``another_actor`` (one that still writes stops ours)
    trusted_installations: frozenset[str] = frozenset()
    #: this installation's name, stamped into every write (None: derived from the site and
    #: the bot account); two deployments on one site that must be told apart set their own
    installation: str | None = None
    #: the secrets the bot's property signatures are keyed by, comma-separated (the first
    #: signs, all verify); None: the Jira credential (see :mod:`worker.state.signature`)
    signing_key: Secret | None = None
    #: the status page asks for ``Authorization: Bearer <token>`` (None: open, as the probes)
    status_token: Secret | None = None
    #: the shared secret of Jira's admin webhook (None: no ``/webhooks/jira`` endpoint)
    webhook_secret: Secret | None = None
    webhook_coalesce_ms: int = DEFAULT_WEBHOOK_COALESCE_MS
    #: webhook requests per second, on average
    webhook_rate: int = DEFAULT_WEBHOOK_RATE

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read and check the environment (``os.environ`` when ``env`` is None).

        Raises :class:`SettingsError` on the first malformed value. Whether Jira settings are
        *present* is checked by :meth:`connection`, so commands that never talk to Atlassian
        (``validate``, ``schema``, ``sandbox``) run without them.
        """
        source = os.environ if env is None else env

        def get(name: str) -> str | None:
            value = source.get(name)
            if value is None:
                return None
            value = value.strip()
            return value or None

        jira_url = parse.url("JIRA_URL", get("JIRA_URL"))
        flavor = parse.flavor(get("JIRA_FLAVOR"))
        confluence_url = parse.url("CONFLUENCE_URL", get("CONFLUENCE_URL"))
        jira_api_token = parse.secret(get("JIRA_API_TOKEN"))
        jira_personal_token = parse.secret(get("JIRA_PERSONAL_TOKEN"))
        jira_username = get("JIRA_USERNAME")
        http_port = parse.port(get("HANDOFF_GUARD_HTTP_PORT"))
        webhook_secret = parse.secret(get("HANDOFF_GUARD_WEBHOOK_SECRET"))
        if webhook_secret is not None and http_port is None:
            raise SettingsError("HANDOFF_GUARD_WEBHOOK_SECRET needs HANDOFF_GUARD_HTTP_PORT "
                                "(/webhooks/jira is served on that port)")
        if webhook_secret is not None and len(webhook_secret.reveal()) < 16:
            raise SettingsError(f"HANDOFF_GUARD_WEBHOOK_SECRET must be at least 16 characters "
                                f"{HIDDEN}")
        return cls(
            jira_url=jira_url,
            jira_username=jira_username,
            jira_api_token=jira_api_token,
            jira_personal_token=jira_personal_token,
            jira_flavor=flavor,
            confluence_url=confluence_url,
            confluence_username=get("CONFLUENCE_USERNAME"),
            confluence_api_token=parse.secret(get("CONFLUENCE_API_TOKEN")),
            confluence_personal_token=parse.secret(get("CONFLUENCE_PERSONAL_TOKEN")),
            config_path=Path(get("HANDOFF_GUARD_CONFIG") or DEFAULT_CONFIG_PATH),
            state=get("HANDOFF_GUARD_STATE") or str(DEFAULT_STATE_PATH),
            http_port=http_port,
            http_host=parse.host(get("HANDOFF_GUARD_HTTP_HOST")),
            log_format=parse.log_format(get("HANDOFF_GUARD_LOG_FORMAT")),
            timeout_s=parse.positive_int("HANDOFF_GUARD_TIMEOUT_S", get("HANDOFF_GUARD_TIMEOUT_S"))
            or DEFAULT_TIMEOUT_S,
            retention_days=parse.positive_int(
                "HANDOFF_GUARD_RETENTION_DAYS", get("HANDOFF_GUARD_RETENTION_DAYS")
            )
            or DEFAULT_RETENTION_DAYS,
            incremental=parse.flag(
                "HANDOFF_GUARD_INCREMENTAL", get("HANDOFF_GUARD_INCREMENTAL"), True
            ),
            read_margin_s=parse.positive_int(
                "HANDOFF_GUARD_READ_MARGIN_S", get("HANDOFF_GUARD_READ_MARGIN_S")
            )
            or DEFAULT_READ_MARGIN_S,
            full_sweep_s=parse.positive_int(
                "HANDOFF_GUARD_FULL_SWEEP_S", get("HANDOFF_GUARD_FULL_SWEEP_S")
            )
            or DEFAULT_FULL_SWEEP_S,
            writes_in_flight=parse.positive_int(
                "HANDOFF_GUARD_WRITES_IN_FLIGHT", get("HANDOFF_GUARD_WRITES_IN_FLIGHT")
            )
            or DEFAULT_WRITES_IN_FLIGHT,
            write_rate=parse.positive_int(
                "HANDOFF_GUARD_WRITE_RATE", get("HANDOFF_GUARD_WRITE_RATE")
            )
            or DEFAULT_WRITE_RATE,
            lease_s=parse.positive_int("HANDOFF_GUARD_LEASE_S", get("HANDOFF_GUARD_LEASE_S"))
            or DEFAULT_LEASE_S,
            trusted_installations=parse.id_list(get("HANDOFF_GUARD_TRUSTED_INSTALLATIONS")),
            installation=parse.installation_name(
                "HANDOFF_GUARD_INSTALLATION", get("HANDOFF_GUARD_INSTALLATION")
            ),
            signing_key=parse.secret(get("HANDOFF_GUARD_SIGNING_KEY")),
            status_token=parse.secret(get("HANDOFF_GUARD_STATUS_TOKEN")),
            webhook_secret=webhook_secret,
            webhook_coalesce_ms=parse.positive_int(
                "HANDOFF_GUARD_WEBHOOK_COALESCE_MS", get("HANDOFF_GUARD_WEBHOOK_COALESCE_MS")
            )
            or DEFAULT_WEBHOOK_COALESCE_MS,
            webhook_rate=parse.positive_int("HANDOFF_GUARD_WEBHOOK_RATE",
                                       get("HANDOFF_GUARD_WEBHOOK_RATE"))
            or DEFAULT_WEBHOOK_RATE,
        )

    def secrets(self) -> tuple[str, ...]:
        """Every credential value, for the one scrubber (:mod:`worker.telemetry.logs`): the
        tokens, the webhook secret and the password in the state store's URL."""
        wrapped = (
            self.jira_api_token,
            self.jira_personal_token,
            self.confluence_api_token,
            self.confluence_personal_token,
            self.status_token,
            self.webhook_secret,
        )
        found = [s.reveal() for s in wrapped if s is not None]
        found += self.signing_secrets() if self.signing_key is not None else ()
        store_password = url_password(self.state)
        if store_password:
            found.append(store_password)
        return tuple(found)

    def signing_secrets(self) -> tuple[str, ...]:
        """What the bot's property signatures are keyed by, the signing one first:
        ``HANDOFF_GUARD_SIGNING_KEY``'s entries, else the Jira credential (empty when there
        is none: such settings cannot write)."""
        if self.signing_key is not None:
            return tuple(p.strip() for p in self.signing_key.reveal().split(",") if p.strip())
        credential = self.jira_personal_token or self.jira_api_token
        return () if credential is None else (credential.reveal(),)

    def usernames(self) -> tuple[str, ...]:
        """The accounts credentials are sent for (their HTTP Basic form is masked too)."""
        return tuple(u for u in (self.jira_username, self.confluence_username) if u)

    def resolved_flavor(self) -> Flavor | None:
        """``JIRA_FLAVOR``, else Cloud for ``*.atlassian.net``, else None: the client asks
        ``/serverInfo`` once (credentials alone cannot tell: Data Center takes passwords too).
        """
        if self.jira_flavor is not None:
            return self.jira_flavor
        if self.jira_url is not None:
            host = urlsplit(self.jira_url).hostname or ""
            if host.endswith((".atlassian.net", ".jira.com")):
                return "cloud"
        return None

    def resolved_confluence_url(self) -> str | None:
        """``CONFLUENCE_URL``, else Jira's URL + ``/wiki`` on Cloud and Jira's URL on Data
        Center; None while the flavor is still to be detected (the client then decides)."""
        if self.confluence_url is not None:
            return self.confluence_url
        base = self.require_jira_url()
        flavor = self.resolved_flavor()
        if flavor is None:
            return None
        return base + "/wiki" if flavor == "cloud" else base

    def require_jira_url(self) -> str:
        """``JIRA_URL``, or :class:`SettingsError` when unset."""
        if self.jira_url is None:
            raise SettingsError("JIRA_URL is not set (e.g. https://your-site.atlassian.net)")
        return self.jira_url

    def check_atlassian(self) -> None:
        """Fail with one clear line unless Jira can be reached with the given credentials."""
        self.require_jira_url()
        flavor = self.resolved_flavor()
        if flavor == "datacenter":
            if self.jira_personal_token is None:
                raise SettingsError("JIRA_PERSONAL_TOKEN is not set (Data Center uses a PAT)")
            return
        if self.jira_api_token is None and self.jira_personal_token is None:
            raise SettingsError(
                "JIRA_API_TOKEN is not set (Cloud: JIRA_USERNAME + JIRA_API_TOKEN; "
                "Data Center: JIRA_PERSONAL_TOKEN)"
            )
        if self.jira_api_token is not None and self.jira_username is None:
            raise SettingsError("JIRA_USERNAME is not set (the bot account's email on Cloud)")

    def connection(self) -> Connection:
        """The connection parameters for :func:`worker.atlassian.connect`.

        Raises :class:`SettingsError` when Jira's URL or credentials are missing.
        """
        # Not at the top: the client library costs the CLI's first line about 0.2 s.
        from worker.atlassian.clients import Connection

        self.check_atlassian()
        return Connection(
            jira_url=self.require_jira_url(),
            flavor=self.resolved_flavor(),
            username=self.jira_username,
            api_token=_reveal(self.jira_api_token),
            personal_token=_reveal(self.jira_personal_token),
            confluence_url=self.resolved_confluence_url(),
            confluence_username=self.confluence_username or self.jira_username,
            confluence_api_token=_reveal(self.confluence_api_token),
            confluence_personal_token=_reveal(self.confluence_personal_token),
            timeout_s=self.timeout_s,
            write_rate_per_s=float(self.write_rate),
            confluence_guessed=self.confluence_url is None,
        )


def _reveal(secret: Secret | None) -> str | None:
    return None if secret is None else secret.reveal()
