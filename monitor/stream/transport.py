"""Faust's aiokafka transport with a configurable consumer fetch wait.

faust-streaming 0.15.3 hard-codes ``fetch_max_wait_ms=1500`` for the worker consumer. With the
embedded broker a waiting fetch is only answered at that deadline (broker-notes defect 1), so
end-to-end latency would sit near 1.5 s. This transport sets the wait from the app's settings
before the consumer starts (aiokafka reads ``_fetch_max_wait_ms`` when it builds its fetcher).
Registered as the URL scheme ``nmskafka://``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from faust.transport import drivers
from faust.transport.drivers import aiokafka as faust_aiokafka

SCHEME = "nmskafka"


class ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        wait = getattr(self.app, "nms_fetch_max_wait_ms", None)
        if wait is not None:
            consumer._fetch_max_wait_ms = int(wait)
        return consumer


class Consumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        return ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class Transport(faust_aiokafka.Transport):
    Consumer: ClassVar[Any] = Consumer


def register() -> None:
    """Make ``nmskafka://`` resolve to this transport (idempotent)."""
    drivers.TRANSPORTS.aliases[SCHEME] = f"{__name__}:Transport"
