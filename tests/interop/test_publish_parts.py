"""KafkaSink's group commit, answered per caller: a part that fails or stalls (one partition,
one topic) refuses only the callers with records in it; everyone else is acknowledged, in this
group and the next ones; nothing is acknowledged before its own batches are. A scripted
producer stands in for aiokafka's (the real one is in tests/integration/test_publish_groups.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest
from aiokafka.errors import NotEnoughReplicasError, UnknownTopicOrPartitionError
from aiokafka.producer.message_accumulator import BatchBuilder

from monitor.contracts.events import EVENT_ADAPTER, Event
from monitor.interop.groupcommit import GroupCommit, PublishError
from monitor.interop.publish import BATCH_BYTES, KafkaSink, partition_for
from monitor.stream.settings import KafkaSettings

START = dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.UTC)
PARTITIONS = [0, 1, 2, 3]


def vital(n: int, patient: str, kind: str = "vital") -> Event:
    raw: dict[str, Any] = {
        "event_id": f"e{n}",
        "patient_id": patient,
        "kind": kind,
        "time": START + dt.timedelta(seconds=n),
    }
    if kind == "vital":
        raw.update(code="heart_rate", value=80, unit="/min")
    else:
        raw.update(code="ck", value=900, unit="U/L")
    return EVENT_ADAPTER.validate_python(raw)


def patient_on(partition: int) -> str:
    """A patient id whose events go to ``partition`` (of four)."""
    n = 0
    while True:
        pid = f"P-{n}"
        if partition_for(pid.encode(), PARTITIONS) == partition:
            return pid
        n += 1


class Producer:
    """aiokafka's producer as KafkaSink uses it: each batch is acknowledged after ``delay_s``,
    fails on a ``failing`` partition, never on a ``stalled`` one, and a topic in
    ``missing`` has no partitions."""

    def __init__(
        self,
        failing: frozenset[int] = frozenset(),
        stalled: frozenset[int] = frozenset(),
        missing: frozenset[str] = frozenset(),
        delay_s: float = 0.01,
    ) -> None:
        self.failing, self.stalled, self.missing, self.delay_s = failing, stalled, missing, delay_s
        self.queued: list[tuple[str, int, int]] = []  # (topic, partition, records) in order
        self.acked: list[tuple[str, int, int]] = []

    async def partitions_for(self, topic: str) -> set[int]:
        if topic in self.missing:
            raise UnknownTopicOrPartitionError()
        return set(PARTITIONS)

    def create_batch(self) -> BatchBuilder:
        return BatchBuilder(BATCH_BYTES, 0)

    async def send_batch(self, batch: BatchBuilder, topic: str, *, partition: int) -> Any:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        n = batch.record_count()
        self.queued.append((topic, partition, n))
        if partition in self.stalled:
            return fut

        def done() -> None:
            if partition in self.failing:
                fut.set_exception(NotEnoughReplicasError())
            else:
                self.acked.append((topic, partition, n))
                fut.set_result(None)

        loop.call_later(self.delay_s, done)
        return fut


async def outcomes(
    producer: Producer, calls: Sequence[list[Event]], timeout_s: float = 1.0
) -> list[str]:
    async with started(producer) as sink:
        results = await asyncio.gather(
            *(sink.publish(events, timeout_s) for events in calls), return_exceptions=True
        )
    return answers(results)


@contextlib.asynccontextmanager
async def started(producer: Producer) -> AsyncIterator[KafkaSink]:
    """A KafkaSink publishing through ``producer``, its group commit running."""
    sink = KafkaSink(KafkaSettings(bootstrap="127.0.0.1:1"))
    sink._producer = producer  # type: ignore[assignment]
    sink._groups.start()
    try:
        yield sink
    finally:
        await sink._groups.stop()


def answers(results: Sequence[object]) -> list[str]:
    return ["ok" if r is None else f"refused: {r}" for r in results]


def test_a_failed_partition_refuses_only_the_callers_with_records_in_it() -> None:
    bad, good = patient_on(3), patient_on(1)
    calls = [[vital(1, good)], [vital(2, bad)], [vital(3, good), vital(4, bad)], [vital(5, good)]]
    got = asyncio.run(outcomes(Producer(failing=frozenset({3})), calls))
    assert got[0] == "ok" and got[3] == "ok"
    assert "NotEnoughReplicas" in got[1] and "NotEnoughReplicas" in got[2]


def test_a_stalled_partition_holds_up_only_its_own_callers_in_this_and_later_groups() -> None:
    stuck, fine = patient_on(2), patient_on(0)

    async def story() -> tuple[list[str], float]:
        async with started(Producer(stalled=frozenset({2}))) as sink:
            loop = asyncio.get_running_loop()
            t0 = loop.time()
            first = [
                asyncio.ensure_future(sink.publish([vital(1, stuck)], 1.0)),
                asyncio.ensure_future(sink.publish([vital(2, fine)], 1.0)),
            ]
            await asyncio.sleep(0.05)
            later = [
                asyncio.ensure_future(sink.publish([vital(10 + n, fine)], 1.0)) for n in range(5)
            ]
            done_fine = await asyncio.gather(first[1], *later, return_exceptions=True)
            elapsed = loop.time() - t0
            stuck_result = await asyncio.gather(first[0], return_exceptions=True)
        return answers([*stuck_result, *done_fine]), elapsed

    got, elapsed = asyncio.run(story())
    assert got[0].startswith("refused") and "within 1 s" in got[0]
    assert got[1:] == ["ok"] * 6
    assert elapsed < 0.6  # not held until the stalled part's deadline


def test_a_topic_without_partitions_refuses_only_its_callers() -> None:
    calls = [[vital(1, "P-1")], [vital(2, "P-2", kind="lab")], [vital(3, "P-3")]]
    got = asyncio.run(outcomes(Producer(missing=frozenset({"nms.labs"})), calls))
    assert got[0] == "ok" and got[2] == "ok"
    assert "no partitions of nms.labs" in got[1]


def test_a_group_over_the_batch_size_sends_every_record_in_order() -> None:
    producer = Producer()
    got = asyncio.run(outcomes(producer, [[vital(n, "P-7") for n in range(5000)]]))
    assert got == ["ok"]
    assert len(producer.queued) > 1 and sum(n for *_, n in producer.queued) == 5000


def test_a_partitions_batches_are_queued_group_after_group() -> None:
    """The second group's batch of a partition is queued only after the first group's."""
    pid = patient_on(1)

    async def story() -> list[tuple[str, int, int]]:
        producer = Producer(delay_s=0.05)
        async with started(producer) as sink:
            first = asyncio.ensure_future(sink.publish([vital(1, pid), vital(2, pid)], 2.0))
            await asyncio.sleep(0)
            second = asyncio.ensure_future(sink.publish([vital(3, pid)], 2.0))
            await asyncio.gather(first, second)
        return producer.queued

    queued = asyncio.run(story())
    assert [n for _, p, n in queued if p == 1] == [2, 1]


def test_a_cancellation_from_inside_a_flush_fails_that_group_only() -> None:
    """The flushing task survives; later callers are published."""
    calls = 0

    async def flush(items: list[int]) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            cancelled: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            cancelled.cancel()
            await cancelled

    async def story() -> list[str]:
        commit = GroupCommit[int](flush)
        commit.start()
        out = []
        for n in range(3):
            try:
                await commit.submit([n], 0.5)
                out.append("ok")
            except PublishError as exc:
                out.append(f"refused: {exc}")
        await commit.stop()
        return out

    got = asyncio.run(story())
    assert got[0].startswith("refused") and got[1:] == ["ok", "ok"]


def test_a_dead_publisher_refuses_at_once() -> None:
    async def story() -> None:
        async def flush(items: list[int]) -> None:
            return None

        commit = GroupCommit[int](flush)
        commit.start()
        assert commit._task is not None
        commit._task.cancel()
        await asyncio.sleep(0)
        with pytest.raises(PublishError, match="not running"):
            await asyncio.wait_for(commit.submit([1], 5.0), 0.5)

    asyncio.run(story())
