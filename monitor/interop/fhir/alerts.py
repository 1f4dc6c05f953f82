"""The current alerts, read from ``nms.alerts`` from the beginning: the latest transition per
``alert_id`` (a redelivered or older transition never replaces a newer one), by patient."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict

from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import ValidationError

from monitor.contracts.alerts import Alert
from monitor.interop.publish import kafka_options
from monitor.stream.settings import KafkaSettings

log = logging.getLogger(__name__)


class AlertStore:
    def __init__(self) -> None:
        self._latest: dict[str, Alert] = {}
        self._by_patient: defaultdict[str, set[str]] = defaultdict(set)
        self.records = 0
        self.invalid = 0

    def apply(self, alert: Alert) -> None:
        current = self._latest.get(alert.alert_id)
        if current is None or alert.sequence >= current.sequence:
            self._latest[alert.alert_id] = alert
            self._by_patient[alert.patient_id].add(alert.alert_id)

    def apply_raw(self, value: bytes) -> None:
        self.records += 1
        try:
            self.apply(Alert.model_validate_json(value))
        except ValidationError:
            self.invalid += 1  # another producer's record: counted, never served

    def for_patient(self, patient_id: str) -> list[Alert]:
        alerts = [self._latest[a] for a in self._by_patient.get(patient_id, ())]
        return sorted(alerts, key=lambda a: (a.opened_at, a.alert_id))


async def follow_alerts(
    kafka: KafkaSettings, topic: str, store: AlertStore, ready: asyncio.Event | None = None
) -> None:
    """Read ``topic`` from the beginning into ``store`` until cancelled."""
    consumer = AIOKafkaConsumer(
        **kafka_options(kafka),
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        client_id="nms-monitor-fhir-alerts",
    )
    await consumer.start()
    try:
        while True:  # the topic may not exist yet: the worker creates it
            parts = consumer.partitions_for_topic(topic)
            if parts:
                break
            await asyncio.sleep(1.0)
            await consumer.topics()  # refreshes the metadata
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        if ready is not None:
            ready.set()
        while True:
            batch = await consumer.getmany(timeout_ms=500, max_records=5000)
            for records in batch.values():
                for r in records:
                    store.apply_raw(r.value)
    finally:
        await consumer.stop()
