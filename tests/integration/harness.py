"""Real parts for integration tests: the embedded broker, worker processes, Kafka clients.

Every process a test starts, it stops; every loop is bounded by a deadline; loopback only.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import orjson
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from monitor.cli.replay import KIND_ORDER
from monitor.stream.broker import free_port

ROOT = Path(__file__).resolve().parents[2]
WARD = ROOT / "examples" / "ward.ndjson"
# The table stores the worker runs on: the embedded default and the production one.
STORES = ["memory://", "rocksdb://"]


def store_env(store: str) -> dict[str, str]:
    """A worker's environment for ``store``. Several rocksdb:// workers on the embedded broker
    need Faust's recovery consistency check off: a worker killed mid-flush leaves a multi-record
    batch last in a changelog partition, whose end the broker under-reports (defect 3 in
    docs/operations.md), and a standby that applied the whole batch then looks ahead of the
    changelog. The survivor stopped in 2 of 14 takeover runs before this; the log of one shows
    ConsistencyError "persisted offset ... is higher than ... highwater (13 > 12)"."""
    env = {"NMS_KAFKA_STORE": store}
    if store.startswith("rocksdb"):
        env["NMS_KAFKA_RECOVERY_CONSISTENCY_CHECK"] = "false"
    return env


def wait_for(pred: Callable[[], bool], timeout: float, what: str, every: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


class WorkerProcess:
    """One ``nms-monitor worker`` process; ``data`` names its data directory (default: ``name``),
    so a restarted worker can take over a stopped one's local table store."""

    def __init__(
        self, bootstrap: str, tmp: Path, name: str, data: str | None = None, **env: str
    ) -> None:
        self.log_path = tmp / f"{name}.log"
        self.metrics_port = free_port()
        data_dir = tmp / f"{data or name}-data"
        data_dir.mkdir(parents=True, exist_ok=True)
        self.env = {
            **os.environ,
            "NMS_KAFKA_BOOTSTRAP": bootstrap,
            "NMS_WORKER_DATA_DIR": str(data_dir),
            "NMS_WORKER_TICK_INTERVAL_S": "3600",
            "NMS_WORKER_METRICS_PORT": str(self.metrics_port),
            "PYTHONUNBUFFERED": "1",
            **env,
        }
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> WorkerProcess:
        log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self._log = log
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "monitor.cli.main", "worker", "--loglevel", "info"],
            stdout=log, stderr=log, stdin=subprocess.DEVNULL, env=self.env, cwd=ROOT,
        )  # fmt: skip
        return self

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self._log.close()

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        self._log.close()

    def metrics(self) -> str:
        return self.get("/metrics")[1]

    def get(self, path: str) -> tuple[int, str]:
        """Status and body of a GET on the worker's metrics server (0 when nothing answers)."""
        url = f"http://127.0.0.1:{self.metrics_port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                return int(resp.status), str(resp.read().decode())
        except urllib.error.HTTPError as exc:
            return int(exc.code), str(exc.read().decode())
        except (urllib.error.URLError, ConnectionError):
            return 0, ""

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def replay_order(lines: Iterable[bytes]) -> list[bytes]:
    """The order ``nms-monitor replay`` uses (time, kind, event id)."""

    def key(line: bytes) -> tuple[str, int, str]:
        o = orjson.loads(line)
        return (o["time"], KIND_ORDER[o["kind"]], o["event_id"])

    return sorted((ln for ln in lines if ln.strip()), key=key)


def produce(bootstrap: str, records: Iterable[tuple[str, bytes | None, bytes]]) -> int:
    prod = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    n = 0
    try:
        futures = [prod.send(t, key=k, value=v) for t, k, v in records]
        prod.flush()
        for f in futures:
            f.get(timeout=30)
            n += 1
    finally:
        prod.close()
    return n


class TopicReader:
    """Reads a whole topic from the beginning, incrementally."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        self.topic = topic
        self.records: list[Any] = []
        self._assigned = False

    def poll(self) -> list[Any]:
        if not self._assigned:
            parts = self.consumer.partitions_for_topic(self.topic)
            if not parts:
                return self.records
            tps = [TopicPartition(self.topic, p) for p in sorted(parts)]
            self.consumer.assign(tps)
            self.consumer.seek_to_beginning(*tps)
            self._assigned = True
        for recs in self.consumer.poll(timeout_ms=200).values():
            self.records.extend(recs)
        return self.records

    def values(self) -> list[dict[str, Any]]:
        return [orjson.loads(r.value) for r in self.records]

    def fresh_values(self) -> list[dict[str, Any]]:
        """Poll once more, then every record so far, decoded."""
        self.poll()
        return self.values()

    def close(self) -> None:
        self.consumer.close()


def replay_alerts(path: Path) -> list[dict[str, Any]]:
    out = subprocess.run(
        [sys.executable, "-m", "monitor.cli.main", "replay", str(path)],
        capture_output=True, check=True, cwd=ROOT,
    )  # fmt: skip
    return [orjson.loads(line) for line in out.stdout.splitlines()]
