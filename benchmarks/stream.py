"""Streaming throughput, latency, changelog volume and fail-over time. Prints one JSON object.

    python benchmarks/stream.py [--patients 1000] [--events 200000]

On one embedded broker it pre-fills the input topics with a mixed stream (monitor numerics every
minute, temperatures, doses, labs, charting, 0.5 % malformed messages), then measures on those
same topics:
- bare_faust_events_per_second: a Faust agent that only counts (Faust's ceiling here);
- naive_faust_events_per_second: group_by repartition + one table write per message;
- worker_events_per_second: one nms-monitor worker (engine, table, alerts, dead letters, ticks);
- latency_ms_p50/_p95/_p99: event-to-alert latency at a steady 1,000 events/s: probe
  acknowledgements for open alerts, each answered by an 'acknowledged' transition. The feed's
  producer uses librdkafka's default linger (5 ms; ``--producer-linger-ms``), counted in the
  latency: with 0, every event is a produce request of its own, and on two cores the broker's
  CPU for those (about 80 % of a core against 30 %), not the worker, set the tail. The broker's
  CPU share during this phase is reported as broker_cpu_steady;
- changelog_bytes_per_event: bytes the worker wrote to its table changelog per input event;
- takeover_seconds: after SIGKILL of one of two workers, until every probe patient is answered.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import Consumer, Producer

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.streamgen import START, ward_events
from monitor.stream.broker import EmbeddedBroker, free_port
from monitor.stream.kafka_io import ensure_topics
from monitor.stream.settings import KafkaSettings
from monitor.stream.topics import Topics

TOPICS = Topics("nms")
PROBES = 48
GROUP = "bench-worker"


def iso(minutes: float) -> str:
    return (START + dt.timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def probe_setup() -> list[dict[str, Any]]:
    """Probe patients: exposed and confused at the start, so each has an open alert to ack."""
    out = []
    for i in range(PROBES):
        pid = f"probe-{i:03d}"
        base = {"patient_id": pid, "time": iso(0)}
        out += [
            {
                **base,
                "event_id": f"{pid}-1",
                "kind": "medication",
                "drug": "haloperidol",
                "action": "administered",
                "dose": 5,
                "route": "im",
            },
            {
                **base,
                "event_id": f"{pid}-2",
                "kind": "assessment",
                "code": "mental_status",
                "present": True,
            },
        ]
    return out


def producer(bootstrap: str, linger_ms: int) -> Producer:
    # murmur2: the partitioner Faust and the Java client use, so keys meet their table state.
    return Producer(
        {
            "bootstrap.servers": bootstrap,
            "partitioner": "murmur2_random",
            "linger.ms": linger_ms,
            "queue.buffering.max.messages": 2_000_000,
        }
    )


def topic_for(e: dict[str, Any]) -> str:
    return (
        TOPICS.for_kind(e["kind"])
        if e["kind"] in ("vital", "lab", "medication")
        else TOPICS.name("events")
    )


def prefill(bootstrap: str, events: list[dict[str, Any]]) -> int:
    prod = producer(bootstrap, 20)
    bad = 0
    for i, e in enumerate(events):
        prod.produce(topic_for(e), key=e["patient_id"].encode(), value=orjson.dumps(e))
        if i % 200 == 199:  # 0.5 % malformed input keeps the dead-letter path busy
            prod.produce(TOPICS.name("vitals"), key=e["patient_id"].encode(), value=b'{"broken":')
            bad += 1
        if i % 10000 == 0:
            prod.poll(0)
    prod.flush(60)
    return len(events) + bad


def baseline(mode: str, bootstrap: str, n: int, stall_s: float = 30.0) -> dict[str, Any]:
    """Run a baseline child; its rate over all n messages, or over what it consumed before it
    stopped making progress for ``stall_s`` (reported with ``done: false``)."""
    proc = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "faust_baselines.py"),
            mode,
            bootstrap,
            str(n),
            *TOPICS.inputs,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        cwd=ROOT,
    )
    assert proc.stdout is not None
    last: dict[str, Any] = {}
    progress = time.monotonic()
    os.set_blocking(proc.stdout.fileno(), False)
    buf = b""
    try:
        while time.monotonic() - progress < stall_s and not last.get("done"):
            chunk = proc.stdout.read() or b""
            buf += chunk
            *lines, buf = buf.split(b"\n")
            for ln in lines:
                if b'{"mode"' in ln:
                    rec = orjson.loads(ln[ln.find(b"{") :])
                    if rec["events"] > last.get("events", 0):
                        progress = time.monotonic()
                    last = rec
            if proc.poll() is not None and not chunk:
                break
            time.sleep(0.1)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
    if not last:
        raise RuntimeError(f"{mode} baseline produced no measurement")
    return last


class Worker:
    def __init__(self, bootstrap: str, tmp: Path, name: str) -> None:
        self.port = free_port()
        self.log = tmp / f"{name}.log"
        env = {
            **os.environ,
            "NMS_KAFKA_BOOTSTRAP": bootstrap,
            "NMS_KAFKA_GROUP": GROUP,
            "NMS_WORKER_TICK_INTERVAL_S": "5",
            "NMS_WORKER_METRICS_PORT": str(self.port),
            "NMS_WORKER_DATA_DIR": str(tmp / name),
        }
        self.fh = open(self.log, "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "monitor.cli.main", "worker", "--loglevel", "warning"],
            stdout=self.fh,
            stderr=self.fh,
            env=env,
            cwd=ROOT,
        )

    def events(self) -> float:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=2) as r:
                text = r.read().decode()
        except OSError:
            return 0.0
        return sum(
            float(ln.rsplit(" ", 1)[1])
            for ln in text.splitlines()
            if ln.startswith("nms_events_total{")
        )

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.fh.close()


def wait_until(pred: Any, timeout: float, what: str, poll: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(poll)
    raise TimeoutError(what)


# Each /metrics scrape costs the worker CPU: at 20 per second it took ~6 % of the worker's
# samples and ~20 % of its rate, so the counter is read twice a second (Prometheus: every 15 s).
METRICS_POLL_S = 0.5


def worker_rate(w: Worker, n: int) -> float:
    wait_until(lambda: w.events() > 0, 120, "worker started consuming", METRICS_POLL_S)
    t0, n0 = time.perf_counter(), w.events()
    wait_until(lambda: w.events() >= n, 900, "worker consumed the pre-fill", METRICS_POLL_S)
    return (n - n0) / (time.perf_counter() - t0)


class AlertWatch(threading.Thread):
    """Receipt times of probe acknowledgements on the alerts topic."""

    def __init__(self, bootstrap: str) -> None:
        super().__init__(daemon=True)
        self.consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": f"watch-{os.getpid()}",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
                # The broker answers a waiting fetch only at its deadline: keep it short so
                # the latency measured is the worker's, not this watcher's.
                "fetch.wait.max.ms": 5,
            }
        )
        self.consumer.subscribe([TOPICS.alerts])
        self.received: dict[str, float] = {}
        self.opened: dict[str, str] = {}
        self.stop_flag = threading.Event()

    def run(self) -> None:
        while not self.stop_flag.is_set():
            msg = self.consumer.poll(0.05)
            if msg is None or msg.error():
                continue
            now = time.perf_counter()
            a = orjson.loads(msg.value())
            if a["transition"] == "opened":
                self.opened[a["patient_id"]] = a["alert_id"]
            elif a["transition"] == "acknowledged" and "probe#" in (a.get("reason") or ""):
                self.received.setdefault(a["reason"].rsplit("probe#", 1)[1], now)
        self.consumer.close()


def ack(pid: str, alert_id: str, n: int) -> bytes:
    return orjson.dumps(
        {
            "event_id": f"ack-{n}",
            "patient_id": pid,
            "kind": "ack",
            "time": iso(0),
            "alert_id": alert_id,
            "action": "acknowledge",
            "by": "bench",
            "reason": f"probe#{n}",
        }
    )


def steady(
    bootstrap: str,
    rest: list[dict[str, Any]],
    watch: AlertWatch,
    seconds: float,
    rate: float,
    linger_ms: int,
) -> list[float]:
    """Background events at ``rate``/s with a probe ack every 50 ms; latencies in ms, counted
    from the producer call (so the producer's linger is part of them)."""
    prod = producer(bootstrap, linger_ms)
    sent: dict[str, float] = {}
    probes = sorted(watch.opened.items())
    start = time.perf_counter()
    i = n = 0
    while time.perf_counter() - start < seconds and i < len(rest):
        target = start + i / rate
        while time.perf_counter() < target:
            time.sleep(0.0005)
        e = rest[i]
        prod.produce(topic_for(e), key=e["patient_id"].encode(), value=orjson.dumps(e))
        i += 1
        if i % int(rate / 20) == 0:
            pid, aid = probes[n % len(probes)]
            prod.produce(TOPICS.name("acks"), key=pid.encode(), value=ack(pid, aid, n))
            sent[str(n)] = time.perf_counter()
            n += 1
        prod.poll(0)
    prod.flush(30)
    time.sleep(3)
    return [(watch.received[k] - t) * 1000 for k, t in sent.items() if k in watch.received]


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU seconds a process has used so far (Linux /proc)."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def changelog_bytes(bootstrap: str) -> int:
    """Key + value bytes of every record in the worker's table changelog."""
    from kafka import KafkaConsumer, TopicPartition  # noqa: PLC0415

    topic = f"{GROUP}-patient-state-changelog"
    c = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    tps = [TopicPartition(topic, p) for p in sorted(c.partitions_for_topic(topic) or ())]
    c.assign(tps)
    c.seek_to_beginning(*tps)
    total, idle = 0, time.monotonic()
    while time.monotonic() - idle < 3:
        for recs in c.poll(timeout_ms=200).values():
            idle = time.monotonic()
            total += sum(len(r.key or b"") + len(r.value or b"") for r in recs)
    c.close()
    return total


def takeover(bootstrap: str, a: Worker, watch: AlertWatch) -> float:
    """SIGKILL worker a; seconds until every probe patient's ack sent after the kill is answered."""
    prod = producer(bootstrap, 0)
    probes = sorted(watch.opened.items())
    answered_at: dict[str, float] = {}
    n = 10_000_000
    killed = time.perf_counter()
    a.proc.send_signal(signal.SIGKILL)
    pending: dict[str, str] = {}
    while time.perf_counter() - killed < 120 and len(answered_at) < len(probes):
        for pid, aid in probes:
            if pid in answered_at:
                continue
            prod.produce(TOPICS.name("acks"), key=pid.encode(), value=ack(pid, aid, n))
            pending[str(n)] = pid
            n += 1
        prod.flush(5)
        time.sleep(0.5)
        for k, pid in list(pending.items()):
            if k in watch.received:
                answered_at.setdefault(pid, watch.received[k])
                del pending[k]
    a.stop(signal.SIGKILL)
    if len(answered_at) < len(probes):
        return float("nan")
    return max(answered_at.values()) - killed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--patients", type=int, default=1000)
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--steady-seconds", type=float, default=30)
    ap.add_argument("--rate", type=float, default=1000)
    ap.add_argument("--producer-linger-ms", type=int, default=5, help="the latency feed's")
    args = ap.parse_args()
    minutes = int(args.events / args.patients / 5.0) + 12
    events = probe_setup() + ward_events(args.patients, minutes)
    events.sort(key=lambda e: e["time"])
    pre, rest = events[: args.events], events[args.events :]
    result: dict[str, Any] = {"patients": args.patients}
    with tempfile.TemporaryDirectory() as tmpdir, EmbeddedBroker() as broker:
        tmp = Path(tmpdir)
        ensure_topics(KafkaSettings(bootstrap=broker.bootstrap))
        n = prefill(broker.bootstrap, pre)
        result["prefill_messages"] = n
        for mode in ("bare", "naive"):
            rec = baseline(mode, broker.bootstrap, n)
            result[f"{mode}_faust_events_per_second"] = round(rec["events_per_second"])
            if not rec["done"]:  # stalled (broker quirks): the rate until it stopped
                result[f"{mode}_faust_stalled_after_events"] = rec["events"]
        watch = AlertWatch(broker.bootstrap)
        watch.start()
        a = Worker(broker.bootstrap, tmp, "a")
        b: Worker | None = None
        try:
            result["worker_events_per_second"] = round(worker_rate(a, n))
            wait_until(lambda: len(watch.opened) >= PROBES, 60, "probe alerts opened")
            cpu_before, started = cpu_seconds(broker.pid), time.monotonic()
            lat = steady(
                broker.bootstrap, rest, watch, args.steady_seconds, args.rate,
                args.producer_linger_ms,
            )  # fmt: skip
            broker_cpu = (cpu_seconds(broker.pid) - cpu_before) / (time.monotonic() - started)
            q = statistics.quantiles(lat, n=100)
            result.update(
                producer_linger_ms=args.producer_linger_ms,
                broker_cpu_steady=round(broker_cpu, 2),
                latency_samples=len(lat),
                latency_ms_p50=round(q[49], 1),
                latency_ms_p95=round(q[94], 1),
                latency_ms_p99=round(q[98], 1),
            )
            processed = a.events()
            result["changelog_bytes_per_event"] = round(
                changelog_bytes(broker.bootstrap) / processed, 1
            )
            b = Worker(broker.bootstrap, tmp, "b")
            time.sleep(15)  # b joins; the group rebalances (about session timeout / 2 here)
            result["takeover_seconds"] = round(takeover(broker.bootstrap, a, watch), 1)
        finally:
            watch.stop_flag.set()
            a.stop()
            if b is not None:
                b.stop()
    result["worker_vs_bare"] = round(
        result["worker_events_per_second"] / result["bare_faust_events_per_second"], 2
    )
    result["worker_vs_naive"] = round(
        result["worker_events_per_second"] / result["naive_faust_events_per_second"], 2
    )
    print(orjson.dumps(result).decode())


if __name__ == "__main__":
    main()
