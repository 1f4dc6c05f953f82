"""The forwarder's composition root and main loop: one consumer group on the alerts topic.

Reading: records are read in batches, each turned into jobs (:mod:`monitor.forward.dispatch`)
and handed to the delivery loop (:mod:`monitor.forward.delivery`). With ``max_pending``
transitions not yet settled, the partitions are paused (the consumer keeps polling, so it stays
in its group) until deliveries catch up.

Committing: every ``commit_interval_s``, each partition's offset moves to its first transition
not yet settled (:mod:`monitor.forward.offsets`), and once more when partitions are revoked or
the forwarder stops. So a transition's offset is committed only after every receiver it routes
to has accepted it; a crash redelivers what was not committed, with the same de-duplication
keys.

Assignment: a newly assigned partition is paused until its resume offset is known and its
history before that offset has been read (who holds which alert, what fires at Alertmanager);
a group's first start begins at ``first_start`` and commits that offset at once, so that a
crash before the first delivery cannot move the start. Revocation drops the partition's jobs
(the next owner delivers them again) and what the forwarder knew of its alerts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener
from aiokafka.errors import IllegalStateError, KafkaError
from aiokafka.structs import TopicPartition
from pydantic import ValidationError

from monitor.forward.delivery import Deliverer, Record, Transport
from monitor.forward.dispatch import Dispatcher, PartitionState
from monitor.forward.gate import Gate
from monitor.forward.head import Head
from monitor.forward.kafka import KafkaDeadLetters, read_history
from monitor.forward.metrics import ForwardMetrics
from monitor.forward.offsets import Offsets
from monitor.forward.settings import ForwardSettings, ReceiverSet
from monitor.interop.publish import kafka_options
from monitor.stream.health import Health
from monitor.stream.lag import lags
from monitor.stream.settings import KafkaSettings
from monitor.stream.topics import Topics

log = logging.getLogger(__name__)
TP = tuple[str, int]
BATCH = 500
CLOSE_GRACE_S = 5.0
LAG_INTERVAL_S = 2.0


def _tp(tp: TopicPartition) -> TP:
    return (tp.topic, tp.partition)


def invalid_detail(exc: ValidationError) -> str:
    """Where and what, never the input (it may hold patient data)."""
    first = exc.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(p) for p in first["loc"]) or "value"
    return f"{exc.error_count()} validation error(s); first: {where}: {first['msg']}"


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka is untyped
    def __init__(self, forwarder: Forwarder) -> None:
        self.forwarder = forwarder

    async def on_partitions_revoked(self, revoked: Any) -> None:
        await self.forwarder.revoked(set(revoked))

    async def on_partitions_assigned(self, assigned: Any) -> None:
        self.forwarder.assigned(set(assigned))


class Forwarder:
    def __init__(
        self,
        kafka: KafkaSettings,
        forward: ForwardSettings,
        receivers: ReceiverSet,
        metrics: ForwardMetrics,
        health: Health,
        transport: Transport,
    ) -> None:
        self.kafka = kafka
        self.forward = forward
        self.metrics = metrics
        self.health = health
        self.topics = Topics(kafka.topic_prefix)
        self.options = kafka_options(kafka)
        self.dispatcher = Dispatcher(receivers, forward)
        self.offsets = Offsets()
        self.states: dict[TP, PartitionState] = {}
        self.unprepared: set[TopicPartition] = set()
        self.committed: dict[TP, int] = {}
        self.joined = False
        self.paused = False
        self.side_tasks: set[asyncio.Future[None]] = set()
        self.gates = {
            name: Gate(name, forward.retry_initial_s, forward.retry_max_s)
            for name in receivers.receivers
        }
        self.transport = transport
        self.consumer: AIOKafkaConsumer | None = None
        self.producer: AIOKafkaProducer | None = None
        self.deliverer: Deliverer | None = None
        self.dead: KafkaDeadLetters | None = None
        self.receivers = receivers

    # --- set-up ---------------------------------------------------------------------------

    async def start(self) -> None:
        self.producer = AIOKafkaProducer(
            **self.options, acks="all", enable_idempotence=False, linger_ms=5,
            client_id="nms-monitor-forward",
        )  # fmt: skip
        await self.producer.start()
        self.dead = KafkaDeadLetters(
            self.producer, self.topics.deadletter, self.receivers.receivers, self.metrics,
            self.forward.retry_initial_s, self.forward.retry_max_s,
        )  # fmt: skip
        self.deliverer = Deliverer(
            self.transport, self.gates, self.metrics, self.dead, self._settled,
            self.forward.max_in_flight,
        )  # fmt: skip
        self.consumer = AIOKafkaConsumer(
            **self.options,
            group_id=self.forward.group,
            client_id="nms-monitor-forward",
            enable_auto_commit=False,
            auto_offset_reset=self.forward.first_start,
            fetch_max_wait_ms=self.kafka.fetch_max_wait_ms,
            session_timeout_ms=int(self.kafka.session_timeout_s * 1000),
            heartbeat_interval_ms=int(self.kafka.heartbeat_interval_s * 1000),
            max_partition_fetch_bytes=4 * 1024 * 1024,
        )
        await self.consumer.start()
        self.consumer.subscribe([self.topics.alerts], listener=_Listener(self))

    async def stop(self) -> None:
        """Let deliveries in flight finish (briefly), commit what is settled, disconnect."""
        if self.deliverer is not None:
            await self.deliverer.close(CLOSE_GRACE_S)
        if self.consumer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.commit(), 5.0)
            await self.consumer.stop()
        if self.producer is not None:
            await self.producer.stop()

    # --- the group ------------------------------------------------------------------------

    def assigned(self, tps: set[TopicPartition]) -> None:
        assert self.consumer is not None
        self.joined = True
        fresh = {tp for tp in tps if _tp(tp) not in self.states}
        if fresh:
            self.consumer.pause(*fresh)
            self.unprepared |= fresh

    async def revoked(self, tps: set[TopicPartition]) -> None:
        assert self.deliverer is not None
        keys = {_tp(tp) for tp in tps}
        self.unprepared -= tps
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.commit(keys), 5.0)
        dropped = self.deliverer.cancel(lambda job: job.tp not in keys)
        if dropped:
            log.info("%d deliveries left to the partitions' next owner", dropped)
        self.offsets.forget(keys)
        for key in keys:
            self.states.pop(key, None)
            self.committed.pop(key, None)

    async def prepare(self) -> None:
        """Resume offsets and history of newly assigned partitions, then read them."""
        assert self.consumer is not None
        tps = set(self.unprepared)
        ends: dict[TopicPartition, int] = {}
        for tp in tps:
            position = await self.consumer.position(tp)
            if await self.consumer.committed(tp) is None:
                await self.consumer.commit({tp: position})  # a restart resumes here too
                log.info("%s[%d]: first start, from offset %d", tp.topic, tp.partition, position)
            ends[tp] = position
        states = {tp: PartitionState(_tp(tp)) for tp in tps}
        now = time.time()

        def apply(tp: TopicPartition, r: Any) -> None:
            alert = _alert(r.value)
            if alert is not None:
                record = Record(tp.topic, tp.partition, r.offset, r.key, r.value, 0.0)
                self.dispatcher.jobs(states[tp], alert, record, now, restoring=True)

        complete = await read_history(
            self.options, ends, apply, self.forward.restore_timeout_s, self._beat,
            self.kafka.fetch_max_wait_ms,
        )  # fmt: skip
        if not complete:
            log.warning("the alerts' history was not read whole within %.0f s: alerts open "
                        "before it may not be re-sent", self.forward.restore_timeout_s)  # fmt: skip
        for tp in tps & self.unprepared:  # still ours
            key = _tp(tp)
            self.states[key] = states[tp]
            self.offsets.start(key, ends[tp])
            self.committed[key] = ends[tp]
            self.unprepared.discard(tp)
            if not self.paused:
                self.consumer.resume(tp)

    # --- reading --------------------------------------------------------------------------

    def _beat(self) -> None:
        busy = bool(self.unprepared) or not self.joined
        self.health.beat(joined=self.joined, recovering=busy)

    async def run(self, stop: asyncio.Event) -> None:
        assert self.consumer is not None
        tasks = [asyncio.ensure_future(t) for t in (self._commits(stop), self._resends(stop),
                                                     self._lag(stop))]  # fmt: skip
        try:
            while not stop.is_set():
                self._beat()
                if self.deliverer is not None and self.deliverer.broken is not None:
                    raise RuntimeError("a delivery lane failed") from self.deliverer.broken
                if self.unprepared:
                    try:
                        await self.prepare()
                    except (IllegalStateError, KafkaError) as exc:  # revoked or broker trouble
                        log.info("partition preparation restarted (%s)", type(exc).__name__)
                        await asyncio.sleep(0.5)
                    continue
                self._flow()
                room = max(1, self.forward.max_pending - self.offsets.pending)
                batch = await self.consumer.getmany(timeout_ms=100, max_records=min(BATCH, room))
                now = time.time()
                for tp, records in batch.items():
                    state = self.states.get(_tp(tp))
                    if state is not None:
                        for r in records:
                            self._take(state, r, now)
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def _flow(self) -> None:
        """Pause reading at ``max_pending`` unsettled transitions; resume below 90 %."""
        assert self.consumer is not None
        pending = self.offsets.pending
        self.metrics.pending.set(pending)
        limit = self.forward.max_pending
        ours = [TopicPartition(*key) for key in self.states]
        if not self.paused and pending >= limit:
            self.paused = True
            self.consumer.pause(*ours)
        elif self.paused and pending < 0.9 * limit:
            self.paused = False
            self.consumer.resume(*ours)

    def _take(self, state: PartitionState, r: Any, now: float) -> None:
        assert self.deliverer is not None and self.dead is not None
        key = state.tp
        self.offsets.read(key, r.offset)
        record = Record(key[0], key[1], r.offset, r.key, r.value, r.timestamp / 1000.0)
        try:
            alert = Head.model_validate_json(r.value or b"")
        except ValidationError as exc:
            self.metrics.transitions.labels("invalid").inc()
            log.warning("%s[%d]@%d is not an alert: dead-lettered", key[0], key[1], r.offset)
            task = asyncio.ensure_future(self._dead_letter(record, invalid_detail(exc)))
            self.side_tasks.add(task)  # kept until done (the loop holds tasks weakly)
            task.add_done_callback(self.side_tasks.discard)
            return
        jobs = self.dispatcher.jobs(state, alert, record, now)
        if not jobs:
            self.metrics.transitions.labels("duplicate" if jobs is None else "not_routed").inc()
            self._settled(record)
            return
        self.metrics.transitions.labels("routed").inc()
        record.remaining = len(jobs)
        for job in jobs:
            self.deliverer.submit(job)

    async def _dead_letter(self, record: Record, detail: str) -> None:
        assert self.dead is not None
        await self.dead.invalid(record, detail)
        self._settled(record)

    def _settled(self, record: Record) -> None:
        self.offsets.settle((record.topic, record.partition), record.offset)

    # --- periodic work --------------------------------------------------------------------

    async def commit(self, only: set[TP] | None = None) -> None:
        assert self.consumer is not None
        due = {
            key: position
            for key, position in self.offsets.positions().items()
            if (only is None or key in only) and self.committed.get(key) != position
        }
        if not due:
            return
        await self.consumer.commit({TopicPartition(*key): pos for key, pos in due.items()})
        self.committed.update(due)

    async def _commits(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await asyncio.sleep(self.forward.commit_interval_s)
            try:
                await self.commit()
            except Exception as exc:  # a rebalance in progress: the next round commits
                log.info("commit deferred (%s)", type(exc).__name__)

    async def _resends(self, stop: asyncio.Event) -> None:
        assert self.deliverer is not None
        every = min(5.0, self.forward.alertmanager_resend_s / 4)
        while not stop.is_set():
            await asyncio.sleep(every)
            now = time.time()
            counts = dict.fromkeys(
                (n for n, r in self.receivers.receivers.items() if r.kind == "alertmanager"), 0
            )
            for state in list(self.states.values()):
                for receiver, fires in state.firing.items():
                    counts[receiver] = counts.get(receiver, 0) + len(fires)
                for receiver, alert_id, firing in self.dispatcher.due(state, now):
                    if self.gates[receiver].failing or not self.deliverer.idle(
                        (receiver, alert_id)
                    ):
                        continue
                    self.deliverer.submit(self.dispatcher.resend(state, receiver, alert_id, firing))
                    self.metrics.resends.labels(receiver).inc()
            for receiver, n in counts.items():
                self.metrics.firing.labels(receiver).set(n)

    async def _lag(self, stop: asyncio.Event) -> None:
        """Lag per owned partition. A paused partition is not fetched, so its fetch-response
        high watermark stops moving; the end offsets from ListOffsets keep moving (and are
        under-reported by the embedded broker): the larger of the two is used."""
        assert self.consumer is not None
        while not stop.is_set():
            await asyncio.sleep(LAG_INTERVAL_S)
            tps = [TopicPartition(*key) for key in self.states]
            highs: dict[TP, int | None] = {}
            ends: dict[TopicPartition, int] = {}
            with contextlib.suppress(Exception):  # the broker: the next round
                ends = await self.consumer.end_offsets(tps)
            for tp in tps:
                with contextlib.suppress(Exception):  # revoked meanwhile
                    fetched = self.consumer.highwater(tp)
                    highs[_tp(tp)] = max(fetched or 0, ends.get(tp, 0))
            self.metrics.lag.update(lags(highs, self.offsets.positions()))


def _alert(value: bytes | None) -> Head | None:
    try:
        return Head.model_validate_json(value or b"")
    except ValidationError:
        return None
