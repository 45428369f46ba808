"""The deployment kit agrees with the worker and with itself: the image's user, probes and
signal; the settings the files name are ones the worker reads and the README or the manual
(docs/) documents; the Kubernetes ConfigMap is the shipped policy file and loads where the
Deployment mounts it;
compose's worker reaches compose's sandbox and PostgreSQL with the right credentials; the
Procfile, the unit and the image start the same command."""

from __future__ import annotations

import fnmatch
import re
import tomllib
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from tests.deploy.kit import (
    DOCKERFILE,
    DOCKERIGNORE,
    EXAMPLES,
    KUBERNETES,
    MANIFESTS,
    ROOT,
    SETTING,
    SYSTEMD_ENV,
    SYSTEMD_UNIT,
    compose,
    configmap_mounts,
    dockerfile_stages,
    env_file,
    kubernetes,
)
from worker.policy import load_policies

README = (ROOT / "README.md").read_text("utf-8")
#: the README and the manual in docs/, where each setting is documented
MANUAL = "\n".join([README, *(p.read_text("utf-8") for p in sorted((ROOT / "docs").glob("*.md")))])


def _instructions(stage: list[str], keyword: str) -> list[str]:
    return [line.split(None, 1)[1] for line in stage
            if line.split(None, 1)[0].upper() == keyword]


def _image_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for args in _instructions(dockerfile_stages()[-1], "ENV"):
        for pair in args.split():
            key, _, value = pair.partition("=")
            env[key] = value
    return env


def test_the_image_is_multi_stage_non_root_and_probes_livez() -> None:
    stages = dockerfile_stages()
    assert len(stages) >= 2
    runtime = stages[-1]
    base = runtime[0].split()[1]
    arg = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", DOCKERFILE.read_text("utf-8"), re.M)
    assert arg is not None
    assert base == "${PYTHON_IMAGE}"
    assert re.fullmatch(r"python:3\.11\.\d+-slim(-\w+)?", arg.group(1))  # a version, see below
    (user,) = _instructions(runtime, "USER")
    uid = user.split(":")[0]
    assert uid.isdigit()
    assert int(uid) != 0  # numeric, so Kubernetes' runAsNonRoot can check it
    assert _instructions(runtime, "STOPSIGNAL") == ["SIGTERM"]
    (check,) = _instructions(runtime, "HEALTHCHECK")
    assert "/livez" in check
    env = _image_env()
    assert env["HANDOFF_GUARD_HTTP_HOST"] == "0.0.0.0"
    assert _instructions(runtime, "EXPOSE") == [env["HANDOFF_GUARD_HTTP_PORT"]]
    assert env["HANDOFF_GUARD_CONFIG"].startswith("/etc/handoff-guard/")
    # the policy file comes from outside: config/'s shipped examples reach the build stage
    # only (the package installs them under share/handoff-guard), the runtime stage copies the
    # built environment alone, and nothing lands where the worker reads its policy file
    copied = _instructions(stages[0], "COPY") + _instructions(runtime, "COPY")
    assert not any("/etc/handoff-guard" in c for c in copied)
    assert [c for c in _instructions(runtime, "COPY") if not c.startswith("--from=")] == []
    assert _instructions(runtime, "ENTRYPOINT") == ['["handoff-guard"]']


def test_dockerignore_lets_through_exactly_what_the_dockerfile_copies() -> None:
    """Every COPY source of the build context is let through, and nothing else is."""
    sources = set()
    for stage in dockerfile_stages():
        for args in _instructions(stage, "COPY"):
            if args.startswith("--from"):
                continue
            sources.update(args.split()[:-1])
    lines = [line.strip() for line in DOCKERIGNORE.read_text("utf-8").splitlines()
             if line.strip() and not line.startswith("#")]
    assert lines[0] == "*"
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    assert allowed == {s.rstrip("/").removeprefix("./") for s in sources}
    for source in allowed:
        assert (ROOT / source).exists(), source
    secrets_like = [".env", "var/handoff-guard.db", ".venv/bin/python", ".git/config"]
    assert not any(fnmatch.fnmatch(p, a) for p in secrets_like for a in allowed)


def _kit_settings() -> dict[str, set[str]]:
    """Every setting name each file of the kit mentions."""
    files = [ROOT / "Dockerfile", ROOT / "compose.yaml", SYSTEMD_UNIT, SYSTEMD_ENV,
             *sorted(KUBERNETES.glob("*.yaml"))]  # the examples too
    found = {}
    for path in files:
        text = path.read_text("utf-8")
        if path.name == "configmap.yaml":  # the policy file's prose, not settings
            text = text.split("\ndata:", 1)[0]
        found[str(path.relative_to(ROOT))] = set(SETTING.findall(text))
    return found


def _worker_reads() -> set[str]:
    """Setting names in the worker's source (quoted, as the code reads them)."""
    names: set[str] = set()
    for path in (ROOT / "worker").rglob("*.py"):
        names.update(re.findall(r"[\"']((?:JIRA|CONFLUENCE|HANDOFF_GUARD)_[A-Z0-9_]+)[\"']",
                                path.read_text("utf-8")))
    return names


@pytest.mark.parametrize("path", sorted(_kit_settings()))
def test_every_setting_the_kit_names_is_read_by_the_worker_and_documented(path: str) -> None:
    names = _kit_settings()[path]
    unread = names - _worker_reads()
    assert unread == set(), f"{path} sets what the worker never reads: {sorted(unread)}"
    undocumented = {n for n in names if f"`{n}`" not in MANUAL}
    assert undocumented == set(), f"{path}: not in the README or docs/: {sorted(undocumented)}"


def test_the_deployment_runs_two_replicas_with_both_probes() -> None:
    deployment = kubernetes("Deployment")
    spec = deployment["spec"]
    assert spec["replicas"] == 2
    pod = spec["template"]["spec"]
    (container,) = pod["containers"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    env = {e["name"]: e.get("value") for e in container["env"]}
    port = int(env["HANDOFF_GUARD_HTTP_PORT"])
    (named,) = container["ports"]
    assert named["containerPort"] == port
    assert container["livenessProbe"]["httpGet"]["port"] == named["name"]
    assert env["HANDOFF_GUARD_HTTP_HOST"] == "0.0.0.0"
    # the image's user, not root, on a read-only root filesystem
    (user,) = _instructions(dockerfile_stages()[-1], "USER")
    assert pod["securityContext"]["runAsUser"] == int(user.split(":")[0])
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert "/tmp" in mounts  # PYTHONPYCACHEPREFIX and temporary files need a writable /tmp
    assert pod["terminationGracePeriodSeconds"] > 10  # the worker's own stop takes <= 10 s


def test_kustomization_applies_every_manifest_and_the_selectors_find_the_pods() -> None:
    kustomization = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text("utf-8"))
    assert sorted(kustomization["resources"]) == sorted(p.name for p in MANIFESTS)
    labels = kubernetes("Deployment")["spec"]["template"]["metadata"]["labels"]
    for kind in ("Service", "PodDisruptionBudget"):
        spec = kubernetes(kind)["spec"]
        selector = spec["selector"].get("matchLabels", spec["selector"])
        assert selector.items() <= labels.items(), kind
    assert kubernetes("PodDisruptionBudget")["spec"]["minAvailable"] == 1


def test_the_token_and_the_postgresql_store_come_from_the_secret() -> None:
    secret = kubernetes("Secret", files=EXAMPLES)
    (container,) = kubernetes("Deployment")["spec"]["template"]["spec"]["containers"]
    (source,) = container["envFrom"]
    assert source["secretRef"]["name"] == secret["metadata"]["name"]
    data = secret["stringData"]
    assert "JIRA_API_TOKEN" in data
    assert data["HANDOFF_GUARD_STATE"].startswith("postgresql+psycopg://")
    # no credential sits in the Deployment itself
    inline = {e["name"] for e in container["env"]}
    assert not inline & {"JIRA_API_TOKEN", "JIRA_PERSONAL_TOKEN", "HANDOFF_GUARD_STATE"}


def _mounted_policy(tmp_path: Path,
                    configmaps: dict[str, dict[str, str]] | None = None) -> Path:
    """The files the Deployment's ConfigMap volumes put under their mount paths, written under
    ``tmp_path``; the policy file's path there."""
    (container,) = kubernetes("Deployment")["spec"]["template"]["spec"]["containers"]
    for mount_path, files in configmap_mounts(configmaps).items():
        root = tmp_path / mount_path.lstrip("/")
        for relative, text in files.items():
            target = root / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, "utf-8")
    env = {e["name"]: e.get("value") for e in container["env"]}
    config = PurePosixPath(env["HANDOFF_GUARD_CONFIG"])
    assert str(config.parent) in configmap_mounts()
    return tmp_path / str(config).lstrip("/")


def test_the_configmaps_are_the_shipped_policy_and_load_where_they_are_mounted(
    tmp_path: Path,
) -> None:
    policy = kubernetes("ConfigMap", "handoff-guard-policy")["data"]
    assert policy == {"policies.yaml": (ROOT / "config" / "policies.yaml").read_text("utf-8")}
    templates = sorted((ROOT / "config" / "templates").glob("*.j2"))
    shipped = kubernetes("ConfigMap", "handoff-guard-templates")["data"]
    assert shipped == {t.name: t.read_text("utf-8") for t in templates}
    policies = load_policies(_mounted_policy(tmp_path))  # templates found where mounted
    assert policies.policies


# ---- the traps of issue 23: each of these failed on the kit before it was fixed


def test_applying_the_kit_never_overwrites_the_secret() -> None:
    """`kubectl apply -k` applies no Secret (an operator who created the real one from a
    secret store keeps it); the Secret is an example outside the kustomization."""
    kustomization = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text("utf-8"))
    applied = [doc for name in kustomization["resources"]
               for doc in yaml.safe_load_all((KUBERNETES / name).read_text("utf-8"))]
    assert [d["kind"] for d in applied if d.get("kind") == "Secret"] == []
    assert "secretGenerator" not in kustomization or all(
        "literals" not in g for g in kustomization["secretGenerator"])
    for name in kustomization["resources"]:
        assert "replace-me" not in (KUBERNETES / name).read_text("utf-8"), name
    # the example says how to make the real one, from the env file the other kits use
    example = (KUBERNETES / "secret.example.yaml").read_text("utf-8")
    assert "kubectl create secret generic handoff-guard --from-env-file=" in example


def test_an_unready_pod_never_blocks_a_node_drain() -> None:
    """/readyz answers 503 on both replicas at once during an invalid policy or a Jira
    outage: the budget must still let such pods be evicted."""
    spec = kubernetes("PodDisruptionBudget")["spec"]
    assert spec.get("unhealthyPodEvictionPolicy") == "AlwaysAllow"


def test_a_new_template_appears_in_the_pods_without_a_deployment_edit(tmp_path: Path) -> None:
    """Add a template to the templates ConfigMap only: it is mounted next to the others, and a
    policy that names it loads where the pods read it."""
    pod = kubernetes("Deployment")["spec"]["template"]["spec"]
    assert [v["name"] for v in pod["volumes"] if "items" in v.get("configMap", {})] == []
    templates = dict(kubernetes("ConfigMap", "handoff-guard-templates")["data"])
    templates["escalation-note.j2"] = "Escalated: {{ issue.key }}."
    policy = kubernetes("ConfigMap", "handoff-guard-policy")["data"]["policies.yaml"]
    edited = policy.replace("- comment: engaged-before-signature",
                            "- comment: escalation-note", 1)
    assert edited != policy
    path = _mounted_policy(tmp_path, {"handoff-guard-templates": templates,
                                      "handoff-guard-policy": {"policies.yaml": edited}})
    assert (path.parent / "templates" / "escalation-note.j2").is_file()
    assert load_policies(path).policies


#: an image reference: [registry/]name[:tag][@sha256:digest]
_IMAGE = re.compile(
    r"^(?P<name>[\w./-]+?)(?::(?P<tag>[\w.-]+))?(?:@sha256:(?P<digest>[0-9a-f]{64}))?$")


def _image_references() -> dict[str, str]:
    """Every image the kit runs or builds from: where -> reference."""
    found = {}
    (arg,) = re.findall(r"^ARG PYTHON_IMAGE=(\S+)$", DOCKERFILE.read_text("utf-8"), re.M)
    found["Dockerfile ARG PYTHON_IMAGE"] = arg
    for name, service in compose()["services"].items():
        found[f"compose.yaml {name}"] = service["image"]
    (container,) = kubernetes("Deployment")["spec"]["template"]["spec"]["containers"]
    found["deployment.yaml worker"] = container["image"]
    return found


@pytest.mark.parametrize("where", sorted(_image_references()))
def test_images_are_referenced_by_version_never_latest(where: str) -> None:
    """A tag that names a version (never `latest`, never none: both move under a running
    deployment); the Deployment's is the package's own version."""
    reference = _image_references()[where]
    match = _IMAGE.match(reference)
    assert match is not None, reference
    tag = match.group("tag")
    assert tag is not None or match.group("digest") is not None, f"{where}: no tag"
    assert tag != "latest", where
    if where.startswith("compose.yaml") and "build" in compose()["services"][
            where.split()[1]]:
        return  # built right there from this checkout: the name is local
    if where.startswith("compose.yaml") and reference.startswith("handoff-guard:"):
        return  # the image the sandbox service builds, shared by name
    assert tag is not None
    assert re.match(r"^\d+(\.\d+){1,2}($|-)", tag), \
        f"{where}: {reference} is not a major.minor[.patch] version"
    if where.startswith("deployment.yaml"):
        version = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"][
            "version"]
        assert tag == version


def _service(name: str) -> dict[str, Any]:
    service = compose()["services"][name]
    assert isinstance(service, dict)
    return service


def _volume_source(service: dict[str, Any], target: str) -> Path:
    """The host folder a service mounts at ``target`` (or a parent of it), and the rest."""
    for volume in service["volumes"]:
        host, inside = volume.split(":")[:2]
        if target == inside or target.startswith(inside.rstrip("/") + "/"):
            return ROOT / host / target.removeprefix(inside).lstrip("/")
    raise AssertionError(f"nothing mounted at {target}")


def test_compose_worker_reaches_the_sandbox_and_postgresql() -> None:
    sandbox, worker, postgres = _service("sandbox"), _service("worker"), _service("postgres")
    # the sandbox listens on loopback: the worker shares its network namespace
    assert worker["network_mode"] == "service:sandbox"
    command = sandbox["command"]
    site = command[command.index("--site") + 1]
    port = int(command[command.index("--port") + 1])
    site_file = _volume_source(sandbox, site)
    assert site_file == ROOT / "config" / "sandbox" / "demo-site.yaml"
    bot = yaml.safe_load(site_file.read_text("utf-8"))["site"]["bot"]
    env = worker["environment"]
    assert env["JIRA_URL"] == f"http://127.0.0.1:{port}"
    assert (env["JIRA_USERNAME"], env["JIRA_API_TOKEN"]) == (bot["email"], bot["api_token"])
    assert _volume_source(worker, env["HANDOFF_GUARD_CONFIG"]).is_file()
    store = urlsplit(env["HANDOFF_GUARD_STATE"])
    assert store.scheme == "postgresql+psycopg"
    assert store.hostname == "postgres"
    pg = postgres["environment"]
    assert (store.username, store.password, store.path.lstrip("/")) == (
        pg["POSTGRES_USER"], pg["POSTGRES_PASSWORD"], pg["POSTGRES_DB"])
    assert set(worker["depends_on"]) == {"sandbox", "postgres"}
    # the worker's probes are published from the namespace it shares
    http_port = _image_env()["HANDOFF_GUARD_HTTP_PORT"]
    assert any(str(p).endswith(f":{http_port}") for p in sandbox["ports"])


def test_the_unit_reloads_with_sighup_and_reads_its_environment_file() -> None:
    unit = SYSTEMD_UNIT.read_text("utf-8")
    assert "ExecReload=/bin/kill -HUP $MAINPID" in unit
    assert "KillSignal=SIGTERM" in unit
    env_path = re.search(r"^EnvironmentFile=(\S+)$", unit, re.M)
    assert env_path is not None
    env = env_file(SYSTEMD_ENV)
    assert PurePosixPath(env["HANDOFF_GUARD_CONFIG"]).parent == \
        PurePosixPath(env_path.group(1)).parent
    state_dir = re.search(r"^StateDirectory=(\S+)$", unit, re.M)
    assert state_dir is not None
    assert env["HANDOFF_GUARD_STATE"].startswith(f"/var/lib/{state_dir.group(1)}/")


def test_procfile_unit_image_and_readme_start_the_same_command() -> None:
    """``run`` everywhere, through the console script or ``python -m worker``."""
    procfile = dict(line.split(":", 1) for line in
                    (ROOT / "Procfile").read_text("utf-8").splitlines() if line.strip())
    command = procfile["worker"].strip()
    assert command == "python -m worker run"
    assert f"`{command}`" in README or command in README
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]["scripts"]
    assert scripts["handoff-guard"] == "worker.__main__:main"
    assert "ExecStart=/opt/handoff-guard/bin/handoff-guard run" in SYSTEMD_UNIT.read_text()
    runtime = dockerfile_stages()[-1]
    assert _instructions(runtime, "CMD") == ['["run"]']
    assert _service("worker")["command"] == ["run"]
    (container,) = kubernetes("Deployment")["spec"]["template"]["spec"]["containers"]
    assert container["args"] == ["run"]
