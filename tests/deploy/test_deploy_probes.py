"""The kit's probes and its ConfigMap against a real `run` service: the Deployment's container
environment, the policy file laid out the way the kubelet mounts a ConfigMap (a timestamped
folder behind a `..data` symlink, swapped atomically on an update), the image's HEALTHCHECK
command and the Deployment's probe paths, over real HTTP against the demo sandbox."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from itertools import count
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.kit import configmap_mounts, dockerfile_stages, kubernetes
from tests.service.service_support import DEMO_SITE, ServiceProcess, probe, until
from worker.sandbox import Sandbox

_VERSION = count(1)




def kubelet_update(mount: Path, files: dict[str, str]) -> None:
    """Write ``files`` the way the kubelet's atomic writer updates a ConfigMap volume: a new
    timestamped folder, a ``..data_tmp`` symlink to it renamed over ``..data``, and one
    symlink per top-level entry into ``..data`` (made once)."""
    version = mount / f"..2026_11_30_00_00_{next(_VERSION):02d}.000000001"
    for path, text in files.items():
        target = version / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, "utf-8")
    old = (mount / "..data").resolve() if (mount / "..data").exists() else None
    tmp = mount / "..data_tmp"
    tmp.symlink_to(version.name)
    tmp.rename(mount / "..data")  # the atomic swap
    for top in {p.split("/", 1)[0] for p in files}:
        link = mount / top
        if not link.is_symlink():
            link.symlink_to(f"..data/{top}")
    if old is not None:
        for path in sorted(old.rglob("*"), reverse=True):
            path.rmdir() if path.is_dir() else path.unlink()
        old.rmdir()


@pytest.fixture
def demo() -> Iterator[Sandbox]:
    with Sandbox.start(DEMO_SITE) as sandbox:
        yield sandbox


def _healthcheck(port: int) -> int:
    """The image's HEALTHCHECK command (exec form), run as Docker runs it; its exit code."""
    (check,) = [line for line in dockerfile_stages()[-1] if line.startswith("HEALTHCHECK")]
    argv = yaml.safe_load(check.split(" CMD ", 1)[1])  # the exec form is a JSON list
    assert argv[0] == "python"
    done = subprocess.run([sys.executable, *argv[1:]], capture_output=True, text=True,
                          timeout=60, check=False,
                          env={**os.environ, "HANDOFF_GUARD_HTTP_PORT": str(port)})
    return done.returncode


def test_configmap_updates_reach_readyz_never_livez(demo: Sandbox, tmp_path: Path) -> None:
    (container,) = kubernetes("Deployment")["spec"]["template"]["spec"]["containers"]
    env: dict[str, Any] = {e["name"]: e["value"] for e in container["env"]}
    # each ConfigMap volume where the Deployment mounts it: the templates' inside the policy's
    volumes = {tmp_path / path.lstrip("/"): files for path, files in configmap_mounts().items()}
    for mount_path, volume_files in sorted(volumes.items()):
        mount_path.mkdir(parents=True, exist_ok=True)
        kubelet_update(mount_path, volume_files)
    mount = tmp_path / "etc" / "handoff-guard"
    files = volumes[mount]
    settings = {k: v for k, v in os.environ.items()
                if not k.startswith(("JIRA_", "CONFLUENCE_", "HANDOFF_GUARD_"))}
    settings.update(
        {k: str(v) for k, v in env.items()},
        # the Secret's part, for the sandbox
        JIRA_URL=demo.url, JIRA_FLAVOR="cloud", JIRA_USERNAME=demo.bot_email,
        JIRA_API_TOKEN=demo.bot_token,
        HANDOFF_GUARD_STATE=str(tmp_path / "state.db"),
        HANDOFF_GUARD_CONFIG=str(mount / Path(env["HANDOFF_GUARD_CONFIG"]).name),
        HANDOFF_GUARD_HTTP_PORT="0",  # a free port (the manifests say 9464)
        HANDOFF_GUARD_LOG_FORMAT="json",
        PYTHONUNBUFFERED="1",
    )
    assert settings["HANDOFF_GUARD_HTTP_HOST"] == "0.0.0.0"
    live = container["livenessProbe"]["httpGet"]["path"]
    ready = container["readinessProbe"]["httpGet"]["path"]
    with ServiceProcess(settings) as service:
        base = f"http://127.0.0.1:{service.port}"
        until(lambda: probe(base + ready)[0] == 200, timeout_s=60)
        assert _healthcheck(service.port) == 0

        # an invalid edit of the ConfigMap: not ready, with the reason; still alive
        broken = {**files, "policies.yaml": files["policies.yaml"] + "\nno_such_key: 1\n"}
        kubelet_update(mount, broken)
        _, body = until(lambda: (r := probe(base + ready))[0] == 503 and r, timeout_s=60)
        assert body["reason"] == "config_invalid"
        assert "no_such_key" in str(body)
        assert probe(base + live)[0] == 200
        assert _healthcheck(service.port) == 0

        # fixed: ready again, without a restart
        kubelet_update(mount, files)
        until(lambda: probe(base + ready)[0] == 200, timeout_s=60)
        assert service.proc.poll() is None
