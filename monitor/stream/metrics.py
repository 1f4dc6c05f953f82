"""Worker metrics for Prometheus, through an injected registry.

Labels are bounded enums only (outcome, reason, transition, priority): never patient
identifiers. Units are base units (seconds).
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from monitor.contracts.alerts import Alert
from monitor.contracts.events import EVENT_KINDS
from monitor.stream.lag import ConsumerLag

PRIORITIES = ("high", "medium", "low")


class WorkerMetrics:
    def __init__(self, registry: CollectorRegistry, started_at: float | None = None) -> None:
        self.registry = registry
        self.events = Counter(
            "nms_events_total",
            "Input messages by outcome (applied, duplicate, redelivered, rejected).",
            ["outcome"],
            registry=registry,
        )
        self.rejected = Counter(
            "nms_rejected_total", "Messages sent to the dead-letter topic, by reason.", ["reason"],
            registry=registry,
        )  # fmt: skip
        self.transitions = Counter(
            "nms_alert_transitions_total", "Alert transitions published.",
            ["transition", "priority"], registry=registry,
        )  # fmt: skip
        self.batch_seconds = Histogram(
            "nms_batch_seconds", "Time to process one batch, publish and save.",
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5), registry=registry,
        )  # fmt: skip
        self.lag_seconds = Histogram(
            "nms_ingest_lag_seconds",
            "Wall time from a message's Kafka timestamp to the end of its batch.",
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60), registry=registry,
        )  # fmt: skip
        self.input_gaps = Counter(
            "nms_input_offset_gaps_total",
            "Input offsets jumped over without being delivered to the worker (see "
            "monitor.stream.gaps): lost input unless the topic has transactions or compaction.",
            registry=registry,
        )
        self.patients = Gauge(
            "nms_patients", "Patients in this worker's active partitions (at the last tick).",
            registry=registry,
        )  # fmt: skip
        self.ticks = Counter("nms_ticks_total", "Timer ticks run.", registry=registry)
        self.states = Counter(
            "nms_state_writes_total",
            "Patient states flushed to the table (written) or dropped because their partition "
            "was being reassigned (dropped; replayed by the new owner).",
            ["outcome"], registry=registry,
        )  # fmt: skip
        self.state_load_failures = Counter(
            "nms_state_load_failures_total",
            "Stored patient states that could not be read (corrupt bytes, unknown format "
            "version), by where they were met (batch, tick): each was dead-lettered as "
            "state_unreadable and that patient started afresh.",
            ["during"], registry=registry,
        )  # fmt: skip
        self.medications_unrecognised = Counter(
            "nms_medications_unrecognised_total",
            "Medication records whose drug name and codes the catalogue does not know (accepted, "
            "not counted as exposure): the names are logged once each at INFO.",
            registry=registry,
        )
        self.flush_seconds = Histogram(
            "nms_state_flush_seconds", "Time to write pending states and have the broker ack them.",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5), registry=registry,
        )  # fmt: skip

        self.event_to_alert = Histogram(
            "nms_event_to_alert_seconds",
            "From the event time of the event that caused an alert transition to the broker's "
            "acknowledgement of the transition (includes the time the event took to arrive: a "
            "lab result arrives hours after its sample).",
            buckets=(1, 5, 15, 30, 60, 300, 900, 1800, 3600, 7200, 21600, 86400),
            registry=registry,
        )
        self.arrival_to_alert = Histogram(
            "nms_arrival_to_alert_seconds",
            "From the arrival on its input topic (Kafka timestamp) of the event that caused an "
            "alert transition to the broker's acknowledgement of the transition.",
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60), registry=registry,
        )  # fmt: skip
        self.alerts_active = Gauge(
            "nms_alerts_active",
            "Open alerts of the patients of this worker's partitions, by priority, as of the "
            "last tick (sum over workers for the service).",
            ["priority"], registry=registry,
        )  # fmt: skip
        self.input_events = Counter(
            "nms_input_events_total", "Events applied, by kind (vital, lab, medication, ...).",
            ["kind"], registry=registry,
        )  # fmt: skip
        self.last_event = Gauge(
            "nms_last_event_timestamp_seconds",
            "Wall time at which this worker last applied an event of each kind (its start time "
            "until then): a source that stops sending shows here.",
            ["kind"], registry=registry,
        )  # fmt: skip
        self.lag = ConsumerLag(registry)
        started = time.time() if started_at is None else started_at
        for kind in EVENT_KINDS:
            self.input_events.labels(kind)
            self.last_event.labels(kind).set(started)
        for priority in PRIORITIES:
            self.alerts_active.labels(priority).set(0)

    def count_alerts(self, alerts: list[Alert]) -> None:
        for a in alerts:
            self.transitions.labels(a.transition, a.priority).inc()
