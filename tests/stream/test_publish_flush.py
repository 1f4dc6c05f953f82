"""Publishing and changelog flushing without a broker: a state is written only after every
transition sent before it is acknowledged, one chunk at a time, only for owned partitions, with
end markers last; any failed send stops the worker instead of committing past it."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from monitor.stream.flush import ChangelogAcks, Flusher
from monitor.stream.processor import DeadLetter
from monitor.stream.publish import Publisher
from monitor.stream.statestore import MARKER_PREFIX, StateStore, partition_of
from tests.stream.fakes import FakeAssignment, FakeTable, FakeTime, FakeTopic, spin
from tests.stream.shellkit import NOW, alerting, metrics, processor, sample

PARTS = 4


def key_in(partition: int, n: int = 0) -> bytes:
    found = [k for i in range(300) if partition_of(k := f"p{i}".encode(), PARTS) == partition]
    return found[n]


class Rig:
    """A flusher wired to fakes, as create_app wires it to Faust."""

    def __init__(
        self, *, topic_ack: bool = True, changelog_ack: bool = True, chunk_bytes: int = 1 << 20
    ) -> None:
        self.alerts, self.dead = FakeTopic(topic_ack), FakeTopic(topic_ack)
        self.table = FakeTable(changelog_ack)
        self.store = StateStore(self.table, PARTS)
        self.publisher = Publisher(self.alerts, self.dead)
        self.assignment = FakeAssignment()
        self.crashes: list[BaseException] = []
        self.metrics = metrics()
        self.time = FakeTime()
        self.flusher = Flusher(
            self.store, self.publisher, ChangelogAcks(self.table), self.assignment,
            self.crash, self.metrics, self.time.clocks(), chunk_bytes,
        )  # fmt: skip

    async def crash(self, exc: BaseException) -> None:
        self.crashes.append(exc)

    def patient_keys(self) -> set[bytes]:
        return {k for k in self.table if not k.startswith(MARKER_PREFIX)}


def dead(n: int) -> DeadLetter:
    return DeadLetter(b"p1", b'{"reason": "invalid_json"}', "invalid_json")


def test_transitions_are_sent_keyed_by_patient_with_their_ids_as_headers() -> None:
    async def body() -> Rig:
        rig = Rig()
        out = processor().process(alerting(), {}.get, NOW)
        assert out.alerts
        futures = await rig.publisher.send(out.alerts, [dead(0)])
        assert len(futures) == len(out.alerts) + 1
        assert await rig.publisher.settle() is None
        assert not rig.publisher.unacked
        return rig

    rig = asyncio.run(body())
    first = rig.alerts.sent[0]
    assert first.key == b"p1"
    assert orjson.loads(first.value)["transition"] == "opened"
    assert first.headers["transition"] == b"opened"
    assert first.headers["transition_id"] == orjson.loads(first.value)["transition_id"].encode()
    assert rig.dead.sent[0].headers == {"reason": b"invalid_json"}


def test_states_wait_for_the_transitions_sent_before_them() -> None:
    async def body() -> tuple[Rig, list[int], bool]:
        rig = Rig(topic_ack=False)
        await rig.publisher.send([], [dead(0)])
        rig.store.put(key_in(0), b"state")
        flushing = asyncio.create_task(rig.flusher.flush())
        await spin()
        before = [len(rig.table)]
        rig.dead.acks.ack()
        ok = await flushing
        return rig, before, ok

    rig, before, ok = asyncio.run(body())
    assert before == [0], "a state was written before the transition sent ahead of it was acked"
    assert ok and rig.patient_keys() == {key_in(0)}
    assert sample(rig.metrics, "nms_state_writes_total", outcome="written") == 1


def test_a_failed_transition_stops_the_worker_and_no_state_follows_it() -> None:
    async def body() -> tuple[Rig, bool]:
        rig = Rig(topic_ack=False)
        await rig.publisher.send([], [dead(0)])
        rig.store.put(key_in(0), b"state")
        rig.dead.acks.fail(RuntimeError("broker said no"))
        return rig, await rig.flusher.flush()

    rig, ok = asyncio.run(body())
    assert not ok
    assert [type(e) for e in rig.crashes] == [RuntimeError]
    assert rig.table == {} and rig.store.get(key_in(0)) is None  # dropped, never written


def test_each_chunk_is_acknowledged_before_the_next_and_markers_come_last() -> None:
    keys = [key_in(p, n) for p in range(PARTS) for n in range(2)]

    async def body() -> tuple[Rig, list[int], bool]:
        rig = Rig(changelog_ack=False, chunk_bytes=20)
        for k in keys:
            rig.store.put(k, b"x" * 10)
        flushing = asyncio.create_task(rig.flusher.flush())
        seen = []
        for _ in range(50):  # bounded: one chunk per round
            await spin()
            seen.append(len(rig.table.changelog))
            if flushing.done():
                break
            assert rig.table.acks.ack() > 0, "the flush waits for nothing"
        return rig, seen, await flushing

    rig, seen, ok = asyncio.run(body())
    assert ok
    # One chunk (one key at 20 bytes) on the wire at a time, then one marker per partition.
    assert seen[: len(keys)] == list(range(1, len(keys) + 1))
    records = [k for k, _ in rig.table.changelog]
    assert records[: len(keys)] == [k for k in records if not k.startswith(MARKER_PREFIX)]
    assert sorted(records[len(keys) :]) == sorted(rig.store.markers.values())
    assert sample(rig.metrics, "nms_state_writes_total", outcome="written") == len(keys)


def test_states_of_partitions_not_owned_are_dropped_and_veto_the_commit() -> None:
    async def body() -> tuple[Rig, bool]:
        rig = Rig()
        rig.assignment.owns = {0}
        rig.store.put(key_in(0), b"mine")
        rig.store.put(key_in(1), b"theirs now")
        return rig, await rig.flusher.flush()

    rig, ok = asyncio.run(body())
    assert not ok
    assert rig.patient_keys() == {key_in(0)}
    assert sample(rig.metrics, "nms_state_writes_total", outcome="dropped") == 1


def test_a_flush_during_a_rebalance_writes_nothing() -> None:
    async def body() -> tuple[Rig, bool]:
        rig = Rig()
        rig.assignment.rebalancing = True
        rig.store.put(key_in(0), b"state")
        return rig, await rig.flusher.flush()

    rig, ok = asyncio.run(body())
    assert not ok and rig.table == {}


def test_a_failed_changelog_send_stops_the_worker() -> None:
    async def body() -> tuple[Rig, bool]:
        rig = Rig(changelog_ack=False)
        rig.store.put(key_in(0), b"state")
        flushing = asyncio.create_task(rig.flusher.flush())
        await spin()
        rig.table.acks.fail(RuntimeError("lost"))
        return rig, await flushing

    rig, ok = asyncio.run(body())
    assert not ok and [str(e) for e in rig.crashes] == ["lost"]


def test_an_empty_flush_is_a_success_that_writes_nothing() -> None:
    async def body() -> tuple[Rig, bool]:
        rig = Rig()
        return rig, await rig.flusher.flush()

    rig, ok = asyncio.run(body())
    assert ok and rig.table.changelog == []
    assert sample(rig.metrics, "nms_state_flush_seconds_count") == 0


def test_flush_time_is_measured_on_the_injected_clock() -> None:
    async def body() -> Rig:
        rig = Rig()
        rig.time.perf_step = 0.25  # every read of the clock is a quarter second later
        rig.store.put(key_in(0), b"state")
        assert await rig.flusher.flush()
        return rig

    rig = asyncio.run(body())
    assert sample(rig.metrics, "nms_state_flush_seconds_sum") == pytest.approx(0.25)


def test_changelog_acks_track_every_send_of_the_table() -> None:
    async def body() -> int:
        table = FakeTable(auto_ack=False)
        acks = ChangelogAcks(table)
        table[b"a"] = b"1"
        del table[b"a"]
        waiting = asyncio.create_task(acks.acknowledged())
        await spin()
        assert not waiting.done()
        table.acks.ack()
        await waiting
        return len(acks.pending)

    assert asyncio.run(body()) == 0
