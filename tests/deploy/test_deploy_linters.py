"""The deployment kit through well-known linters: hadolint (Dockerfile), yamllint,
kubernetes-validate (the manifests against Kubernetes' schemas, offline), the Compose
Specification's schema (check-jsonschema), `docker compose config` and `systemd-analyze
verify`. Each test skips, saying why, where its tool is absent; the test extra installs the
Python ones, so `make test` and CI run those."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.deploy.kit import (
    COMPOSE,
    DOCKERFILE,
    EXAMPLES,
    KUBERNETES,
    MANIFESTS,
    PROMETHEUS_RULES,
    ROOT,
    SYSTEMD_UNIT,
    YAMLLINT_CONFIG,
    tool,
)


def _run(*argv: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=110,
                          check=False)


def _need(name: str) -> str:
    found = tool(name)
    if found is None:
        pytest.skip(f"{name} is not installed (pip install -e '.[test]' brings it)")
    return found


def test_hadolint_passes_the_dockerfile() -> None:
    """No hadolint finding at all (its default threshold: info and above); the two rules the
    Dockerfile ignores say why on the line above."""
    done = _run(_need("hadolint"), str(DOCKERFILE))
    assert done.returncode == 0, done.stdout + done.stderr


def test_yamllint_passes_compose_and_the_manifests() -> None:
    # relative paths: the config's per-file ignores are relative to the checkout
    files = [str(p.relative_to(ROOT)) for p in (COMPOSE, KUBERNETES, PROMETHEUS_RULES,
                                                YAMLLINT_CONFIG)]
    done = _run(_need("yamllint"), "--strict", "-c", str(YAMLLINT_CONFIG), *files)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("manifest", [*MANIFESTS, *EXAMPLES], ids=lambda p: p.name)
def test_kubernetes_validate_strict(manifest: Path) -> None:
    """Each manifest against the schemas of the Kubernetes version kubernetes-validate
    ships, rejecting unknown fields (a misspelt probe key fails here, not at apply time)."""
    done = _run(_need("kubernetes-validate"), "--strict", str(manifest))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "passed" in done.stdout + done.stderr


def test_compose_file_matches_the_compose_specification() -> None:
    done = _run(_need("check-jsonschema"), "--builtin-schema", "vendor.compose-spec",
                str(COMPOSE))
    assert done.returncode == 0, done.stdout + done.stderr


def test_docker_compose_config() -> None:
    """Compose's own reading of the file (the plugin parses without a daemon)."""
    docker = tool("docker")
    if docker is None:
        pytest.skip("no docker client on PATH")
    version = _run(docker, "compose", "version")
    if version.returncode != 0:
        pytest.skip(f"the docker compose plugin is absent: {version.stderr.strip()[:120]}")
    done = _run(docker, "compose", "-f", str(COMPOSE), "config", "--quiet")
    assert done.returncode == 0, done.stdout + done.stderr


def test_systemd_analyze_verifies_the_unit(tmp_path: Path) -> None:
    """The unit as installed next to a real environment: ExecStart points at this checkout's
    console script (verify checks that it exists and is executable). Any warning about the
    unit fails the test, not only errors (verify exits 0 on an unknown key)."""
    analyze = tool("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is absent (no systemd on this machine)")
    script = tool("handoff-guard")
    if script is None:
        pytest.skip("the handoff-guard console script is not installed")
    text = SYSTEMD_UNIT.read_text("utf-8")
    assert "ExecStart=/opt/handoff-guard/bin/handoff-guard run" in text
    unit = tmp_path / SYSTEMD_UNIT.name
    unit.write_text(text.replace("/opt/handoff-guard/bin/handoff-guard", script), "utf-8")
    done = _run(analyze, "verify", str(unit), cwd=tmp_path)
    about_ours = [line for line in (done.stdout + done.stderr).splitlines()
                  if SYSTEMD_UNIT.name in line]
    assert done.returncode == 0, done.stdout + done.stderr
    assert about_ours == []
