"""Worker metrics for Prometheus, through an injected registry.

Labels are bounded enums only (outcome, reason, transition, priority): never patient
identifiers. Units are base units (seconds).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from monitor.contracts.alerts import Alert


class WorkerMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
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

    def count_alerts(self, alerts: list[Alert]) -> None:
        for a in alerts:
            self.transitions.labels(a.transition, a.priority).inc()
