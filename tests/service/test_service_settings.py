"""Settings from the environment: defaults, one clear line per mistake, secrets never shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from worker.settings.env import (
    DEFAULT_CONFIG_PATH,
    DEFAULT_RETENTION_DAYS,
    DEFAULT_STATE_PATH,
    Settings,
)
from worker.settings.errors import SettingsError
from worker.settings.secret import Secret

CLOUD = {
    "JIRA_URL": "https://acme.atlassian.net/",
    "JIRA_USERNAME": "bot@acme.example",
    "JIRA_API_TOKEN": "cloud-token-123456",
}
DC = {"JIRA_URL": "https://jira.acme.internal", "JIRA_PERSONAL_TOKEN": "pat-abcdef123456"}


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"JIRA_URL": "acme.atlassian.net"}, "JIRA_URL must be an http(s) URL"),
        ({"JIRA_URL": "ftp://acme"}, "JIRA_URL must be an http(s) URL"),
        ({"CONFLUENCE_URL": "wiki"}, "CONFLUENCE_URL must be an http(s) URL"),
        ({"JIRA_FLAVOR": "cloudy"}, "JIRA_FLAVOR must be 'cloud' or 'datacenter'"),
        ({"HANDOFF_GUARD_HTTP_PORT": "http"}, "HANDOFF_GUARD_HTTP_PORT must be a port number"),
        ({"HANDOFF_GUARD_HTTP_PORT": "70000"}, "HANDOFF_GUARD_HTTP_PORT must be within 0-65535"),
        ({"HANDOFF_GUARD_HTTP_HOST": "http://0.0.0.0"}, "HANDOFF_GUARD_HTTP_HOST must be an"),
        ({"HANDOFF_GUARD_HTTP_HOST": "0.0.0.0:8080"}, "HANDOFF_GUARD_HTTP_HOST must be an"),
        ({"HANDOFF_GUARD_HTTP_HOST": "[::]"}, "HANDOFF_GUARD_HTTP_HOST must be an"),
        ({"HANDOFF_GUARD_LOG_FORMAT": "xml"}, "HANDOFF_GUARD_LOG_FORMAT must be 'json' or"),
        ({"HANDOFF_GUARD_TIMEOUT_S": "0.5"}, "HANDOFF_GUARD_TIMEOUT_S must be a whole number"),
        ({"HANDOFF_GUARD_TIMEOUT_S": "0"}, "HANDOFF_GUARD_TIMEOUT_S must be greater than 0"),
        ({"HANDOFF_GUARD_RETENTION_DAYS": "-3"}, "HANDOFF_GUARD_RETENTION_DAYS must be greater"),
        ({"HANDOFF_GUARD_INCREMENTAL": "cloud-token-123456"},
         "HANDOFF_GUARD_INCREMENTAL must be true or false"),
        ({"HANDOFF_GUARD_LEASE_S": "1m"}, "HANDOFF_GUARD_LEASE_S must be a whole number"),
        ({"HANDOFF_GUARD_LEASE_S": "0"}, "HANDOFF_GUARD_LEASE_S must be greater than 0"),
    ],
)
def test_malformed_setting_is_one_clear_line(env: dict[str, str], message: str) -> None:
    """A malformed variable raises SettingsError with one line that names it."""
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(env)
    text = str(caught.value)
    assert text.startswith(message)
    assert "\n" not in text
    # a token set in the wrong variable never reaches a terminal or a log
    assert "cloud-token-123456" not in text


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "JIRA_URL is not set"),
        ({"JIRA_URL": "https://acme.atlassian.net"}, "JIRA_API_TOKEN is not set"),
        ({"JIRA_URL": "https://acme.atlassian.net", "JIRA_API_TOKEN": "t0ken-value"},
         "JIRA_USERNAME is not set"),
        ({"JIRA_URL": "https://jira.acme.internal", "JIRA_FLAVOR": "datacenter"},
         "JIRA_PERSONAL_TOKEN is not set"),
    ],
)
def test_missing_atlassian_setting_fails_before_connecting(
    env: dict[str, str], message: str
) -> None:
    """Commands that talk to Atlassian refuse to start without a URL and credentials."""
    settings = Settings.from_env(env)
    with pytest.raises(SettingsError, match=message):
        settings.connection()


def test_defaults_when_only_jira_is_set() -> None:
    """Unset optional variables take the documented defaults."""
    settings = Settings.from_env(CLOUD)
    assert settings.jira_url == "https://acme.atlassian.net"
    assert settings.config_path == DEFAULT_CONFIG_PATH == Path("config/policies.yaml")
    assert settings.state == str(DEFAULT_STATE_PATH)
    assert settings.http_port is None
    assert settings.http_host == "127.0.0.1"
    assert settings.log_format is None
    assert settings.retention_days == DEFAULT_RETENTION_DAYS
    assert settings.lease_s == 60
    assert settings.trusted_installations == frozenset()


def test_trusted_installations_are_a_comma_separated_list() -> None:
    """Blanks around and between the ids are ignored."""
    settings = Settings.from_env({**CLOUD, "HANDOFF_GUARD_TRUSTED_INSTALLATIONS": " a1, ,b2 ,"})
    assert settings.trusted_installations == frozenset({"a1", "b2"})


def test_the_installation_name_and_the_signing_key() -> None:
    """The name is checked (it travels in every property); the signing key defaults to the
    Jira credential, an explicit list comes first-signs-first and is a secret like a token."""
    settings = Settings.from_env({**CLOUD, "HANDOFF_GUARD_INSTALLATION": "prod-eu.1"})
    assert settings.installation == "prod-eu.1"
    assert Settings.from_env(CLOUD).installation is None
    assert Settings.from_env(CLOUD).signing_secrets() == (CLOUD["JIRA_API_TOKEN"],)
    keyed = Settings.from_env({**CLOUD, "HANDOFF_GUARD_SIGNING_KEY": " new-key , old-key"})
    assert keyed.signing_secrets() == ("new-key", "old-key")
    assert {"new-key", "old-key"} <= set(keyed.secrets())
    for bad in ("has space", "-dash-first", "x" * 65, "a/b"):
        with pytest.raises(SettingsError, match="HANDOFF_GUARD_INSTALLATION"):
            Settings.from_env({**CLOUD, "HANDOFF_GUARD_INSTALLATION": bad})


@pytest.mark.parametrize(
    ("env", "flavor", "confluence"),
    [
        (CLOUD, "cloud", "https://acme.atlassian.net/wiki"),
        (DC, None, None),  # detected by the client from /serverInfo
        ({**DC, "JIRA_FLAVOR": "dc"}, "datacenter", "https://jira.acme.internal"),
        ({**DC, "CONFLUENCE_URL": "https://wiki.acme.internal"}, None,
         "https://wiki.acme.internal"),
        ({**CLOUD, "JIRA_URL": "http://127.0.0.1:8090", "JIRA_FLAVOR": "datacenter",
          "JIRA_PERSONAL_TOKEN": "pat-123456"}, "datacenter", "http://127.0.0.1:8090"),
    ],
)
def test_flavor_and_confluence_url_resolve(
    env: dict[str, str], flavor: str | None, confluence: str | None
) -> None:
    """The flavor comes from the URL and credentials; Confluence defaults to /wiki on Cloud."""
    connection = Settings.from_env(env).connection()
    assert connection.flavor == flavor
    assert connection.confluence_url == confluence


def test_confluence_credentials_default_to_jiras() -> None:
    """Without CONFLUENCE_* credentials the Jira ones are used."""
    connection = Settings.from_env(CLOUD).connection()
    assert connection.confluence_username == "bot@acme.example"
    assert connection.api_token == "cloud-token-123456"


def test_secrets_never_show_in_repr_or_str() -> None:
    """repr() and str() of the settings and of a Secret mask the value."""
    settings = Settings.from_env({**CLOUD, "CONFLUENCE_API_TOKEN": "conf-secret-999"})
    for text in (repr(settings), str(settings), repr(settings.jira_api_token),
                 str(settings.jira_api_token), f"{settings}"):
        assert "cloud-token-123456" not in text
        assert "conf-secret-999" not in text
    assert Secret("x-123456").reveal() == "x-123456"
    assert set(settings.secrets()) == {"cloud-token-123456", "conf-secret-999"}


@pytest.mark.parametrize("host", ["0.0.0.0", "127.0.0.1", "::", "::1", "localhost",
                                  "worker-0.handoff-guard.svc"])
def test_http_host_takes_addresses_and_names(host: str) -> None:
    """HANDOFF_GUARD_HTTP_HOST: an IPv4 or IPv6 address, or a host name, to listen on."""
    assert Settings.from_env({**CLOUD, "HANDOFF_GUARD_HTTP_HOST": f" {host} "}).http_host == host
