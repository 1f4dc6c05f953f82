"""The metrics operators need from a worker, without a broker: event-to-alert latency from event
time and from arrival, events and the last event per kind, open alerts by priority at each tick,
consumer lag per partition, and the health gauges. Labels never carry a patient identifier."""

from __future__ import annotations

import asyncio
import shutil
import subprocess

import pytest
from faust.types import TP
from prometheus_client import CollectorRegistry, generate_latest

from monitor.contracts.events import EVENT_KINDS
from monitor.stream.app import consumer_lag
from monitor.stream.clock import StreamClock
from monitor.stream.health import Health, register_health
from monitor.stream.lag import ConsumerLag, lags
from monitor.stream.metrics import WorkerMetrics
from monitor.stream.processor import TickResult
from monitor.stream.statestore import StateStore
from tests.builders import epoch
from tests.stream.fakes import FakeTable, FakeTime, FakeTopic
from tests.stream.shellkit import NOW, alerting, heart_rate, msg, sample
from tests.stream.test_ticker_batches import Batches, ScriptedProcessor, received, ticker


def test_latency_from_event_time_and_from_arrival_for_each_transition() -> None:
    b = Batches()
    batch = [received(m, timestamp=NOW - 3) for m in alerting()]
    asyncio.run(b.handler.handle(batch))
    m = b.handler.metrics
    n = len(b.alerts.sent)  # opened low, then escalated medium, both at the 1 h assessments
    assert n == 2
    assert sample(m, "nms_arrival_to_alert_seconds_count") == n
    assert sample(m, "nms_arrival_to_alert_seconds_sum") == 3.0 * n  # arrived 3 s before
    assert sample(m, "nms_event_to_alert_seconds_sum") == (NOW - epoch(1)) * n


def test_events_by_kind_and_the_last_event_time_of_each_kind() -> None:
    b = Batches()
    b.time.t_wall = NOW + 10
    asyncio.run(b.handler.handle([received(m) for m in [*alerting(), heart_rate("p2", "h", 2)]]))
    m = b.handler.metrics
    assert sample(m, "nms_input_events_total", kind="assessment") == 2
    assert sample(m, "nms_input_events_total", kind="medication") == 1
    assert sample(m, "nms_input_events_total", kind="vital") == 1
    assert sample(m, "nms_last_event_timestamp_seconds", kind="vital") == NOW + 10
    assert sample(m, "nms_input_events_total", kind="lab") == 0  # present from the start


def test_every_kind_starts_at_the_start_time_so_silence_is_measured_from_there() -> None:
    m = WorkerMetrics(CollectorRegistry(), started_at=123.0)
    for kind in EVENT_KINDS:
        assert sample(m, "nms_last_event_timestamp_seconds", kind=kind) == 123.0


def test_the_batch_remembers_the_next_offset_to_process_per_partition() -> None:
    b = Batches()
    first, second = msg(b"{}", offset=41, partition=2), msg(b"{}", offset=7, partition=3)
    asyncio.run(b.handler.handle([received(first), received(second)]))
    assert b.handler.positions == {("nms.events", 2): 42, ("nms.events", 3): 8}


def test_open_alerts_by_priority_are_counted_at_each_whole_tick() -> None:
    table = FakeTable(rows={f"p{i}".encode(): b"state" for i in range(5)})
    results = {
        "p0": TickResult([], None, False, False, priority="high"),
        "p1": TickResult([], None, False, False, priority="medium"),
        "p2": TickResult([], None, False, False, priority="high"),
    }
    clock = StreamClock()
    clock.saw(5_000.0, NOW)
    t = ticker(ScriptedProcessor(results), StateStore(table, 4), FakeTime(wall=NOW), clock,
               FakeTopic())  # fmt: skip
    asyncio.run(t.tick())
    assert sample(t.metrics, "nms_alerts_active", priority="high") == 2
    assert sample(t.metrics, "nms_alerts_active", priority="medium") == 1
    assert sample(t.metrics, "nms_alerts_active", priority="low") == 0
    # The next tick finds one fewer: the gauge follows, it does not add up.
    del results["p2"]
    asyncio.run(t.tick())
    assert sample(t.metrics, "nms_alerts_active", priority="high") == 1


@pytest.mark.parametrize(
    ("high", "position", "lag"),
    [(15, 10, 5), (15, 15, 0), (11, 15, 0), (None, 3, None), (9, None, None)],
)
def test_lag_is_the_high_watermark_minus_the_next_offset_never_negative(
    high: int | None, position: int | None, lag: int | None
) -> None:
    # (11, 15): the embedded broker's ListOffsets under-reports the end (its defect 3); a
    # position beyond a reported end is no lag, not a negative one.
    got = lags({("t", 0): high}, {("t", 0): position})
    assert got.get(("t", 0)) == lag


def test_lag_series_follow_the_partitions_owned() -> None:
    registry = CollectorRegistry()
    gauge = ConsumerLag(registry)
    gauge.update({("nms.vitals", 0): 4, ("nms.vitals", 1): 0})
    value = registry.get_sample_value
    assert value("nms_consumer_lag_messages", {"topic": "nms.vitals", "partition": "0"}) == 4
    gauge.update({("nms.vitals", 1): 2})  # partition 0 moved to another worker
    assert value("nms_consumer_lag_messages", {"topic": "nms.vitals", "partition": "0"}) is None
    assert value("nms_consumer_lag_messages", {"topic": "nms.vitals", "partition": "1"}) == 2


def test_health_gauges_follow_the_probes() -> None:
    time = FakeTime()
    health = Health(10.0, time.monotonic)
    registry = CollectorRegistry()
    register_health(registry, health)
    value = registry.get_sample_value
    assert value("nms_live", {}) == 1 and value("nms_ready", {}) == 0
    health.beat(joined=True, recovering=False)
    assert value("nms_ready", {}) == 1
    time.t_mono += 60  # the event loop went silent
    assert value("nms_live", {}) == 0 and value("nms_ready", {}) == 0


def test_no_label_carries_a_patient_identifier() -> None:
    b = Batches()
    asyncio.run(b.handler.handle([received(m) for m in alerting("patient-secret-42")]))
    text = generate_latest(b.handler.metrics.registry).decode()
    assert "patient-secret-42" not in text


@pytest.mark.skipif(
    shutil.which("promtool") is None,
    reason="promtool (Debian prometheus) is installed by scripts/test.sh",
)
def test_promtool_lints_the_worker_metrics() -> None:
    b = Batches()
    asyncio.run(b.handler.handle([received(m) for m in alerting()]))
    register_health(b.handler.metrics.registry, Health(10.0))
    text = generate_latest(b.handler.metrics.registry)
    out = subprocess.run(
        ["promtool", "check", "metrics"], input=text, capture_output=True, check=False
    )
    assert out.returncode == 0, out.stdout + out.stderr


class _Consumer:
    """Faust's consumer as the lag measurement uses it."""

    def __init__(self, fetched: dict[tuple[str, int], int], listed: dict[tuple[str, int], int],
                 positions: dict[tuple[str, int], int]) -> None:  # fmt: skip
        self.fetched, self.listed, self.positions = fetched, listed, positions

    async def highwaters(self, *tps: tuple[str, int]) -> dict[tuple[str, int], int]:
        return {tp: self.listed[tp] for tp in tps if tp in self.listed}

    def highwater(self, tp: tuple[str, int]) -> int | None:
        return self.fetched.get(tp)

    async def position(self, tp: tuple[str, int]) -> int:
        return self.positions[tp]


class _Assignment:
    def __init__(self, tps: list[tuple[str, int]]) -> None:
        self.tps = tps

    def owned_inputs(self) -> list[tuple[str, int]]:
        return self.tps


def test_worker_lag_takes_the_larger_end_and_the_processed_position() -> None:
    a, b, c = TP("nms.vitals", 0), TP("nms.vitals", 1), TP("nms.labs", 0)
    consumer = _Consumer(
        fetched={a: 15, b: 3},  # from fetch responses: right on the embedded broker
        listed={a: 11, b: 9, c: 4},  # from ListOffsets: a under-reported, b paused (no fetch)
        positions={c: 1},  # not processed since the assignment: the consumer's position
    )
    app = type("App", (), {"consumer": consumer})()
    got = asyncio.run(consumer_lag(app, _Assignment([a, b, c]), {a: 10, b: 3}))  # type: ignore[arg-type]
    assert got == {a: 5, b: 6, c: 3}
