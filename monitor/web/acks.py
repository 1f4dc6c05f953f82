"""Acknowledge, snooze and resolve: the request body, the ``AckEvent`` it becomes, and where it
goes (``nms.acks``, keyed by the patient, like any other producer's ack).

The body names the alert and the action only. The patient (the Kafka key and ``patient_id``) is
taken from the dashboard's own copy of the alert, the user (``by``) from authentication, and the
time from the dashboard's clock: nothing a client sends can ack in someone else's name or for
another patient. The page changes only when the worker's transition comes back on
``nms.alerts``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal, Protocol, Self

import orjson
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from monitor.contracts.events import AckEvent
from monitor.stream.settings import KafkaSettings
from monitor.web.viewmodel import SNOOZE_CHOICES

MAX_BODY_BYTES = 4096


class AckRequest(BaseModel):
    """``POST /api/acks`` (``application/json``)."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    alert_id: Annotated[
        str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:-]+$")
    ]
    action: Literal["acknowledge", "snooze", "resolve"]
    minutes: int | None = Field(None, description=f"Snooze only: one of {SNOOZE_CHOICES}.")
    reason: Annotated[str, StringConstraints(max_length=512)] | None = None

    @model_validator(mode="after")
    def _shape(self) -> Self:
        if self.action == "snooze":
            if self.minutes not in SNOOZE_CHOICES:
                choices = ", ".join(str(m) for m in SNOOZE_CHOICES)
                raise ValueError(f"a snooze needs minutes, one of {choices}")
        elif self.minutes is not None:
            raise ValueError("minutes is only for a snooze")
        if self.action in ("snooze", "resolve") and not self.reason:
            raise ValueError(f"a {self.action} needs a reason")
        return self


def ack_event(
    req: AckRequest, patient_id: str, by: str, now: dt.datetime, event_id: str | None = None
) -> AckEvent:
    """The event for ``req``: the snooze ends ``minutes`` after ``now``."""
    until = now + dt.timedelta(minutes=req.minutes) if req.minutes is not None else None
    return AckEvent(
        event_id=event_id or f"dashboard-ack-{uuid.uuid4().hex}",
        patient_id=patient_id,
        time=now,
        source="nms-monitor dashboard",
        kind="ack",
        alert_id=req.alert_id,
        action=req.action,
        by=by,
        until=until,
        reason=req.reason or None,
    )


def encode(event: AckEvent) -> bytes:
    return orjson.dumps(event.model_dump(mode="json", exclude_none=True))


class PublishError(Exception):
    """The broker did not take the ack."""


class AckPublisher(Protocol):
    def publish(self, key: bytes, value: bytes) -> None:
        """Send and wait until the broker has it; raise ``PublishError`` otherwise."""


class KafkaAckPublisher:
    """kafka-python producer (murmur2 partitioner, like the worker), created on first use."""

    def __init__(self, kafka: KafkaSettings, topic: str, timeout_s: float = 10.0) -> None:
        self._kafka = kafka
        self.topic = topic
        self.timeout_s = timeout_s
        self._producer: Any = None

    def publish(self, key: bytes, value: bytes) -> None:
        from monitor.stream.kafka_io import producer  # noqa: PLC0415 - kafka is slow to import

        try:
            if self._producer is None:
                self._producer = producer(self._kafka)
            self._producer.send(self.topic, key=key, value=value).get(timeout=self.timeout_s)
        except Exception as exc:
            raise PublishError(type(exc).__name__) from exc

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close(timeout=5)
            self._producer = None
