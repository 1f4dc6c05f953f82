"""Baseline Faust apps for benchmarks/stream.py, run as child processes.

    python benchmarks/faust_baselines.py bare|naive BOOTSTRAP N TOPIC [TOPIC...]

- bare: one agent that only counts messages (Faust's own ceiling on this machine);
- naive: the common pattern: group_by(patient) repartition, then one table write per message.
Prints one JSON line with the rate once N messages were seen, then exits.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import faust
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from monitor.stream import transport


def main() -> None:
    mode, bootstrap, n_expected, *topics = sys.argv[1:]
    expected = int(n_expected)
    transport.register()
    app = faust.App(
        f"bench-{mode}-{os.getpid()}",
        broker=f"{transport.SCHEME}://{bootstrap}",
        store="memory://",
        autodiscover=False,
        key_serializer="raw",
        value_serializer="raw",
        topic_partitions=4,
        table_standby_replicas=0,
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=10,
        broker_heartbeat_interval=3,
        web_enabled=False,
        datadir=f"/tmp/nms-bench-{mode}-{os.getpid()}",
    )
    app.nms_fetch_max_wait_ms = 50  # type: ignore[attr-defined]  # same fetch wait as the worker
    source = app.topic(*topics, key_type=bytes, value_type=bytes)
    state = {"n": 0, "t0": 0.0, "last_report": 0.0}

    def report(done: bool) -> None:
        elapsed = time.perf_counter() - state["t0"]
        line = {
            "mode": mode,
            "events": state["n"],
            "seconds": elapsed,
            "done": done,
            "events_per_second": state["n"] / elapsed if elapsed > 0 else 0.0,
        }
        print(orjson.dumps(line).decode(), flush=True)

    def seen() -> None:
        now = time.perf_counter()
        if state["n"] == 0:
            state["t0"] = state["last_report"] = now
        state["n"] += 1
        if state["n"] >= expected:
            report(True)
            os._exit(0)  # a benchmark child: skip Faust's slow shutdown
        if now - state["last_report"] > 1.0:
            state["last_report"] = now
            report(False)

    if mode == "bare":

        @app.agent(source)
        async def count(stream: Any) -> None:
            async for _ in stream:
                seen()

    elif mode == "bare-batch":

        @app.agent(source)
        async def count_batches(stream: Any) -> None:
            async for events in stream.take_events(2000, within=0.02):
                for _ in events:
                    seen()

    else:
        counts = app.Table("naive-counts", default=int, partitions=4)
        # A multi-topic source cannot name its own repartition topic: give it one.
        repartition = app.topic(
            f"bench-naive-{os.getpid()}-repartition",
            key_type=bytes,
            value_type=bytes,
            partitions=4,
            internal=True,
        )

        def patient(value: bytes) -> str:
            try:
                return str(orjson.loads(value)["patient_id"])
            except (orjson.JSONDecodeError, KeyError, TypeError):
                return "unparseable"  # the naive pattern still has to survive bad input

        @app.agent(source)
        async def naive(stream: Any) -> None:
            by_patient = stream.group_by(
                lambda v: patient(v).encode(), name="by-patient", topic=repartition
            )
            async for value in by_patient:
                counts[patient(value)] += 1
                seen()

    worker = faust.Worker(
        app,
        loglevel=os.environ.get("BENCH_LOGLEVEL", "warning"),
        quiet=True,
        redirect_stdouts=False,
    )
    worker.execute_from_commandline()


if __name__ == "__main__":
    main()
