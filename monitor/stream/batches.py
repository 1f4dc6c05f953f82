"""One batch of consumed messages through the shell: gaps, engine, publishing, saving, metrics.

The engine step itself is :class:`monitor.stream.processor.BatchProcessor` (no I/O); this adds
what touches the worker's shared state. Under the state lock (shared with the tick) it reads,
steps, hands the transitions to the producer and saves the new states; outside it, it waits for
the broker's acks. Only when this returns does Faust acknowledge the batch, so a commit never
covers a message whose state is not in the store.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from monitor.stream.clock import Clocks, StreamClock
from monitor.stream.deadletter import Inbound
from monitor.stream.gaps import OffsetGaps
from monitor.stream.health import Health
from monitor.stream.metrics import WorkerMetrics
from monitor.stream.processor import BatchProcessor
from monitor.stream.publish import Publisher
from monitor.stream.statestore import StateStore

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Received:
    """One consumed message and what Faust knows of its delivery."""

    message: Inbound
    timestamp: float  # the Kafka timestamp (seconds)
    generation: int  # the consumer generation it was fetched in


class NamesSeen:
    """Logs each unrecognised medication name once at INFO (a drug name is not a patient
    identifier), so an integration engineer sees what the catalogue is missing; remembers at
    most ``limit`` names, so a feed of garbage cannot grow memory without bound."""

    def __init__(self, limit: int = 10_000) -> None:
        self.seen: set[str] = set()
        self.limit = limit

    def note(self, name: str) -> None:
        if name in self.seen or len(self.seen) >= self.limit:
            return
        self.seen.add(name)
        log.info("medication name not in the drug catalogue (counted, not exposure): %r", name)


class BatchHandler:
    def __init__(
        self,
        store: StateStore,
        processor: BatchProcessor,
        publisher: Publisher,
        lock: asyncio.Lock,
        gaps: OffsetGaps,
        stream_clock: StreamClock,
        metrics: WorkerMetrics,
        clocks: Clocks,
        generation: Callable[[], int],
        health: Health | None = None,
    ) -> None:
        self.store = store
        self.processor = processor
        self.publisher = publisher
        self.lock = lock
        self.gaps = gaps
        self.stream_clock = stream_clock
        self.metrics = metrics
        self.clocks = clocks
        self.generation = generation  # the consumer's current generation
        self.health = health or Health(float("inf"))
        self.unrecognised = NamesSeen()
        # (topic, partition) -> the offset after the last one processed (consumer lag)
        self.positions: dict[tuple[str, int], int] = {}

    def _count_gaps(self, batch: list[Received]) -> None:
        current = self.generation()
        for r in batch:
            m = r.message
            if r.generation != current:
                continue  # fetched before the last rebalance: says nothing of this one
            if skipped := self.gaps.see(m.topic, m.partition, m.offset):
                self.metrics.input_gaps.inc(skipped)
                log.warning(
                    "%d input offset(s) before %s[%d]@%d were never delivered",
                    skipped, m.topic, m.partition, m.offset,
                )  # fmt: skip

    async def handle(self, batch: list[Received]) -> None:
        """Process one batch; returns once the broker has acknowledged what it sent."""
        with self.health.working("batch"):
            await self._handle(batch)

    async def _handle(self, batch: list[Received]) -> None:
        self._count_gaps(batch)
        async with self.lock:
            wall = self.clocks.wall()
            generation = self.store.generation
            result = self.processor.process([r.message for r in batch], self._load, wall)
            sent = await self.publisher.send(result.alerts, result.dead + result.unreadable)
            if self.store.generation == generation:  # else a rebalance began: replayed later
                for pid, data in result.states.items():
                    self.store.put(pid.encode(), data)
        if sent:
            await asyncio.gather(*sent)  # a failed send crashes the agent (Faust restarts it)
        done = self.clocks.wall()
        m = self.metrics
        m.batch_seconds.observe(done - wall)
        oldest = min((r.timestamp for r in batch), default=done)
        m.lag_seconds.observe(max(0.0, done - oldest))
        m.events.labels("applied").inc(result.processed - result.duplicates)
        m.events.labels("duplicate").inc(result.duplicates)
        m.events.labels("redelivered").inc(result.redelivered)
        m.events.labels("rejected").inc(len(result.dead))
        for reason, n in result.rejected.items():
            m.rejected.labels(reason).inc(n)
        m.count_alerts(result.alerts)
        for alert, source in zip(result.alerts, result.alert_sources, strict=True):
            m.event_to_alert.observe(max(0.0, done - alert.time.timestamp()))
            m.arrival_to_alert.observe(max(0.0, done - batch[source].timestamp))
        for kind, n in result.kinds.items():
            m.input_events.labels(kind).inc(n)
            m.last_event.labels(kind).set(done)
        for r in batch:  # the next offset to process, for the consumer lag
            tp = (r.message.topic, r.message.partition)
            self.positions[tp] = max(self.positions.get(tp, 0), r.message.offset + 1)
        m.state_load_failures.labels("batch").inc(len(result.unreadable))
        m.medications_unrecognised.inc(sum(result.unrecognised.values()))
        for name in result.unrecognised:
            self.unrecognised.note(name)
        self.stream_clock.saw(result.max_event_time, wall)
        for reason, n in result.rejected.items():
            log.info("dead-lettered %d message(s): %s", n, reason)

    def _load(self, pid: str) -> bytes | None:
        return self.store.get(pid.encode())
