"""Test doubles shared by the adapter tests."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from monitor.contracts.events import Event
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
