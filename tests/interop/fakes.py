"""Test doubles shared by the adapter tests."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from monitor.contracts.events import Event
from monitor.interop.groupcommit import GroupCommit
from monitor.interop.publish import PublishError


class FakeSink:
    """Records what the broker acknowledged; can fail or be slow."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.fail = False
        self.delay = 0.0

    async def publish(self, events: Sequence[Event], timeout_s: float) -> None:
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail:
            raise PublishError("the broker did not acknowledge 7 events within 0.5 s")
        self.events.extend(events)


class GroupSink(FakeSink):
    """A :class:`FakeSink` behind a real :class:`GroupCommit`, as :class:`KafkaSink` is: events
    count as published when the flush of their group returns. ``gate`` (when set) holds every
    flush back until it is set; ``fail_flushes`` holds the indices of the flushes that fail."""

    def __init__(self) -> None:
        super().__init__()
        self.groups: list[list[Event]] = []
        self.fail_flushes: set[int] = set()
        self.gate: asyncio.Event | None = None
        self._commit = GroupCommit[Event](self._flush)
        self._started = False

    async def publish(self, events: Sequence[Event], timeout_s: float) -> None:
        if not self._started:  # GroupCommit needs the running loop
            self._commit.start()
            self._started = True
        await self._commit.submit(events, timeout_s)

    async def _flush(self, events: list[Event]) -> None:
        index = len(self.groups)
        self.groups.append(list(events))
        if self.gate is not None:
            await self.gate.wait()
        if index in self.fail_flushes:
            raise ConnectionError("broker connection lost")
        self.events.extend(events)

    async def stop(self) -> None:
        await self._commit.stop()
