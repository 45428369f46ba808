"""Configuration the ecosystem's way: ``--env-file`` (the systemd ``EnvironmentFile=`` and
``docker --env-file`` format) for every command and the service, and ``settings``, which lists
every variable the worker reads with its default, credentials masked."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.deploy.kit import SYSTEMD_ENV, env_file
from tests.service.conftest import Cli
from tests.service.service_support import PYTHON, ROOT, ServiceProcess, probe, subprocess_env
from worker.cli.envfile import EnvFileError, apply_env, parse_env
from worker.sandbox import Sandbox
from worker.settings.catalogue import CATALOGUE, describe
from worker.settings.env import Settings

ENV_EXAMPLE = ROOT / "config" / "handoff-guard.env.example"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("A=1", {"A": "1"}),
        ("# comment\n; also a comment\n\nA=1\n", {"A": "1"}),
        ("export A=1", {"A": "1"}),
        ("A = spaced out ", {"A": "spaced out"}),
        ("A=", {"A": ""}),
        ("A=x#not-a-comment", {"A": "x#not-a-comment"}),
        ("A='single $HOME \\n'", {"A": "single $HOME \\n"}),
        ('A="double \\"q\\" \\\\ \\n"', {"A": 'double "q" \\ \n'}),
        ("A=$HOME", {"A": "$HOME"}),  # never expanded, as systemd does not expand
        ("A=postgresql+psycopg://u:p=w@h/db", {"A": "postgresql+psycopg://u:p=w@h/db"}),
        ("A=1\nA=2", {"A": "2"}),
    ],
)
def test_env_file_lines(text: str, expected: dict[str, str]) -> None:
    assert parse_env(text) == expected


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("A=1\nsecret-token-value", 2),
        ("1A=x", 1),
        ("A-B=x", 1),
        ("A='secret-token-value", 1),
        ('A="secret-token-value', 1),
        ('A="secret" token-value', 1),
    ],
)
def test_a_malformed_env_file_names_the_line_never_its_text(text: str, line: int) -> None:
    with pytest.raises(EnvFileError) as caught:
        parse_env(text, source="my.env")
    message = str(caught.value)
    assert message.startswith(f"my.env:{line}: ")
    assert "secret" not in message.replace("may hold a secret", "")
    assert "token-value" not in message


def test_the_environment_wins_over_the_file() -> None:
    environ = {"JIRA_URL": "https://from-env.example"}
    applied = apply_env({"JIRA_URL": "https://from-file.example", "JIRA_FLAVOR": "dc"}, environ)
    assert applied == ["JIRA_FLAVOR"]
    assert environ == {"JIRA_URL": "https://from-env.example", "JIRA_FLAVOR": "dc"}


def test_the_systemd_units_environment_file_reads_the_same_through_env_file() -> None:
    """The file systemd reads with EnvironmentFile= is a valid --env-file, with the values the
    kit's tests read from it."""
    parsed = parse_env(SYSTEMD_ENV.read_text("utf-8"), source=str(SYSTEMD_ENV))
    assert parsed == env_file(SYSTEMD_ENV)
    Settings.from_env(parsed)  # and the worker accepts every value in it


@pytest.fixture
def no_settings_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith(("JIRA_", "CONFLUENCE_",
                                                         "HANDOFF_GUARD_"))]:
        monkeypatch.delenv(name)


def test_cli_reads_settings_from_env_file_and_the_environment_wins(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, demo_sandbox: Sandbox,
    config_dir: Path,
) -> None:
    """`plan` against the sandbox with every setting from a file; then the environment's own
    HANDOFF_GUARD_CONFIG wins over the file's (a missing file there: exit 1 naming it)."""
    env = subprocess_env(demo_sandbox, config_dir, tmp_path)
    settings_file = tmp_path / "worker.env"
    settings_file.write_text("".join(
        f'{k}="{v}"\n' for k, v in env.items()
        if k.startswith(("JIRA_", "HANDOFF_GUARD_"))), "utf-8")
    for name in [n for n in env if n.startswith(("JIRA_", "HANDOFF_GUARD_"))]:
        monkeypatch.delenv(name)
    code, out, err = cli("plan", "--format", "json")
    assert code == 1
    assert "JIRA_" in err  # nothing set: not configured
    code, out, err = cli("--env-file", str(settings_file), "plan", "--format", "json")
    assert code == 0, err
    assert json.loads(out)["summary"]["writes"] == 14
    # after the command too, as `docker run --env-file` reads
    code, out, err = cli("plan", "--format", "json", "--env-file", str(settings_file))
    assert code == 0, err
    monkeypatch.setattr(os, "environ", {k: v for k, v in os.environ.items()
                                        if not k.startswith(("JIRA_", "HANDOFF_GUARD_"))})
    code, out, err = cli("validate", "--env-file", str(settings_file),
                         HANDOFF_GUARD_CONFIG=str(tmp_path / "nowhere.yaml"))
    assert code == 1
    assert "nowhere.yaml" in err
    code, _, err = cli("--env-file", str(tmp_path / "missing.env"), "validate")
    assert code == 1
    assert "--env-file" in err
    assert "missing.env" in err


def test_the_service_runs_from_an_env_file(
    demo_sandbox: Sandbox, config_dir: Path, tmp_path: Path
) -> None:
    """`run --env-file FILE` with nothing in the environment: the service reads Jira, runs a
    cycle and answers /readyz on the port the file names."""
    env = subprocess_env(demo_sandbox, config_dir, tmp_path, HANDOFF_GUARD_HTTP_PORT="0")
    settings_file = tmp_path / "service.env"
    settings_file.write_text("".join(
        f"{k}={v}\n" for k, v in env.items() if k.startswith(("JIRA_", "HANDOFF_GUARD_"))),
        "utf-8")
    bare = {k: v for k, v in env.items() if not k.startswith(("JIRA_", "HANDOFF_GUARD_"))}
    bare["HANDOFF_GUARD_LOG_FORMAT"] = "json"  # the log the helper reads
    with ServiceProcess(bare, "--dry-run", "--env-file", str(settings_file)) as service:
        service.wait_for("cycle.finished", timeout_s=60)
        status, body = probe(f"http://127.0.0.1:{service.port}/readyz")
    assert status == 200, body


def test_settings_lists_every_variable_the_worker_reads(no_settings_env: None) -> None:
    """Every name ``Settings.from_env`` looks up is in the catalogue, in the env example, and
    shown by ``settings``; no catalogue entry is one it never reads."""
    read: list[str] = []

    class Recording(dict[str, str]):
        def get(self, key: str, default: object = None) -> str | None:  # type: ignore[override]
            read.append(key)
            return None

    Settings.from_env(Recording())
    names = [info.name for info in CATALOGUE]
    assert sorted(set(read)) == sorted(names)
    example = ENV_EXAMPLE.read_text("utf-8")
    assert [n for n in names if f"{n}=" not in example] == []
    done = subprocess.run([PYTHON, "-m", "worker", "settings", "--format", "json"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=False,
                          env={"PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert [r["name"] for r in rows] == names
    by_name = {r["name"]: r for r in rows}
    # defaults are Settings()'s own, not a second copy that can drift
    assert by_name["HANDOFF_GUARD_LEASE_S"]["default"] == str(Settings().lease_s)
    assert by_name["HANDOFF_GUARD_CONFIG"]["default"] == str(Settings().config_path)
    assert by_name["HANDOFF_GUARD_INCREMENTAL"]["default"] == "true"
    assert all(not r["set"] for r in rows)


def test_settings_masks_credentials_from_the_environment_and_env_files(
    tmp_path: Path,
) -> None:
    secrets_file = tmp_path / "secrets.env"
    secrets_file.write_text(
        "JIRA_API_TOKEN=tok-in-a-file-123456\n"
        "HANDOFF_GUARD_STATE=postgresql+psycopg://bot:pw-in-a-file-987@db/hg\n"
        "HANDOFF_GUARD_LEASE_S=30\n", "utf-8")
    env = {"PATH": "/usr/bin:/bin", "JIRA_PERSONAL_TOKEN": "pat-in-env-555555",
           "HANDOFF_GUARD_LEASE_S": "45"}
    for fmt in ("json", "table"):
        done = subprocess.run(
            [PYTHON, "-m", "worker", "settings", "--format", fmt, "--env-file",
             str(secrets_file)], cwd=ROOT, env=env, capture_output=True, text=True,
            timeout=60, check=False)
        assert done.returncode == 0, done.stderr
        for secret in ("tok-in-a-file-123456", "pw-in-a-file-987", "pat-in-env-555555"):
            assert secret not in done.stdout + done.stderr, (fmt, secret)
    rows = {r.name: r for r in describe(
        Settings.from_env({"JIRA_API_TOKEN": "x-token-1", "HANDOFF_GUARD_LEASE_S": "45"}),
        {"JIRA_API_TOKEN": "x-token-1", "HANDOFF_GUARD_LEASE_S": "45"})}
    assert rows["JIRA_API_TOKEN"].value == "********"
    assert rows["JIRA_API_TOKEN"].is_set
    assert rows["HANDOFF_GUARD_LEASE_S"].value == "45"  # the environment won over the file
    last = json.loads(subprocess.run(
        [PYTHON, "-m", "worker", "--env-file", str(secrets_file), "settings", "--format",
         "json"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
        check=True).stdout)
    assert {r["name"]: r["value"] for r in last}["HANDOFF_GUARD_LEASE_S"] == "45"
    assert {r["name"]: r["set"] for r in last}["JIRA_API_TOKEN"] is True


def test_settings_exits_1_naming_a_malformed_value(tmp_path: Path) -> None:
    bad = tmp_path / "bad.env"
    bad.write_text("HANDOFF_GUARD_LEASE_S=tok-zzz-999\n", "utf-8")
    done = subprocess.run([PYTHON, "-m", "worker", "settings", "--env-file", str(bad)],
                          cwd=ROOT, env={"PATH": "/usr/bin:/bin"}, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 1
    assert "HANDOFF_GUARD_LEASE_S must be a whole number" in done.stderr
    assert "tok-zzz-999" not in done.stderr
