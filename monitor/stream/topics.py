"""Topic names, all derived from one prefix."""

from __future__ import annotations

from dataclasses import dataclass

from monitor.contracts.events import EVENT_KINDS

# Which input topic each kind goes to when a producer (``nms-monitor send``) routes by kind.
KIND_TOPIC = {
    "vital": "vitals",
    "lab": "labs",
    "medication": "medications",
    "assessment": "assessments",
    "patient": "patients",
    "ack": "acks",
}
assert set(KIND_TOPIC) == set(EVENT_KINDS)


@dataclass(frozen=True, slots=True)
class Topics:
    prefix: str = "nms"

    def name(self, suffix: str) -> str:
        return f"{self.prefix}.{suffix}"

    @property
    def inputs(self) -> tuple[str, ...]:
        """Every topic the worker reads: one per kind, plus the catch-all ``events``."""
        return (*(self.name(s) for s in KIND_TOPIC.values()), self.name("events"))

    @property
    def alerts(self) -> str:
        return self.name("alerts")

    @property
    def deadletter(self) -> str:
        return self.name("deadletter")

    def for_kind(self, kind: str) -> str:
        return self.name(KIND_TOPIC[kind])

    @property
    def all(self) -> tuple[str, ...]:
        return (*self.inputs, self.alerts, self.deadletter)
