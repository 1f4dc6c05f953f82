"""The Faust app factory: topics, the patient-state table, the processing agent and the tick timer.

The agent only decodes, loads state, calls the engine (through :class:`BatchProcessor`), publishes
and saves. Delivery is at-least-once: alert transitions and dead letters are sent and
acknowledged by the broker before the new states are saved (to the :class:`StateStore`, which
reaches the table's changelog in bulk), and every saved state is in the changelog before the
input offsets are committed. A crash in between replays the inputs; the stored offsets skip what
the restored state already holds, and any transition whose state was not saved is regenerated
with the same deterministic ``transition_id``.

The agent and the tick both read, step and save patient states with awaits (publishing) in
between; one lock makes each read-publish-save atomic, so neither can overwrite the other's newer
state. The tick takes it a few patients at a time, so batches never wait behind a whole ward.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from dataclasses import dataclass
from typing import Any

import faust
from prometheus_client import CollectorRegistry

from monitor.contracts.alerts import Alert
from monitor.knowledge.thresholds import ClinicalSettings
from monitor.stream import transport
from monitor.stream.deadletter import Inbound
from monitor.stream.metrics import WorkerMetrics
from monitor.stream.processor import BatchProcessor, BatchResult
from monitor.stream.settings import KafkaSettings, WorkerSettings
from monitor.stream.statestore import StateStore
from monitor.stream.topics import Topics

log = logging.getLogger(__name__)
TABLE = "patient-state"
TICK_CHUNK = 50  # patients per tick step: about 10 ms of work before batches get a turn


@dataclass
class StreamClock:
    """The latest event time this worker has seen, and the wall time when it saw it.

    Counts live in the Prometheus metrics (``WorkerMetrics``), not here.
    """

    max_event_time: float = 0.0
    max_event_seen_at: float = 0.0


@dataclass
class NmsWorkerApp:
    app: faust.App
    topics: Topics
    table: Any
    store: StateStore
    processor: BatchProcessor
    clock: StreamClock
    kafka: KafkaSettings
    worker: WorkerSettings
    metrics: WorkerMetrics

    def stream_now(self, wall_now: float | None = None) -> float:
        """Event time now: the latest event time seen, advanced by the wall time since then.

        Equals the wall clock for a live feed; for a replayed historical feed it moves forward at
        real speed from the data, so ticks do not leap months ahead of the patients' events.
        """
        wall = time.time() if wall_now is None else wall_now
        if self.clock.max_event_seen_at == 0.0:
            return 0.0
        return self.clock.max_event_time + (wall - self.clock.max_event_seen_at)


def credentials(kafka: KafkaSettings) -> Any:
    """Faust credentials from the settings: TLS (optionally mutual) and SASL PLAIN/SCRAM."""
    context = None
    if kafka.security_protocol in ("SSL", "SASL_SSL"):
        context = ssl.create_default_context(cafile=kafka.ssl_cafile)
        if kafka.ssl_certfile:
            context.load_cert_chain(kafka.ssl_certfile, kafka.ssl_keyfile)
    if kafka.security_protocol.startswith("SASL"):
        assert kafka.sasl_password is not None and kafka.sasl_mechanism is not None
        return faust.SASLCredentials(
            username=kafka.sasl_username,
            password=kafka.sasl_password.get_secret_value(),
            ssl_context=context,
            mechanism=kafka.sasl_mechanism,
        )
    if context is not None:
        return faust.SSLCredentials(context)
    return None


def create_app(
    kafka: KafkaSettings,
    worker: WorkerSettings,
    clinical: ClinicalSettings,
    metrics: WorkerMetrics | None = None,
) -> NmsWorkerApp:
    """Build the Faust app from the settings (no module-level app: one composition root)."""
    if not kafka.bootstrap_list():
        raise ValueError("no Kafka bootstrap servers configured")
    transport.register()
    topics = Topics(kafka.topic_prefix)
    app = faust.App(
        kafka.group,
        broker=[f"{transport.SCHEME}://{h}" for h in kafka.bootstrap_list()],
        broker_credentials=credentials(kafka),
        store=kafka.store,
        datadir=worker.data_dir,
        autodiscover=False,
        topic_partitions=kafka.partitions,
        topic_replication_factor=kafka.replication_factor,
        # A warm copy of other workers' partitions: a takeover reads only the changelog's tail
        # (the embedded broker never compacts, so a cold recovery replays every write).
        table_standby_replicas=kafka.standby_replicas,
        processing_guarantee="at_least_once",
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=kafka.session_timeout_s,
        broker_heartbeat_interval=kafka.heartbeat_interval_s,
        broker_commit_interval=kafka.commit_interval_s,
        producer_max_batch_size=kafka.producer_max_batch_bytes,
        producer_linger=0.0,
        stream_wait_empty=False,
        web_enabled=worker.web_enabled,
        web_port=worker.web_port,
        web_host="127.0.0.1",
        # Everything on the wire is our own bytes (JSON events, alerts, engine state).
        key_serializer="raw",
        value_serializer="raw",
    )
    app.nms_fetch_max_wait_ms = kafka.fetch_max_wait_ms  # type: ignore[attr-defined]
    raw: dict[str, Any] = {"key_type": bytes, "value_type": bytes, "key_serializer": "raw",
                           "value_serializer": "raw"}  # fmt: skip
    inputs = app.topic(*topics.inputs, partitions=kafka.partitions, **raw)
    alerts_topic = app.topic(topics.alerts, partitions=kafka.partitions, **raw)
    dead_topic = app.topic(topics.deadletter, partitions=kafka.partitions, **raw)
    table = app.Table(
        TABLE,
        default=None,
        key_type=bytes,
        value_type=bytes,
        partitions=kafka.partitions,
        # The timer writes outside stream events, so the producer's murmur2 partitioner places
        # changelog records: the same partition as the patient's input messages.
        use_partitioner=True,
    )
    processor = BatchProcessor(clinical, worker.max_message_bytes, worker.max_future_skew_s)
    clock = StreamClock()
    metrics = metrics or WorkerMetrics(CollectorRegistry())
    store = StateStore(table, kafka.partitions)
    nms = NmsWorkerApp(app, topics, table, store, processor, clock, kafka, worker, metrics)
    state_lock = asyncio.Lock()
    flush_lock = asyncio.Lock()

    async def publish(result: BatchResult, alerts: list[Alert]) -> None:
        futures = []
        for a in alerts:
            futures.append(
                await alerts_topic.send(
                    key=a.patient_id.encode(),
                    value=a.model_dump_json().encode(),
                    headers={
                        "transition_id": a.transition_id.encode(),
                        "transition": a.transition.encode(),
                    },
                )
            )
        for d in result.dead:
            futures.append(
                await dead_topic.send(
                    key=d.key, value=d.value, headers={"reason": d.reason.encode()}
                )
            )
        if futures:
            await asyncio.gather(*futures)  # acknowledged before any state is saved

    def owned() -> set[int]:
        return {tp.partition for tp in app.assignor.assigned_actives() if tp.topic in topics.inputs}

    async def flush_states() -> bool:
        """Write every pending state to the table and wait for the broker to have them.

        False when some were dropped (their partition is being reassigned): the caller must not
        commit input offsets then, so the partition's new owner replays those messages.
        """
        async with flush_lock:
            snapshot = store.take()
            if not snapshot:
                return True
            started = time.perf_counter()
            if app.rebalancing:
                written, dropped = 0, len(snapshot)
            else:
                written, dropped, touched = store.write(snapshot, owned())
                await app.producer.flush()
                store.write_markers(touched)
                await app.producer.flush()
            metrics.states.labels("written").inc(written)
            metrics.states.labels("dropped").inc(dropped)
            metrics.flush_seconds.observe(time.perf_counter() - started)
            return dropped == 0

    # Called by the transport's consumer before it commits offsets (see monitor.stream.transport).
    app.nms_before_commit = flush_states  # type: ignore[attr-defined]

    async def forget_pending(*_: Any, **__: Any) -> None:
        """At a rebalance, states not yet flushed are dropped: no offsets were committed since,
        so each partition's next owner replays those messages from its changelog state. Kept,
        such a state could later overwrite newer writes of another worker."""
        dropped = len(store.take())
        metrics.states.labels("dropped").inc(dropped)

    app.on_partitions_revoked.connect(forget_pending)
    app.on_partitions_assigned.connect(forget_pending)

    def load(pid: str) -> bytes | None:
        return store.get(pid.encode())

    @app.agent(inputs, name="nms-engine")
    async def engine(stream: Any) -> None:
        async for events in stream.take_events(worker.batch_size, within=worker.batch_within_s):
            batch = [
                Inbound(e.value, e.key, e.message.topic, e.message.partition, e.message.offset)
                for e in events
            ]
            async with state_lock:
                wall = time.time()
                result = processor.process(batch, load, wall)
                await publish(result, result.alerts)
                for pid, data in result.states.items():
                    store.put(pid.encode(), data)
            # Only now does take_events acknowledge the batch, so a commit never covers a
            # message whose state is not in the store.
            done = time.time()
            metrics.batch_seconds.observe(done - wall)
            oldest = min((e.message.timestamp for e in events), default=done)
            metrics.lag_seconds.observe(max(0.0, done - oldest))
            metrics.events.labels("applied").inc(result.processed - result.duplicates)
            metrics.events.labels("duplicate").inc(result.duplicates)
            metrics.events.labels("redelivered").inc(result.redelivered)
            metrics.events.labels("rejected").inc(len(result.dead))
            for reason, n in result.rejected.items():
                metrics.rejected.labels(reason).inc(n)
            metrics.count_alerts(result.alerts)
            if result.max_event_time > clock.max_event_time:
                clock.max_event_time = result.max_event_time
                clock.max_event_seen_at = wall
            for reason, n in result.rejected.items():
                log.info("dead-lettered %d message(s): %s", n, reason)

    async def tick_some(keys: list[bytes], now: float) -> list[Alert]:
        async with state_lock:
            alerts: list[Alert] = []
            updates: dict[bytes, bytes | None] = {}
            for key in keys:
                saved = store.get(key)
                if saved is None:
                    continue
                found, data, evict = processor.tick(key.decode(), saved, now)
                alerts.extend(found)
                if evict or data is not None:
                    updates[key] = None if evict else data
            await publish(BatchResult(), alerts)
            for key, value in updates.items():
                store.put(key, value)
        return alerts

    # faust's timer decorator is untyped; the function itself is fully typed.
    @app.timer(interval=worker.tick_interval_s, name="nms-tick")  # type: ignore[untyped-decorator]
    async def tick() -> None:
        now = nms.stream_now()
        if now <= 0 or app.rebalancing:
            return
        keys = store.keys(owned())  # patients of this worker's active partitions only
        for start in range(0, len(keys), TICK_CHUNK):
            metrics.count_alerts(await tick_some(keys[start : start + TICK_CHUNK], now))
            await asyncio.sleep(0)  # waiting batches go first
        metrics.ticks.inc()
        metrics.patients.set(len(keys))

    @app.timer(interval=kafka.commit_interval_s, name="nms-flush")  # type: ignore[untyped-decorator]
    async def flush() -> None:
        # States changed by ticks alone (no new input, so no commit) still reach the changelog.
        if store.pending:
            await flush_states()

    return nms
