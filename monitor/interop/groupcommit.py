"""Group commit: the records of concurrent callers coalesced into one flush at a time.

A caller submits its records and waits for the outcome of the *group* they joined. One flush
runs at a time; every record submitted while it is in flight (or in the same turn of the event
loop as the first) joins the next group, which is flushed as soon as the current one returns.
An idle sink therefore adds no delay, and a busy one sends one request for many callers instead
of one per caller.

A flush either settles the whole group (it returns None: every caller succeeds, or every
caller is told its error), or submits the group in parts and returns them, each part the
indices of the records it carries and a future of its acknowledgement: then each caller is
answered from the parts that hold its own records, as soon as they are acknowledged, so a part
that fails or stalls (one topic refused, one partition without a leader) refuses only the
callers with records in it. The next group waits for the parts of this one at most ``hold_s``
(that wait is what gathers the next group); what is still unacknowledged then goes on settling
its callers on its own. A caller not answered by its deadline (its own time limit; one timer per
group, at the earliest of its callers') is told :class:`PublishError`, and none is ever told its
records are safe before they are acknowledged. A group all of whose callers were cancelled or
refused before its turn is not flushed. Groups are flushed in the order they were formed and
records in the order they were submitted, so the order of one caller's records, and of callers
one after another, is kept (by the flush for records of one partition across groups).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
# A flush's parts: the indices (into the group's records) of each part, and its acknowledgement.
Parts = list[tuple[list[int], "asyncio.Future[None]"]]


class PublishError(RuntimeError):
    """The broker did not acknowledge the events (unreachable, refused, or too slow)."""


class _Waiter:
    """One caller: its future, its records' place in the group, and what its refusal says."""

    __slots__ = ("future", "n", "start", "timeout_s")

    def __init__(self, future: asyncio.Future[None], start: int, n: int, timeout_s: float) -> None:
        self.future, self.start, self.n, self.timeout_s = future, start, n, timeout_s

    def timed_out(self) -> PublishError:
        return PublishError(
            f"the broker did not acknowledge {self.n} events within {self.timeout_s:g} s"
        )


class _Group(Generic[T]):
    """Records and callers flushed together. One timer per group (not one per caller) ends it
    at the earliest of its callers' deadlines: its callers are refused then, whether its flush
    has begun or not."""

    __slots__ = ("deadline", "ended", "items", "left", "timer", "waiters")

    def __init__(self) -> None:
        self.items: list[T] = []
        self.waiters: list[_Waiter] = []
        self.deadline = float("inf")
        self.timer: asyncio.TimerHandle | None = None
        self.ended = False  # its callers were answered: it takes no more
        self.left = 0  # callers still waiting for their parts, once settled

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
            _refuse(w, error)

    def succeed(self) -> None:
        self._end()
        for w in self.waiters:
            if not w.future.done():
                w.future.set_result(None)

    def settle(self, parts: Parts) -> None:
        """Answer each caller from the parts holding its records, as each is acknowledged."""
        self.ended = True  # takes no more records; its timer still refuses the unanswered
        self.items = []  # sent: what the parts need they hold
        owner: dict[int, int] = {}
        for k, (indices, _) in enumerate(parts):
            for i in indices:
                owner[i] = k
        for w in self.waiters:
            needed = {owner.get(i, -1) for i in range(w.start, w.start + w.n)}
            if -1 in needed:  # a record no part carries: never reported safe
                _refuse(w, PublishError("a record was not sent"))
                continue
            _answer_when_acknowledged(w, [parts[k][1] for k in needed])
        unanswered = [w for w in self.waiters if not w.future.done()]
        if not unanswered:
            self._end()
            return
        # The timer holds the group (its callers and their futures) until the deadline: it is
        # cancelled with the last answer, or a busy listener keeps seconds of groups alive.
        self.left = len(unanswered)
        for w in unanswered:
            w.future.add_done_callback(self._answered)

    def _answered(self, _: asyncio.Future[None]) -> None:
        self.left -= 1
        if self.left == 0:
            self._end()

    def _end(self) -> None:
        self.ended = True
        self.items = []
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None


def _refuse(w: _Waiter, error: PublishError) -> None:
    if not w.future.done():
        w.future.set_exception(error)


def _answer_when_acknowledged(w: _Waiter, acks: list[asyncio.Future[None]]) -> None:
    """Succeed ``w`` once every ack succeeded; refuse it at the first that fails."""
    left = len(acks)

    def done(ack: asyncio.Future[None]) -> None:
        nonlocal left
        if ack.cancelled():
            _refuse(w, PublishError("publishing was cancelled"))
            return
        exc = ack.exception()  # retrieved here, so never logged as unretrieved
        if exc is not None:
            error = exc if isinstance(exc, PublishError) else _failed(exc)
            _refuse(w, error)
            return
        left -= 1
        if left == 0 and not w.future.done():
            w.future.set_result(None)

    for ack in acks:
        ack.add_done_callback(done)


def _failed(exc: BaseException) -> PublishError:
    return PublishError(f"publishing failed: {type(exc).__name__}: {exc}")


class GroupCommit(Generic[T]):
    """Coalesces the records of concurrent :meth:`submit` calls; ``flush`` sends one group."""

    def __init__(
        self,
        flush: Callable[[list[T]], Awaitable[Parts | None]],
        *,
        max_items: int = 20_000,
        hold_s: float = 0.25,
    ) -> None:
        self._flush = flush
        self.max_items = max_items
        self.hold_s = hold_s
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
        if self._closed or self._task is None or self._task.done():
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
        waiter = _Waiter(loop.create_future(), len(group.items), len(items), timeout_s)
        group.items.extend(items)
        group.waiters.append(waiter)
        deadline = loop.time() + timeout_s
        if deadline < group.deadline:
            group.deadline = deadline
            if group.timer is not None:
                group.timer.cancel()
            group.timer = loop.call_at(deadline, group.expire)
        self._wake.set()
        future = waiter.future
        del waiter, group  # the frame a refusal's traceback holds must not reach the future
        try:
            await future  # cancelling a caller cancels its own future only
        finally:
            del future

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
                parts = await self._flush(group.items)
        except TimeoutError:
            group.expire()
            return
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # stop(): _run answers the group
            group.fail(PublishError("publishing was cancelled"))  # from inside: this group only
            return
        except PublishError as exc:
            group.fail(exc)
            return
        except Exception as exc:  # the transport's errors: connection, authorisation, size
            group.fail(_failed(exc))
            return
        self.flushes += 1
        if parts is None:
            group.succeed()
            return
        group.settle(parts)
        pending = [ack for _, ack in parts if not ack.done()]
        if pending:  # gather the next group while this one is acknowledged, for a while
            loop = asyncio.get_running_loop()
            hold = min(self.hold_s, max(0.0, group.deadline - loop.time()))
            await asyncio.wait(pending, timeout=hold)
