"""Reads ``nms.alerts`` from the beginning, for as long as the dashboard runs (one thread).

Each batch is parsed here (off the event loop) and handed to ``deliver`` with the compressed
JSON of every transition; the server applies it on its loop. The consumer has no group (every
dashboard reads everything) and uses the configured short fetch wait (the embedded broker answers
a waiting fetch only at its deadline: broker-notes defect 1). It waits for the topic to exist,
reconnects after errors with a bounded back-off, and reports its status: ``connecting``,
``waiting for the alerts topic``, ``loading history`` (until it reaches the end offsets it saw at
the start; under-reported by the embedded broker, defect 3, so it may say ``live`` a few records
early), ``live``, ``broker unreachable``. A record that is not an alert is skipped and logged by
partition and offset, never by content.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from monitor.contracts.alerts import Alert
from monitor.stream.settings import KafkaSettings
from monitor.web.store import compress

log = logging.getLogger(__name__)
Deliver = Callable[[list[tuple[Alert, bytes]], float], None]


def parse(value: bytes | None) -> tuple[Alert, bytes] | None:
    if not value:
        return None
    try:
        return Alert.model_validate_json(value), compress(value)
    except ValidationError:
        return None


class AlertFeed:
    def __init__(
        self,
        kafka: KafkaSettings,
        topic: str,
        deliver: Deliver,
        status: Callable[[str], None],
        poll_ms: int = 100,
    ) -> None:
        self.kafka = kafka
        self.topic = topic
        self.deliver = deliver
        self.status = status
        self.poll_ms = poll_ms
        self.skipped = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="nms-dashboard-feed", daemon=True)

    def start(self) -> AlertFeed:
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            try:
                self._consume()
                return
            except Exception as exc:  # the broker went away, or the client failed: start over
                log.warning("alerts feed: %s; reconnecting", type(exc).__name__)
                self.status("broker unreachable")
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)

    def _consumer(self) -> Any:
        from kafka import KafkaConsumer  # noqa: PLC0415 - slow to import

        from monitor.stream.kafka_io import client_options  # noqa: PLC0415

        return KafkaConsumer(
            **client_options(self.kafka),
            enable_auto_commit=False,
            group_id=None,
            client_id="nms-monitor-dashboard",
            fetch_max_wait_ms=self.kafka.fetch_max_wait_ms,
            max_partition_fetch_bytes=4 * 1024 * 1024,
        )

    def _consume(self) -> None:
        from kafka import TopicPartition  # noqa: PLC0415

        self.status("connecting")
        consumer = self._consumer()
        try:
            parts: set[int] = set()
            while not self._stop.is_set():
                parts = consumer.partitions_for_topic(self.topic) or set()
                if parts:
                    break
                self.status("waiting for the alerts topic")
                consumer.topics()  # refreshes the metadata
                self._stop.wait(1.0)
            if self._stop.is_set():
                return
            tps = [TopicPartition(self.topic, p) for p in sorted(parts)]
            consumer.assign(tps)
            consumer.seek_to_beginning(*tps)
            ends = consumer.end_offsets(tps)
            caught_up = False
            self.status("loading history")
            while not self._stop.is_set():
                batch = consumer.poll(timeout_ms=self.poll_ms, max_records=2000)
                parsed: list[tuple[Alert, bytes]] = []
                for tp, records in batch.items():
                    for r in records:
                        got = parse(r.value)
                        if got is None:
                            self.skipped += 1
                            log.warning(
                                "alerts feed: skipped a record that is not an alert "
                                "(partition %d, offset %d)",
                                tp.partition,
                                r.offset,
                            )
                        else:
                            parsed.append(got)
                if parsed:
                    self.deliver(parsed, time.time())
                if not caught_up and all(consumer.position(tp) >= ends[tp] for tp in tps):
                    caught_up = True
                    self.status("live")
        finally:
            consumer.close()
