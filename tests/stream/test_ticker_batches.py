"""Ticking and batch handling without a broker: stream time from the injected clock, slices with
pauses, nothing saved across a rebalance, acks awaited before a batch counts as done."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

import pytest

from monitor.contracts.alerts import Alert
from monitor.stream.batches import BatchHandler, Received
from monitor.stream.clock import StreamClock
from monitor.stream.deadletter import Inbound
from monitor.stream.gaps import OffsetGaps
from monitor.stream.processor import TickResult
from monitor.stream.publish import Publisher
from monitor.stream.statestore import StateStore
from monitor.stream.ticker import Ticker
from tests.builders import epoch
from tests.stream.fakes import FakeAssignment, FakeTable, FakeTime, FakeTopic, spin
from tests.stream.shellkit import (
    NOW,
    alerting,
    event,
    heart_rate,
    metrics,
    msg,
    processor,
    sample,
)

PARTS = 4


@dataclass
class ScriptedProcessor:
    """Records every tick; returns ``results[pid]`` (default: nothing to do)."""

    results: dict[str, TickResult] = field(default_factory=dict)
    calls: list[tuple[str, bytes, float]] = field(default_factory=list)
    during: object = None  # called on every tick (to simulate a rebalance meanwhile)

    def tick(self, pid: str, saved: bytes, now: float, wall_now: float | None = None) -> TickResult:
        self.calls.append((pid, saved, now))
        if callable(self.during):
            self.during()
        return self.results.get(pid, TickResult([], None, False, False))


def ticker(
    proc: object, store: StateStore, time: FakeTime, clock: StreamClock, topic: FakeTopic
) -> Ticker:
    return Ticker(
        store, proc, Publisher(topic, FakeTopic()), asyncio.Lock(), FakeAssignment(),  # type: ignore[arg-type]
        clock, metrics(), time.clocks(),
    )  # fmt: skip


def test_no_tick_before_any_event_has_set_stream_time() -> None:
    table = FakeTable(rows={b"p1": b"state"})
    proc, time = ScriptedProcessor(), FakeTime()
    t = ticker(proc, StateStore(table, PARTS), time, StreamClock(), FakeTopic())
    asyncio.run(t.tick())
    assert proc.calls == [] and sample(t.metrics, "nms_ticks_total") == 0


def test_tick_runs_at_stream_time_in_slices_with_pauses_between() -> None:
    table = FakeTable(rows={f"p{i}".encode(): b"state" for i in range(10)})
    clock = StreamClock()
    clock.saw(5_000.0, NOW)  # the newest event seen: 5,000 s, at wall time NOW
    time = FakeTime(wall=NOW + 60, perf_step=0.002)  # a minute later; each patient 2 ms of work
    proc = ScriptedProcessor()
    t = ticker(proc, StateStore(table, PARTS), time, clock, FakeTopic())
    asyncio.run(t.tick())
    assert sorted(pid for pid, _, _ in proc.calls) == sorted(f"p{i}" for i in range(10))
    assert {now for _, _, now in proc.calls} == {5_060.0}  # event time advanced by wall time
    # A 5 ms slice holds 2-3 patients at 2 ms each: several slices, a pause after each.
    assert 3 <= len(time.slept) <= 5 and set(time.slept) == {t.pause_s}
    assert sample(t.metrics, "nms_ticks_total") == 1 and sample(t.metrics, "nms_patients") == 10


def test_tick_publishes_transitions_then_saves_with_their_durability() -> None:
    # A real patient: an alert open since hour 1, the criteria gone by hour 100.
    real = processor()
    out = real.process(alerting(), {}.get, NOW)
    table = FakeTable(rows={pid.encode(): data or b"" for pid, data in out.states.items()})
    clock = StreamClock()
    clock.saw(epoch(100), NOW)
    topic = FakeTopic()
    store = StateStore(table, PARTS)
    t = ticker(real, store, FakeTime(wall=NOW), clock, topic)
    asyncio.run(t.tick())
    assert store.dirty == {b"p1"}  # clearing started: a durable change
    clock.saw(epoch(124.5), NOW)
    asyncio.run(t.tick())
    assert [s.headers["transition"] for s in topic.sent] == [b"resolved"]


def test_tick_evicts_and_keeps_clock_only_changes_out_of_the_changelog() -> None:
    table = FakeTable(rows={b"gone": b"old", b"clock": b"old"})
    proc = ScriptedProcessor(
        {
            "gone": TickResult([], None, True, True),
            "clock": TickResult([], b"clock moved", False, False),
        }
    )
    clock = StreamClock()
    clock.saw(1_000.0, NOW)
    store = StateStore(table, PARTS)
    asyncio.run(ticker(proc, store, FakeTime(wall=NOW), clock, FakeTopic()).tick())
    assert store.get(b"gone") is None and store.get(b"clock") == b"clock moved"
    assert store.dirty == {b"gone"}


def test_a_rebalance_during_a_slice_saves_nothing_of_it() -> None:
    table = FakeTable(rows={b"p1": b"old"})
    store = StateStore(table, PARTS)
    proc = ScriptedProcessor({"p1": TickResult([], b"new", False, True)}, during=store.forget)
    clock = StreamClock()
    clock.saw(1_000.0, NOW)
    asyncio.run(ticker(proc, store, FakeTime(wall=NOW), clock, FakeTopic()).tick())
    assert proc.calls and store.get(b"p1") == b"old" and not store.dirty


def received(m: object, generation: int = 1, timestamp: float = NOW - 2) -> Received:
    return Received(m, timestamp, generation)  # type: ignore[arg-type]


class Batches:
    def __init__(self, auto_ack: bool = True) -> None:
        self.table = FakeTable()
        self.store = StateStore(self.table, PARTS)
        self.alerts, self.dead = FakeTopic(auto_ack), FakeTopic(auto_ack)
        self.clock = StreamClock()
        self.time = FakeTime(wall=NOW)
        self.current = 1
        self.handler = BatchHandler(
            self.store, processor(), Publisher(self.alerts, self.dead), asyncio.Lock(),
            OffsetGaps(), self.clock, metrics(), self.time.clocks(), lambda: self.current,
        )  # fmt: skip

    @property
    def metrics(self) -> object:
        return self.handler.metrics


def test_a_batch_saves_each_patient_counts_and_advances_stream_time() -> None:
    b = Batches()
    batch = [*alerting(), heart_rate("p2", "h1", 2), msg(b"{not json", "p2")]
    asyncio.run(b.handler.handle([received(m) for m in batch]))
    assert set(b.store.dirty) == {b"p1", b"p2"} and b.table == {}  # pending until a flush
    m = b.handler.metrics
    assert sample(m, "nms_events_total", outcome="applied") == 4
    assert sample(m, "nms_events_total", outcome="rejected") == 1
    assert sample(m, "nms_rejected_total", reason="invalid_json") == 1
    assert sample(m, "nms_ingest_lag_seconds_sum") == 2.0  # Kafka timestamp 2 s before NOW
    assert [s.headers["reason"] for s in b.dead.sent] == [b"invalid_json"]
    assert b.alerts.sent and b.clock.max_event_time == epoch(2)
    assert b.clock.max_event_seen_at == NOW


def test_a_batch_is_done_only_once_the_broker_acked_what_it_sent() -> None:
    async def body() -> tuple[bool, bool]:
        b = Batches(auto_ack=False)
        handling = asyncio.create_task(b.handler.handle([received(m) for m in alerting()]))
        await spin()
        waiting = not handling.done()
        b.alerts.acks.ack()
        await handling
        return waiting, handling.done()

    assert asyncio.run(body()) == (True, True)


def test_offset_gaps_are_counted_for_the_current_generation_only() -> None:
    b = Batches()
    old = [received(heart_rate("p1", "a", 1), generation=0)]
    asyncio.run(b.handler.handle(old))
    batch = [heart_rate("p1", "b", 2), heart_rate("p1", "c", 3)]
    first, second = batch[0], batch[1]
    gap = type(second)(second.value, second.key, second.topic, second.partition, first.offset + 4)
    asyncio.run(b.handler.handle([received(first), received(gap)]))
    assert sample(b.handler.metrics, "nms_input_offset_gaps_total") == 3


def test_a_rebalance_while_sending_saves_nothing_of_the_batch() -> None:
    b = Batches()
    b.alerts.on_send = b.store.forget  # the rebalance begins while transitions are handed over
    asyncio.run(b.handler.handle([received(m) for m in alerting()]))
    assert b.alerts.sent and not b.store.dirty and b.store.get(b"p1") is None


def test_alerts_keep_their_patient_in_the_key() -> None:
    b = Batches()
    asyncio.run(b.handler.handle([received(m) for m in alerting("p9")]))
    assert {s.key for s in b.alerts.sent} == {b"p9"}
    assert all(isinstance(Alert.model_validate_json(s.value), Alert) for s in b.alerts.sent)


def test_unrecognised_medication_names_are_counted_and_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Never silent: a drug the catalogue does not know is accepted, counted in
    nms_medications_unrecognised_total, and its name logged once at INFO (no patient id)."""
    b = Batches()

    def unknown(pid: str, eid: str, hours: float) -> Inbound:
        body = event(pid, "medication", eid, hours, drug="Zyprexxa 10mg", action="administered")
        return msg(body, pid)

    caplog.set_level(logging.INFO, logger="monitor.stream.batches")
    for batch in ([unknown("p1", "u1", 1), unknown("p2", "u2", 1)], [unknown("p1", "u3", 2)]):
        asyncio.run(b.handler.handle([received(m) for m in batch]))
    assert sample(b.handler.metrics, "nms_medications_unrecognised_total") == 3
    logged = [r.getMessage() for r in caplog.records if "not in the drug catalogue" in r.message]
    assert logged == ["medication name not in the drug catalogue (counted, not exposure): "
                      "'Zyprexxa 10mg'"]  # fmt: skip
    assert not any("p1" in r.getMessage() or "p2" in r.getMessage() for r in caplog.records)
