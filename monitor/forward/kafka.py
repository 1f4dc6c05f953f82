"""The forwarder's Kafka parts besides its consumer: the dead-letter sink and the history reader.

**Dead letters** go to ``<prefix>.deadletter`` in the worker's envelope
(:func:`monitor.stream.deadletter.envelope`) with reason ``delivery_refused`` (plus
``receiver``, ``receiver_kind``, ``status``, and ``response``: the first 4 KiB of the answer,
with the receiver's secrets blanked) or ``not_an_alert`` (a record on the alerts topic that is
not an alert). A dead letter that cannot be written is retried with backoff until it is: its
transition's offset is not committed before.

**History**: when a partition is assigned, its records before the resume offset are read with
a consumer outside the group, to rebuild what the forwarder knows of that partition's alerts
(:mod:`monitor.forward.dispatch`).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from monitor.forward.delivery import Job, Record
from monitor.forward.metrics import ForwardMetrics
from monitor.forward.outcome import Answer, backoff_s
from monitor.forward.settings import Receiver
from monitor.stream.deadletter import Inbound, envelope

log = logging.getLogger(__name__)
MAX_RESPONSE_CHARS = 4096
REDACTED = "[redacted]"


def redact(text: str, secrets: list[str]) -> str:
    for s in secrets:
        text = text.replace(s, REDACTED)
    return text


def refused_envelope(record: Record, receiver: Receiver, answer: Answer, now: float) -> bytes:
    response = redact(answer.body.decode("utf-8", "replace"), receiver.secrets())
    inbound = Inbound(record.value, record.key, record.topic, record.partition, record.offset)
    extra = {
        "receiver": receiver.name,
        "receiver_kind": receiver.kind,
        "status": answer.status,
        "response": response[:MAX_RESPONSE_CHARS],
    }
    detail = f"receiver {receiver.name} answered HTTP {answer.status}"
    return envelope(inbound, "delivery_refused", detail, now, extra)


def invalid_envelope(record: Record, detail: str, now: float) -> bytes:
    inbound = Inbound(record.value, record.key, record.topic, record.partition, record.offset)
    return envelope(inbound, "not_an_alert", detail, now)


class KafkaDeadLetters:
    def __init__(
        self,
        producer: AIOKafkaProducer,
        topic: str,
        receivers: dict[str, Receiver],
        metrics: ForwardMetrics,
        retry_initial_s: float,
        retry_max_s: float,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.producer = producer
        self.topic = topic
        self.receivers = receivers
        self.metrics = metrics
        self.retry_initial_s = retry_initial_s
        self.retry_max_s = retry_max_s
        self.wall = wall

    async def refused(self, job: Job, answer: Answer) -> None:
        assert job.record is not None
        value = refused_envelope(job.record, self.receivers[job.receiver], answer, self.wall())
        await self._send(job.record.key, value, "delivery_refused")

    async def invalid(self, record: Record, detail: str) -> None:
        await self._send(record.key, invalid_envelope(record, detail, self.wall()), "not_an_alert")

    async def _send(self, key: bytes | None, value: bytes, reason: str) -> None:
        failures = 0
        while True:
            try:
                await self.producer.send_and_wait(
                    self.topic, value, key=key, headers=[("reason", reason.encode())]
                )
                return
            except Exception as exc:  # the broker: retried until it takes it
                failures += 1
                self.metrics.deadletter_errors.inc()
                wait = backoff_s(failures, self.retry_initial_s, self.retry_max_s, random.random())
                log.warning(
                    "dead letter not written (%s); retrying in %.1f s", type(exc).__name__, wait
                )
                await asyncio.sleep(wait)


async def read_history(
    options: dict[str, Any],
    ends: dict[TopicPartition, int],
    apply: Callable[[TopicPartition, Any], None],
    timeout_s: float,
    beat: Callable[[], None],
    fetch_max_wait_ms: int,
) -> bool:
    """Hand every record before ``ends[tp]`` of each partition to ``apply``, in offset order;
    False when the deadline passed first (what was read is applied)."""
    wanted = {tp: end for tp, end in ends.items() if end > 0}
    if not wanted:
        return True
    reader = AIOKafkaConsumer(
        **options, group_id=None, enable_auto_commit=False, fetch_max_wait_ms=fetch_max_wait_ms,
        client_id="nms-monitor-forward-history",
    )  # fmt: skip
    await reader.start()
    try:
        reader.assign(list(wanted))
        await reader.seek_to_beginning(*wanted)
        deadline = time.monotonic() + timeout_s
        left = dict(wanted)
        while left:
            for tp in list(left):
                if await reader.position(tp) >= left[tp]:
                    del left[tp]
                    reader.pause(tp)
            if not left:
                break
            if time.monotonic() > deadline:
                return False
            beat()
            batch = await reader.getmany(*left, timeout_ms=200, max_records=5000)
            for tp, records in batch.items():
                for r in records:
                    if r.offset < wanted[tp]:
                        apply(tp, r)
        return True
    finally:
        await reader.stop()
