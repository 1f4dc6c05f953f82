"""Metrics of the adapters, on an injected registry. Labels are bounded enums (outcomes, kinds,
skip reasons), never patient or message identifiers."""

from __future__ import annotations

from collections import Counter as Counts

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server


class InteropMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.messages = Counter(
            "nms_interop_messages_total",
            "Messages or resources received, by adapter and outcome (accepted, duplicate, "
            "refused: content; rejected: unreadable or unsupported; failed: broker).",
            ["adapter", "outcome"], registry=registry,
        )  # fmt: skip
        self.events = Counter(
            "nms_interop_events_total", "Contract events published, by adapter and kind.",
            ["adapter", "kind"], registry=registry,
        )  # fmt: skip
        self.skipped = Counter(
            "nms_interop_skipped_total",
            "Observations and administrations not published, by adapter and reason "
            "(unknown_code, preliminary, cancelled, no_result, no_value, censored, ...).",
            ["adapter", "reason"], registry=registry,
        )  # fmt: skip
        self.assumed_zone = Counter(
            "nms_interop_assumed_zone_total",
            "Messages with a time read in the configured zone (it had no UTC offset).",
            ["adapter"], registry=registry,
        )  # fmt: skip
        self.frame_errors = Counter(
            "nms_hl7_frame_errors_total",
            "MLLP stream errors: garbage, oversized, truncated, timeout, too_many_connections.",
            ["reason"], registry=registry,
        )  # fmt: skip
        self.connections = Gauge("nms_hl7_connections", "Open MLLP connections.", registry=registry)
        self.ack_seconds = Histogram(
            "nms_hl7_ack_seconds", "From a message's last byte to its ACK being written.",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
            registry=registry,
        )  # fmt: skip
        self.requests = Counter(
            "nms_fhir_requests_total", "FHIR HTTP requests by route and status code.",
            ["route", "status"], registry=registry,
        )  # fmt: skip

    def count_skipped(self, adapter: str, skipped: Counts[str]) -> None:
        for reason, n in skipped.items():
            self.skipped.labels(adapter, reason).inc(n)


def serve(metrics: InteropMetrics, host: str, port: int) -> None:
    """Serve /metrics over HTTP in a background thread."""
    start_http_server(port, addr=host, registry=metrics.registry)
