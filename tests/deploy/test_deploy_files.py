"""docker-compose.yml and deploy/ checked statically (no Docker engine here): they must parse and
agree with the code: settings names, CLI commands, ports, topics, paths."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor.cli.main import build_parser
from monitor.knowledge.thresholds import ClinicalSettings
from monitor.stream.settings import KafkaSettings, WorkerSettings
from monitor.stream.topics import Topics

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
DOCKERFILE = (ROOT / "deploy" / "Dockerfile").read_text()
K8S = [d for p in sorted((ROOT / "deploy" / "k8s").glob("*.yaml"))
       for d in yaml.safe_load_all(p.read_text()) if d]  # fmt: skip


def known_env() -> set[str]:
    names = {f"NMS_KAFKA_{n.upper()}" for n in KafkaSettings.model_fields}
    names |= {f"NMS_WORKER_{n.upper()}" for n in WorkerSettings.model_fields}
    names |= {f"NMS_CLINICAL__{n.upper()}" for n in ClinicalSettings.model_fields}
    return names


def check_env(env: dict[str, Any]) -> None:
    unknown = sorted(k for k in env if k.startswith("NMS_") and k not in known_env())
    assert unknown == [], f"env names the code does not read: {unknown}"
    kafka = KafkaSettings.model_validate(
        {
            k.removeprefix("NMS_KAFKA_").lower(): v
            for k, v in env.items()
            if k.startswith("NMS_KAFKA_")
        }
        | (
            {"sasl_username": "u", "sasl_password": "p"}
            if "NMS_KAFKA_SASL_MECHANISM" in env
            else {}
        )
    )
    WorkerSettings.model_validate(
        {
            k.removeprefix("NMS_WORKER_").lower(): v
            for k, v in env.items()
            if k.startswith("NMS_WORKER_")
        }
    )
    assert kafka.bootstrap_list()


def check_cli(args: list[str]) -> None:
    build_parser().parse_args(args)  # exits (SystemExit) on an unknown command or option


def services(prefix: str) -> dict[str, dict[str, Any]]:
    return {n: s for n, s in COMPOSE["services"].items() if n.startswith(prefix)}


def test_compose_kafka_is_a_three_node_kraft_cluster() -> None:
    brokers = services("kafka-")
    assert len(brokers) == 3
    ids = set()
    for name, svc in brokers.items():
        env = svc["environment"]
        assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
        voters = env["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(",")
        assert {v.split("@")[1].split(":")[0] for v in voters} == set(brokers)
        assert f"INTERNAL://{name}:19092" in env["KAFKA_ADVERTISED_LISTENERS"]
        assert "healthcheck" in svc
        ids.add(env["KAFKA_NODE_ID"])
    assert ids == {"1", "2", "3"}


def test_compose_workers_agree_with_settings_and_cli() -> None:
    workers = services("worker-")
    assert len(workers) == 2
    for svc in workers.values():
        env = svc["environment"]
        check_env(env)
        check_cli(svc["command"])
        for host in env["NMS_KAFKA_BOOTSTRAP"].split(","):
            name, port = host.split(":")
            assert name in COMPOSE["services"] and port == "19092"
        assert env["NMS_KAFKA_STORE"] == "rocksdb://"
        assert int(env["NMS_KAFKA_REPLICATION_FACTOR"]) <= len(services("kafka-"))
        assert any(v.endswith(":" + env["NMS_WORKER_DATA_DIR"]) for v in svc["volumes"])
        assert "healthcheck" in svc and env["NMS_WORKER_METRICS_PORT"] in str(svc["healthcheck"])
    build = COMPOSE["services"]["worker-1"]["build"]
    assert (ROOT / build["context"] / build["dockerfile"]).exists()


def test_compose_creates_every_topic_with_the_workers_partitions() -> None:
    env = COMPOSE["services"]["worker-1"]["environment"]
    script = COMPOSE["services"]["topics"]["command"][0]
    listed = set(re.search(r"for t in ([^;]+);", script).group(1).split())  # type: ignore[union-attr]
    assert listed == set(Topics(env.get("NMS_KAFKA_TOPIC_PREFIX", "nms")).all)
    assert f"--partitions {env['NMS_KAFKA_PARTITIONS']}" in script
    assert f"--replication-factor {env['NMS_KAFKA_REPLICATION_FACTOR']}" in script


def test_compose_prometheus_scrapes_the_workers() -> None:
    prom = COMPOSE["services"]["prometheus"]
    mount = next(v for v in prom["volumes"] if "prometheus.yml" in v)
    config = yaml.safe_load((ROOT / mount.split(":")[0]).read_text())
    targets = config["scrape_configs"][0]["static_configs"][0]["targets"]
    port = COMPOSE["services"]["worker-1"]["environment"]["NMS_WORKER_METRICS_PORT"]
    assert sorted(targets) == sorted(f"{w}:{port}" for w in services("worker-"))
    assert "healthcheck" in prom


def test_dockerfile_matches_the_cli_and_settings() -> None:
    assert 'ENTRYPOINT ["nms-monitor"]' in DOCKERFILE
    cmd = re.search(r"^CMD (\[.*\])$", DOCKERFILE, re.M)
    assert cmd is not None
    check_cli(yaml.safe_load(cmd.group(1)))
    env = dict(re.findall(r"(NMS_[A-Z_]+)=(\S+)", DOCKERFILE))
    check_env({**env, "NMS_KAFKA_BOOTSTRAP": "x:9092"})
    assert f"EXPOSE {env['NMS_WORKER_METRICS_PORT']}" in DOCKERFILE
    assert '".[rocksdb]"' in DOCKERFILE  # the rocksdb:// store needs rocksdict
    assert env["NMS_WORKER_DATA_DIR"] in DOCKERFILE.split("VOLUME", 1)[1]


@pytest.mark.parametrize("kind", ["StatefulSet", "Service", "ConfigMap", "Secret"])
def test_k8s_manifests_present(kind: str) -> None:
    assert any(d["kind"] == kind for d in K8S)


def test_k8s_statefulset_agrees_with_code() -> None:
    sts = next(d for d in K8S if d["kind"] == "StatefulSet")
    config = next(d for d in K8S if d["kind"] == "ConfigMap")["data"]
    secret = next(d for d in K8S if d["kind"] == "Secret")["stringData"]
    check_env({**config, **secret})
    pod = sts["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    check_cli(container["args"])
    port = int(config["NMS_WORKER_METRICS_PORT"])
    named = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert named["metrics"] == port
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["port"] in ("metrics", port)
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts["state"] == config["NMS_WORKER_DATA_DIR"]
    assert config["NMS_KAFKA_SSL_CAFILE"].startswith(mounts["kafka-tls"])
    assert sts["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "state"
    assert config["NMS_KAFKA_STORE"] == "rocksdb://"
    assert (
        sts["spec"]["selector"]["matchLabels"].items()
        <= sts["spec"]["template"]["metadata"]["labels"].items()
    )
