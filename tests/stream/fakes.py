"""Stand-ins for Faust's topics, table and assignor, and a clock the test moves by hand.

Each send returns a future the test resolves (``ack``) or fails (``fail``), or that resolves at
once (``auto_ack``), which is how the broker's acknowledgements reach the worker's parts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from monitor.stream.clock import Clocks


class Acks:
    """Futures handed out for sends, resolved by the test (or at once with ``auto_ack``)."""

    def __init__(self, auto_ack: bool = True) -> None:
        self.auto_ack = auto_ack
        self.futures: list[asyncio.Future[Any]] = []

    def new(self) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if self.auto_ack:
            future.set_result(None)
        self.futures.append(future)
        return future

    def ack(self) -> int:
        """Resolve every pending future; returns how many."""
        pending = [f for f in self.futures if not f.done()]
        for f in pending:
            f.set_result(None)
        return len(pending)

    def fail(self, exc: BaseException) -> None:
        for f in self.futures:
            if not f.done():
                f.set_exception(exc)


@dataclass
class Sent:
    key: bytes | None
    value: bytes
    headers: Mapping[str, bytes]


class FakeTopic:
    def __init__(self, auto_ack: bool = True) -> None:
        self.acks = Acks(auto_ack)
        self.sent: list[Sent] = []
        self.on_send: Any = None  # called on every send (to simulate a rebalance meanwhile)

    async def send(
        self, *, key: bytes | None, value: bytes, headers: Mapping[str, bytes]
    ) -> asyncio.Future[Any]:
        self.sent.append(Sent(key, value, headers))
        if self.on_send is not None:
            self.on_send()
        await asyncio.sleep(0)
        return self.acks.new()


class FakeTable(dict[bytes, bytes]):
    """A dict that, like Faust's table, sends a changelog record on every write and delete."""

    def __init__(self, auto_ack: bool = True, rows: Mapping[bytes, bytes] | None = None) -> None:
        super().__init__(rows or {})  # rows as recovered from the changelog: no sends
        self.acks = Acks(auto_ack)
        self.changelog: list[tuple[bytes, bytes | None]] = []

    def send_changelog(self, partition: int | None, key: bytes, value: bytes | None) -> Any:
        self.changelog.append((key, value))
        return self.acks.new()

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self.send_changelog(None, key, value)
        super().__setitem__(key, value)

    def __delitem__(self, key: bytes) -> None:
        self.send_changelog(None, key, None)
        super().__delitem__(key)


@dataclass
class FakeAssignment:
    owns: set[int] = field(default_factory=lambda: {0, 1, 2, 3})
    rebalancing: bool = False

    def owned(self) -> set[int]:
        return set(self.owns)


class FakeTime:
    """Wall, perf and monotonic time that move only when the test (or ``perf_step``) moves them.

    ``perf_step`` advances the perf clock by that much on every read, as work would.
    """

    def __init__(self, wall: float = 1_800_000_000.0, perf_step: float = 0.0) -> None:
        self.t_wall = wall
        self.t_perf = 100.0
        self.t_mono = 1000.0
        self.perf_step = perf_step
        self.slept: list[float] = []

    def wall(self) -> float:
        return self.t_wall

    def perf(self) -> float:
        self.t_perf += self.perf_step
        return self.t_perf

    def monotonic(self) -> float:
        return self.t_mono

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        await asyncio.sleep(0)

    def clocks(self) -> Clocks:
        return Clocks(wall=self.wall, perf=self.perf, monotonic=self.monotonic, sleep=self.sleep)


async def spin(times: int = 20) -> None:
    """Let other tasks run (a bounded number of loop turns)."""
    for _ in range(times):
        await asyncio.sleep(0)
