"""Publishing contract events to the input topics, and knowing when the broker has them.

Every adapter hands its events to a :class:`Sink`; :class:`KafkaSink` sends each to the topic of
its kind, keyed by ``patient_id`` (partitioned as aiokafka's default partitioner does, murmur2,
as the worker's clients do), with ``acks=all``, and returns only when the broker has
acknowledged every one. A failure or a timeout raises :class:`PublishError`: the caller refuses
the input, and the sender sends it again. Some of its events may have reached the broker; their
event ids are derived from the input, so the engine drops the repeats.

Group commit (:mod:`monitor.interop.groupcommit`): the events of concurrent callers (the
messages of every MLLP connection) that arrive while a produce request is in flight are sent
together as one record batch per partition, and each caller is answered when the batches
holding its own events are acknowledged, or told :class:`PublishError` when one of them failed
(a failing partition or topic refuses only its callers). One
request per group instead of one ``send()`` per event is what lets one listener process keep up
with thousands of messages a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Sequence
from functools import lru_cache
from typing import Any, Protocol

from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import murmur2

from monitor.contracts.events import EVENT_ADAPTER, Event
from monitor.interop.groupcommit import GroupCommit, Parts, PublishError
from monitor.stream.settings import KafkaSettings
from monitor.stream.topics import Topics

__all__ = ["BATCH_BYTES", "KafkaSink", "PublishError", "Sink", "encode", "kafka_options"]
Record = tuple[str, bytes, bytes]  # topic, key, value
BATCH_BYTES = 256 * 1024  # one record batch at most (Kafka's message.max.bytes is about 1 MB)
METADATA_WAIT_S = 2.0  # a topic whose partitions are not known by then refuses its callers


class Sink(Protocol):
    async def publish(self, events: Sequence[Event], timeout_s: float) -> None:
        """Return once every event is acknowledged; raise :class:`PublishError` otherwise."""


def encode(event: Event) -> bytes:
    return EVENT_ADAPTER.dump_json(event, exclude_none=True)


def kafka_options(kafka: KafkaSettings) -> dict[str, Any]:
    """aiokafka connection options (TLS and SASL) from the settings, for producers and consumers."""
    opts: dict[str, Any] = {
        "bootstrap_servers": kafka.bootstrap_list(),
        "security_protocol": kafka.security_protocol,
    }
    if kafka.security_protocol in ("SSL", "SASL_SSL"):
        context = ssl.create_default_context(cafile=kafka.ssl_cafile)
        if kafka.ssl_certfile:
            context.load_cert_chain(kafka.ssl_certfile, kafka.ssl_keyfile)
        opts["ssl_context"] = context
    if kafka.security_protocol.startswith("SASL"):
        assert kafka.sasl_password is not None  # checked by KafkaSettings
        opts.update(
            sasl_mechanism=kafka.sasl_mechanism,
            sasl_plain_username=kafka.sasl_username,
            sasl_plain_password=kafka.sasl_password.get_secret_value(),
        )
    return opts


@lru_cache(maxsize=1 << 16)
def _key_hash(key: bytes) -> int:
    return int(murmur2(key)) & 0x7FFFFFFF


def partition_for(key: bytes, partitions: Sequence[int]) -> int:
    """The partition of ``key`` among ``partitions`` (sorted), as aiokafka's default partitioner
    and Kafka's Java client choose it (murmur2), so that a patient's events of every adapter and
    of ``send`` land on the partition the worker reads them from."""
    return partitions[_key_hash(key) % len(partitions)]


def plan_batches(
    records: Sequence[Record], partitions: dict[str, list[int]]
) -> dict[tuple[str, int], list[tuple[int, bytes, bytes]]]:
    """The records of one group by topic and partition, each with its index in ``records`` and
    in the order submitted (so the events of one patient stay in order); records of topics not
    in ``partitions`` (the sorted partitions of each topic) are left out."""
    plan: dict[tuple[str, int], list[tuple[int, bytes, bytes]]] = {}
    for i, (topic, key, value) in enumerate(records):
        sorted_partitions = partitions.get(topic)
        if sorted_partitions is None:
            continue
        tp = (topic, partition_for(key, sorted_partitions))
        batch = plan.get(tp)
        if batch is None:
            plan[tp] = [(i, key, value)]
        else:
            batch.append((i, key, value))
    return plan


class KafkaSink:
    """An aiokafka producer sending events to the input topics of their kinds, in groups."""

    def __init__(self, kafka: KafkaSettings) -> None:
        self.kafka = kafka
        self.topics = Topics(kafka.topic_prefix)
        self._producer: AIOKafkaProducer | None = None
        self._groups = GroupCommit[Record](self._send_group)
        # per partition, the queueing of the latest group's batches (the next group's wait)
        self._queued: dict[tuple[str, int], asyncio.Future[None]] = {}

    @property
    def flushes(self) -> int:
        """Groups sent so far (one produce request each, usually)."""
        return self._groups.flushes

    async def start(self) -> None:
        """Connect (aiokafka needs the running event loop, so not in ``__init__``)."""
        self._producer = AIOKafkaProducer(
            **kafka_options(self.kafka),
            acks="all",
            max_batch_size=BATCH_BYTES,  # the batches are closed when sent: no linger
            enable_idempotence=False,  # the embedded broker refuses InitProducerId
            client_id="nms-monitor-interop",
        )
        await self._producer.start()
        self._groups.start()

    async def stop(self, timeout_s: float = 5.0) -> None:
        """Flush and close; bounded: with the broker gone aiokafka would wait for its request
        timeout (40 s). What was not acknowledged was never acknowledged to a sender either."""
        await self._groups.stop()
        if self._producer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._producer.stop(), timeout_s)

    async def publish(self, events: Sequence[Event], timeout_s: float) -> None:
        if not events:
            return
        if self._producer is None:
            raise PublishError("the producer is not started")
        for_kind = self.topics.for_kind
        records = [(for_kind(ev.kind), ev.patient_id.encode(), encode(ev)) for ev in events]
        await self._groups.submit(records, timeout_s)

    async def _send_group(self, records: list[Record]) -> Parts:
        """One record batch per partition (more when one is full), each partition's sent by a
        task of its own, so that a partition that stalls (no leader) or a topic that fails holds
        up and refuses only the callers with records in it. A partition's batches are queued
        after those of the group before (each task waits for its predecessor to have queued
        them), so a patient's events keep their order across groups."""
        producer = self._producer
        if producer is None:
            raise PublishError("the producer is not started")
        loop = asyncio.get_running_loop()
        parts: Parts = []
        by_topic: dict[str, list[int]] = {}
        for i, (topic, _, _) in enumerate(records):
            by_topic.setdefault(topic, []).append(i)
        partitions: dict[str, list[int]] = {}
        for topic, indices in by_topic.items():
            try:
                found = await asyncio.wait_for(producer.partitions_for(topic), METADATA_WAIT_S)
            except Exception as exc:  # unknown topic, no metadata in time, not authorised
                failed: asyncio.Future[None] = loop.create_future()
                failed.set_exception(
                    PublishError(f"no partitions of {topic}: {type(exc).__name__}: {exc}")
                )
                parts.append((indices, failed))
                continue
            partitions[topic] = sorted(found)
        plan = plan_batches(records, partitions)
        for (topic, partition), entries in plan.items():
            tp = (topic, partition)
            queued: asyncio.Future[None] = loop.create_future()
            before = self._queued.get(tp)
            self._queued[tp] = queued
            task = asyncio.create_task(
                self._send_partition(topic, partition, entries, before, queued)
            )
            parts.append(([i for i, _, _ in entries], task))
        return parts

    async def _send_partition(
        self,
        topic: str,
        partition: int,
        entries: list[tuple[int, bytes, bytes]],
        before: asyncio.Future[None] | None,
        queued: asyncio.Future[None],
    ) -> None:
        producer = self._producer
        acks: list[asyncio.Future[Any]] = []
        try:
            if before is not None:
                await asyncio.shield(before)
            assert producer is not None
            batch = producer.create_batch()
            for _, key, value in entries:
                if batch.append(key=key, value=value, timestamp=None) is None:  # full
                    batch.close()
                    acks.append(await producer.send_batch(batch, topic, partition=partition))
                    batch = producer.create_batch()
                    if batch.append(key=key, value=value, timestamp=None) is None:
                        raise PublishError(f"an event of {len(value)} bytes exceeds a batch")
            batch.close()  # sent now: no linger
            acks.append(await producer.send_batch(batch, topic, partition=partition))
        finally:
            if not queued.done():
                queued.set_result(None)  # the next group's batches of this partition may follow
            if self._queued.get((topic, partition)) is queued:
                del self._queued[(topic, partition)]
        results = await asyncio.gather(*acks, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
