"""Group commit: the records of concurrent callers coalesced into one flush at a time.

A caller submits its records and waits for the outcome of the *group* they joined. One flush
runs at a time; every record submitted while it is in flight (or in the same turn of the event
loop as the first) joins the next group, which is flushed as soon as the current one returns.
An idle sink therefore adds no delay, and a busy one sends one request for many callers instead
of one per caller.

The outcome is the group's: when its flush fails or does not finish within the longest timeout
of its callers, every caller of the group is told :class:`PublishError` (none is told its
records are safe, even those that may have reached the broker). A caller that gives up (its own
timeout, or cancelled) is told :class:`PublishError` too; a group all of whose callers gave up
before its turn is not flushed. Groups are flushed in the order they were formed and records in
the order they were submitted, so the order of one caller's records, and of callers one after
another, is kept.
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


class _Group(Generic[T]):
    __slots__ = ("done", "items", "timeout_s", "waiting")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.items: list[T] = []
        self.done: asyncio.Future[None] = loop.create_future()
        self.waiting = 0  # callers still waiting for the outcome
        self.timeout_s = 0.0  # the longest of their timeouts


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
            _fail(self._groups.popleft(), PublishError("the publisher stopped"))

    async def submit(self, items: Sequence[T], timeout_s: float) -> None:
        """Return once the group holding ``items`` was flushed; raise :class:`PublishError` when
        its flush failed, or did not end within ``timeout_s``."""
        if self._closed or self._task is None:
            raise PublishError("the publisher is not running")
        if not items:
            return
        group = self._groups[-1] if self._groups else None
        if group is None or (group.items and len(group.items) + len(items) > self.max_items):
            group = _Group(asyncio.get_running_loop())
            self._groups.append(group)
        group.items.extend(items)
        group.waiting += 1
        group.timeout_s = max(group.timeout_s, timeout_s)
        self._wake.set()
        try:
            async with asyncio.timeout(timeout_s):
                await asyncio.shield(group.done)
        except TimeoutError:
            raise PublishError(
                f"the broker did not acknowledge {len(items)} events within {timeout_s:g} s"
            ) from None
        finally:
            group.waiting -= 1

    async def _run(self) -> None:
        group: _Group[T] | None = None
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                while self._groups:
                    group = self._groups.popleft()
                    if group.waiting == 0:  # every caller gave up: nobody to tell
                        group.done.cancel()
                        continue
                    await self._flush_group(group)
                    group = None
        except asyncio.CancelledError:
            if group is not None:
                _fail(group, PublishError("the publisher stopped"))
            raise

    async def _flush_group(self, group: _Group[T]) -> None:
        try:
            async with asyncio.timeout(group.timeout_s):
                await self._flush(group.items)
        except TimeoutError:
            n, t = len(group.items), group.timeout_s
            _fail(group, PublishError(f"the broker did not acknowledge {n} events within {t:g} s"))
        except PublishError as exc:
            _fail(group, exc)
        except Exception as exc:  # the transport's errors: connection, authorisation, size
            _fail(group, PublishError(f"publishing failed: {type(exc).__name__}: {exc}"))
        else:
            self.flushes += 1
            if not group.done.done():
                group.done.set_result(None)


def _fail(group: _Group[T], error: PublishError) -> None:
    if not group.done.done():
        group.done.set_exception(error)
        group.done.exception()  # retrieved: callers that gave up leave no "never retrieved" log
