"""The delivery loop: every job reaches its receiver, in order per alert and receiver.

A job is one request to one receiver. Jobs of the same alert for the same receiver form a lane
and go one after the other, so a receiver sees an alert's transitions in the order they were
published; lanes run concurrently (at most ``max_in_flight`` requests at a time). An attempt
that is not accepted is retried (:mod:`monitor.forward.outcome` decides) after the receiver's
backoff (:class:`monitor.forward.gate.Gate`), for as long as it takes; a refusal is handed to
the dead-letter sink, which returns once the dead letter is on the broker. Only then is the job
settled: a transition's record is settled when all its jobs are, and only settled records let
their partition's offset be committed (:mod:`monitor.forward.offsets`).

The transport and the dead-letter sink are injected, so this runs in tests without a network.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from monitor.forward.gate import Gate
from monitor.forward.metrics import ForwardMetrics
from monitor.forward.outcome import Answer, failure_reason, verdict

log = logging.getLogger(__name__)
LaneKey = tuple[str, str]  # (receiver, alert_id)


@dataclass(frozen=True, slots=True)
class Request:
    url: str
    body: bytes
    headers: Mapping[str, str]
    timeout_s: float


@dataclass(eq=False, slots=True)
class Record:
    """One transition read from the alerts topic, until every job it routes to is settled."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    timestamp: float  # its Kafka timestamp (seconds): arrival on the alerts topic
    remaining: int = 0


@dataclass(eq=False, slots=True)
class Job:
    receiver: str
    alert_id: str
    make: Callable[[float], Request]  # the request as of the attempt's wall time
    record: Record | None  # None: a re-send of a firing alert (no offset waits for it)
    on_delivered: Callable[[float], None] | None = None
    tp: tuple[str, int] = ("", -1)  # the alerts partition the alert lives on
    failed: bool = False

    @property
    def lane(self) -> LaneKey:
        return (self.receiver, self.alert_id)


class Transport(Protocol):
    async def post(self, request: Request) -> Answer:
        """Send; an Answer with ``status`` None for a timeout or a network error."""


class DeadLetterSink(Protocol):
    async def refused(self, job: Job, answer: Answer) -> None:
        """Return once the refused delivery is on the dead-letter topic."""


class Deliverer:
    def __init__(
        self,
        transport: Transport,
        gates: Mapping[str, Gate],
        metrics: ForwardMetrics,
        dead: DeadLetterSink,
        settle: Callable[[Record], None],
        max_in_flight: int,
        wall: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.transport = transport
        self.gates = gates
        self.metrics = metrics
        self.dead = dead
        self.settle = settle
        self.wall = wall
        self.sleep = sleep
        self.slots = asyncio.Semaphore(max_in_flight)
        self.lanes: dict[LaneKey, deque[Job]] = {}
        self.tasks: dict[LaneKey, asyncio.Task[None]] = {}
        self.broken: BaseException | None = None  # the first lane that raised

    def submit(self, job: Job) -> None:
        lane = self.lanes.get(job.lane)
        if lane is None:
            lane = self.lanes[job.lane] = deque()
        lane.append(job)
        self.metrics.queued.labels(job.receiver).inc()
        if job.lane not in self.tasks:
            task = asyncio.get_running_loop().create_task(self._run(job.lane))
            task.add_done_callback(self._ended)
            self.tasks[job.lane] = task

    def _ended(self, task: asyncio.Task[None]) -> None:
        """A lane that raised is a bug: remembered for the main loop to stop on (its jobs stay
        unsettled, so their offsets are not committed and a restart delivers them again)."""
        if not task.cancelled() and (exc := task.exception()) is not None and not self.broken:
            log.error("a delivery lane failed", exc_info=exc)
            self.broken = exc

    def idle(self, lane: LaneKey) -> bool:
        return lane not in self.lanes

    @property
    def busy(self) -> int:
        return len(self.tasks)

    async def _run(self, key: LaneKey) -> None:
        lane = self.lanes[key]
        try:
            while lane:
                job = lane[0]
                await self._deliver(job)
                lane.popleft()
                self.metrics.queued.labels(job.receiver).dec()
                if job.record is not None:
                    job.record.remaining -= 1
                    if job.record.remaining == 0:
                        self.settle(job.record)
        finally:
            if not lane and self.lanes.get(key) is lane:
                del self.lanes[key]
            if self.tasks.get(key) is asyncio.current_task():
                del self.tasks[key]

    async def _deliver(self, job: Job) -> None:
        gate = self.gates[job.receiver]
        m = self.metrics
        while True:
            probe = await gate.enter()
            try:
                async with self.slots:
                    answer = await self.transport.post(job.make(self.wall()))
            except BaseException:
                gate.release(probe)
                raise
            result = verdict(answer)
            if result == "retry":
                m.failures.labels(job.receiver, failure_reason(answer)).inc()
                if not job.failed:
                    job.failed = True
                    m.retry_backlog.labels(job.receiver).inc()
                gate.failed(answer, probe)
                m.failing.labels(job.receiver).set(1)
                continue
            gate.succeeded(probe)
            m.failing.labels(job.receiver).set(0)
            if job.failed:
                m.retry_backlog.labels(job.receiver).dec()
            if result == "delivered":
                done = self.wall()
                if job.record is not None:
                    m.deliveries.labels(job.receiver, "delivered").inc()
                    m.delivery_seconds.labels(job.receiver).observe(
                        max(0.0, done - job.record.timestamp)
                    )
                if job.on_delivered is not None:
                    job.on_delivered(done)
                return
            if job.record is None:  # a re-send: the alert itself was accepted before
                log.warning("receiver %s refused a re-send (HTTP %s)", job.receiver, answer.status)
                if job.on_delivered is not None:
                    job.on_delivered(self.wall())  # tried again a resend interval later
                return
            log.warning(
                "receiver %s refused a delivery (HTTP %s): dead-lettered",
                job.receiver, answer.status,
            )  # fmt: skip
            await self.dead.refused(job, answer)
            m.deliveries.labels(job.receiver, "dead_lettered").inc()
            return

    def cancel(self, keep: Callable[[Job], bool]) -> int:
        """Drop every lane whose jobs do not satisfy ``keep`` (their partitions were revoked):
        their next owner delivers them again. Returns how many jobs were dropped."""
        dropped = 0
        for key, lane in list(self.lanes.items()):
            if not lane or keep(lane[0]):
                continue
            task = self.tasks.pop(key, None)
            if task is not None:
                task.cancel()
            del self.lanes[key]
            for job in lane:
                dropped += 1
                self.metrics.queued.labels(job.receiver).dec()
                if job.failed:
                    self.metrics.retry_backlog.labels(job.receiver).dec()
        return dropped

    async def close(self, grace_s: float = 0.0) -> None:
        """Give lanes up to ``grace_s`` to finish, then cancel what is left."""
        if grace_s > 0 and self.tasks:
            await asyncio.wait(list(self.tasks.values()), timeout=grace_s)
        tasks = list(self.tasks.values())
        self.cancel(lambda job: False)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
