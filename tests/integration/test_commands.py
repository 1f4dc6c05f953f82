"""The Kafka commands as a user runs them: run (embedded broker, Ctrl-C), send, alerts; and the
tick timer ending a snooze with no new event."""

from __future__ import annotations

import datetime as dt
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import orjson

from monitor.stream.broker import EmbeddedBroker, free_port
from monitor.stream.kafka_io import ensure_topics
from monitor.stream.settings import KafkaSettings
from monitor.stream.topics import Topics
from tests.integration.harness import (
    ROOT,
    WARD,
    TopicReader,
    WorkerProcess,
    produce,
    replay_alerts,
    replay_order,
    wait_for,
)

DIRTY = ROOT / "examples" / "dirty.ndjson"
CLI = [sys.executable, "-m", "monitor.cli.main"]


def listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_run_starts_embedded_broker_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    port = free_port()
    env = {
        "NMS_WORKER_DATA_DIR": str(tmp_path),
        "NMS_WORKER_METRICS_PORT": "0",
        "NMS_WEB_PORT": "0",
        "PATH": "/usr/bin:/bin",
    }
    log = open(tmp_path / "run.log", "wb")  # noqa: SIM115
    # --loglevel info: the worker's "Ready" line (run shows only warnings by default).
    proc = subprocess.Popen([*CLI, "run", "--embedded-port", str(port), "--loglevel", "info"],
                            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)  # fmt: skip
    try:
        wait_for(lambda: listening(port), 30, "the embedded broker on the pinned port")
        wait_for(lambda: b"[^Worker]: Ready" in (tmp_path / "run.log").read_bytes(), 60, "worker")
        text = (tmp_path / "run.log").read_text()
        assert f"  broker:     127.0.0.1:{port} (embedded" in text
        assert "  dashboard:  http://127.0.0.1:" in text and "nms-monitor send --bootstrap" in text
        proc.send_signal(signal.SIGINT)  # Ctrl-C
        proc.wait(60)
        assert not listening(port), "the embedded broker outlived the command"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        log.close()


def test_send_and_alerts_commands(broker: EmbeddedBroker, tmp_path: Path) -> None:
    expected = replay_alerts(WARD)
    ensure_topics(KafkaSettings(bootstrap=broker.bootstrap))
    worker = WorkerProcess(broker.bootstrap, tmp_path, "w1").start()
    try:
        # In replay's order, so the worker sees what replay sees; then the dirty file, whose
        # valid lines are redeliveries of ward events.
        ordered = tmp_path / "ward-ordered.ndjson"
        ordered.write_bytes(b"\n".join(replay_order(WARD.read_bytes().splitlines())) + b"\n")
        sent = subprocess.run(
            [*CLI, "send", "--bootstrap", broker.bootstrap, "--single-topic", str(ordered),
             str(DIRTY)],
            capture_output=True, text=True, timeout=120, check=False, cwd=ROOT,
        )  # fmt: skip
        assert sent.returncode == 0, sent.stderr
        assert "dirty.ndjson:3: invalid_json" in sent.stderr, sent.stderr
        # Contract errors are refused by send (4); the implausible heart rate of 0 is a valid
        # event that the engine refuses, so it is sent and dead-lettered by the worker.
        assert "events sent, 4 lines rejected" in sent.stderr

        def alerts() -> list[dict[str, object]]:
            out = subprocess.run(
                [*CLI, "alerts", "--idle", "1"], capture_output=True, timeout=60, check=True,
                cwd=ROOT, env={**os.environ, "NMS_KAFKA_BOOTSTRAP": broker.bootstrap},
            )  # fmt: skip
            return [orjson.loads(ln) for ln in out.stdout.splitlines()]

        wait_for(lambda: len(alerts()) >= len(expected), 90, "alerts via the alerts command", 1.0)
        assert alerts() == expected
    finally:
        worker.stop()


def test_tick_timer_ends_a_snooze_without_new_events(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    ensure_topics(KafkaSettings(bootstrap=broker.bootstrap))
    worker = WorkerProcess(broker.bootstrap, tmp_path, "w1", NMS_WORKER_TICK_INTERVAL_S="1").start()
    alerts = TopicReader(broker.bootstrap, "nms.alerts")
    try:
        lines = replay_order(WARD.read_bytes().splitlines())
        produce(broker.bootstrap, [("nms.events", orjson.loads(ln)["patient_id"].encode(), ln)
                                   for ln in lines])  # fmt: skip
        wait_for(
            lambda: any(v["priority"] == "high" for v in alerts.fresh_values()), 90, "high alert"
        )
        alert = alerts.fresh_values()[-1]
        last_event = max(orjson.loads(ln)["time"] for ln in lines)
        until = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(_epoch(last_event) + 5))
        snooze = {"event_id": "snooze-1", "patient_id": "demo-nms-1", "kind": "ack",
                  "time": last_event, "alert_id": alert["alert_id"], "action": "snooze",
                  "by": "rn-1", "until": until}  # fmt: skip
        produce(broker.bootstrap, [("nms.acks", b"demo-nms-1", orjson.dumps(snooze))])
        # Stream time moves on with the wall clock from the last event: the snooze ends ~5 s
        # later, and only the timer can notice, since no further event arrives.
        wait_for(
            lambda: any(v.get("reason") == "snooze ended" for v in alerts.fresh_values()),
            60, "the snooze ending by the timer",
        )  # fmt: skip
        kinds = [v["transition"] for v in alerts.fresh_values()][-2:]
        assert kinds == ["snoozed", "updated"]
    finally:
        alerts.close()
        worker.stop()


def _epoch(iso: str) -> float:
    import datetime as dt  # noqa: PLC0415

    return dt.datetime.fromisoformat(iso).timestamp()


def test_simulate_to_kafka_publishes_in_arrival_order_paced(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    """A 1-day cohort at 40,000 x real time: every event on its kind's topic, in the file's
    (arrival) order per topic and patient, and paced: about 2 s, not as fast as possible."""
    ensure_topics(KafkaSettings(bootstrap=broker.bootstrap))
    started = time.monotonic()
    done = subprocess.run(
        [*CLI, "simulate", "--patients", "3", "--days", "1", "--seed", "5", "--out", str(tmp_path),
         "--to-kafka", "--speedup", "40000", "--bootstrap", broker.bootstrap],
        capture_output=True, text=True, timeout=180, check=False, cwd=ROOT,
    )  # fmt: skip
    elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    lines = (tmp_path / "events.ndjson").read_bytes().splitlines()
    assert f"send: {len(lines)} events sent, 0 lines rejected" in done.stderr
    times = [orjson.loads(x)["time"] for x in lines]
    span = (dt_parse(max(times)) - dt_parse(min(times))) / 40000
    assert elapsed >= 0.8 * span, (elapsed, span)
    expected: dict[tuple[str, str], list[str]] = {}
    for x in lines:
        o = orjson.loads(x)
        expected.setdefault((o["kind"], o["patient_id"]), []).append(o["event_id"])
    got: dict[tuple[str, str], list[str]] = {}
    for kind in ("vital", "lab", "medication", "assessment", "patient"):
        reader = TopicReader(broker.bootstrap, Topics("nms").for_kind(kind))
        want = sum(len(v) for (k, _), v in expected.items() if k == kind)
        try:
            wait_for(lambda r=reader, n=want: len(r.poll()) >= n, 60, f"{kind} events")
            for o in reader.values():
                got.setdefault((kind, o["patient_id"]), []).append(o["event_id"])
        finally:
            reader.close()
    assert got == expected


def dt_parse(value: str) -> float:
    return dt.datetime.fromisoformat(value).timestamp()
