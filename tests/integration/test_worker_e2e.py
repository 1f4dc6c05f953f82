"""End to end against the real broker: a worker process, kafka-python and kcat as clients."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import orjson
import pytest

from monitor.stream.broker import EmbeddedBroker
from monitor.stream.kafka_io import ensure_topics
from monitor.stream.settings import KafkaSettings
from tests.builders import at
from tests.integration.harness import (
    STORES,
    WARD,
    TopicReader,
    WorkerProcess,
    produce,
    replay_alerts,
    replay_order,
    store_env,
    wait_for,
)

BAD_MESSAGES: list[tuple[str, bytes | None, bytes, str]] = [
    ("nms.vitals", b"demo-nms-1", b"{this is not json", "invalid_json"),
    ("nms.vitals", b"demo-nms-1", orjson.dumps({"event_id": "b2", "patient_id": "demo-nms-1",
     "kind": "vital", "time": at(1), "code": "heart_rate", "value": "fast", "unit": "/min"}),
     "invalid_field"),
    ("nms.events", b"demo-nms-1", orjson.dumps({"event_id": "b3", "patient_id": "demo-nms-1",
     "kind": "ventilator", "time": at(1)}), "unknown_kind"),
    ("nms.labs", b"demo-nms-1", orjson.dumps({"event_id": "b4", "patient_id": "demo-nms-1",
     "kind": "lab", "time": "2026-03-02T09:00:00", "code": "ck", "value": 100, "unit": "U/L"}),
     "naive_timestamp"),
    ("nms.vitals", b"demo-nms-1", orjson.dumps({"event_id": "b5", "patient_id": "demo-nms-1",
     "kind": "vital", "time": "2026-03-02T09:00:00Z", "code": "temperature", "value": 51,
     "unit": "Cel"}), "implausible_value"),
    ("nms.vitals", b"demo-nms-1", b'{"pad": "' + b"x" * 200_000 + b'"}', "too_large"),
    ("nms.vitals", b"someone-else", orjson.dumps({"event_id": "b7", "patient_id": "demo-nms-1",
     "kind": "vital", "time": "2026-03-02T09:00:00Z", "code": "spo2", "value": 97, "unit": "%"}),
     "key_mismatch"),
]  # fmt: skip


def _ward_records(topic: str = "nms.events") -> list[tuple[str, bytes | None, bytes]]:
    lines = replay_order(WARD.read_bytes().splitlines())
    return [(topic, orjson.loads(ln)["patient_id"].encode(), ln) for ln in lines]


@pytest.mark.parametrize("store", STORES)
def test_worker_alerts_equal_replay_and_bad_input_is_dead_lettered(
    broker: EmbeddedBroker, tmp_path: Path, store: str
) -> None:
    expected = replay_alerts(WARD)
    assert len(expected) >= 4
    ensure_topics(KafkaSettings(bootstrap=broker.bootstrap))
    worker = WorkerProcess(broker.bootstrap, tmp_path, "w1", **store_env(store)).start()
    alerts = TopicReader(broker.bootstrap, "nms.alerts")
    dead = TopicReader(broker.bootstrap, "nms.deadletter")
    try:
        records = _ward_records()
        half = len(records) // 2
        # Bad messages in the middle of the stream: the good ones around them still count.
        bad = [(t, k, v) for t, k, v, _ in BAD_MESSAGES]
        produce(broker.bootstrap, records[:half] + bad + records[half:])
        wait_for(lambda: len(alerts.poll()) >= len(expected), 90, "alerts from the worker")
        wait_for(lambda: len(dead.poll()) >= len(BAD_MESSAGES), 30, "dead letters")
        assert alerts.values() == expected
        reasons = sorted(orjson.loads(r.value)["reason"] for r in dead.records)
        assert reasons == sorted(r for *_, r in BAD_MESSAGES)
        for r in dead.records:
            env = orjson.loads(r.value)
            assert env["topic"].startswith("nms.") and env["offset"] >= 0 and env["value_sha256"]
        assert worker.alive, worker.log()[-3000:]
        # The alert's key is the patient id, and the transition id travels as a header.
        first = alerts.records[0]
        assert first.key == b"demo-nms-1"
        assert dict(first.headers)["transition_id"] == expected[0]["transition_id"].encode()
        assert "demo-nms-1" not in _info_lines(worker.log())  # no patient ids in INFO logs
        metrics = worker.metrics()
        assert 'nms_rejected_total{reason="invalid_json"} 1.0' in metrics
        assert 'nms_rejected_total{reason="key_mismatch"} 1.0' in metrics
        applied = f'nms_events_total{{outcome="applied"}} {float(len(records))}'
        assert applied in metrics, [ln for ln in metrics.splitlines() if "events_total" in ln]
        assert 'nms_alert_transitions_total{priority="high",transition="escalated"}' in metrics
        assert "demo-nms-1" not in metrics and "demo-quiet-1" not in metrics
    finally:
        alerts.close()
        dead.close()
        worker.stop()


def _info_lines(log: str) -> str:
    return "\n".join(line for line in log.splitlines() if "[INFO]" in line)


def kcat_env(tmp: Path) -> dict[str, str]:
    """Debian bookworm's kcat links librdkafka 2.0.2, which cannot parse the embedded broker's
    ApiVersions v3 response ("Protocol read buffer underflow for ApiVersion v3 at 274/279").
    Run the same Debian kcat binary against the newer librdkafka (same stable ABI) that the
    confluent-kafka wheel ships."""
    import confluent_kafka  # noqa: PLC0415

    libs = Path(confluent_kafka.__file__).resolve().parent.parent / "confluent_kafka.libs"
    lib = next(libs.glob("librdkafka-*.so.1"))
    (tmp / "lib").mkdir(exist_ok=True)
    (tmp / "lib" / "librdkafka.so.1").symlink_to(lib)
    return {**os.environ, "LD_LIBRARY_PATH": str(tmp / "lib")}


def test_kcat_produces_events_and_consumes_alerts(broker: EmbeddedBroker, tmp_path: Path) -> None:
    assert shutil.which("kcat"), "kcat is a test requirement: apt-get install kcat (.ci/run does)"
    env = kcat_env(tmp_path)
    expected = replay_alerts(WARD)
    ensure_topics(KafkaSettings(bootstrap=broker.bootstrap))
    worker = WorkerProcess(broker.bootstrap, tmp_path, "w1").start()
    try:
        payload = b"".join(k + b"\t" + v + b"\n" for _, k, v in _ward_records() if k is not None)
        # kcat's default partitioner (crc32) differs from Faust/Java (murmur2): say so.
        subprocess.run(
            ["kcat", "-P", "-b", broker.bootstrap, "-t", "nms.events", "-K", "\t",
             "-X", "topic.partitioner=murmur2_random"],
            input=payload, check=True, timeout=60, env=env,
        )  # fmt: skip

        def consumed() -> list[bytes]:
            out = subprocess.run(
                ["kcat", "-C", "-b", broker.bootstrap, "-t", "nms.alerts", "-o", "beginning",
                 "-e", "-q", "-f", "%k\t%s\n"],
                capture_output=True, check=True, timeout=60, env=env,
            )  # fmt: skip
            return [ln for ln in out.stdout.splitlines() if ln]

        wait_for(lambda: len(consumed()) >= len(expected), 90, "alerts via kcat", every=1.0)
        rows = consumed()
        assert {r.split(b"\t", 1)[0] for r in rows} == {b"demo-nms-1"}
        assert [orjson.loads(r.split(b"\t", 1)[1]) for r in rows] == expected
    finally:
        worker.stop()
