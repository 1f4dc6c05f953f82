"""Messages and patients for the shell's part tests: an exposed patient with an open alert."""

from __future__ import annotations

import itertools
from typing import Any

import orjson
from prometheus_client import CollectorRegistry

from monitor.knowledge.thresholds import ClinicalSettings
from monitor.stream.deadletter import Inbound
from monitor.stream.metrics import WorkerMetrics
from monitor.stream.processor import BatchProcessor
from tests.builders import at

NOW = 1_800_000_000.0  # wall clock for the tests (2027), after every event time used
_offsets = itertools.count(1000)


def processor() -> BatchProcessor:
    return BatchProcessor(ClinicalSettings(), max_message_bytes=4096, max_future_skew_s=3600)


def metrics() -> WorkerMetrics:
    return WorkerMetrics(CollectorRegistry())


def sample(m: WorkerMetrics, name: str, **labels: str) -> float:
    value = m.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


def event(pid: str, kind: str, eid: str, hours: float, **fields: Any) -> bytes:
    return orjson.dumps(
        {"event_id": eid, "patient_id": pid, "kind": kind, "time": at(hours), **fields}
    )


def msg(
    value: bytes | None, pid: str = "p1", offset: int | None = None, partition: int = 0
) -> Inbound:
    """A consumed message keyed by ``pid``; offsets increase like a partition's unless given."""
    off = next(_offsets) if offset is None else offset
    return Inbound(value, pid.encode(), "nms.events", partition, off)


def alerting(pid: str = "p1") -> list[Inbound]:
    """Haloperidol, rigidity and altered mental status: an alert opens."""
    return [
        msg(
            event(pid, "medication", f"{pid}-m", 0, drug="haloperidol", action="administered"), pid
        ),
        msg(event(pid, "assessment", f"{pid}-r", 1, code="rigidity", present=True), pid),
        msg(event(pid, "assessment", f"{pid}-s", 1, code="mental_status", present=True), pid),
    ]


def heart_rate(pid: str, eid: str, hours: float, value: float = 80) -> Inbound:
    return msg(event(pid, "vital", eid, hours, code="heart_rate", value=value, unit="/min"), pid)
