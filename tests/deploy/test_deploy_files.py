"""docker-compose.yml, deploy/ and .dockerignore checked statically (no container engine here):
they must parse and agree with the code (settings names, CLI commands, ports, probe paths,
topics, paths, the package version) and with what the images and clusters they target need on
a first start (Kafka's log directory on the volume, a valid KRaft cluster id, no image pulled
from a public registry, secrets that nothing applies over, the restricted Pod Security level)."""

from __future__ import annotations

import base64
import fnmatch
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor import __version__
from monitor.cli.main import build_parser
from monitor.knowledge.thresholds import ClinicalSettings
from monitor.stream.server import LIVE_PATH, METRICS_PATH, READY_PATH
from monitor.stream.settings import KafkaSettings, WorkerSettings
from monitor.stream.topics import Topics

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
DOCKERFILE = (ROOT / "deploy" / "Dockerfile").read_text()
K8S_FILES = sorted((ROOT / "deploy" / "k8s").glob("*.yaml"))
K8S = [d for p in K8S_FILES for d in yaml.safe_load_all(p.read_text()) if d]
EXAMPLES = [d for p in sorted((ROOT / "deploy" / "k8s-examples").glob("*.yaml"))
            for d in yaml.safe_load_all(p.read_text()) if d]  # fmt: skip
OPERATIONS = (ROOT / "docs" / "operations.md").read_text()
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def known_env() -> set[str]:
    names = {f"NMS_KAFKA_{n.upper()}" for n in KafkaSettings.model_fields}
    names |= {f"NMS_WORKER_{n.upper()}" for n in WorkerSettings.model_fields}
    names |= {f"NMS_CLINICAL__{n.upper()}" for n in ClinicalSettings.model_fields}
    return names


def check_env(env: dict[str, Any]) -> WorkerSettings:
    unknown = sorted(k for k in env if k.startswith("NMS_") and k not in known_env())
    assert unknown == [], f"env names the code does not read: {unknown}"
    kafka = KafkaSettings.model_validate(
        {k.removeprefix("NMS_KAFKA_").lower(): v for k, v in env.items()
         if k.startswith("NMS_KAFKA_")}
        | ({"sasl_username": "u", "sasl_password": "p"} if "NMS_KAFKA_SASL_MECHANISM" in env
           else {})
    )  # fmt: skip
    worker = WorkerSettings.model_validate(
        {k.removeprefix("NMS_WORKER_").lower(): v for k, v in env.items()
         if k.startswith("NMS_WORKER_")}
    )  # fmt: skip
    assert kafka.bootstrap_list()
    return worker


def check_cli(args: list[str]) -> None:
    build_parser().parse_args(args)  # exits (SystemExit) on an unknown command or option


def services(prefix: str) -> dict[str, dict[str, Any]]:
    return {n: s for n, s in COMPOSE["services"].items() if n.startswith(prefix)}


def http_probe(test: list[str] | str) -> tuple[int, str]:
    """The port and path a health check command fetches on 127.0.0.1."""
    found = re.search(r"http://127\.0\.0\.1:(\d+)(/[a-z/]+)", str(test))
    assert found, test
    return int(found.group(1)), found.group(2)


# --- docker-compose.yml -------------------------------------------------------------------


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


def test_compose_kafka_writes_its_logs_to_its_volume() -> None:
    # Unset, the apache/kafka image writes to /tmp/kafka-logs in the container: recreating it
    # lost every topic, offset and changelog while the mounted volume stayed empty.
    for name, svc in services("kafka-").items():
        log_dirs = svc["environment"]["KAFKA_LOG_DIRS"].split(",")
        mounts = {v.split(":")[1]: v.split(":")[0] for v in svc["volumes"]}
        for d in log_dirs:
            assert d in mounts, f"{name}: {d} is not a mounted volume"
            assert mounts[d] in COMPOSE["volumes"], f"{name}: {mounts[d]} is not a named volume"


def test_compose_kafka_cluster_id_is_a_kafka_uuid() -> None:
    # Kafka formats the storage with it on first start and refuses anything but a UUID in its
    # form: 16 bytes, base64url, no padding (22 characters).
    for svc in services("kafka-").values():
        cluster_id = svc["environment"]["CLUSTER_ID"]
        assert re.fullmatch(r"[A-Za-z0-9_-]{22}", cluster_id), cluster_id
        assert len(base64.urlsafe_b64decode(cluster_id + "==")) == 16


def test_compose_workers_agree_with_settings_and_cli() -> None:
    workers = services("worker-")
    assert len(workers) == 2
    for svc in workers.values():
        env = svc["environment"]
        worker = check_env(env)
        check_cli(svc["command"])
        for host in env["NMS_KAFKA_BOOTSTRAP"].split(","):
            name, port = host.split(":")
            assert name in COMPOSE["services"] and port == "19092"
        assert env["NMS_KAFKA_STORE"] == "rocksdb://"
        assert int(env["NMS_KAFKA_REPLICATION_FACTOR"]) <= len(services("kafka-"))
        assert any(v.endswith(":" + env["NMS_WORKER_DATA_DIR"]) for v in svc["volumes"])
        # Healthy = ready: joined the group and recovered its tables (docker compose up --wait).
        assert http_probe(svc["healthcheck"]["test"]) == (worker.metrics_port, READY_PATH)
        # Built here, never pulled from a registry, at this release's version.
        assert svc["image"] == f"nms-monitor:{VERSION}" and svc["pull_policy"] == "build"
        build = svc["build"]
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
    mount = next(v for v in prom["volumes"] if v.endswith(":/etc/prometheus:ro"))
    assert "--config.file=/etc/prometheus/prometheus.yml" in prom["command"]
    config = yaml.safe_load((ROOT / mount.split(":")[0] / "prometheus.yml").read_text())
    job = next(j for j in config["scrape_configs"] if j["job_name"] == "nms-worker")
    assert job.get("metrics_path", "/metrics") == METRICS_PATH
    targets = job["static_configs"][0]["targets"]
    port = COMPOSE["services"]["worker-1"]["environment"]["NMS_WORKER_METRICS_PORT"]
    assert sorted(targets) == sorted(f"{w}:{port}" for w in services("worker-"))
    assert "healthcheck" in prom


# --- deploy/Dockerfile and .dockerignore ----------------------------------------------------


def test_dockerfile_matches_the_cli_and_settings() -> None:
    assert 'ENTRYPOINT ["nms-monitor"]' in DOCKERFILE
    cmd = re.search(r"^CMD (\[.*\])$", DOCKERFILE, re.M)
    assert cmd is not None
    check_cli(yaml.safe_load(cmd.group(1)))
    env = dict(re.findall(r"(NMS_[A-Z_]+)=(\S+)", DOCKERFILE))
    worker = check_env({**env, "NMS_KAFKA_BOOTSTRAP": "x:9092"})
    assert f"EXPOSE {worker.metrics_port}" in DOCKERFILE
    assert '".[rocksdb]"' in DOCKERFILE  # the rocksdb:// store needs rocksdict
    assert env["NMS_WORKER_DATA_DIR"] in DOCKERFILE.split("VOLUME", 1)[1]
    # Docker's health = liveness: the loop turns and no work is stuck.
    health = DOCKERFILE.split("HEALTHCHECK", 1)[1].split("\nENTRYPOINT", 1)[0]
    assert http_probe(health) == (worker.metrics_port, LIVE_PATH)
    user = re.search(r"^USER (\d+):(\d+)$", DOCKERFILE, re.M)
    assert user is not None and int(user.group(1)) != 0  # numeric: checkable by runAsNonRoot


def dockerignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule for the patterns used here: the last matching line decides (``!``
    re-includes); a pattern matching a directory matches everything under it; ``**/NAME``
    matches NAME at any depth."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for raw in patterns:
        pattern = raw.removeprefix("!").strip("/")
        if pattern.startswith("**/"):
            hit = any(fnmatch.fnmatchcase(part, pattern[3:]) for part in parts)
        else:
            hit = any(fnmatch.fnmatchcase(p, pattern) for p in prefixes)
        if hit:
            ignored = not raw.startswith("!")
    return ignored


def test_dockerignore_sends_only_what_the_image_copies() -> None:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    patterns = [ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")]
    copied = [src for srcs in re.findall(r"^COPY ((?:\S+ )+)\S+$", DOCKERFILE, re.M)
              for src in srcs.split()]  # fmt: skip
    assert set(copied) == {"pyproject.toml", "README.md", "monitor"}
    for src in copied:
        assert not dockerignored(src, patterns), src
        for f in (ROOT / src).rglob("*") if (ROOT / src).is_dir() else []:
            rel = f.relative_to(ROOT).as_posix()
            if "__pycache__" not in rel:
                assert not dockerignored(rel, patterns), rel
    for kept_out in (
        ".venv/bin/python",
        ".git/HEAD",
        "tests/cases/x.json",
        "cohort/events.ndjson",
        "monitor/__pycache__/x.pyc",
        "deploy/k8s-examples/secrets.example.yaml",
    ):
        assert dockerignored(kept_out, patterns), kept_out
    # The demo data is package data now: the image needs no examples/ folder.
    assert "examples" not in DOCKERFILE


# --- deploy/k8s -------------------------------------------------------------------------------


def statefulset() -> dict[str, Any]:
    return next(d for d in K8S if d["kind"] == "StatefulSet")


def pod() -> dict[str, Any]:
    spec: dict[str, Any] = statefulset()["spec"]["template"]["spec"]
    return spec


@pytest.mark.parametrize("kind", ["StatefulSet", "Service", "ConfigMap", "Kustomization"])
def test_k8s_manifests_present(kind: str) -> None:
    assert any(d["kind"] == kind for d in K8S)


def test_k8s_applies_no_secret_and_kustomize_lists_every_manifest() -> None:
    # kubectl apply -f deploy/k8s/ used to apply secret.example.yaml over the real secret.
    assert [d["metadata"]["name"] for d in K8S if d["kind"] == "Secret"] == []
    kustomization = next(d for d in K8S if d["kind"] == "Kustomization")
    others = {p.name for p in K8S_FILES if p.name != "kustomization.yaml"}
    assert set(kustomization["resources"]) == others


def test_k8s_secrets_the_pod_needs_are_exemplified_and_documented() -> None:
    (container,) = pod()["containers"]
    needed = {e["secretRef"]["name"] for e in container["envFrom"] if "secretRef" in e}
    needed |= {v["secret"]["secretName"] for v in pod()["volumes"] if "secret" in v}
    assert needed == {"nms-monitor-kafka", "nms-monitor-kafka-tls"}
    examples = {d["metadata"]["name"]: d for d in EXAMPLES if d["kind"] == "Secret"}
    assert set(examples) == needed
    for name in needed:
        assert f"kubectl create secret generic {name}" in OPERATIONS, name
    # The TLS secret holds the CA file the ConfigMap points the worker at.
    config = next(d for d in K8S if d["kind"] == "ConfigMap")["data"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    tls = "nms-monitor-kafka-tls"
    tls_volume = next(
        v["name"] for v in pod()["volumes"] if v.get("secret", {}).get("secretName") == tls
    )
    ca = config["NMS_KAFKA_SSL_CAFILE"]
    assert ca.startswith(mounts[tls_volume] + "/")
    assert ca.rsplit("/", 1)[1] in examples["nms-monitor-kafka-tls"]["stringData"]


def test_k8s_image_is_this_release_and_never_pulled_from_a_public_registry() -> None:
    (container,) = pod()["containers"]
    image = container["image"]
    name, tag = image.rsplit(":", 1)
    assert tag == VERSION == __version__
    first = name.split("/")[0]
    has_registry = "/" in name and ("." in first or ":" in first or first == "localhost")
    # A bare name with a pull would go to Docker Hub, where nobody publishes this image for us.
    assert container["imagePullPolicy"] == "Never" or has_registry


ALLOWED_VOLUMES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral",
                   "persistentVolumeClaim", "projected", "secret"}  # fmt: skip


def test_k8s_pod_meets_the_restricted_pod_security_standard() -> None:
    spec = pod()
    security = spec["securityContext"]
    assert security["runAsNonRoot"] is True and security.get("runAsUser", 1) != 0
    assert security["seccompProfile"]["type"] in ("RuntimeDefault", "Localhost")
    assert not any(spec.get(k) for k in ("hostNetwork", "hostPID", "hostIPC"))
    for volume in spec["volumes"]:
        assert set(volume) - {"name"} <= ALLOWED_VOLUMES, volume
    for container in spec["containers"]:
        sc = container["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False
        assert "ALL" in sc["capabilities"]["drop"]
        assert set(sc["capabilities"].get("add", [])) <= {"NET_BIND_SERVICE"}
        assert not sc.get("privileged", False) and sc.get("runAsUser", 1) != 0
        assert sc.get("seccompProfile", {"type": "RuntimeDefault"})["type"] != "Unconfined"


def test_k8s_statefulset_agrees_with_code() -> None:
    sts = statefulset()
    config = next(d for d in K8S if d["kind"] == "ConfigMap")["data"]
    secret = next(d for d in EXAMPLES if d["metadata"]["name"] == "nms-monitor-kafka")
    worker = check_env({**config, **secret["stringData"]})
    (container,) = pod()["containers"]
    check_cli(container["args"])
    named = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert named["metrics"] == worker.metrics_port
    for probe, path in (("readinessProbe", READY_PATH), ("livenessProbe", LIVE_PATH)):
        assert container[probe]["httpGet"]["port"] in ("metrics", worker.metrics_port)
        assert container[probe]["httpGet"]["path"] == path
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts["state"] == worker.data_dir
    assert sts["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "state"
    assert config["NMS_KAFKA_STORE"] == "rocksdb://"
    # A read-only root file system: every path the worker writes is a volume.
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert {worker.data_dir, "/tmp"} <= set(mounts.values())
    assert (
        sts["spec"]["selector"]["matchLabels"].items()
        <= sts["spec"]["template"]["metadata"]["labels"].items()
    )
