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
PROMETHEUS_RULES = ROOT / "deploy" / "prometheus"
SLIM_VENV = ROOT / "deploy" / "docker" / "slim-venv.sh"
#: what ``kubectl apply -k`` applies (examples, like the Secret's, are the operator's to make)
MANIFESTS = sorted(p for p in KUBERNETES.glob("*.yaml")
                   if p.name != "kustomization.yaml" and not p.name.endswith(".example.yaml"))
EXAMPLES = sorted(KUBERNETES.glob("*.example.yaml"))

#: the setting names the kit may use: the worker's own prefixes
SETTING = re.compile(r"\b(?:JIRA|CONFLUENCE|HANDOFF_GUARD)_[A-Z0-9_]+\b")


def tool(name: str) -> str | None:
    """A command-line tool: first the one installed next to this Python (the test extra's
    linters live in the virtual environment), else the one on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.is_file():
        return str(beside)
    return shutil.which(name)


def kubernetes(kind: str, name: str | None = None, *,
               files: list[Path] | None = None) -> dict[str, Any]:
    """The one manifest of ``kind`` (and ``name``) in deploy/kubernetes (the applied ones,
    unless ``files`` says which)."""
    found = [doc for path in (MANIFESTS if files is None else files)
             for doc in yaml.safe_load_all(path.read_text("utf-8"))
             if isinstance(doc, dict) and doc.get("kind") == kind
             and (name is None or doc["metadata"]["name"] == name)]
    assert len(found) == 1, f"{kind} {name or ''}: {len(found)} manifests"
    return found[0]


def configmap_mounts(
    configmaps: dict[str, dict[str, str]] | None = None,
) -> dict[str, dict[str, str]]:
    """What the Deployment's ConfigMap volumes put in the worker's container: mount path ->
    {relative path: content}, the way the kubelet lays a volume out (every key of the
    ConfigMap, or only the listed items). ``configmaps`` (name -> data) stands in for the
    applied ConfigMaps, to ask what an edited one would mount."""
    pod = kubernetes("Deployment")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    mounts: dict[str, dict[str, str]] = {}
    for volume in pod["volumes"]:
        if "configMap" not in volume:
            continue
        name = volume["configMap"]["name"]
        data = (configmaps[name] if configmaps is not None and name in configmaps
                else kubernetes("ConfigMap", name)["data"])
        items = volume["configMap"].get("items")
        files = ({i["path"]: data[i["key"]] for i in items} if items is not None
                 else dict(data))
        (mount,) = [m for m in container["volumeMounts"] if m["name"] == volume["name"]]
        assert mount.get("readOnly") is True, volume["name"]
        assert "subPath" not in mount  # a subPath mount never sees an update
        mounts[mount["mountPath"]] = files
    return mounts


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
