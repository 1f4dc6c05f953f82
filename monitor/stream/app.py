"""The Faust app factory: the composition root of one worker.

It builds the Faust app, its topics and the patient-state table from the settings, and wires the
named parts of the shell to them: :class:`~monitor.stream.batches.BatchHandler` (the agent's
batches), :class:`~monitor.stream.publish.Publisher` (alert transitions and dead letters),
:class:`~monitor.stream.flush.Flusher` (states to the changelog before each commit) and
:class:`~monitor.stream.ticker.Ticker` (time-driven transitions). Each part takes its clocks and
collaborators as arguments and is tested without a broker; only this module touches Faust.

Delivery is at-least-once: a state reaches the changelog only after the broker has acknowledged
every alert transition and dead letter sent before it was saved, and every input's state is in
the changelog before the input's offset is committed. A crash in between replays the inputs;
the stored offsets skip what the restored state already holds, and any transition whose state
was not written is regenerated with the same deterministic ``transition_id``.

The agent and the tick both read, step, send and save patient states; one lock makes each
read-send-save atomic, so neither can overwrite the other's newer state. The lock covers handing
the messages to the producer, not waiting for the broker's acknowledgement: that wait happens
outside it (and again in the flush, before any state is written), so a batch never waits for
the tick's round trips or the tick for a batch's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from dataclasses import dataclass
from typing import Any

import faust
from prometheus_client import CollectorRegistry

from monitor.knowledge.thresholds import ClinicalSettings
from monitor.stream import flow, rocksstore, transport, upstream
from monitor.stream.batches import BatchHandler, Received
from monitor.stream.clock import Clocks, StreamClock
from monitor.stream.deadletter import Inbound
from monitor.stream.flush import ChangelogAcks, Flusher
from monitor.stream.gaps import OffsetGaps
from monitor.stream.health import Health
from monitor.stream.lag import lags
from monitor.stream.metrics import WorkerMetrics
from monitor.stream.processor import BatchProcessor
from monitor.stream.publish import Publisher
from monitor.stream.settings import KafkaSettings, WorkerSettings
from monitor.stream.statestore import StateStore
from monitor.stream.ticker import Ticker
from monitor.stream.topics import Topics

log = logging.getLogger(__name__)
TABLE = "patient-state"
HEARTBEAT_S = 1.0  # how often the event loop reports to /healthz
LAG_INTERVAL_S = 5.0  # how often the consumer lag is measured
LAG_TIMEOUT_S = 2.0


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
    publisher: Publisher
    flusher: Flusher
    ticker: Ticker
    batches: BatchHandler


class FaustAssignment:
    """The partitions this worker owns, from Faust's assignor (input topics, active only)."""

    def __init__(self, app: faust.App, topics: Topics) -> None:
        self.app = app
        self.inputs = set(topics.inputs)

    @property
    def rebalancing(self) -> bool:
        return bool(self.app.rebalancing)

    def owned(self) -> set[int]:
        return {
            tp.partition for tp in self.app.assignor.assigned_actives() if tp.topic in self.inputs
        }

    def owned_inputs(self) -> list[Any]:
        """The input topic-partitions this worker owns (Faust ``TP`` tuples)."""
        return [tp for tp in self.app.assignor.assigned_actives() if tp.topic in self.inputs]


async def consumer_lag(
    app: faust.App, assignment: FaustAssignment, processed: dict[tuple[str, int], int]
) -> dict[tuple[str, int], int]:
    """The lag of each owned input partition (:mod:`monitor.stream.lag`). The high watermark is
    the larger of the consumer's last fetch response and the end offset from ListOffsets (a
    partition paused by flow control or recovery is not fetched; the embedded broker
    under-reports ListOffsets); the position is the offset after the last one processed, or
    the consumer's position for a partition not processed since it was assigned."""
    tps = assignment.owned_inputs()
    if not tps:
        return {}
    ends: dict[Any, int] = {}
    with contextlib.suppress(Exception):  # the broker: no figure this round
        ends = dict(await asyncio.wait_for(app.consumer.highwaters(*tps), LAG_TIMEOUT_S))
    highs: dict[tuple[str, int], int | None] = {}
    positions: dict[tuple[str, int], int | None] = {}
    for tp in tps:
        key = (tp.topic, tp.partition)
        known: list[int | None] = []
        with contextlib.suppress(Exception):  # not fetched yet, or revoked meanwhile
            known.append(app.consumer.highwater(tp))
        known.append(ends.get(tp))
        values = [v for v in known if v is not None]
        highs[key] = max(values) if values else None
        positions[key] = processed.get(key)
        if positions[key] is None:
            with contextlib.suppress(Exception):
                positions[key] = await asyncio.wait_for(app.consumer.position(tp), LAG_TIMEOUT_S)
    return lags(highs, positions)


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


def faust_app(kafka: KafkaSettings, worker: WorkerSettings) -> flow.App:
    """The Faust app configured from the settings, on this shell's transport and store."""
    app = flow.App(
        kafka.group,
        broker=[f"{transport.SCHEME}://{h}" for h in kafka.bootstrap_list()],
        broker_credentials=credentials(kafka),
        store=rocksstore.store_url(kafka.store),
        datadir=worker.data_dir,
        autodiscover=False,
        topic_partitions=kafka.partitions,
        topic_replication_factor=kafka.replication_factor,
        # A warm copy of other workers' partitions: a takeover reads only the changelog's tail
        # (the embedded broker never compacts, so a cold recovery replays every write).
        table_standby_replicas=kafka.standby_replicas,
        processing_guarantee="at_least_once",
        consumer_auto_offset_reset="earliest",
        recovery_consistency_check=kafka.recovery_consistency_check,
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
    return app


def create_app(
    kafka: KafkaSettings,
    worker: WorkerSettings,
    clinical: ClinicalSettings,
    metrics: WorkerMetrics | None = None,
    clocks: Clocks | None = None,
    health: Health | None = None,
) -> NmsWorkerApp:
    """Build the Faust app from the settings (no module-level app: one composition root)."""
    if not kafka.bootstrap_list():
        raise ValueError("no Kafka bootstrap servers configured")
    upstream.check_versions()
    transport.register()
    rocksstore.register()
    clocks = clocks or Clocks()
    health = health or Health(worker.stall_timeout_s, clocks.monotonic)
    topics = Topics(kafka.topic_prefix)
    app = faust_app(kafka, worker)
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
        # The flush writes outside stream events, so the producer's murmur2 partitioner places
        # changelog records: the same partition as the patient's input messages.
        use_partitioner=True,
    )
    processor = BatchProcessor(
        clinical, worker.max_message_bytes, worker.max_future_skew_s,
        changelog_topic=table.changelog_topic.get_topic_name(), partitions=kafka.partitions,
    )  # fmt: skip
    clock = StreamClock()
    metrics = metrics or WorkerMetrics(CollectorRegistry())
    store = StateStore(table, kafka.partitions)
    assignment = FaustAssignment(app, topics)
    state_lock = asyncio.Lock()
    gaps = OffsetGaps()
    publisher = Publisher(alerts_topic, dead_topic)
    flusher = Flusher(
        store, publisher, ChangelogAcks(table), assignment, app.crash, metrics, clocks,
        health=health,
    )  # fmt: skip
    ticker = Ticker(
        store, processor, publisher, state_lock, assignment, clock, metrics, clocks,
        health=health,
    )  # fmt: skip
    batches = BatchHandler(
        store, processor, publisher, state_lock, gaps, clock, metrics, clocks,
        generation=lambda: int(app.consumer_generation_id), health=health,
    )  # fmt: skip

    # Called by the transport's consumer before it commits offsets (see monitor.stream.transport).
    app.nms_before_commit = flusher.flush  # type: ignore[attr-defined]

    async def forget_pending(*_: Any, **__: Any) -> None:
        """At a rebalance, states not yet flushed are dropped: no offsets were committed since,
        so each partition's next owner replays those messages from its changelog state. Kept,
        such a state could later overwrite newer writes of another worker. Offsets delivered
        so far no longer predict the next ones: the new assignment starts new runs."""
        metrics.states.labels("dropped").inc(store.forget())
        gaps.reset()
        batches.positions.clear()  # a partition's next position is its committed offset

    app.on_partitions_revoked.connect(forget_pending)
    app.on_partitions_assigned.connect(forget_pending)

    joined = asyncio.Event()

    async def on_assigned(*_: Any, **__: Any) -> None:
        joined.set()  # an assignment, even an empty one: this worker is in the group

    app.on_partitions_assigned.connect(on_assigned)

    @app.task  # type: ignore[untyped-decorator]  # faust's decorator is untyped, as for timers
    async def heartbeat() -> None:
        """The event loop's pulse for /healthz (monitor.stream.health), with what it sees of
        the group: Faust is rebalancing from a rebalance's start until its tables are
        recovered and the input partitions resumed."""
        while not app.should_stop:
            health.beat(joined=joined.is_set(), recovering=bool(app.rebalancing))
            await clocks.sleep(HEARTBEAT_S)

    @app.agent(inputs, name="nms-engine")
    async def engine(stream: Any) -> None:
        async for events in stream.take_events(worker.batch_size, within=worker.batch_within_s):
            await batches.handle([received(e) for e in events])

    # faust's timer decorator is untyped; the function itself is fully typed.
    @app.timer(interval=worker.tick_interval_s, name="nms-tick")  # type: ignore[untyped-decorator]
    async def tick() -> None:
        await ticker.tick()

    @app.timer(interval=LAG_INTERVAL_S, name="nms-lag")  # type: ignore[untyped-decorator]
    async def lag() -> None:
        metrics.lag.update(await consumer_lag(app, assignment, batches.positions))

    @app.timer(interval=kafka.commit_interval_s, name="nms-flush")  # type: ignore[untyped-decorator]
    async def flush() -> None:
        # States changed by ticks alone (no new input, so no commit) still reach the changelog.
        if store.dirty:
            await flusher.flush()

    return NmsWorkerApp(
        app, topics, table, store, processor, clock, kafka, worker, metrics,
        publisher, flusher, ticker, batches,
    )  # fmt: skip


def received(event: Any) -> Received:
    """A Faust event as the batch handler sees it."""
    m = event.message
    inbound = Inbound(event.value, event.key, m.topic, m.partition, m.offset)
    return Received(inbound, m.timestamp, m.generation_id)
