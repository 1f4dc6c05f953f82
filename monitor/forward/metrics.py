"""The forwarder's metrics, on an injected registry.

Labels are bounded: outcomes and failure reasons are fixed sets, ``receiver`` is a receiver's
name from the receivers file (a handful), ``topic`` and ``partition`` those of ``nms.alerts``.
Never an alert, transition or patient identifier.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from monitor.stream.lag import ConsumerLag

TRANSITION_OUTCOMES = ("routed", "not_routed", "duplicate", "invalid")
DELIVERY_OUTCOMES = ("delivered", "dead_lettered")
FAILURE_REASONS = ("http_429", "http_408", "http_5xx", "timeout", "network")


class ForwardMetrics:
    def __init__(self, registry: CollectorRegistry, receivers: list[str] | None = None) -> None:
        self.registry = registry
        self.transitions = Counter(
            "nms_forward_transitions_total",
            "Alert transitions read, by outcome: routed (to one receiver or more), not_routed "
            "(no receiver for the priority), duplicate (a redelivered or older transition of "
            "an alert), invalid (not an alert: dead-lettered).",
            ["outcome"], registry=registry,
        )  # fmt: skip
        self.deliveries = Counter(
            "nms_forward_deliveries_total",
            "Deliveries settled, by receiver and outcome: delivered (2xx) or dead_lettered "
            "(refused with another 4xx; on the dead-letter topic with the answer).",
            ["receiver", "outcome"], registry=registry,
        )  # fmt: skip
        self.failures = Counter(
            "nms_forward_attempt_failures_total",
            "Delivery attempts that will be retried, by receiver and reason (http_429, "
            "http_408, http_5xx, timeout, network).",
            ["receiver", "reason"], registry=registry,
        )  # fmt: skip
        self.queued = Gauge(
            "nms_forward_queued_deliveries",
            "Deliveries waiting or in progress, by receiver (not yet accepted).",
            ["receiver"], registry=registry,
        )  # fmt: skip
        self.retry_backlog = Gauge(
            "nms_forward_retry_backlog",
            "Deliveries that failed at least once and wait to be retried, by receiver.",
            ["receiver"], registry=registry,
        )  # fmt: skip
        self.failing = Gauge(
            "nms_forward_receiver_failing",
            "1 while a receiver's last attempt failed (its deliveries wait for a retry).",
            ["receiver"], registry=registry,
        )  # fmt: skip
        self.resends = Counter(
            "nms_forward_resends_total",
            "Firing alerts re-sent to Alertmanager (it expects them while they fire).",
            ["receiver"], registry=registry,
        )  # fmt: skip
        self.firing = Gauge(
            "nms_forward_firing_alerts",
            "Alerts firing at an Alertmanager receiver, as this forwarder keeps re-sending them.",
            ["receiver"], registry=registry,
        )  # fmt: skip
        self.delivery_seconds = Histogram(
            "nms_forward_delivery_seconds",
            "From a transition's arrival on the alerts topic (its Kafka timestamp) to its "
            "acceptance by a receiver.",
            ["receiver"],
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600),
            registry=registry,
        )
        self.pending = Gauge(
            "nms_forward_pending_transitions",
            "Transitions read and not yet settled by every receiver (their offsets wait).",
            registry=registry,
        )
        self.deadletter_errors = Counter(
            "nms_forward_deadletter_errors_total",
            "Failed attempts to write a refused delivery to the dead-letter topic (retried).",
            registry=registry,
        )
        self.lag = ConsumerLag(registry)
        for outcome in TRANSITION_OUTCOMES:
            self.transitions.labels(outcome)
        for name in receivers or []:
            self.declare(name)

    def declare(self, receiver: str) -> None:
        """Create a receiver's series at zero, so rates and alert rules see them from start."""
        for outcome in DELIVERY_OUTCOMES:
            self.deliveries.labels(receiver, outcome)
        for reason in FAILURE_REASONS:
            self.failures.labels(receiver, reason)
        for gauge in (self.queued, self.retry_backlog, self.failing):
            gauge.labels(receiver).set(0)
        self.resends.labels(receiver)
