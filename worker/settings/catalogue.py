"""Every environment variable the worker reads, as ``python -m worker settings`` lists them:
the value in force (credentials masked, never revealed) and the default."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from worker.settings.env import Settings
from worker.telemetry.logs import url_password


@dataclass(frozen=True, slots=True)
class SettingInfo:
    """One environment variable the worker reads: the :class:`Settings` field it sets, whether
    it is a credential (never shown), and what an unset value means."""

    name: str
    field: str
    about: str
    secret: bool = False
    #: what None (unset) means for this setting
    unset: str = "unset"


#: Every variable :meth:`Settings.from_env` reads, in the env example's order (a test keeps the
#: two in step). Defaults are not repeated here: :func:`describe` reads them from ``Settings()``.
CATALOGUE: tuple[SettingInfo, ...] = (
    SettingInfo("JIRA_URL", "jira_url", "the Jira site's base URL"),
    SettingInfo("JIRA_USERNAME", "jira_username", "Cloud: the bot account's email"),
    SettingInfo("JIRA_API_TOKEN", "jira_api_token", "Cloud: the bot account's API token",
                secret=True),
    SettingInfo("JIRA_PERSONAL_TOKEN", "jira_personal_token",
                "Data Center: the bot account's personal access token", secret=True),
    SettingInfo("JIRA_FLAVOR", "jira_flavor", "cloud or datacenter",
                unset="detected (*.atlassian.net is Cloud, else asked once)"),
    SettingInfo("CONFLUENCE_URL", "confluence_url", "the deal pages' Confluence",
                unset="JIRA_URL + /wiki on Cloud, JIRA_URL on Data Center"),
    SettingInfo("CONFLUENCE_USERNAME", "confluence_username", "Confluence's account",
                unset="JIRA_USERNAME"),
    SettingInfo("CONFLUENCE_API_TOKEN", "confluence_api_token", "Confluence's API token",
                secret=True, unset="JIRA_API_TOKEN"),
    SettingInfo("CONFLUENCE_PERSONAL_TOKEN", "confluence_personal_token",
                "Confluence's personal access token", secret=True,
                unset="JIRA_PERSONAL_TOKEN"),
    SettingInfo("HANDOFF_GUARD_CONFIG", "config_path", "the policy file"),
    SettingInfo("HANDOFF_GUARD_STATE", "state",
                "the state store: a SQLite path or a SQLAlchemy URL (its password is masked)"),
    SettingInfo("HANDOFF_GUARD_RETENTION_DAYS", "retention_days",
                "days of cycles, decisions and outcomes kept"),
    SettingInfo("HANDOFF_GUARD_INCREMENTAL", "incremental",
                "read only what changed since the last cycle"),
    SettingInfo("HANDOFF_GUARD_READ_MARGIN_S", "read_margin_s",
                "seconds an incremental read looks back before the last cycle's start"),
    SettingInfo("HANDOFF_GUARD_FULL_SWEEP_S", "full_sweep_s",
                "seconds between two full reads at most"),
    SettingInfo("HANDOFF_GUARD_WRITES_IN_FLIGHT", "writes_in_flight",
                "tickets written at once"),
    SettingInfo("HANDOFF_GUARD_WRITE_RATE", "write_rate", "Jira edits per second at most"),
    SettingInfo("HANDOFF_GUARD_LEASE_S", "lease_s",
                "the leader lease's period in seconds"),
    SettingInfo("HANDOFF_GUARD_INSTALLATION", "installation",
                "this installation's name, stamped into every write",
                unset="derived from the site and the bot account"),
    SettingInfo("HANDOFF_GUARD_TRUSTED_INSTALLATIONS", "trusted_installations",
                "retired installations whose earlier writes are history (comma-separated)",
                unset="none"),
    SettingInfo("HANDOFF_GUARD_SIGNING_KEY", "signing_key",
                "secrets the bot's issue property is signed with (first signs, all verify)",
                secret=True, unset="the Jira credential"),
    SettingInfo("HANDOFF_GUARD_HTTP_PORT", "http_port",
                "port of /livez, /readyz and /metrics", unset="off"),
    SettingInfo("HANDOFF_GUARD_HTTP_HOST", "http_host", "address the HTTP endpoint binds"),
    SettingInfo("HANDOFF_GUARD_STATUS_TOKEN", "status_token",
                "bearer token the status page asks for", secret=True, unset="open"),
    SettingInfo("HANDOFF_GUARD_WEBHOOK_SECRET", "webhook_secret",
                "the secret of Jira's admin webhook: POST /webhooks/jira on the HTTP port",
                secret=True, unset="off"),
    SettingInfo("HANDOFF_GUARD_WEBHOOK_COALESCE_MS", "webhook_coalesce_ms",
                "milliseconds the first webhook event of a batch waits for others"),
    SettingInfo("HANDOFF_GUARD_WEBHOOK_RATE", "webhook_rate",
                "webhook requests per second taken on average"),
    SettingInfo("HANDOFF_GUARD_LOG_FORMAT", "log_format", "json or console",
                unset="json unless stderr is a terminal"),
    SettingInfo("HANDOFF_GUARD_TIMEOUT_S", "timeout_s",
                "seconds to wait for one HTTP answer from Atlassian"),
)


@dataclass(frozen=True, slots=True)
class SettingValue:
    """A setting as ``python -m worker settings`` shows it: secrets masked, never revealed."""

    name: str
    value: str
    default: str
    #: True when the environment (or an env file) sets it
    is_set: bool
    about: str
    secret: bool


def describe(settings: Settings, env: Mapping[str, str]) -> list[SettingValue]:
    """Every setting with the value in force and its default (secrets as ``********``)."""
    defaults = Settings()
    rows = []
    for info in CATALOGUE:
        raw = env.get(info.name)
        is_set = raw is not None and raw.strip() != ""
        current = getattr(settings, info.field)
        if info.secret and current is not None:
            shown = "********"
        elif info.name == "HANDOFF_GUARD_STATE":
            shown = _masked_url(settings.state)
        else:
            shown = _shown(current, info.unset)
        rows.append(SettingValue(info.name, shown, _shown(getattr(defaults, info.field),
                                                          info.unset),
                                 is_set, info.about, info.secret))
    return rows


def _shown(value: object, unset: str) -> str:
    if value is None:
        return f"({unset})"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, frozenset):
        return ",".join(sorted(value)) if value else f"({unset})"
    return str(value)


def _masked_url(state: str) -> str:
    password = url_password(state)
    return state.replace(f":{password}@", ":********@", 1) if password else state
