"""The forwarder's throughput and latency to a local receiver. Prints one JSON object.

    python benchmarks/forward.py [--backlog 20000] [--rate 1000] [--seconds 15]

On the embedded broker, one ``nms-monitor forward`` process delivers to a generic webhook (the
transition JSON, HMAC-signed) served by a separate aiohttp process on 127.0.0.1 that records
when each transition arrives. Synthetic transitions (tests/web/factory.py: about 5 KB of JSON
each, trends included), ten per alert with rising sequence numbers, so the forwarder's lanes
keep each alert's order. Two phases, each on its own topic prefix and consumer group:

- throughput: ``--backlog`` transitions are on ``nms.alerts`` before the forwarder starts;
  ``transitions_per_s`` = transitions / (last arrival - first arrival) at the receiver;
- latency: ``--rate`` transitions per second for ``--seconds``, produced with a paced
  producer (librdkafka); latency = arrival at the receiver - the record's Kafka timestamp (set
  by the producer when it sends; one machine, one clock): p50, p99, max; and, as a check on
  the producer, from the broker's acknowledgement of the record to its arrival (the record is
  on the topic by then at the latest).

Targets (issue 16): >= 1,000 transitions/s; p99 < 500 ms. Also reported: the forwarder's CPU
seconds per 1,000 transitions, and the machine's load average (other work shares the 2 cores).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web
from confluent_kafka import Producer
from kafka import KafkaConsumer, TopicPartition

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from monitor.stream.broker import EmbeddedBroker, free_port
from monitor.stream.kafka_io import ensure_topics
from monitor.stream.settings import KafkaSettings
from tests.integration.harness import wait_for
from tests.web.factory import T0, alert

PER_ALERT = 10


def serve(port: int) -> None:
    """The receiver (run in its own process): records (transition_id, arrival) per POST."""
    seen: list[tuple[str, float]] = []

    async def hook(request: web.Request) -> web.Response:
        await request.read()
        seen.append((request.headers["X-NMS-Transition-Id"], time.time()))
        return web.Response(status=202)

    async def stats(request: web.Request) -> web.Response:
        return web.Response(body=orjson.dumps(seen), content_type="application/json")

    app = web.Application()
    app.add_routes([web.post("/hook", hook), web.get("/stats", stats)])
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def transitions(prefix: str, n: int) -> list[tuple[bytes, bytes, str]]:
    """(key, value, transition_id): ``n`` transitions, ``PER_ALERT`` per alert, in order."""
    template = alert("bench", "high", "updated", 1, at=T0).model_dump()
    out = []
    for i in range(n):
        patient, seq = f"{prefix}-{i // PER_ALERT}", i % PER_ALERT + 1
        data = {**template, "patient_id": patient, "alert_id": f"nms-{prefix}-{i // PER_ALERT}",
                "transition_id": f"{prefix}-{i}", "sequence": seq}  # fmt: skip
        out.append((patient.encode(), orjson.dumps(data), data["transition_id"]))
    return out


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stats(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=30) as r:
        return dict(orjson.loads(r.read()))


class Forwarder:
    def __init__(self, bootstrap: str, tmp: Path, prefix: str, receiver: int) -> None:
        (tmp / "hmac").write_text("benchmark-hmac-secret\n")
        (tmp / f"{prefix}.toml").write_text(
            f'[receivers.hook]\nkind = "webhook"\nurl = "http://127.0.0.1:{receiver}/hook"\n'
            f'secret_file = "{tmp / "hmac"}"\n[routes]\nhigh = ["hook"]\nmedium = ["hook"]\n'
            'low = ["hook"]\n'
        )
        self.port = free_port()
        env = {**os.environ, "NMS_KAFKA_BOOTSTRAP": bootstrap, "NMS_KAFKA_TOPIC_PREFIX": prefix,
               "NMS_FORWARD_RECEIVERS_FILE": str(tmp / f"{prefix}.toml"),
               "NMS_FORWARD_FIRST_START": "earliest", "NMS_FORWARD_GROUP": f"{prefix}-forward",
               "NMS_FORWARD_METRICS_PORT": str(self.port)}  # fmt: skip
        self.log = open(tmp / f"{prefix}-forward.log", "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "monitor.cli.main", "forward", "--loglevel", "warning"],
            env=env, cwd=ROOT, stdout=self.log, stderr=self.log,
        )  # fmt: skip

    def ready(self) -> bool:
        try:
            url = f"http://127.0.0.1:{self.port}/healthz/ready"
            with urllib.request.urlopen(url, timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        self.log.close()


def produce(
    bootstrap: str, topic: str, records: list[tuple[bytes, bytes, str]], rate: float | None = None
) -> dict[str, float]:
    """Send (paced at ``rate`` per second, else at once) with librdkafka (confluent-kafka: its
    own threads, so the record timestamps are the moment of sending), murmur2 as the worker's
    producers; returns transition_id -> the wall time the broker acknowledged it."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 1, "acks": "all",
                         "partitioner": "murmur2_random", "enable.idempotence": False})  # fmt: skip
    acked: dict[str, float] = {}

    def done(tid: str) -> Callable[[Any, Any], None]:
        def on_delivery(err: Any, msg: Any) -> None:
            if err is None:
                acked[tid] = time.time()

        return on_delivery

    start = time.monotonic()
    for i, (key, value, tid) in enumerate(records):
        if rate:
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        producer.produce(topic, value, key, on_delivery=done(tid))
        producer.poll(0)
    producer.flush(60)
    return acked


def wait_all(port: int, ids: list[str], timeout: float) -> dict[str, float]:
    got: dict[str, float] = {}

    def done() -> bool:
        got.update(stats(port))
        return all(t in got for t in ids)

    wait_for(done, timeout, "every transition at the receiver", every=0.5)
    return got


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--backlog", type=int, default=20_000)
    ap.add_argument("--rate", type=float, default=1000.0)
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--receiver", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.receiver:
        serve(args.receiver)
        return
    port = free_port()
    receiver = subprocess.Popen([sys.executable, __file__, "--receiver", str(port)])
    result: dict[str, Any] = {"load_average_1m_before": round(os.getloadavg()[0], 2)}
    try:
        wait_for(lambda: _answers(port), 30, "the receiver")
        with EmbeddedBroker() as broker, tempfile.TemporaryDirectory() as d:
            tmp = Path(d)
            # Throughput: a backlog, then the forwarder.
            prefix = "tput"
            ensure_topics(KafkaSettings(bootstrap=broker.bootstrap, topic_prefix=prefix))
            backlog = transitions(prefix, args.backlog)
            produce(broker.bootstrap, f"{prefix}.alerts", backlog)
            fwd = Forwarder(broker.bootstrap, tmp, prefix, port)
            started = cpu = 0.0
            try:
                wait_for(fwd.ready, 90, "the forwarder ready")
                started, cpu = time.time(), cpu_seconds(fwd.proc.pid)
                got = wait_all(port, [t for _, _, t in backlog], 600)
                cpu = cpu_seconds(fwd.proc.pid) - cpu
            finally:
                fwd.stop()
            arrivals = sorted(got[t] for _, _, t in backlog)
            span = arrivals[-1] - arrivals[0]
            result.update(
                backlog=args.backlog,
                transitions_per_s=round(args.backlog / span),
                backlog_seconds=round(arrivals[-1] - started, 2),
                forwarder_cpu_s_per_1000=round(cpu / args.backlog * 1000, 3),
            )
            # Latency: a paced stream from the broker's timestamp to the receiver.
            prefix = "lat"
            ensure_topics(KafkaSettings(bootstrap=broker.bootstrap, topic_prefix=prefix))
            fwd = Forwarder(broker.bootstrap, tmp, prefix, port)
            try:
                wait_for(fwd.ready, 90, "the forwarder ready")
                paced = transitions(prefix, int(args.rate * args.seconds))
                sent = time.time()
                acked = produce(broker.bootstrap, f"{prefix}.alerts", paced, args.rate)
                offered = len(paced) / (time.time() - sent)
                got = wait_all(port, [t for _, _, t in paced], 120)
                stamps = _timestamps(broker.bootstrap, f"{prefix}.alerts")
            finally:
                fwd.stop()
            latencies = sorted((got[t] - stamps[t]) * 1000 for _, _, t in paced)
            from_ack = sorted((got[t] - acked[t]) * 1000 for _, _, t in paced)
            result.update(
                offered_per_s=round(offered),
                latency_ms_p50=round(statistics.median(latencies), 1),
                latency_ms_p99=round(percentile(latencies, 0.99), 1),
                latency_ms_max=round(latencies[-1], 1),
                from_broker_ack_ms_p50=round(statistics.median(from_ack), 1),
                from_broker_ack_ms_p99=round(percentile(from_ack, 0.99), 1),
                latency_transitions=len(latencies),
            )
    finally:
        receiver.terminate()
        receiver.wait(10)
    result["load_average_1m_after"] = round(os.getloadavg()[0], 2)
    result["targets"] = {"transitions_per_s": ">= 1000", "latency_ms_p99": "< 500"}
    print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())


def percentile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def _answers(port: int) -> bool:
    try:
        stats(port)
        return True
    except OSError:
        return False


def _timestamps(bootstrap: str, topic: str) -> dict[str, float]:
    """transition_id -> the record's Kafka timestamp (seconds)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    out: dict[str, float] = {}
    try:
        tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        idle = time.monotonic()
        while time.monotonic() - idle < 2.0:
            for records in consumer.poll(timeout_ms=200).values():
                idle = time.monotonic()
                for r in records:
                    out[orjson.loads(r.value)["transition_id"]] = r.timestamp / 1000.0
    finally:
        consumer.close()
    return out


if __name__ == "__main__":
    asyncio.set_event_loop_policy(None)
    main()
