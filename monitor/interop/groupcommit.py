"""Group commit: the records of concurrent callers coalesced into one flush at a time.

A caller submits its records and waits for the outcome of the *group* they joined. One flush
runs at a time; every record submitted while it is in flight (or in the same turn of the event
loop as the first) joins the next group, which is flushed as soon as the current one returns.
An idle sink therefore adds no delay, and a busy one sends one request for many callers instead
of one per caller.

The outcome is the group's: when its flush fails, or has not ended by the earliest deadline of
its callers (each caller's own time limit; one timer per group), every caller of the group is
told :class:`PublishError` (none is told its records are safe, even those that may have reached
the broker). A group all of whose callers were cancelled or refused before its turn is not
flushed. Groups are flushed in the order they were formed and records in the order they were
submitted, so the order of one caller's records, and of callers one after another, is kept.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")


class PublishError(RuntimeError):
    """The broker did not acknowledge the events (unreachable, refused, or too slow)."""


class _Waiter:
    """One caller: its future, and what its refusal says."""

    __slots__ = ("future", "n", "timeout_s")

    def __init__(self, future: asyncio.Future[None], n: int, timeout_s: float) -> None:
        self.future, self.n, self.timeout_s = future, n, timeout_s

    def timed_out(self) -> PublishError:
        return PublishError(
            f"the broker did not acknowledge {self.n} events within {self.timeout_s:g} s"
        )


class _Group(Generic[T]):
    """Records and callers flushed together. One timer per group (not one per caller) ends it
    at the earliest of its callers' deadlines: its callers are refused then, whether its flush
    has begun or not."""

    __slots__ = ("deadline", "ended", "items", "timer", "waiters")

    def __init__(self) -> None:
        self.items: list[T] = []
        self.waiters: list[_Waiter] = []
        self.deadline = float("inf")
        self.timer: asyncio.TimerHandle | None = None
        self.ended = False  # its callers were answered: it takes no more

    def waiting(self) -> bool:
        return any(not w.future.done() for w in self.waiters)

    def expire(self) -> None:
        self._end()
        for w in self.waiters:
            if not w.future.done():
                w.future.set_exception(w.timed_out())

    def fail(self, error: PublishError) -> None:
        self._end()
        for w in self.waiters:
            if not w.future.done():
                w.future.set_exception(error)

    def succeed(self) -> None:
        self._end()
        for w in self.waiters:
            if not w.future.done():
                w.future.set_result(None)

    def _end(self) -> None:
        self.ended = True
        if self.timer is not None:
            self.timer.cancel()


class GroupCommit(Generic[T]):
    """Coalesces the records of concurrent :meth:`submit` calls; ``flush`` sends one group."""

    def __init__(
        self, flush: Callable[[list[T]], Awaitable[None]], *, max_items: int = 20_000
    ) -> None:
        self._flush = flush
        self.max_items = max_items
        self._groups: deque[_Group[T]] = deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self.flushes = 0  # groups flushed (for tests and metrics)

    def start(self) -> None:
        """Start the flushing task (needs the running event loop)."""
        self._task = asyncio.create_task(self._run(), name="group-commit")

    async def stop(self) -> None:
        """Stop flushing; every caller still waiting is told :class:`PublishError`."""
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        while self._groups:
            self._groups.popleft().fail(PublishError("the publisher stopped"))

    async def submit(self, items: Sequence[T], timeout_s: float) -> None:
        """Return once the group holding ``items`` was flushed; raise :class:`PublishError` when
        its flush failed, or had not ended by its deadline (the earliest of its callers': at
        most ``timeout_s`` from now)."""
        if self._closed or self._task is None:
            raise PublishError("the publisher is not running")
        if not items:
            return
        loop = asyncio.get_running_loop()
        group = self._groups[-1] if self._groups else None
        if (
            group is None
            or group.ended
            or (group.items and len(group.items) + len(items) > self.max_items)
        ):
            group = _Group()
            self._groups.append(group)
        group.items.extend(items)
        waiter = _Waiter(loop.create_future(), len(items), timeout_s)
        group.waiters.append(waiter)
        deadline = loop.time() + timeout_s
        if deadline < group.deadline:
            group.deadline = deadline
            if group.timer is not None:
                group.timer.cancel()
            group.timer = loop.call_at(deadline, group.expire)
        self._wake.set()
        await waiter.future  # cancelling a caller cancels its own future only

    async def _run(self) -> None:
        group: _Group[T] | None = None
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                while self._groups:
                    group = self._groups.popleft()
                    if group.waiting():
                        await self._flush_group(group)
                    else:  # every caller gave up or timed out: nobody to tell
                        group.fail(PublishError("abandoned"))
                    group = None
        except asyncio.CancelledError:
            if group is not None:
                group.fail(PublishError("the publisher stopped"))
            raise

    async def _flush_group(self, group: _Group[T]) -> None:
        try:
            async with asyncio.timeout_at(group.deadline):
                await self._flush(group.items)
        except TimeoutError:
            group.expire()
        except PublishError as exc:
            group.fail(exc)
        except Exception as exc:  # the transport's errors: connection, authorisation, size
            group.fail(PublishError(f"publishing failed: {type(exc).__name__}: {exc}"))
        else:
            self.flushes += 1
            group.succeed()
