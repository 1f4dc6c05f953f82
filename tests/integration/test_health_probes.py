"""/healthz on a real worker: not ready until it has joined and recovered, then ready; not live
once a batch is stuck, while /metrics goes on answering (what the old probes looked at)."""

from __future__ import annotations

from pathlib import Path

import orjson

from monitor.stream.broker import EmbeddedBroker
from monitor.stream.kafka_io import ensure_topics
from monitor.stream.settings import KafkaSettings
from tests.integration.harness import WARD, WorkerProcess, produce, replay_order, wait_for

INJECT = Path(__file__).resolve().parent / "inject"


def test_ready_after_joining_and_not_live_while_a_batch_is_stuck(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    ensure_topics(KafkaSettings(bootstrap=broker.bootstrap))
    worker = WorkerProcess(
        broker.bootstrap, tmp_path, "w1", PYTHONPATH=str(INJECT), NMS_TEST_HANG_ON="hang-here",
        NMS_WORKER_STALL_TIMEOUT_S="3",
    ).start()  # fmt: skip
    try:
        wait_for(lambda: worker.get("/healthz/ready")[0] != 0, 30, "the health server")
        # The server answers before the worker can have joined: joining the group alone takes
        # about half the session timeout (4 s) on the embedded broker.
        assert worker.get("/healthz/ready") == (503, "not yet joined the consumer group\n")
        assert worker.get("/healthz/live") == (200, "ok\n")
        wait_for(lambda: worker.get("/healthz/ready")[0] == 200, 60, "ready")
        assert "[^Worker]: Ready" in worker.log()

        line = next(ln for ln in replay_order(WARD.read_bytes().splitlines()))
        stuck = {**orjson.loads(line), "event_id": "hang-here"}
        produce(broker.bootstrap, [("nms.events", stuck["patient_id"].encode(),
                                    orjson.dumps(stuck))])  # fmt: skip
        wait_for(lambda: "this batch hangs" in worker.log(), 30, "the stuck batch")
        wait_for(lambda: worker.get("/healthz/live")[0] == 503, 20, "liveness to fail")
        status, why = worker.get("/healthz/live")
        assert status == 503 and why.startswith("batch in progress for "), why
        assert worker.get("/healthz/ready")[0] == 503
        status, metrics = worker.get("/metrics")
        assert status == 200 and "nms_events_total" in metrics  # /metrics saw nothing wrong
        assert worker.alive
    finally:
        worker.stop()
