"""Unreadable records on the state changelog, as a worker recovers them after a takeover: the
worker keeps serving, dead-letters each, and a restart no longer recovers them."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import orjson
from kafka import KafkaAdminClient
from kafka.admin import NewTopic

from monitor.engine import dumps_state, new_state
from monitor.engine.serde import VERSION
from monitor.stream.broker import EmbeddedBroker
from monitor.stream.kafka_io import ensure_topics
from monitor.stream.settings import KafkaSettings
from monitor.stream.stored import pack
from tests.integration.harness import (
    WARD,
    TopicReader,
    WorkerProcess,
    produce,
    replay_alerts,
    replay_order,
    wait_for,
)

CHANGELOG = "nms-monitor-patient-state-changelog"
BAD = {
    b"demo-nms-1": b"\x00\x9fnot a state at all",  # met by a batch (the patient's next event)
    b"ghost-1": pack(  # an unknown format version, met by the tick
        {}, dumps_state(new_state("ghost-1")).replace(f'"v":{VERSION}'.encode(), b'"v":99')
    ),
    b"\xfe\xffnot-utf8": b"junk",  # no event can carry this key: met by the tick
}


def failures(metrics: str) -> float:
    found = re.findall(r"^nms_state_load_failures_total\{[^}]*\} (\S+)$", metrics, re.M)
    return sum(float(v) for v in found)


def test_corrupt_changelog_records_are_dead_lettered_and_the_worker_keeps_serving(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    expected = replay_alerts(WARD)
    ensure_topics(KafkaSettings(bootstrap=broker.bootstrap))
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    try:
        admin.create_topics([NewTopic(CHANGELOG, 4, 1)])
    finally:
        admin.close()
    for key, value in BAD.items():  # one record per batch: recovery reads to the real end
        produce(broker.bootstrap, [(CHANGELOG, key, value)])
    w1 = WorkerProcess(broker.bootstrap, tmp_path, "w1", NMS_WORKER_TICK_INTERVAL_S="1").start()
    alerts = TopicReader(broker.bootstrap, "nms.alerts")
    dead = TopicReader(broker.bootstrap, "nms.deadletter")
    lines = replay_order(WARD.read_bytes().splitlines())
    try:
        wait_for(lambda: "[^Worker]: Ready" in w1.log(), 60, "the worker recovered the changelog")
        produce(broker.bootstrap, [("nms.events", orjson.loads(ln)["patient_id"].encode(), ln)
                                   for ln in lines])  # fmt: skip
        wait_for(lambda: len(alerts.poll()) >= len(expected), 90, "alerts from the worker")
        wait_for(lambda: len(dead.poll()) >= len(BAD), 30, "the three dead letters")
        assert alerts.values() == expected  # the patient started afresh, as replay does
        letters = dead.values()
        assert {d["reason"] for d in letters} == {"state_unreadable"}
        assert {base64.b64decode(d["key_base64"]) for d in letters} == set(BAD)
        for d in letters:
            key = base64.b64decode(d["key_base64"])
            assert base64.b64decode(d["value_base64"]) == BAD[key]
            assert d["topic"] == CHANGELOG and d["offset"] is None and 0 <= d["partition"] < 4
        assert w1.alive, w1.log()[-3000:]
        # Counted once the letters are acknowledged: wait rather than race the batch's last step.
        wait_for(lambda: failures(w1.metrics()) == len(BAD), 10, "the failures counted")
        log = w1.log()
        assert "Traceback" not in log and "unreadable patient state" in log
        assert "demo-nms-1" not in "\n".join(
            ln for ln in log.splitlines() if "[INFO]" in ln or "[WARNING]" in ln
        )
        w1.stop()  # flushes: the bad records are overwritten or deleted on the changelog

        # A worker recovering the changelog now finds nothing unreadable, and keeps ticking.
        w2 = WorkerProcess(broker.bootstrap, tmp_path, "w2", NMS_WORKER_TICK_INTERVAL_S="1")
        w2.start()
        try:
            wait_for(lambda: "[^Worker]: Ready" in w2.log(), 60, "the second worker ready")
            later = {
                **orjson.loads(lines[-1]),
                "event_id": "later-1",
                "time": "2026-03-05T10:00:00Z",
            }
            produce(broker.bootstrap, [("nms.events", later["patient_id"].encode(),
                                        orjson.dumps(later))])  # fmt: skip

            def ticked() -> bool:
                return bool(re.search(r"^nms_ticks_total [1-9]", w2.metrics(), re.M))

            wait_for(ticked, 30, "a tick of the second worker")
            assert failures(w2.metrics()) == 0
            assert len(dead.fresh_values()) == len(BAD)
        finally:
            w2.stop()
    finally:
        alerts.close()
        dead.close()
        w1.stop()
