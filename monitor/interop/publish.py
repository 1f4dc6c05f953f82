"""Publishing contract events to the input topics, and knowing when the broker has them.

Every adapter hands its events to a :class:`Sink`; :class:`KafkaSink` sends each to the topic of
its kind, keyed by ``patient_id`` (aiokafka's default partitioner is murmur2, as the worker's
clients use), with ``acks=all``, and returns only when the broker has acknowledged every one.
A failure or a timeout raises :class:`PublishError`: the caller refuses the input, and the sender
sends it again. Some of its events may have reached the broker; their event ids are derived from
the input, so the engine drops the repeats.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Sequence
from typing import Any, Protocol

from aiokafka import AIOKafkaProducer

from monitor.contracts.events import EVENT_ADAPTER, Event
from monitor.stream.settings import KafkaSettings
from monitor.stream.topics import Topics


class PublishError(RuntimeError):
    """The broker did not acknowledge the events (unreachable, refused, or too slow)."""


class Sink(Protocol):
    async def publish(self, events: Sequence[Event], timeout_s: float) -> None:
        """Return once every event is acknowledged; raise :class:`PublishError` otherwise."""


def encode(event: Event) -> bytes:
    return EVENT_ADAPTER.dump_json(event, exclude_none=True)


def kafka_options(kafka: KafkaSettings) -> dict[str, Any]:
    """aiokafka connection options (TLS and SASL) from the settings, for producers and consumers."""
    opts: dict[str, Any] = {
        "bootstrap_servers": kafka.bootstrap_list(),
        "security_protocol": kafka.security_protocol,
    }
    if kafka.security_protocol in ("SSL", "SASL_SSL"):
        context = ssl.create_default_context(cafile=kafka.ssl_cafile)
        if kafka.ssl_certfile:
            context.load_cert_chain(kafka.ssl_certfile, kafka.ssl_keyfile)
        opts["ssl_context"] = context
    if kafka.security_protocol.startswith("SASL"):
        assert kafka.sasl_password is not None  # checked by KafkaSettings
        opts.update(
            sasl_mechanism=kafka.sasl_mechanism,
            sasl_plain_username=kafka.sasl_username,
            sasl_plain_password=kafka.sasl_password.get_secret_value(),
        )
    return opts


class KafkaSink:
    """An aiokafka producer sending events to the input topics of their kinds."""

    def __init__(self, kafka: KafkaSettings, linger_ms: int = 1) -> None:
        self.kafka = kafka
        self.linger_ms = linger_ms
        self.topics = Topics(kafka.topic_prefix)
        self._producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        """Connect (aiokafka needs the running event loop, so not in ``__init__``)."""
        self._producer = AIOKafkaProducer(
            **kafka_options(self.kafka),
            acks="all",
            linger_ms=self.linger_ms,
            enable_idempotence=False,  # the embedded broker refuses InitProducerId
            client_id="nms-monitor-interop",
        )
        await self._producer.start()

    async def stop(self, timeout_s: float = 5.0) -> None:
        """Flush and close; bounded: with the broker gone aiokafka would wait for its request
        timeout (40 s). What was not acknowledged was never acknowledged to a sender either."""
        if self._producer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._producer.stop(), timeout_s)

    async def publish(self, events: Sequence[Event], timeout_s: float) -> None:
        if not events:
            return
        try:
            await asyncio.wait_for(self._send_all(events), timeout_s)
        except TimeoutError:
            raise PublishError(
                f"the broker did not acknowledge {len(events)} events within {timeout_s:g} s"
            ) from None
        except Exception as exc:  # aiokafka's errors: connection, authorisation, size
            raise PublishError(f"publishing failed: {type(exc).__name__}: {exc}") from None

    async def _send_all(self, events: Sequence[Event]) -> None:
        if self._producer is None:
            raise PublishError("the producer is not started")
        futures = [
            await self._producer.send(
                self.topics.for_kind(ev.kind), value=encode(ev), key=ev.patient_id.encode()
            )
            for ev in events
        ]
        await asyncio.gather(*futures)
