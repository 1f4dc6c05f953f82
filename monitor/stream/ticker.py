"""Ticking: time passes for the patients of this worker's partitions, without new events.

Runs the engine's ``tick`` at stream time (:class:`monitor.stream.clock.StreamClock`), so snoozes
end and alerts resolve when nothing arrives. It works in slices: at most ``slice_s`` of CPU
before it pauses ``pause_s``. Ticking a ward of 1,000 patients is 150-300 ms of CPU; run in one
go, or paused only with ``sleep(0)``, it left the consumer one fetch step per slice (its fetches
cross to the consumer thread and back), and probes waited up to 400 ms for the tick to end.
Each slice holds the state lock (shared with batches) while it reads, ticks, sends and saves.
"""

from __future__ import annotations

import asyncio
from collections import Counter

from monitor.contracts.alerts import Alert
from monitor.stream.clock import Clocks, StreamClock
from monitor.stream.flush import Assignment
from monitor.stream.health import Health
from monitor.stream.metrics import PRIORITIES, WorkerMetrics
from monitor.stream.processor import BatchProcessor, DeadLetter, TickResult
from monitor.stream.publish import Publisher
from monitor.stream.statestore import StateStore

TICK_SLICE_S = 0.005
TICK_PAUSE_S = 0.005


class Ticker:
    def __init__(
        self,
        store: StateStore,
        processor: BatchProcessor,
        publisher: Publisher,
        lock: asyncio.Lock,
        assignment: Assignment,
        stream_clock: StreamClock,
        metrics: WorkerMetrics,
        clocks: Clocks,
        slice_s: float = TICK_SLICE_S,
        pause_s: float = TICK_PAUSE_S,
        health: Health | None = None,
    ) -> None:
        self.store = store
        self.processor = processor
        self.publisher = publisher
        self.lock = lock
        self.assignment = assignment
        self.stream_clock = stream_clock
        self.metrics = metrics
        self.clocks = clocks
        self.slice_s = slice_s
        self.pause_s = pause_s
        self.health = health or Health(float("inf"))
        self.open_alerts: Counter[str] = Counter()  # open alerts by priority, this tick so far

    async def tick(self) -> None:
        """Tick every patient of the active partitions once, slice by slice."""
        with self.health.working("tick"):
            await self._tick()

    async def _tick(self) -> None:
        now = self.stream_clock.now(self.clocks.wall())
        if now <= 0 or self.assignment.rebalancing:
            return
        keys = self.store.keys(self.assignment.owned())  # this worker's active partitions only
        done = 0
        self.open_alerts = Counter()
        while done < len(keys) and not self.assignment.rebalancing:
            done, alerts = await self.tick_slice(keys, done, now)
            self.metrics.count_alerts(alerts)
            await self.clocks.sleep(self.pause_s)  # fetches and batches go on in between
        self.metrics.ticks.inc()
        self.metrics.patients.set(len(keys))
        if done >= len(keys):  # every patient seen: the count is whole
            for priority in PRIORITIES:
                self.metrics.alerts_active.labels(priority).set(self.open_alerts[priority])

    async def tick_slice(
        self, keys: list[bytes], start: int, now: float
    ) -> tuple[int, list[Alert]]:
        """Tick patients from ``keys[start]`` on for one slice; returns where to go on from."""
        async with self.lock:
            alerts: list[Alert] = []
            letters: list[DeadLetter] = []
            updates: list[tuple[bytes, TickResult]] = []
            generation = self.store.generation
            deadline = self.clocks.perf() + self.slice_s
            wall = self.clocks.wall()
            i = start
            while i < len(keys) and (i == start or self.clocks.perf() < deadline):
                key = keys[i]
                i += 1
                saved = self.store.get(key)
                if saved is None:
                    continue
                result = self._tick_one(key, saved, now, wall)
                if result.priority is not None:
                    self.open_alerts[result.priority] += 1
                alerts.extend(result.alerts)
                if result.unreadable is not None:
                    letters.append(result.unreadable)
                if result.evict or result.data is not None:
                    updates.append((key, result))
            sent = await self.publisher.send(alerts, letters)
            self.metrics.state_load_failures.labels("tick").inc(len(letters))
            if self.store.generation == generation:  # else a rebalance began: replayed later
                for key, result in updates:
                    self.store.put(key, None if result.evict else result.data, result.durable)
        if sent:
            await asyncio.gather(*sent)
        return i, alerts

    def _tick_one(self, key: bytes, saved: bytes, now: float, wall: float) -> TickResult:
        try:
            pid = key.decode()
        except UnicodeDecodeError:
            # No event can carry this key (a patient id is a JSON string, so its key is UTF-8):
            # a corrupt record. Dead-lettered and deleted like an unreadable state.
            letter = self.processor.unreadable(key, saved, "the key is not UTF-8", wall)
            return TickResult([], None, True, True, letter)
        return self.processor.tick(pid, saved, now, wall)
