"""The dashboard's metrics, on an injected registry (``GET /metrics``, no authentication: no
patient data, only counts with bounded labels)."""

from __future__ import annotations

from collections import Counter as Counts

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.exposition import generate_latest

from monitor.web.store import AlertStore

PRIORITIES = ("high", "medium", "low")
ACK_OUTCOMES = ("sent", "refused", "broker_error")


class DashboardMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.open_alerts = Gauge(
            "nms_dashboard_open_alerts",
            "Open alerts in the dashboard's copy of the alerts topic, by priority (all patients: "
            "it reads the whole topic).",
            ["priority"], registry=registry,
        )  # fmt: skip
        self.transitions = Counter(
            "nms_dashboard_transitions_total",
            "Alert transitions read from the alerts topic.",
            registry=registry,
        )
        self.feed_live = Gauge(
            "nms_dashboard_feed_live",
            "1 once the feed has read the alerts topic's history and follows it live.",
            registry=registry,
        )
        self.acks = Counter(
            "nms_dashboard_acks_total",
            "Acknowledge, snooze and resolve requests, by outcome: sent (the broker has the "
            "ack), refused (4xx), broker_error (503).",
            ["outcome"], registry=registry,
        )  # fmt: skip
        for p in PRIORITIES:
            self.open_alerts.labels(p).set(0)
        for outcome in ACK_OUTCOMES:
            self.acks.labels(outcome)

    def exposition(self, store: AlertStore, feed_status: str) -> bytes:
        """The page, with the gauges read from the store now (on the event loop's thread)."""
        counts: Counts[str] = Counts(s.latest.priority for s in store.open_alerts())
        for p in PRIORITIES:
            self.open_alerts.labels(p).set(counts.get(p, 0))
        self.feed_live.set(int(feed_status == "live"))
        return generate_latest(self.registry)
