"""Publishing contract events to the input topics, and knowing when the broker has them.

Every adapter hands its events to a :class:`Sink`; :class:`KafkaSink` sends each to the topic of
its kind, keyed by ``patient_id`` (partitioned as aiokafka's default partitioner does, murmur2,
as the worker's clients do), with ``acks=all``, and returns only when the broker has
acknowledged every one. A failure or a timeout raises :class:`PublishError`: the caller refuses
the input, and the sender sends it again. Some of its events may have reached the broker; their
event ids are derived from the input, so the engine drops the repeats.

Group commit (:mod:`monitor.interop.groupcommit`): the events of concurrent callers (the
messages of every MLLP connection) that arrive while a produce request is in flight are sent
together, as one produce request per broker with one record batch per partition, built here
over aiokafka's client (:class:`AiokafkaCluster`) rather than by aiokafka's producer, whose
accumulator and sender task cost three times as much CPU for a small group. Each caller is
answered when the partitions holding its own events are acknowledged, or told
:class:`PublishError` when one of them failed: a failing partition, a partition without a
leader or a topic without partitions refuses only its callers, and a broker that does not
answer holds up only the callers with events on it. Nothing is retried here: a refused sender
sends again, and a leader that moved makes the metadata be refreshed first.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Sequence
from functools import lru_cache
from typing import Any, Protocol

from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka import errors as Errors
from aiokafka.partitioner import murmur2
from aiokafka.protocol.produce import ProduceRequest
from aiokafka.record.default_records import DefaultRecordBatchBuilder

from monitor.contracts.events import Event
from monitor.interop.groupcommit import GroupCommit, Parts, PublishError
from monitor.stream.settings import KafkaSettings
from monitor.stream.topics import Topics

__all__ = [
    "BATCH_BYTES",
    "AiokafkaCluster",
    "Cluster",
    "KafkaSink",
    "PublishError",
    "Sink",
    "encode",
    "kafka_options",
]
Record = tuple[str, bytes, bytes]  # topic, key, value
ProduceData = list[tuple[str, list[tuple[int, bytes]]]]  # per topic, (partition, record batch)
BATCH_BYTES = 256 * 1024  # one record batch at most (Kafka's message.max.bytes is about 1 MB)
METADATA_WAIT_S = 2.0  # a topic whose partitions are not known by then refuses its callers


class Sink(Protocol):
    async def publish(self, events: Sequence[Event], timeout_s: float) -> None:
        """Return once every event is acknowledged; raise :class:`PublishError` otherwise."""


def encode(event: Event) -> bytes:
    """The event's wire JSON: the bytes ``EVENT_ADAPTER.dump_json(event, exclude_none=True)``
    gives, by the event model's own serializer (the union's would first find the model: 2.4
    against 1.0 microseconds, eight times per monitor message)."""
    return type(event).__pydantic_serializer__.to_json(event, exclude_none=True)


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


class Cluster(Protocol):
    """What :class:`KafkaSink` needs of a Kafka client: metadata, and one produce request at a
    time to a broker (aiokafka's client in :class:`AiokafkaCluster`; a scripted one in tests)."""

    def partitions(self, topic: str) -> set[int] | None:
        """The topic's partitions as last known (None: not known yet)."""

    async def fetch_partitions(self, topic: str) -> set[int]:
        """Ask the cluster for the topic's partitions (raises when it has none)."""

    def leader(self, topic: str, partition: int) -> int | None:
        """The broker leading the partition, as last known (None: no leader now)."""

    def stale(self) -> None:
        """The metadata is out of date (a leader moved): refresh it in the background."""

    async def produce(self, node: int, data: ProduceData) -> list[tuple[str, int, int]]:
        """Send one produce request (acks=all) to ``node``: each topic's partitions with one
        record batch each; returns (topic, partition, Kafka error code) per partition."""


class AiokafkaCluster:
    """:class:`Cluster` over the client of an aiokafka producer (which connects, negotiates API
    versions, authenticates and keeps the metadata); produce requests are built here, one per
    broker and group, instead of by aiokafka's accumulator and sender task (a third of the CPU
    of publishing a small group, which is what a listener publishes many of)."""

    def __init__(self, producer: AIOKafkaProducer, request_timeout_ms: int) -> None:
        self.client = producer.client
        self.timeout_ms = request_timeout_ms

    def partitions(self, topic: str) -> set[int] | None:
        found: set[int] | None = self.client.cluster.partitions_for_topic(topic)
        return found or None

    async def fetch_partitions(self, topic: str) -> set[int]:
        found: set[int] = await self.client._wait_on_metadata(topic)
        return found

    def leader(self, topic: str, partition: int) -> int | None:
        node = self.client.cluster.leader_for_partition(TopicPartition(topic, partition))
        return None if node is None or node < 0 else int(node)

    def stale(self) -> None:
        self.client.force_metadata_update()

    async def produce(self, node: int, data: ProduceData) -> list[tuple[str, int, int]]:
        request = ProduceRequest(
            transactional_id=None, required_acks=-1, timeout=self.timeout_ms, topics=data
        )
        response = await self.client.send(node, request)
        return [(topic, int(p[0]), int(p[1])) for topic, parts in response.topics for p in parts]


class KafkaSink:
    """Sends events to the input topics of their kinds, in groups, one produce request per
    broker and group."""

    def __init__(self, kafka: KafkaSettings, request_timeout_ms: int = 30_000) -> None:
        self.kafka = kafka
        self.topics = Topics(kafka.topic_prefix)
        self.request_timeout_ms = request_timeout_ms
        self._producer: AIOKafkaProducer | None = None
        self._cluster: Cluster | None = None
        self._groups = GroupCommit[Record](self._send_group)
        # per broker, the sending of the latest group's requests (the next group's wait)
        self._written: dict[int, asyncio.Future[None]] = {}
        self._sending: set[asyncio.Task[None]] = set()

    @property
    def flushes(self) -> int:
        """Groups sent so far (one produce request per broker each, usually)."""
        return self._groups.flushes

    async def start(self) -> None:
        """Connect (aiokafka needs the running event loop, so not in ``__init__``)."""
        self._producer = AIOKafkaProducer(
            **kafka_options(self.kafka),
            acks="all",
            enable_idempotence=False,  # the embedded broker refuses InitProducerId
            request_timeout_ms=self.request_timeout_ms,
            client_id="nms-monitor-interop",
        )
        await self._producer.start()
        self.use(AiokafkaCluster(self._producer, self.request_timeout_ms))

    def use(self, cluster: Cluster) -> None:
        """Publish through ``cluster`` (``start`` gives aiokafka's; tests script one)."""
        self._cluster = cluster
        self._groups.start()

    async def stop(self, timeout_s: float = 5.0) -> None:
        """Stop publishing and close; bounded: with the broker gone aiokafka would wait for its
        request timeout. What was not acknowledged was never acknowledged to a sender either."""
        await self._groups.stop()
        for task in list(self._sending):  # their callers were refused by the group commit
            task.cancel()
        await asyncio.gather(*self._sending, return_exceptions=True)
        if self._producer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._producer.stop(), timeout_s)

    async def publish(self, events: Sequence[Event], timeout_s: float) -> None:
        if not events:
            return
        if self._cluster is None:
            raise PublishError("the producer is not started")
        for_kind = self.topics.for_kind
        records = [(for_kind(ev.kind), ev.patient_id.encode(), encode(ev)) for ev in events]
        await self._groups.submit(records, timeout_s)

    async def _send_group(self, records: list[Record]) -> Parts:
        """The group as one produce request per broker (more when a partition's records exceed
        one batch), each partition's records one record batch, in the order submitted. Each
        partition is a part of its own: a partition that fails (or has no leader, or whose
        topic has no partitions) refuses only the callers with records in it, a broker that
        does not answer holds up only the callers with records on it. A broker's requests are
        written after those of the group before (Kafka handles the requests of one connection
        in order), so a patient's events keep their order across groups."""
        cluster = self._cluster
        if cluster is None:
            raise PublishError("the producer is not started")
        loop = asyncio.get_running_loop()
        parts: Parts = []
        partitions: dict[str, list[int]] = {}
        for topic in {topic for topic, _, _ in records}:
            found = cluster.partitions(topic)
            if found is None:
                try:
                    found = await asyncio.wait_for(cluster.fetch_partitions(topic), METADATA_WAIT_S)
                except Exception as exc:  # unknown topic, no metadata in time, not authorised
                    error = PublishError(f"no partitions of {topic}: {type(exc).__name__}: {exc}")
                    indices = [i for i, (t, _, _) in enumerate(records) if t == topic]
                    parts.append((indices, _failed_future(loop, error)))
                    continue
            partitions[topic] = sorted(found)
        by_node: dict[int, list[_Partition]] = {}
        for (topic, partition), entries in plan_batches(records, partitions).items():
            ack: asyncio.Future[None] = loop.create_future()
            parts.append(([i for i, _, _ in entries], ack))
            node = cluster.leader(topic, partition)
            if node is None:
                cluster.stale()
                ack.set_exception(PublishError(f"{topic}[{partition}] has no leader now"))
                continue
            by_node.setdefault(node, []).append(_Partition(topic, partition, entries, ack))
        for node, chunk in by_node.items():
            written: asyncio.Future[None] = loop.create_future()
            before = self._written.get(node)
            self._written[node] = written
            task = asyncio.create_task(self._send_node(cluster, node, chunk, before, written))
            self._sending.add(task)
            task.add_done_callback(self._sent)
        return parts

    async def _send_node(
        self,
        cluster: Cluster,
        node: int,
        chunk: list[_Partition],
        before: asyncio.Future[None] | None,
        written: asyncio.Future[None],
    ) -> None:
        """The group's requests to one broker; each partition's ack settled from the answers."""
        try:
            if before is not None and not before.done():
                await asyncio.shield(before)
            pending = [_Batches(p) for p in chunk]
            while pending:
                data: dict[str, list[tuple[int, bytes]]] = {}
                for b in pending:
                    data.setdefault(b.part.topic, []).append((b.part.partition, b.next_batch()))
                sent = asyncio.ensure_future(cluster.produce(node, list(data.items())))
                if all(b.last for b in pending):
                    _done(written)  # the next group's requests may be written behind these
                try:
                    answers = await sent
                except Exception as exc:  # connection lost, timed out, broker unknown
                    if getattr(exc, "invalid_metadata", False):
                        cluster.stale()
                    for b in pending:
                        _fail(b.part.ack, _failed(exc))
                    return
                codes = {(t, p): code for t, p, code in answers}
                left = []
                for b in pending:
                    code = codes.get((b.part.topic, b.part.partition))
                    if code != 0:
                        error = Errors.for_code(code) if code is not None else None
                        if error is not None and getattr(error, "invalid_metadata", False):
                            cluster.stale()
                        name = error.__name__ if error is not None else "no answer"
                        _fail(
                            b.part.ack, PublishError(f"{b.part.topic}[{b.part.partition}]: {name}")
                        )
                    elif b.last:
                        _done(b.part.ack)
                    else:
                        left.append(b)
                pending = left
        except asyncio.CancelledError:
            for p in chunk:
                _fail(p.ack, PublishError("publishing was cancelled"))
            raise
        except Exception as exc:
            for p in chunk:
                _fail(p.ack, _failed(exc))
        finally:
            _done(written)
            if self._written.get(node) is written:
                del self._written[node]

    def _sent(self, task: asyncio.Task[None]) -> None:
        self._sending.discard(task)
        if not task.cancelled():
            task.exception()  # settled into the parts already; never logged as unretrieved


class _Partition:
    __slots__ = ("ack", "entries", "partition", "topic")

    def __init__(
        self,
        topic: str,
        partition: int,
        entries: list[tuple[int, bytes, bytes]],
        ack: asyncio.Future[None],
    ) -> None:
        self.topic, self.partition, self.entries, self.ack = topic, partition, entries, ack


class _Batches:
    """One partition's records as record batches of at most BATCH_BYTES, one per request."""

    __slots__ = ("last", "next", "part")

    def __init__(self, part: _Partition) -> None:
        self.part = part
        self.next = 0  # the first record not in a batch yet
        self.last = False

    def next_batch(self) -> bytes:
        builder = DefaultRecordBatchBuilder(
            2, 0, 0, producer_id=-1, producer_epoch=-1, base_sequence=0, batch_size=BATCH_BYTES
        )
        entries = self.part.entries
        offset = 0
        while self.next < len(entries):
            _, key, value = entries[self.next]
            # full; the first record is always taken (the broker judges a record too large)
            if builder.append(offset, None, key, value, []) is None:
                break
            offset += 1
            self.next += 1
        self.last = self.next >= len(entries)
        return bytes(builder.build())


def _failed_future(loop: asyncio.AbstractEventLoop, error: BaseException) -> asyncio.Future[None]:
    fut: asyncio.Future[None] = loop.create_future()
    fut.set_exception(error)
    return fut


def _done(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


def _fail(fut: asyncio.Future[None], error: BaseException) -> None:
    if not fut.done():
        fut.set_exception(error)


def _failed(exc: BaseException) -> PublishError:
    return PublishError(f"publishing failed: {type(exc).__name__}: {exc}")
