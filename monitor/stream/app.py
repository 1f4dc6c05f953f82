"""The Faust app factory: topics, the patient-state table, the processing agent and the tick timer.

The agent only decodes, loads state, calls the engine (through :class:`BatchProcessor`), publishes
and saves. Delivery is at-least-once: a state reaches the changelog only after the broker has
acknowledged every alert transition and dead letter sent before it was saved, and every input's
state is in the changelog before the input's offset is committed. A crash in between replays the
inputs; the stored offsets skip what the restored state already holds, and any transition whose
state was not written is regenerated with the same deterministic ``transition_id``.

The agent and the tick both read, step, send and save patient states; one lock makes each
read-send-save atomic, so neither can overwrite the other's newer state. The lock covers handing
the messages to the producer, not waiting for the broker's acknowledgement: that wait happens
outside it (and again in the flush, before any state is written), so a batch never waits for
the tick's round trips or the tick for a batch's. The tick takes the lock a few patients at a
time, so batches never wait behind a whole ward.
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
from monitor.stream import flow, transport
from monitor.stream.deadletter import Inbound
from monitor.stream.gaps import OffsetGaps
from monitor.stream.metrics import WorkerMetrics
from monitor.stream.processor import BatchProcessor, BatchResult, TickResult
from monitor.stream.settings import KafkaSettings, WorkerSettings
from monitor.stream.statestore import StateStore
from monitor.stream.topics import Topics

log = logging.getLogger(__name__)
TABLE = "patient-state"
# The tick works in slices: at most this long before it pauses, and pauses this long. Ticking
# a ward of 1,000 patients is 150-300 ms of CPU; run in one go, or paused only with sleep(0),
# it left the consumer one fetch step per slice (its fetches cross to the consumer thread and
# back), and probes waited up to 400 ms for the tick to end.
TICK_SLICE_S = 0.005
TICK_PAUSE_S = 0.005
# States per produce round trip in a flush. One producer carries states and alerts, and a single
# broker connection has one request in flight: a 2.5 MB flush sent at once held back alert
# transitions sent during it by up to 300 ms on the embedded broker.
FLUSH_CHUNK_BYTES = 128 * 1024


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
    app = flow.App(
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
    # The futures of the table's changelog sends, so a flush can wait for the broker's ack of
    # each one. Faust's producer.flush() is not enough: its buffer flush gives up after 100 ms
    # without a send and returns with records still queued (faust 0.15.3, flush_atmost), so a
    # commit could follow before the states were on the broker.
    changelog_sends: list[asyncio.Future[Any]] = []
    send_changelog = table.send_changelog

    def tracked_send_changelog(*args: Any, **kwargs: Any) -> Any:
        future = send_changelog(*args, **kwargs)
        changelog_sends.append(future)
        return future

    table.send_changelog = tracked_send_changelog  # type: ignore[method-assign]
    nms = NmsWorkerApp(app, topics, table, store, processor, clock, kafka, worker, metrics)
    state_lock = asyncio.Lock()
    flush_lock = asyncio.Lock()

    unacked: set[asyncio.Future[Any]] = set()  # sent, not yet acknowledged by the broker
    undelivered: list[BaseException] = []  # sends that failed: no state may be written after

    def settled(future: asyncio.Future[Any]) -> None:
        unacked.discard(future)
        if future.cancelled():
            undelivered.append(asyncio.CancelledError())
        elif (exc := future.exception()) is not None:
            undelivered.append(exc)

    async def send(result: BatchResult, alerts: list[Alert]) -> list[asyncio.Future[Any]]:
        """Hand transitions and dead letters to the producer; the futures resolve on the ack."""
        futures: list[asyncio.Future[Any]] = []
        for a in alerts:
            sending = await alerts_topic.send(
                key=a.patient_id.encode(),
                value=a.model_dump_json().encode(),
                headers={
                    "transition_id": a.transition_id.encode(),
                    "transition": a.transition.encode(),
                },
            )
            futures.append(asyncio.ensure_future(sending))
        for d in result.dead:
            sending = await dead_topic.send(
                key=d.key, value=d.value, headers={"reason": d.reason.encode()}
            )
            futures.append(asyncio.ensure_future(sending))
        unacked.update(futures)
        for f in futures:
            f.add_done_callback(settled)
        return futures

    async def acknowledged() -> None:
        """Wait until the broker has acknowledged every changelog record sent so far."""
        sends = changelog_sends[:]
        del changelog_sends[:]
        await asyncio.gather(*sends)

    async def stop(what: str, exc: BaseException) -> bool:
        """A send failed: stop the worker rather than commit past it. Its supervisor restarts
        it, and the input since the last commit is replayed."""
        log.error("%s could not be delivered; stopping: %s", what, type(exc).__name__)
        store.forget()
        await app.crash(exc)
        return False

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
            # Every transition sent before these states were saved, acknowledged first. If one
            # failed, the states behind it must never be written.
            await asyncio.gather(*unacked, return_exceptions=True)
            if undelivered:
                return await stop("a transition", undelivered[0])
            written = dropped = 0
            touched: set[int] = set()
            try:
                for part in store.chunks(snapshot, FLUSH_CHUNK_BYTES):
                    if app.rebalancing:
                        dropped += len(part)
                        continue
                    n, lost, parts = store.write(part, owned())
                    written, dropped = written + n, dropped + lost
                    touched |= parts
                    # One chunk on the wire at a time: alert transitions sent meanwhile wait
                    # for at most this much state ahead of them, not for the whole flush.
                    await acknowledged()
                if touched:
                    store.write_markers(touched)
                    await acknowledged()
            except Exception as exc:  # the broker refused or lost a state: never commit
                return await stop("a state", exc)
            metrics.states.labels("written").inc(written)
            metrics.states.labels("dropped").inc(dropped)
            metrics.flush_seconds.observe(time.perf_counter() - started)
            return dropped == 0

    # Called by the transport's consumer before it commits offsets (see monitor.stream.transport).
    app.nms_before_commit = flush_states  # type: ignore[attr-defined]

    gaps = OffsetGaps()

    async def forget_pending(*_: Any, **__: Any) -> None:
        """At a rebalance, states not yet flushed are dropped: no offsets were committed since,
        so each partition's next owner replays those messages from its changelog state. Kept,
        such a state could later overwrite newer writes of another worker. Offsets delivered
        so far no longer predict the next ones: the new assignment starts new runs."""
        metrics.states.labels("dropped").inc(store.forget())
        gaps.reset()

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
            for e in events:
                m = e.message
                if m.generation_id != app.consumer_generation_id:
                    continue  # fetched before the last rebalance: says nothing of this one
                if skipped := gaps.see(m.topic, m.partition, m.offset):
                    metrics.input_gaps.inc(skipped)
                    log.warning(
                        "%d input offset(s) before %s[%d]@%d were never delivered",
                        skipped, m.topic, m.partition, m.offset,
                    )  # fmt: skip
            async with state_lock:
                wall = time.time()
                generation = store.generation
                result = processor.process(batch, load, wall)
                sent = await send(result, result.alerts)
                if store.generation == generation:  # else a rebalance began: replayed later
                    for pid, data in result.states.items():
                        store.put(pid.encode(), data)
            if sent:
                await asyncio.gather(*sent)  # a failed send crashes this agent (Faust restarts it)
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

    async def tick_slice(keys: list[bytes], start: int, now: float) -> tuple[int, list[Alert]]:
        """Tick patients from ``keys[start]`` on for one slice; returns where to go on from."""
        async with state_lock:
            alerts: list[Alert] = []
            updates: list[tuple[bytes, TickResult]] = []
            generation = store.generation
            deadline = time.perf_counter() + TICK_SLICE_S
            i = start
            while i < len(keys) and (i == start or time.perf_counter() < deadline):
                key = keys[i]
                i += 1
                saved = store.get(key)
                if saved is None:
                    continue
                result = processor.tick(key.decode(), saved, now)
                alerts.extend(result.alerts)
                if result.evict or result.data is not None:
                    updates.append((key, result))
            sent = await send(BatchResult(), alerts)
            if store.generation == generation:
                for key, result in updates:
                    store.put(key, None if result.evict else result.data, result.durable)
        if sent:
            await asyncio.gather(*sent)
        return i, alerts

    # faust's timer decorator is untyped; the function itself is fully typed.
    @app.timer(interval=worker.tick_interval_s, name="nms-tick")  # type: ignore[untyped-decorator]
    async def tick() -> None:
        now = nms.stream_now()
        if now <= 0 or app.rebalancing:
            return
        keys = store.keys(owned())  # patients of this worker's active partitions only
        done = 0
        while done < len(keys) and not app.rebalancing:
            done, alerts = await tick_slice(keys, done, now)
            metrics.count_alerts(alerts)
            await asyncio.sleep(TICK_PAUSE_S)  # fetches and batches go on in between
        metrics.ticks.inc()
        metrics.patients.set(len(keys))

    @app.timer(interval=kafka.commit_interval_s, name="nms-flush")  # type: ignore[untyped-decorator]
    async def flush() -> None:
        # States changed by ticks alone (no new input, so no commit) still reach the changelog.
        if store.dirty:
            await flush_states()

    return nms
