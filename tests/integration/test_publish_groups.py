"""KafkaSink's group commit on the embedded broker: concurrent publishers share produce requests,
every event lands once, on its patient's partition (as aiokafka's default partitioner and the
worker's clients place it), in the order each patient's events were published; with the broker
gone every caller of the group is refused."""

from __future__ import annotations

import asyncio
import datetime as dt

import orjson
from aiokafka.partitioner import DefaultPartitioner
from kafka import KafkaConsumer, TopicPartition

from monitor.contracts.events import EVENT_ADAPTER, Event
from monitor.interop.publish import KafkaSink, PublishError
from monitor.stream.broker import EmbeddedBroker
from monitor.stream.kafka_io import ensure_topics
from monitor.stream.settings import KafkaSettings

START = dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.UTC)


def message(n: int, patient: int) -> list[Event]:
    """The events of one 'message': three vitals of one patient."""
    return [
        EVENT_ADAPTER.validate_python(
            {
                "event_id": f"m{n}:{code}",
                "patient_id": f"P-{patient:03d}",
                "kind": "vital",
                "time": START + dt.timedelta(minutes=n),
                "code": code,
                "value": value,
                "unit": unit,
            }
        )
        for code, value, unit in (("heart_rate", 80 + n % 40, "/min"), ("spo2", 95, "%"),
                                  ("temperature", 37.0, "Cel"))
    ]  # fmt: skip


def read_all(bootstrap: str, topic: str, expected: int) -> list[tuple[int, dict[str, object]]]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        out: list[tuple[int, dict[str, object]]] = []
        for _ in range(100):
            for tp, recs in consumer.poll(timeout_ms=200).items():
                out.extend((tp.partition, orjson.loads(r.value)) for r in recs)
            if len(out) >= expected:
                break
        return out
    finally:
        consumer.close()


def test_concurrent_publishers_share_requests_and_every_event_lands_once_in_order(
    broker: EmbeddedBroker,
) -> None:
    settings = KafkaSettings(bootstrap=broker.bootstrap)
    ensure_topics(settings)
    messages = [message(n, n % 20) for n in range(200)]  # caller c sends patient c's messages

    async def main() -> int:
        sink = KafkaSink(settings)
        await sink.start()
        try:
            # 20 concurrent callers (connections), each publishing its messages one at a time.
            async def connection(c: int) -> None:
                for events in messages[c::20]:
                    await sink.publish(events, 10.0)

            await asyncio.gather(*(connection(c) for c in range(20)))
            return sink.flushes
        finally:
            await sink.stop()

    flushes = asyncio.run(main())
    assert flushes < len(messages) / 2  # the callers' events were sent together
    records = read_all(broker.bootstrap, "nms.vitals", 600)
    assert sorted(str(v["event_id"]) for _, v in records) == sorted(
        e.event_id for m in messages for e in m
    )
    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap)
    partitions = sorted(consumer.partitions_for_topic("nms.vitals"))
    consumer.close()
    assert len({p for p, _ in records}) > 1
    for partition, value in records:
        key = str(value["patient_id"]).encode()
        assert partition == DefaultPartitioner()(key, partitions, partitions)
    # Each patient's events in the order they were published (one caller's messages in turn).
    for c in range(20):
        patient = messages[c][0].patient_id
        seen = [str(v["event_id"]) for _, v in records if v["patient_id"] == patient]
        assert seen == [e.event_id for m in messages[c::20] for e in m]


def test_with_the_broker_gone_every_caller_of_the_group_is_refused(
    broker: EmbeddedBroker,
) -> None:
    settings = KafkaSettings(bootstrap=broker.bootstrap)
    ensure_topics(settings)

    async def main() -> list[BaseException | None]:
        sink = KafkaSink(settings)
        await sink.start()
        try:
            await sink.publish(message(0, 0), 10.0)  # connected, metadata known
            broker.stop()
            return await asyncio.gather(
                *(sink.publish(message(n, n), 2.0) for n in range(1, 9)),
                return_exceptions=True,
            )
        finally:
            await sink.stop(timeout_s=1.0)

    outcomes = asyncio.run(main())
    assert len(outcomes) == 8
    assert all(isinstance(o, PublishError) for o in outcomes), outcomes
