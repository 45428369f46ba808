"""Probes as Kubernetes means them (/livez, /readyz, /healthz), on the address asked for, and
instant reload (file watch, SIGHUP, the poll fallback), over real HTTP and real processes."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.service.conftest import Cli
from tests.service.service_support import ServiceProcess, probe, subprocess_env, until
from worker.cycle.runner import CycleRunner
from worker.cycle.source import PolicySource
from worker.sandbox import Sandbox
from worker.service.probes import HealthServer
from worker.service.shell import Service
from worker.settings.env import Settings
from worker.state.store import Store
from worker.telemetry.health import Health, liveness
from worker.telemetry.metrics import Metrics

#: the default policy file's schedule, and an invalid replacement (a known problem and place)
GOOD_SCHEDULE = "  every: 1m\n"
BAD_SCHEDULE = '  cron: "*/15 7-19 * * mon-fry"\n'
BAD_PROBLEM = ("policies.yaml:14:24: schedule.cron: day of week field 'mon-fry': invalid "
               'weekday name "fry" (allowed: 0-6 or mon-sun)')

#: a second loopback address: a server bound to 127.0.0.1 does not answer there, one bound
#: to 0.0.0.0 does. (The machine's other interfaces are not ours to send traffic to.)
ALIAS = "127.0.0.2"


def _alias_or_skip() -> str:
    """ALIAS when this machine routes it to the loopback interface (Linux does), else skip."""
    listener = socket.socket()
    try:
        listener.bind(("0.0.0.0", 0))
        listener.listen(1)
        with socket.create_connection((ALIAS, listener.getsockname()[1]), timeout=2):
            return ALIAS
    except OSError as exc:
        pytest.skip(f"{ALIAS} does not reach a socket bound to 0.0.0.0 here ({exc}), so "
                    "listening on all addresses cannot be told from loopback only")
    finally:
        listener.close()


def _commented(sandbox: Sandbox) -> int:
    return sum(
        1 for i in sandbox.site()["issues"]
        if any(c.get("author") == sandbox.bot_name for c in i.get("comments", []))
    )


# --------------------------------------------------------------------------- pure verdicts


@pytest.mark.parametrize(
    ("threads", "ok", "reason", "stopped"),
    [
        ({}, True, None, None),
        ({"scheduler": True, "reload": True}, True, None, None),
        ({"scheduler": False, "reload": True}, False, "thread_stopped", ["scheduler"]),
        ({"scheduler": True, "reload": False}, False, "thread_stopped", ["reload"]),
        ({"scheduler": False, "reload": False}, False, "thread_stopped", ["reload", "scheduler"]),
    ],
)
def test_liveness_verdict(
    threads: dict[str, bool], ok: bool, reason: str | None, stopped: list[str] | None
) -> None:
    """Alive while every thread the service needs runs; nothing else is asked."""
    verdict = liveness(threads)
    assert (verdict.ok, verdict.reason, verdict.detail.get("stopped")) == (ok, reason, stopped)


# --------------------------------------------------------------------------- HTTP, in process


def test_livez_and_readyz_answer_apart_and_healthz_is_readyz() -> None:
    """/livez 200 while /readyz and /healthz say 503 config_invalid (and the reverse: a dead
    thread fails /livez only)."""
    health, metrics = Health(interval_s=60), Metrics()
    threads = {"scheduler": True, "reload": True}
    server = HealthServer(health, metrics, port=0, live=lambda: threads).start()
    base = server.url
    try:
        health.config_invalid([BAD_PROBLEM])
        assert probe(f"{base}/livez") == (200, {"status": "ok", "reason": None, "threads": {
            "reload": "alive", "scheduler": "alive"}})
        status, ready = probe(f"{base}/readyz")
        assert (status, ready["reason"], ready["problems"]) == (503, "config_invalid",
                                                                [BAD_PROBLEM])
        assert ready["config_sha256"] is None  # nothing has ever loaded
        assert probe(f"{base}/healthz") == (status, ready)

        health.config_valid("ab" * 32)
        threads["scheduler"] = False
        status, live = probe(f"{base}/livez")
        assert (status, live["reason"], live["stopped"]) == (503, "thread_stopped",
                                                             ["scheduler"])
        status, ready = probe(f"{base}/readyz")
        assert (status, ready["reason"], ready["config_sha256"]) == (200, None, "ab" * 6)
    finally:
        server.stop()


def test_probes_answer_on_every_address_only_when_asked() -> None:
    """HANDOFF_GUARD_HTTP_HOST=0.0.0.0 answers on another address than 127.0.0.1; the default
    (127.0.0.1) does not."""
    alias = _alias_or_skip()
    health, metrics = Health(interval_s=60), Metrics()
    everywhere = HealthServer(health, metrics, port=0, host="0.0.0.0").start()
    loopback = HealthServer(health, metrics, port=0).start()
    try:
        assert requests.get(f"http://{alias}:{everywhere.port}/livez", timeout=5).status_code \
            == 200
        assert requests.get(f"http://{alias}:{everywhere.port}/readyz", timeout=5).status_code \
            == 200
        with pytest.raises(requests.ConnectionError):
            requests.get(f"http://{alias}:{loopback.port}/livez", timeout=5)
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((alias, loopback.port), timeout=2).close()
        assert requests.get(f"http://127.0.0.1:{loopback.port}/livez", timeout=5).status_code \
            == 200
    finally:
        everywhere.stop()
        loopback.stop()


# --------------------------------------------------------------------------- templates folder


def test_the_templates_folder_the_file_names_is_the_one_watched(config_dir: Path) -> None:
    """`templates: tpl` in the file: an edit in tpl/ is seen (not only in templates/), and
    tpl/ is among the watched folders."""
    policy = config_dir / "policies.yaml"
    (config_dir / "templates").rename(config_dir / "tpl")
    text = policy.read_text()
    assert "\ntemplates: templates\n" in text
    policy.write_text(text.replace("\ntemplates: templates\n", "\ntemplates: tpl\n"))
    health = Health(interval_s=60)
    source = PolicySource(policy, health=health)
    source.current()
    assert source.templates_dir() == config_dir / "tpl"
    assert config_dir / "tpl" in source.watched()
    assert config_dir in source.watched()

    (config_dir / "tpl" / "sales-deliverable.j2").write_text("Hello {{ no_such_variable }}\n")
    source.current()
    (problem,) = source.problems
    assert "sales-deliverable" in problem
    assert health.status().reason == "config_invalid"


# --------------------------------------------------------------------------- reload, in process


@contextmanager
def _serving(settings: Settings, *, watch: bool) -> Iterator[Service]:
    """A service on the demo sandbox (dry run, health on an ephemeral port) in a thread."""
    health, metrics = Health(interval_s=900), Metrics()
    runner = CycleRunner(settings, Store.open(settings.state), health=health, metrics=metrics,
                         source=PolicySource(settings.config_path, health=health))
    service = Service(runner, dry_run=True, http_port=0, health=health, metrics=metrics,
                      watch=watch)
    thread = threading.Thread(target=service.run, daemon=True)
    thread.start()
    try:
        until(lambda: service.health_port)
        if watch:
            until(lambda: service.reloader.watching.is_set())
        yield service
    finally:
        service.stop()
        thread.join(timeout=15)


@pytest.fixture
def running(settings: Settings) -> Iterator[Service]:
    """A service without inotify (the poll fallback)."""
    with _serving(settings, watch=False) as service:
        yield service


@pytest.fixture
def watching(settings: Settings) -> Iterator[Service]:
    """A service watching its policy folder with inotify."""
    with _serving(settings, watch=True) as service:
        yield service


def _reason(service: Service) -> Any:
    return probe(f"http://127.0.0.1:{service.health_port}/readyz")[1]["reason"]


def test_without_inotify_a_broken_edit_is_seen_by_the_poll(
    running: Service, settings: Settings
) -> None:
    """watch=False (no inotify): the 2-second poll re-reads the file; /readyz says so and the
    last good config stays in force."""
    good = settings.config_path.read_text()
    sha = until(lambda: running.runner.source.sha256)
    settings.config_path.write_text(good.replace(GOOD_SCHEDULE, BAD_SCHEDULE))
    until(lambda: _reason(running) == "config_invalid")
    assert running.runner.source.sha256 == sha  # the last good file is still the one in force
    settings.config_path.write_text(good)
    until(lambda: _reason(running) != "config_invalid")


def test_sighup_re_reads_the_file_at_once(running: Service, settings: Settings) -> None:
    """SIGHUP (a real signal to this process) re-reads the file even with no watch and no
    poll due: a schedule edit is in force, the job rescheduled."""
    running.reloader.poll_s = 3600.0  # nothing but the signal can re-read it now
    previous = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    running.install_signal_handlers()
    try:
        until(lambda: running.job())
        good = settings.config_path.read_text()
        settings.config_path.write_text(good.replace(GOOD_SCHEDULE, "  every: 1h\n"))
        os.kill(os.getpid(), signal.SIGHUP)
        until(lambda: running.health.interval_s == 3600.0)
        job = running.job()
        assert job is not None
        assert job.trigger.interval.total_seconds() == 3600
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def test_a_templates_folder_replaced_under_its_name_is_watched_again(
    watching: Service, config_dir: Path
) -> None:
    """`rm -r templates` and a fresh copy: inotify watched the old folder's inode, so the
    watch moves to the new one and a later edit inside it is still seen at once."""
    templates = config_dir / "templates"
    fresh = config_dir.parent / "fresh-templates"
    shutil.copytree(templates, fresh)
    shutil.rmtree(templates)
    fresh.rename(templates)
    until(lambda: watching.reloader.watching.is_set()
          and str(templates) in {f for f, _, _ in watching.reloader._where()})
    watching.reloader.poll_s = 3600.0
    until(lambda: _reason(watching) is None)
    (templates / "reassign-note.j2").write_text("{{ no_such_variable }}\n")
    until(lambda: _reason(watching) == "config_invalid")


def test_a_configmap_update_is_seen(settings: Settings, tmp_path: Path) -> None:
    """The policy folder laid out as the kubelet mounts a ConfigMap (files are symlinks
    through `..data`, updated by swapping `..data` to a new folder): an update is seen."""
    mount = tmp_path / "mount"
    mount.mkdir()
    first = mount / "..2026_11_30_10_00_00.1"
    shutil.copytree(settings.config_path.parent, first)
    (mount / "..data").symlink_to(first.name)
    for name in ("policies.yaml", "templates"):
        (mount / name).symlink_to(f"..data/{name}")
    with _serving(replace(settings, config_path=mount / "policies.yaml"), watch=True) as svc:
        until(lambda: _reason(svc) is None)
        svc.reloader.poll_s = 3600.0
        second = mount / "..2026_11_30_10_05_00.2"
        shutil.copytree(first, second)
        policy = second / "policies.yaml"
        policy.write_text(policy.read_text().replace(GOOD_SCHEDULE, BAD_SCHEDULE))
        (mount / "..data_tmp").symlink_to(second.name)
        (mount / "..data_tmp").rename(mount / "..data")
        shutil.rmtree(first)
        until(lambda: _reason(svc) == "config_invalid")


def test_take_replaced_reports_a_reload_to_the_cycle_that_runs_it(config_dir: Path) -> None:
    """A reload on another thread after a cycle took its policies: that cycle does not report
    it (it runs the older file); the next one reports the change since the first file."""
    policy = config_dir / "policies.yaml"
    good = policy.read_text()
    source = PolicySource(policy)
    a, sha_a = source.loaded()
    policy.write_text(good.replace(GOOD_SCHEDULE, "  every: 1h\n"))
    b, sha_b = source.loaded()
    assert sha_b != sha_a
    policy.write_text(good.replace(GOOD_SCHEDULE, "  every: 2h\n"))
    c = source.current()  # the reload thread, while a cycle holds b
    assert source.take_replaced(by=b) is None
    assert source.take_replaced(by=c) is a
    assert source.take_replaced(by=c) is None


# --------------------------------------------------------------------------- real processes


def test_an_invalid_file_at_start_keeps_the_service_up_not_ready_until_fixed(
    demo_sandbox: Sandbox, config_dir: Path, tmp_path: Path
) -> None:
    """`run` with an invalid policy file: alive, not ready (config_invalid with file:line:col),
    nothing written; the file fixed, it becomes ready and acts. Probes on 0.0.0.0."""
    alias = _alias_or_skip()
    policy = config_dir / "policies.yaml"
    good = policy.read_text()
    policy.write_text(good.replace(GOOD_SCHEDULE, BAD_SCHEDULE))
    env = subprocess_env(demo_sandbox, config_dir, tmp_path, HANDOFF_GUARD_HTTP_PORT="0",
                         HANDOFF_GUARD_HTTP_HOST="0.0.0.0")
    with ServiceProcess(env) as service:
        waiting = service.wait_for("service.waiting_for_config")
        assert waiting["problems"][0].endswith(BAD_PROBLEM)
        base = f"http://{alias}:{service.port}"
        status, live = probe(f"{base}/livez")
        assert (status, live["threads"]) == (200, {"lease": "alive", "reload": "alive",
                                                   "scheduler": "alive"})
        status, ready = probe(f"{base}/readyz")
        assert (status, ready["reason"], ready["config_sha256"]) == (503, "config_invalid", None)
        (problem,) = ready["problems"]
        assert problem.endswith(BAD_PROBLEM)
        assert probe(f"{base}/healthz")[1]["reason"] == "config_invalid"
        assert service.find("cycle.started") is None
        assert _commented(demo_sandbox) == 0

        policy.write_text(good)
        until(lambda: probe(f"{base}/readyz")[0] == 200)
        finished = service.wait_for("cycle.finished", timeout_s=60)
        assert finished["status"] == "ok"
        assert finished["actions_applied"] > 0
        assert _commented(demo_sandbox) == finished["actions_applied"]
        assert probe(f"{base}/livez")[0] == 200
        status, ready = probe(f"{base}/readyz")  # the lease's view is part of readiness
        holder = service.find("lease.acquired")
        assert holder is not None
        assert (status, ready["leader"], ready["holder"]) == (200, True, holder["holder"])
        assert isinstance(ready["fencing"], int)
    assert service.proc.returncode == 0


def test_edits_and_sighup_reach_a_running_service(
    demo_sandbox: Sandbox, config_dir: Path, tmp_path: Path
) -> None:
    """A running `run` (inotify): SIGHUP is a logged re-read; a broken edit shows in /readyz
    and the log while the last good config stays; a valid schedule edit is in force (job
    rescheduled) without a cycle; a broken template is seen too."""
    policy = config_dir / "policies.yaml"
    good = policy.read_text()
    env = subprocess_env(demo_sandbox, config_dir, tmp_path, HANDOFF_GUARD_HTTP_PORT="0")
    with ServiceProcess(env, "--dry-run") as service:
        service.wait_for("cycle.finished", timeout_s=60)
        service.wait_for("config.watching", where=lambda e: e.get("mode") == "inotify")
        base = f"http://127.0.0.1:{service.port}"
        status, ready = probe(f"{base}/readyz")
        assert status == 200
        first_sha = ready["config_sha256"]

        mark = service.mark()
        service.proc.send_signal(signal.SIGHUP)
        checked = service.wait_for("config.checked", since=mark,
                                   where=lambda e: e.get("trigger") == "SIGHUP")
        assert (checked["valid"], checked["sha256"]) == (True, first_sha)

        mark = service.mark()
        policy.write_text(good.replace(GOOD_SCHEDULE, BAD_SCHEDULE))
        until(lambda: probe(f"{base}/readyz")[1]["reason"] == "config_invalid")
        invalid = service.wait_for("config.invalid", since=mark)
        assert invalid["problems"][0].endswith(BAD_PROBLEM)
        assert invalid["keeping"] == "last good config"
        status, ready = probe(f"{base}/readyz")
        assert (status, ready["config_sha256"]) == (503, first_sha)
        assert probe(f"{base}/livez")[0] == 200

        mark = service.mark()
        policy.write_text(good.replace(GOOD_SCHEDULE, "  every: 1h\n"))
        until(lambda: probe(f"{base}/readyz")[1]["interval_s"] == 3600.0)
        status, ready = probe(f"{base}/readyz")
        assert status == 200
        assert ready["config_sha256"] != first_sha
        service.wait_for("service.rescheduled", since=mark,
                         where=lambda e: e.get("interval_s") == 3600)
        assert service.find("cycle.started", since=mark) is None  # no cycle was needed

        template = config_dir / "templates" / "sales-deliverable.j2"
        template.write_text(template.read_text() + "{{ no_such_variable }}\n")
        until(lambda: probe(f"{base}/readyz")[1]["reason"] == "config_invalid")
        assert "sales-deliverable" in probe(f"{base}/readyz")[1]["problems"][0]
    assert service.proc.returncode == 0


def test_jira_trouble_fails_readyz_never_livez(
    demo_sandbox: Sandbox, config_dir: Path, tmp_path: Path
) -> None:
    """A token Jira refuses: /readyz 503 auth_failed, /livez 200, the process keeps running."""
    env = subprocess_env(demo_sandbox, config_dir, tmp_path, HANDOFF_GUARD_HTTP_PORT="0",
                         JIRA_API_TOKEN="not-the-bot-token")
    with ServiceProcess(env) as service:
        service.wait_for("cycle.finished", timeout_s=60)
        base = f"http://127.0.0.1:{service.port}"
        status, ready = probe(f"{base}/readyz")
        assert (status, ready["reason"]) == (503, "auth_failed")
        assert "not-the-bot-token" not in str(ready)
        assert probe(f"{base}/livez")[0] == 200
        assert service.proc.poll() is None
    assert service.proc.returncode == 0


def test_one_shot_commands_still_exit_1_on_an_invalid_file(
    cli: Cli, config_dir: Path, demo_sandbox: Sandbox
) -> None:
    """Only the service waits for a valid file: `run --once`, `plan` and `validate` exit 1
    with the line, and nothing is written."""
    policy = config_dir / "policies.yaml"
    policy.write_text(policy.read_text().replace(GOOD_SCHEDULE, BAD_SCHEDULE))
    for argv in (("run", "--once"), ("plan",), ("validate", str(policy))):
        code, _out, err = cli(*argv)
        assert (argv, code) == (argv, 1)
        assert BAD_PROBLEM in err
    assert _commented(demo_sandbox) == 0
