"""Changelog flushing: pending patient states to the table, each chunk acknowledged by the broker.

A flush runs just before input offsets are committed (the transport's commit hook) and on a
timer. It first waits for every transition sent before its states were saved; if one failed, the
worker stops instead of writing those states (its supervisor restarts it and the input since the
last commit is replayed). It writes 128 KiB at a time and waits for the broker's ack of each
changelog record before the next chunk: one producer carries states and alerts, and a single
broker connection has one request in flight, so a 2.5 MB flush sent at once held back alert
transitions sent during it by up to 300 ms on the embedded broker. It ends with one end marker
per changelog partition written (see :mod:`monitor.stream.statestore`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from monitor.stream.clock import Clocks
from monitor.stream.health import Health
from monitor.stream.metrics import WorkerMetrics
from monitor.stream.publish import Publisher
from monitor.stream.statestore import StateStore
from monitor.stream.upstream import require

log = logging.getLogger(__name__)

# States per produce round trip in a flush (see the module docstring).
FLUSH_CHUNK_BYTES = 128 * 1024


class Assignment(Protocol):
    """What this worker owns right now (Faust's assignor and rebalancing flag, or a fake)."""

    @property
    def rebalancing(self) -> bool: ...

    def owned(self) -> set[int]: ...


class ChangelogAcks:
    """The futures of a table's changelog sends, so a flush can wait for the broker's ack of each.

    Faust's ``producer.flush()`` is not enough: its buffer flush gives up after 100 ms without a
    send and returns with records still queued (faust 0.15.3, ``flush_atmost``), so a commit could
    follow before the states were on the broker. The table's ``send_changelog`` is wrapped.
    """

    def __init__(self, table: Any) -> None:
        require(table, "send_changelog")
        self.pending: list[asyncio.Future[Any]] = []
        send_changelog = table.send_changelog

        def tracked(*args: Any, **kwargs: Any) -> Any:
            future = send_changelog(*args, **kwargs)
            self.pending.append(future)
            return future

        table.send_changelog = tracked

    async def acknowledged(self) -> None:
        """Wait until the broker has acknowledged every changelog record sent so far."""
        sends = self.pending[:]
        del self.pending[:]
        await asyncio.gather(*sends)


class Flusher:
    def __init__(
        self,
        store: StateStore,
        publisher: Publisher,
        acks: ChangelogAcks,
        assignment: Assignment,
        crash: Callable[[BaseException], Awaitable[Any]],
        metrics: WorkerMetrics,
        clocks: Clocks,
        chunk_bytes: int = FLUSH_CHUNK_BYTES,
        health: Health | None = None,
    ) -> None:
        self.store = store
        self.publisher = publisher
        self.acks = acks
        self.assignment = assignment
        self.crash = crash
        self.metrics = metrics
        self.clocks = clocks
        self.chunk_bytes = chunk_bytes
        self.lock = asyncio.Lock()
        self.health = health or Health(float("inf"))

    async def stop(self, what: str, exc: BaseException) -> bool:
        """A send failed: stop the worker rather than commit past it. Its supervisor restarts
        it, and the input since the last commit is replayed."""
        log.error("%s could not be delivered; stopping: %s", what, type(exc).__name__)
        self.store.forget()
        await self.crash(exc)
        return False

    async def flush(self) -> bool:
        """Write every pending state to the table and wait for the broker to have them.

        False when some were dropped (their partition is being reassigned) or the worker is
        stopping: the caller must not commit input offsets then, so the partition's next owner
        replays those messages.
        """
        with self.health.working("flush"):
            return await self._flush()

    async def _flush(self) -> bool:
        async with self.lock:
            snapshot = self.store.take()
            if not snapshot:
                return True
            started = self.clocks.perf()
            # Every transition sent before these states were saved, acknowledged first. If one
            # failed, the states behind it must never be written.
            failed = await self.publisher.settle()
            if failed is not None:
                return await self.stop("a transition", failed)
            written = dropped = 0
            touched: set[int] = set()
            try:
                for part in self.store.chunks(snapshot, self.chunk_bytes):
                    if self.assignment.rebalancing:
                        dropped += len(part)
                        continue
                    n, lost, parts = self.store.write(part, self.assignment.owned())
                    written, dropped = written + n, dropped + lost
                    touched |= parts
                    # One chunk on the wire at a time: alert transitions sent meanwhile wait
                    # for at most this much state ahead of them, not for the whole flush.
                    await self.acks.acknowledged()
                if touched:
                    self.store.write_markers(touched)
                    await self.acks.acknowledged()
            except Exception as exc:  # the broker refused or lost a state: never commit
                return await self.stop("a state", exc)
            self.metrics.states.labels("written").inc(written)
            self.metrics.states.labels("dropped").inc(dropped)
            self.metrics.flush_seconds.observe(self.clocks.perf() - started)
            return dropped == 0
