"""The transport's two guards around aiokafka's positions, on the real broker with real aiokafka.

- The consumer thread's fetch sees the active partitions through a view that is never empty:
  aiokafka drains every partition when handed an empty set, and Faust's set is empty for a moment
  at the end of table recovery.
- Seeking to the committed offsets rewinds a partition with no committed offset to the reset
  point: aiokafka's own seek leaves it where an earlier fetch left it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from monitor.stream.broker import EmbeddedBroker
from monitor.stream.kafka_io import ensure_topics
from monitor.stream.settings import KafkaSettings
from monitor.stream.transport import ActivePartitions, seek_committed_or_reset

TOPIC = "nms.events"
P0, P1, P2 = (TopicPartition(TOPIC, p) for p in range(3))
RECORDS = 20


async def with_consumer(
    bootstrap: str, body: Callable[[AIOKafkaConsumer], Awaitable[Any]], group: str = "positions"
) -> Any:
    """Fill partitions 0-2 with RECORDS records each, run ``body`` on an assigned consumer."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for tp in (P0, P1, P2):
            for i in range(RECORDS):  # one record per batch: the broker reports end offsets right
                await producer.send_and_wait(TOPIC, b"%d" % i, key=b"k", partition=tp.partition)
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        consumer.assign([P0, P1, P2])
        return await asyncio.wait_for(body(consumer), 30)
    finally:
        await consumer.stop()


async def fetched(consumer: AIOKafkaConsumer, tps: set[TopicPartition]) -> None:
    """Wait until the background fetcher holds records of every partition in ``tps``."""
    while not tps <= set(consumer._fetcher._records):
        await asyncio.sleep(0.02)


async def drain(consumer: AIOKafkaConsumer, partitions: Any) -> dict[int, int]:
    """What the consumer thread's fetch returns for ``partitions``: records per partition."""
    got = await consumer._fetcher.fetched_records(partitions, timeout=0.2)
    return {tp.partition: len(records) for tp, records in got.items()}


def run(broker: EmbeddedBroker, body: Callable[[AIOKafkaConsumer], Awaitable[Any]]) -> Any:
    ensure_topics(KafkaSettings(bootstrap=broker.bootstrap))
    return asyncio.run(with_consumer(broker.bootstrap, body))


def test_aiokafka_drains_every_partition_for_an_empty_set(broker: EmbeddedBroker) -> None:
    # The hazard the view exists for: an empty set means "all", not "none".
    async def body(consumer: AIOKafkaConsumer) -> dict[int, int]:
        await fetched(consumer, {P0, P1, P2})
        return await drain(consumer, set())

    assert run(broker, body) == {0: RECORDS, 1: RECORDS, 2: RECORDS}


def test_an_emptied_view_drains_nothing_and_follows_the_live_set(broker: EmbeddedBroker) -> None:
    async def body(consumer: AIOKafkaConsumer) -> tuple[dict[int, int], ...]:
        await fetched(consumer, {P0, P1, P2})
        live: set[TopicPartition] = set()  # every partition paused, as at the end of recovery
        view = ActivePartitions(live)
        none = await drain(consumer, view)
        live.add(P1)  # resumed: the same view now admits it
        one = await drain(consumer, view)
        positions = {tp.partition: await consumer.position(tp) for tp in (P0, P1, P2)}
        return none, one, positions

    none, one, positions = run(broker, body)
    assert none == {}
    assert one == {1: RECORDS}
    # Only the drained partition moved: the others' records wait for their partitions' resume.
    assert positions == {0: 0, 1: RECORDS, 2: 0}


def test_the_view_is_never_falsy_and_tracks_membership() -> None:
    live: set[int] = set()
    view = ActivePartitions(live)
    assert bool(view) and 1 not in view
    live.add(1)
    assert 1 in view and 2 not in view
    live.clear()
    assert bool(view) and 1 not in view


async def consume_all(consumer: AIOKafkaConsumer) -> None:
    """Drain every record of partitions 0-2 so each position sits at its end."""
    await fetched(consumer, {P0, P1, P2})
    while sum(len(r) for r in (await consumer.getmany(timeout_ms=200)).values()):
        pass


def test_uncommitted_partition_rewinds_to_the_beginning(broker: EmbeddedBroker) -> None:
    async def body(consumer: AIOKafkaConsumer) -> tuple[Any, dict[int, int]]:
        await consume_all(consumer)
        await consumer.commit({P1: 0, P2: 7})  # P0 never committed; P1 committed at 0
        committed = await seek_committed_or_reset(consumer, "earliest")
        positions = {tp.partition: await consumer.position(tp) for tp in (P0, P1, P2)}
        return committed, positions

    committed, positions = run(broker, body)
    assert {tp.partition: o for tp, o in committed.items()} == {0: None, 1: 0, 2: 7}
    assert positions == {0: 0, 1: 0, 2: 7}


def test_aiokafka_alone_leaves_uncommitted_partitions_where_they_were(
    broker: EmbeddedBroker,
) -> None:
    # The defect the rewind exists for: offsets None and 0 are not sought at all.
    async def body(consumer: AIOKafkaConsumer) -> dict[int, int]:
        await consume_all(consumer)
        await consumer.commit({P1: 0, P2: 7})
        await consumer.seek_to_committed()
        return {tp.partition: await consumer.position(tp) for tp in (P0, P1, P2)}

    assert run(broker, body) == {0: RECORDS, 1: RECORDS, 2: 7}


def test_uncommitted_partition_with_latest_reset_goes_to_the_end(broker: EmbeddedBroker) -> None:
    async def body(consumer: AIOKafkaConsumer) -> int:
        await fetched(consumer, {P0, P1, P2})
        consumer.seek(P0, 3)
        await seek_committed_or_reset(consumer, "latest")
        return int(await consumer.position(P0))

    assert run(broker, body) == RECORDS
