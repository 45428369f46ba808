"""The deployment kit's files, read once for the tests in this folder."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
COMPOSE = ROOT / "compose.yaml"
YAMLLINT_CONFIG = ROOT / ".yamllint.yaml"
KUBERNETES = ROOT / "deploy" / "kubernetes"
SYSTEMD_UNIT = ROOT / "deploy" / "systemd" / "handoff-guard.service"
SYSTEMD_ENV = ROOT / "deploy" / "systemd" / "handoff-guard.env"
SLIM_VENV = ROOT / "deploy" / "docker" / "slim-venv.sh"
MANIFESTS = sorted(p for p in KUBERNETES.glob("*.yaml") if p.name != "kustomization.yaml")

#: the setting names the kit may use: the worker's own prefixes
SETTING = re.compile(r"\b(?:JIRA|CONFLUENCE|HANDOFF_GUARD)_[A-Z0-9_]+\b")


def tool(name: str) -> str | None:
    """A command-line tool: first the one installed next to this Python (the test extra's
    linters live in the virtual environment), else the one on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.is_file():
        return str(beside)
    return shutil.which(name)


def kubernetes(kind: str) -> dict[str, Any]:
    """The one manifest of ``kind`` in deploy/kubernetes."""
    found = [doc for path in MANIFESTS for doc in yaml.safe_load_all(path.read_text("utf-8"))
             if isinstance(doc, dict) and doc.get("kind") == kind]
    assert len(found) == 1, f"{kind}: {len(found)} manifests"
    return found[0]


def dockerfile_stages() -> list[list[str]]:
    """The Dockerfile's instructions per stage (continuation lines joined, comments out);
    the lines before the first FROM (ARG) are stage 0's preamble and dropped."""
    logical: list[str] = []
    pending = ""
    for raw in DOCKERFILE.read_text("utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1].strip() + " "
            continue
        logical.append(pending + line)
        pending = ""
    stages: list[list[str]] = []
    for line in logical:
        if line.upper().startswith("FROM "):
            stages.append([])
        if stages:
            stages[-1].append(line)
    return stages


def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text("utf-8"))
    assert isinstance(data, dict)
    return data


def env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines of an environment file (comments and blanks skipped)."""
    pairs: dict[str, str] = {}
    for raw in path.read_text("utf-8").splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            pairs[key] = value
    return pairs
