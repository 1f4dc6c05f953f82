"""Prometheus for real: Debian's ``promtool check metrics`` passes on the /metrics of every
process (worker, forwarder, dashboard, HL7 and FHIR listeners) as they serve it, and Debian's
``prometheus``, scraping a running worker and forwarder, answers its HTTP API with the counts of
the traffic sent, with the service's alerting rules loaded and quiet.

One broker and one set of processes for the module (two cores, shared with other work)."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest

from monitor.stream.broker import EmbeddedBroker, free_port
from tests.integration.browser import DashboardProcess
from tests.integration.harness import ROOT, TopicReader, WorkerProcess, produce, wait_for
from tests.integration.listeners import ListenerProcess
from tests.integration.programs import (
    Forwarder,
    Prometheus,
    Receiver,
    http_get,
    needs_prometheus,
)
from tests.stream.shellkit import alerting, event

VITALS = 30
INVALID = 4


@dataclass
class Service:
    bootstrap: str
    worker: WorkerProcess
    forwarder: Forwarder
    dashboard: DashboardProcess
    hl7: ListenerProcess
    hl7_metrics: int
    fhir: ListenerProcess
    hook: Receiver
    tmp: Path


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    tmp = tmp_path_factory.mktemp("prometheus")
    (tmp / "hmac").write_text("hmac-secret-for-the-test\n")
    hook = Receiver().up()
    (tmp / "receivers.toml").write_text(f"""
[receivers.hook]
kind = "webhook"
url = "{hook.url}/hook"
secret_file = "{tmp / "hmac"}"
[routes]
high = ["hook"]
medium = ["hook"]
low = ["hook"]
""")
    hl7_metrics = free_port()
    with EmbeddedBroker() as broker:
        b = broker.bootstrap
        worker = WorkerProcess(b, tmp, "worker", NMS_WORKER_TICK_INTERVAL_S="2")
        forwarder = Forwarder(
            b,
            tmp,
            "forwarder",
            NMS_FORWARD_FIRST_START="earliest",
            NMS_FORWARD_RECEIVERS_FILE=str(tmp / "receivers.toml"),
        )
        dashboard = DashboardProcess(b, tmp, "dashboard")
        hl7 = ListenerProcess("hl7-listen", b, tmp, NMS_HL7_METRICS_PORT=str(hl7_metrics))
        fhir = ListenerProcess("fhir-listen", b, tmp)
        started: list[object] = []
        try:
            for p in (worker, forwarder):
                p.start()
                started.append(p)
            for listener in (hl7, fhir):
                listener.start(timeout=90)
                started.append(listener)
            dashboard.start()
            started.append(dashboard)
            wait_for(lambda: worker.get("/healthz/ready")[0] == 200, 90, "the worker ready")
            wait_for(forwarder.ready, 90, "the forwarder ready")
            yield Service(b, worker, forwarder, dashboard, hl7, hl7_metrics, fhir, hook, tmp)
        finally:
            for p in reversed(started):
                p.stop()  # type: ignore[attr-defined]
            hook.down()


def promtool_check(text: bytes) -> str:
    out = subprocess.run(
        ["promtool", "check", "metrics"], input=text, capture_output=True, check=False
    )
    return (out.stdout + out.stderr).decode() if out.returncode else ""


@needs_prometheus
def test_promtool_passes_on_every_process_metrics(service: Service) -> None:
    pages = {
        "worker": f"http://127.0.0.1:{service.worker.metrics_port}/metrics",
        "forwarder": f"http://127.0.0.1:{service.forwarder.metrics_port}/metrics",
        "dashboard": f"{service.dashboard.url}/metrics",
        "hl7-listen": f"http://127.0.0.1:{service.hl7_metrics}/metrics",
        "fhir-listen": f"http://127.0.0.1:{service.fhir.port}/metrics",
    }
    for name, url in pages.items():
        status, body = http_get(url)
        assert status == 200 and b"# HELP nms_" in body, (name, status)
        assert promtool_check(body) == "", f"{name}: {promtool_check(body)}"


def known_traffic(prefix: str) -> list[tuple[str, bytes | None, bytes]]:
    """VITALS heart rates of one patient, INVALID lines that are not JSON, and the three events
    that open an alert for another patient (which then escalates: two transitions)."""
    pid = f"{prefix}-vitals"
    out: list[tuple[str, bytes | None, bytes]] = [
        (
            "nms.events",
            pid.encode(),
            event(pid, "vital", f"{pid}-{i}", i / 4, code="heart_rate", value=80 + i, unit="/min"),
        )
        for i in range(VITALS)
    ]
    out += [("nms.events", pid.encode(), b"{not json") for _ in range(INVALID)]
    out += [("nms.events", m.key, m.value or b"") for m in alerting(f"{prefix}-alert")]
    return out


@needs_prometheus
def test_prometheus_scrapes_the_worker_and_its_api_answers_the_traffic_sent(
    service: Service,
) -> None:
    rules = ROOT / "deploy" / "prometheus" / "rules.yml"
    prom = Prometheus(
        service.tmp,
        f"""
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: ["{rules}"]
scrape_configs:
  - job_name: nms-worker
    static_configs: [{{targets: ["127.0.0.1:{service.worker.metrics_port}"]}}]
  - job_name: nms-forward
    static_configs: [{{targets: ["127.0.0.1:{service.forwarder.metrics_port}"]}}]
""",
    )
    alerts = TopicReader(service.bootstrap, "nms.alerts")
    prefix = f"prom{uuid.uuid4().hex[:6]}"
    try:
        prom.start()
        wait_for(lambda: prom.value('up{job="nms-worker"}') == 1.0, 60, "the worker scraped")
        base = {  # the module's processes are shared: count from here
            key: prom.value(f'sum({key}{{job="nms-worker"}})') or 0.0
            for key in ("nms_events_total", "nms_alert_transitions_total")
        }
        assert base["nms_events_total"] == 0, "this test counts from a worker that saw nothing"
        produce(service.bootstrap, known_traffic(prefix))

        def value(expr: str) -> float:
            return prom.value(expr) or 0.0

        applied = 'sum(nms_events_total{job="nms-worker", outcome="applied"})'
        wait_for(lambda: value(applied) >= VITALS + 3, 60, "Prometheus to see the events")
        assert value(applied) == VITALS + 3
        assert value('sum(nms_events_total{job="nms-worker"})') - base["nms_events_total"] == (
            VITALS + 3 + INVALID
        )
        assert value('nms_rejected_total{job="nms-worker", reason="invalid_json"}') == INVALID
        assert value('nms_events_total{job="nms-worker", outcome="rejected"}') == INVALID
        assert value('nms_input_events_total{job="nms-worker", kind="vital"}') == VITALS
        assert value('nms_input_events_total{job="nms-worker", kind="assessment"}') == 2
        assert value('nms_input_events_total{job="nms-worker", kind="medication"}') == 1

        wait_for(lambda: len(alerts.fresh_values()) >= 2, 30, "two transitions published")
        published = [a for a in alerts.values() if a["patient_id"] == f"{prefix}-alert"]
        assert [a["transition"] for a in published] == ["opened", "escalated"]
        transitions = 'sum(nms_alert_transitions_total{job="nms-worker"})'
        wait_for(
            lambda: value(transitions) - base["nms_alert_transitions_total"] == 2,
            30,
            "the transitions counted",
        )
        assert value('nms_alert_transitions_total{transition="escalated", priority="medium"}') == 1
        assert value("nms_arrival_to_alert_seconds_count") == 2
        assert value("histogram_quantile(0.99, nms_arrival_to_alert_seconds_bucket)") < 60

        # Gauges: open alerts at the ticks, lag of the partitions processed, the probes.
        wait_for(lambda: value('nms_alerts_active{priority="medium"}') == 1, 30, "open alert")
        wait_for(
            lambda: (
                value('max(nms_consumer_lag_messages{job="nms-worker"})') == 0
                and value('count(nms_consumer_lag_messages{job="nms-worker"})') >= 4
            ),
            30,
            "the lag of every input partition, all processed",
        )
        assert (
            value('nms_ready{job="nms-worker"}') == 1 and value('nms_live{job="nms-worker"}') == 1
        )

        # The forwarder delivered both transitions to the webhook and says so.
        delivered = 'nms_forward_deliveries_total{receiver="hook", outcome="delivered"}'
        wait_for(lambda: value(delivered) == 2, 30, "the forwarder's deliveries")
        bodies = [orjson.loads(b) for b in service.hook.bodies()]
        assert sorted(b["transition"] for b in bodies) == ["escalated", "opened"]

        # The service's rules load in a real server, and none fires on a healthy service.
        status, body = http_get(f"{prom.url}/api/v1/rules")
        groups = orjson.loads(body)["data"]["groups"]
        assert status == 200 and {r["health"] for g in groups for r in g["rules"]} == {"ok"}
        assert prom.query("ALERTS") == []  # neither firing nor pending
    finally:
        alerts.close()
        prom.stop()
