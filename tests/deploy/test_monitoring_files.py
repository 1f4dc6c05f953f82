"""deploy/prometheus, deploy/alertmanager, deploy/grafana, the forwarder's and the dashboard's
services in docker-compose.yml and deploy/k8s: checked with Debian's promtool and amtool where
they are installed (scripts/test.sh installs them), and against the code: every metric a rule
or a dashboard panel names is one the service exports, every rule has a unit test, every scrape
target is a process's metrics port and path."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry

from monitor.cli.main import build_parser
from monitor.forward.metrics import ForwardMetrics
from monitor.forward.settings import ForwardSettings, parse_receivers
from monitor.interop.metrics import InteropMetrics
from monitor.stream.health import Health, register_health
from monitor.stream.metrics import WorkerMetrics
from monitor.stream.server import METRICS_PATH, READY_PATH
from monitor.web.metrics import DashboardMetrics
from monitor.web.settings import WebSettings
from tests.deploy.test_deploy_files import COMPOSE, K8S, check_env, http_probe

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = ROOT / "deploy" / "prometheus"
RULES = yaml.safe_load((PROMETHEUS_DIR / "rules.yml").read_text())
RULE_TESTS = yaml.safe_load((PROMETHEUS_DIR / "rules.test.yml").read_text())
SCRAPE = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
GRAFANA = json.loads((ROOT / "deploy" / "grafana" / "nms-monitor.json").read_text())
ALERTMANAGER_CONFIG = ROOT / "deploy" / "alertmanager" / "alertmanager.yml"
PROMTOOL, AMTOOL = shutil.which("promtool"), shutil.which("amtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="Debian's prometheus (promtool)")
needs_amtool = pytest.mark.skipif(AMTOOL is None, reason="Debian's prometheus-alertmanager")
# Series Prometheus makes itself for every target.
SCRAPE_SERIES = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}
METRIC_NAME = re.compile(r"\b(nms_[a-z0-9_]+|up)\b")


def exported() -> set[str]:
    """Every sample name the service's processes can export."""
    registries = []
    for build in (
        lambda r: (WorkerMetrics(r), register_health(r, Health(1.0))),
        lambda r: (ForwardMetrics(r), register_health(r, Health(1.0))),
        DashboardMetrics,
        InteropMetrics,
    ):
        registry = CollectorRegistry()
        build(registry)
        registries.append(registry)
    names = set(SCRAPE_SERIES)
    for registry in registries:
        for family in registry.collect():
            suffixes = {
                "counter": ("_total", "_created"),
                "histogram": ("_bucket", "_sum", "_count", "_created"),
                "gauge": ("",),
            }[family.type]
            names |= {family.name + s for s in suffixes}
    return names


def exprs_of(obj: Any) -> list[str]:
    if isinstance(obj, dict):
        found = [obj["expr"]] if isinstance(obj.get("expr"), str) else []
        return found + [e for v in obj.values() for e in exprs_of(v)]
    if isinstance(obj, list):
        return [e for v in obj for e in exprs_of(v)]
    return []


def run(*argv: str, cwd: Path = ROOT) -> None:
    out = subprocess.run(argv, capture_output=True, text=True, cwd=cwd, check=False)
    assert out.returncode == 0, out.stdout + out.stderr


# --- Prometheus: config, rules and their unit tests ---------------------------------------------


@needs_promtool
def test_promtool_accepts_the_config_and_the_rules() -> None:
    run("promtool", "check", "config", "prometheus.yml", cwd=PROMETHEUS_DIR)
    run("promtool", "check", "rules", "rules.yml", cwd=PROMETHEUS_DIR)


@needs_promtool
def test_promtool_unit_tests_of_the_rules_pass() -> None:
    run("promtool", "test", "rules", "rules.test.yml", cwd=PROMETHEUS_DIR)


def test_every_rule_has_unit_tests_that_expect_it_to_fire_and_not_to() -> None:
    rules = {r["alert"] for g in RULES["groups"] for r in g["rules"]}
    fires: set[str] = set()
    silent: set[str] = set()
    for case in RULE_TESTS["tests"]:
        for t in case.get("alert_rule_test", []):
            (fires if t["exp_alerts"] else silent).add(t["alertname"])
    assert rules == fires, f"rules never tested firing: {rules - fires}"
    assert rules == silent, f"rules never tested staying silent: {rules - silent}"


def test_the_rules_cover_what_the_service_must_watch() -> None:
    rules = {r["alert"]: r for g in RULES["groups"] for r in g["rules"]}
    watched = {name: " ".join(METRIC_NAME.findall(r["expr"])) for name, r in rules.items()}
    must = {
        "a worker down": "up",
        "lag growing": "nms_consumer_lag_messages",
        "dead-letter rate": "nms_rejected_total",
        "pager delivery failing": "nms_forward_receiver_failing",
        "no events from a source": "nms_last_event_timestamp_seconds",
    }
    for what, metric in must.items():
        assert any(metric in m for m in watched.values()), what
    for r in rules.values():
        assert r["labels"]["severity"] in ("page", "ticket")
        assert r["labels"]["service"] == "nms-monitor"  # Alertmanager routes on it


def test_rules_and_dashboard_name_only_metrics_the_service_exports() -> None:
    names = exported()
    for source, exprs in (("rules", exprs_of(RULES)), ("grafana", exprs_of(GRAFANA))):
        assert exprs, source
        for expr in exprs:
            used = set(METRIC_NAME.findall(expr))
            assert used, f"{source}: {expr!r} names no metric"
            assert used <= names, f"{source}: {expr!r} names {sorted(used - names)}"


@needs_promtool
def test_every_dashboard_query_is_valid_promql(tmp_path: Path) -> None:
    exprs = exprs_of(GRAFANA)
    rules = {"groups": [{"name": "grafana", "rules": [
        {"record": f"grafana:panel_{i}", "expr": e} for i, e in enumerate(exprs)]}]}  # fmt: skip
    (tmp_path / "panels.yml").write_text(yaml.safe_dump(rules))
    run("promtool", "check", "rules", str(tmp_path / "panels.yml"))


def test_the_grafana_dashboard_uses_a_datasource_variable() -> None:
    variables = {v["name"]: v for v in GRAFANA["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    panels = [p for p in GRAFANA["panels"] if p["type"] != "row"]
    assert len(panels) >= 20
    for p in panels:
        assert p["datasource"]["uid"] == "${datasource}"
        assert p["targets"], p["title"]


# --- scrape targets: the processes' ports and paths in compose and Kubernetes --------------------


def scrape_job(name: str) -> dict[str, Any]:
    job: dict[str, Any] = next(j for j in SCRAPE["scrape_configs"] if j["job_name"] == name)
    assert job.get("metrics_path", "/metrics") == METRICS_PATH
    return job


def test_prometheus_scrapes_the_forwarder_the_dashboard_and_alertmanager() -> None:
    services = COMPOSE["services"]
    forwarder = services["forwarder"]["environment"]
    targets = scrape_job("nms-forward")["static_configs"][0]["targets"]
    assert targets == [f"forwarder:{forwarder['NMS_FORWARD_METRICS_PORT']}"]
    web = WebSettings.model_validate(
        {k.removeprefix("NMS_WEB_").lower(): v for k, v in
         services["dashboard"]["environment"].items() if k.startswith("NMS_WEB_")}
    )  # fmt: skip
    assert scrape_job("nms-dashboard")["static_configs"][0]["targets"] == [f"dashboard:{web.port}"]
    assert scrape_job("alertmanager")["static_configs"][0]["targets"] == ["alertmanager:9093"]
    alerting = SCRAPE["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert alerting == ["alertmanager:9093"]
    assert SCRAPE["rule_files"] == ["rules.yml"]


def test_rule_jobs_are_the_scrape_jobs() -> None:
    jobs = {j["job_name"] for j in SCRAPE["scrape_configs"]}
    used = set(re.findall(r'job="([^"]+)"', " ".join(exprs_of(RULES))))
    assert used and used <= jobs


# --- docker-compose: forwarder, dashboard, Alertmanager ------------------------------------------


def forward_env(env: dict[str, Any]) -> ForwardSettings:
    unknown = sorted(
        k for k in env if k.startswith("NMS_FORWARD_")
        and k.removeprefix("NMS_FORWARD_").lower() not in ForwardSettings.model_fields
    )  # fmt: skip
    assert unknown == [], f"settings the forwarder does not read: {unknown}"
    return ForwardSettings.model_validate(
        {k.removeprefix("NMS_FORWARD_").lower(): v for k, v in env.items()
         if k.startswith("NMS_FORWARD_")}
    )  # fmt: skip


def test_compose_forwarder_agrees_with_settings_cli_and_receivers() -> None:
    svc = COMPOSE["services"]["forwarder"]
    build_parser().parse_args(svc["command"])
    env = svc["environment"]
    check_env({k: v for k, v in env.items() if not k.startswith("NMS_FORWARD_")})
    forward = forward_env(env)
    assert http_probe(svc["healthcheck"]["test"]) == (forward.metrics_port, READY_PATH)
    mounts = {v.split(":")[1]: v.split(":")[0] for v in svc["volumes"]}
    receivers_file = ROOT / mounts[str(forward.receivers_file)]
    spec = parse_receivers(receivers_file.read_text(), json_format=False)
    # Every receiver URL is a compose service (no secret needed on a first start).
    for r in spec.receivers.values():
        host = re.match(r"https?://([^:/]+)", r.url or "")
        assert host and host.group(1) in COMPOSE["services"], r.url
        assert r.routing_key_file is None and r.secret_file is None
    assert spec.routes.low == ()
    assert "alertmanager" in svc["depends_on"] and svc["pull_policy"] == "build"


def test_compose_dashboard_is_authenticated_scraped_and_healthy() -> None:
    svc = COMPOSE["services"]["dashboard"]
    args = build_parser().parse_args(svc["command"])
    assert args.command == "dashboard" and args.host == "0.0.0.0"
    env = svc["environment"]
    check_env({k: v for k, v in env.items() if not k.startswith("NMS_WEB_")})
    web = WebSettings.model_validate(
        {k.removeprefix("NMS_WEB_").lower(): v for k, v in env.items() if k.startswith("NMS_WEB_")}
    )
    # Any address but loopback needs credentials: a token file generated on first start.
    token_dir = str(Path(str(web.tokens_file)).parent)
    assert any(v.startswith("dashboard-secrets:" + token_dir) for v in svc["volumes"])
    maker = COMPOSE["services"]["dashboard-token"]
    assert any(v.startswith("dashboard-secrets:" + token_dir) for v in maker["volumes"])
    assert str(web.tokens_file) in maker["command"][0]
    assert svc["depends_on"]["dashboard-token"] == {"condition": "service_completed_successfully"}
    assert http_probe(svc["healthcheck"]["test"]) == (web.port, "/healthz")
    assert f"{web.port}:{web.port}" in svc["ports"]


@needs_amtool
def test_amtool_accepts_the_alertmanager_config() -> None:
    run("amtool", "check-config", str(ALERTMANAGER_CONFIG))


def test_compose_alertmanager_mounts_the_checked_config() -> None:
    svc = COMPOSE["services"]["alertmanager"]
    mount = next(v for v in svc["volumes"] if v.endswith(":ro"))
    assert (ROOT / mount.split(":")[0]).resolve() == ALERTMANAGER_CONFIG
    assert f"--config.file={mount.split(':')[1]}" in svc["command"]
    assert "healthcheck" in svc


def test_alertmanager_routes_clinical_alerts_by_priority_and_service_alerts_by_severity() -> None:
    config = yaml.safe_load(ALERTMANAGER_CONFIG.read_text())
    routes = config["route"]["routes"]
    by = {" ".join(r["matchers"]): r["receiver"] for r in routes}
    clinical = 'alertname="NeurolepticMalignantSyndrome"'
    assert by[f'{clinical} priority="high"'] == "clinical-oncall"
    assert by[f'{clinical} priority="medium"'] == "clinical-ward"
    assert by[clinical] == "blackhole"  # low: nobody
    assert by['service="nms-monitor" severity="page"'] == "ops-oncall"


# --- Kubernetes: the forwarder, and the scrape annotations --------------------------------------


def deployment() -> dict[str, Any]:
    found: dict[str, Any] = next(d for d in K8S if d["kind"] == "Deployment")
    return found


def test_k8s_scrape_annotations_name_each_pods_metrics_port_and_path() -> None:
    for d in K8S:
        if d["kind"] not in ("StatefulSet", "Deployment"):
            continue
        template = d["spec"]["template"]
        notes = template["metadata"]["annotations"]
        (container,) = template["spec"]["containers"]
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert notes["prometheus.io/scrape"] == "true"
        assert int(notes["prometheus.io/port"]) == ports["metrics"]
        assert notes["prometheus.io/path"] == METRICS_PATH


def test_k8s_forwarder_agrees_with_its_settings_and_the_restricted_profile() -> None:
    d = deployment()
    config = next(c for c in K8S if c["kind"] == "ConfigMap"
                  and c["metadata"]["name"] == "nms-monitor-forward")["data"]  # fmt: skip
    forward = forward_env({k: v for k, v in config.items() if k.startswith("NMS_FORWARD_")})
    spec = d["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    build_parser().parse_args(container["args"])
    assert {p["containerPort"] for p in container["ports"]} == {forward.metrics_port}
    assert container["readinessProbe"]["httpGet"]["path"] == READY_PATH
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert str(forward.receivers_file) == f"{mounts['receivers']}/receivers.toml"
    parse_receivers(config["receivers.toml"], json_format=False)
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert container["imagePullPolicy"] == "Never"
