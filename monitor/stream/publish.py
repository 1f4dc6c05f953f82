"""Publishing: alert transitions and dead letters to the producer, and what the broker acked.

A state may reach the changelog only after every transition and dead letter sent before it was
saved has been acknowledged (see :mod:`monitor.stream.flush`); this keeps the futures of the
sends still in flight, and the failures, for that check.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Mapping
from typing import Any, Protocol

from monitor.contracts.alerts import Alert
from monitor.stream.processor import DeadLetter


class Sender(Protocol):
    """A Faust topic, as far as publishing uses it."""

    def send(
        self, *, key: bytes | None, value: bytes, headers: Mapping[str, bytes]
    ) -> Awaitable[Any]: ...


class Publisher:
    def __init__(self, alerts: Sender, dead: Sender) -> None:
        self.alerts = alerts
        self.dead = dead
        self.unacked: set[asyncio.Future[Any]] = set()  # sent, not yet acknowledged
        self.undelivered: list[BaseException] = []  # failed sends: no state may follow them

    def _settled(self, future: asyncio.Future[Any]) -> None:
        self.unacked.discard(future)
        if future.cancelled():
            self.undelivered.append(asyncio.CancelledError())
        elif (exc := future.exception()) is not None:
            self.undelivered.append(exc)

    async def send(self, alerts: list[Alert], dead: list[DeadLetter]) -> list[asyncio.Future[Any]]:
        """Hand transitions and dead letters to the producer; the futures resolve on the ack."""
        futures: list[asyncio.Future[Any]] = []
        for a in alerts:
            sending = await self.alerts.send(
                key=a.patient_id.encode(),
                value=a.model_dump_json().encode(),
                headers={
                    "transition_id": a.transition_id.encode(),
                    "transition": a.transition.encode(),
                },
            )
            futures.append(asyncio.ensure_future(sending))
        for d in dead:
            sending = await self.dead.send(
                key=d.key, value=d.value, headers={"reason": d.reason.encode()}
            )
            futures.append(asyncio.ensure_future(sending))
        self.unacked.update(futures)
        for f in futures:
            f.add_done_callback(self._settled)
        return futures

    async def settle(self) -> BaseException | None:
        """Wait for every send so far to be acknowledged; the first failure ever, if any."""
        await asyncio.gather(*self.unacked, return_exceptions=True)
        return self.undelivered[0] if self.undelivered else None
