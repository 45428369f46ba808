"""The monitoring kit: the Grafana dashboard's JSON (structure, PromQL that promtool parses,
only metrics a real service run exports), and the Prometheus operator's ServiceMonitor and
PrometheusRule (they find the Service's port, and carry the rules file as it is)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from itertools import combinations
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from tests.deploy.kit import KUBERNETES, ROOT, kubernetes
from tests.deploy.promscrape import Scrape
from tests.deploy.test_deploy_alerts import RULES, promtool, rules
from tests.service.service_support import (
    DEMO_SITE,
    POLICIES,
    TEMPLATES,
    ServiceProcess,
    subprocess_env,
)
from worker.sandbox import Sandbox

DASHBOARD = ROOT / "deploy" / "grafana" / "handoff-guard.json"
MONITORING = KUBERNETES / "monitoring"
PANEL_TYPES = {"stat", "timeseries", "gauge", "table", "bargauge", "text", "row"}
#: Grafana's variables, as a query would see them
VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}
METRIC = re.compile(r"\bhandoff_guard_[a-z_]+\b")


def dashboard() -> dict[str, Any]:
    data = json.loads(DASHBOARD.read_text("utf-8"))
    assert isinstance(data, dict)
    return data


def targets() -> list[tuple[str, str]]:
    """(panel title, expression) of every query."""
    return [(panel["title"], target["expr"]) for panel in dashboard()["panels"]
            for target in panel.get("targets", [])]


def test_the_dashboard_is_importable_grafana_json() -> None:
    """What Grafana's import needs and what keeps the layout sane: a uid, a schema version,
    unique panel ids, panels on the 24-column grid without overlap, each query with a refId,
    a Prometheus data source chosen by a variable, every variable a query uses defined."""
    data = dashboard()
    assert data["uid"] == "handoff-guard"
    assert data["title"]
    assert isinstance(data["schemaVersion"], int)
    assert data["schemaVersion"] >= 36
    names = {v["name"] for v in data["templating"]["list"]}
    assert {"datasource", "job"} <= names
    panels = data["panels"]
    assert len(panels) >= 10
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids))
    boxes = []
    for panel in panels:
        assert panel["type"] in PANEL_TYPES, panel["title"]
        grid = panel["gridPos"]
        assert all(isinstance(grid[k], int) and grid[k] >= 0 for k in ("x", "y", "w", "h"))
        assert grid["w"] > 0
        assert grid["h"] > 0
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        boxes.append((panel["title"], grid))
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        refs = [t["refId"] for t in panel["targets"]]
        assert refs
        assert len(refs) == len(set(refs)), panel["title"]
        for target in panel["targets"]:
            used = set(re.findall(r"\$\{?(\w+)\}?", target["expr"]))
            assert used - {"__rate_interval", "__interval", "__range"} <= names
    for (a, ga), (b, gb) in combinations(boxes, 2):
        apart = (ga["x"] + ga["w"] <= gb["x"] or gb["x"] + gb["w"] <= ga["x"]
                 or ga["y"] + ga["h"] <= gb["y"] or gb["y"] + gb["h"] <= ga["y"])
        assert apart, f"{a!r} overlaps {b!r}"


def test_every_dashboard_query_is_promql_that_promtool_parses(tmp_path: Path) -> None:
    """Each query, Grafana's variables filled in, as a recording rule: `promtool check rules`
    parses it."""
    records = []
    for number, (title, expr) in enumerate(targets()):
        for variable, value in VARIABLES.items():
            expr = expr.replace(variable, value)
        expr = expr.replace("$job", ".*").replace("${job}", ".*")
        records.append({"record": f"dashboard:query_{number}", "expr": expr,
                        "labels": {"panel": title}})
    path = tmp_path / "dashboard-queries.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": records}]}),
                    "utf-8")
    done = subprocess.run([promtool(), "check", "rules", str(path)], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(records)} rules found" in done.stdout


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """Every metric name a real service exports after a cycle on the demo site."""
    tmp_path = tmp_path_factory.mktemp("exported")
    config = tmp_path / "config"
    config.mkdir()
    shutil.copy(POLICIES, config / "policies.yaml")
    shutil.copytree(TEMPLATES, config / "templates")
    with Sandbox.start(DEMO_SITE) as sandbox:
        env = subprocess_env(sandbox, config, tmp_path, HANDOFF_GUARD_HTTP_PORT="0")
        with ServiceProcess(env) as service:
            service.wait_for("cycle.finished", timeout_s=90)
            text = requests.get(f"http://127.0.0.1:{service.port}/metrics", timeout=10).text
    return Scrape("a", 0.0, text).names()


def test_the_dashboard_and_the_rules_name_only_metrics_the_service_exports(
    exported: set[str],
) -> None:
    queried = {m for _, expr in targets() for m in METRIC.findall(expr)}
    assert queried - exported == set(), "the dashboard queries what no service exports"
    ruled = {m for rule in rules() for m in METRIC.findall(rule["expr"])}
    assert ruled - exported == set(), "the rules name what no service exports"
    # and the dashboard shows every metric family the service has
    families = {re.sub(r"_(bucket|count|sum)$", "", m) for m in exported}
    shown = {re.sub(r"_(bucket|count|sum)$", "", m) for m in queried}
    assert families - shown == set(), "metrics the dashboard does not show"


def _monitoring(kind: str) -> dict[str, Any]:
    return kubernetes(kind, files=sorted(MONITORING.glob("*.yaml")))


def test_the_prometheus_rule_is_the_rules_file() -> None:
    rule = _monitoring("PrometheusRule")
    assert rule["spec"] == yaml.safe_load(RULES.read_text("utf-8"))


def test_the_service_monitor_scrapes_the_services_metrics_port() -> None:
    monitor = _monitoring("ServiceMonitor")
    service = kubernetes("Service")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= \
        service["metadata"]["labels"].items()
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    assert endpoint["path"] == "/metrics"
    kustomization = yaml.safe_load((MONITORING / "kustomization.yaml").read_text("utf-8"))
    assert sorted(kustomization["resources"]) == sorted(
        p.name for p in MONITORING.glob("*.yaml") if p.name != "kustomization.yaml")
