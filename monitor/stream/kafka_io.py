"""Plain Kafka clients (kafka-python) for the command line: topic creation, sending, reading."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

from monitor.stream.settings import KafkaSettings
from monitor.stream.topics import Topics


def client_options(kafka: KafkaSettings) -> dict[str, Any]:
    """kafka-python connection options (TLS and SASL) from the settings."""
    opts: dict[str, Any] = {
        "bootstrap_servers": kafka.bootstrap_list(),
        "security_protocol": kafka.security_protocol,
    }
    if kafka.security_protocol in ("SSL", "SASL_SSL"):
        opts.update(
            ssl_cafile=kafka.ssl_cafile,
            ssl_certfile=kafka.ssl_certfile,
            ssl_keyfile=kafka.ssl_keyfile,
        )
    if kafka.security_protocol.startswith("SASL"):
        assert kafka.sasl_password is not None
        opts.update(
            sasl_mechanism=kafka.sasl_mechanism,
            sasl_plain_username=kafka.sasl_username,
            sasl_plain_password=kafka.sasl_password.get_secret_value(),
        )
    return opts


def ensure_topics(kafka: KafkaSettings, timeout_s: float = 30.0) -> list[str]:
    """Create the missing topics with the configured partitions; returns the ones created."""
    topics = Topics(kafka.topic_prefix)
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            admin = KafkaAdminClient(**client_options(kafka), client_id="nms-monitor-admin")
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    try:
        existing = set(admin.list_topics())
        missing = [t for t in topics.all if t not in existing]
        if missing:
            new = [NewTopic(t, kafka.partitions, kafka.replication_factor) for t in missing]
            # Another worker may create them at the same moment.
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics(new)
        return missing
    finally:
        admin.close()


def producer(kafka: KafkaSettings) -> KafkaProducer:
    # The default partitioner is murmur2 on the key bytes, the same as Faust and the Java client.
    return KafkaProducer(**client_options(kafka), acks="all", linger_ms=5)


def read_topic(
    kafka: KafkaSettings,
    topic: str,
    follow: bool,
    idle_s: float = 2.0,
    stop: threading.Event | None = None,
    from_start: bool = True,
) -> Iterator[tuple[bytes | None, bytes]]:
    """(key, value) of every record from the beginning (or, ``from_start=False``, from the end
    as it is now); without ``follow`` it stops once no new record has arrived for ``idle_s``
    seconds (end offsets are not trusted: the embedded broker's defect 3 in docs/operations.md).
    """
    consumer = KafkaConsumer(**client_options(kafka), enable_auto_commit=False, group_id=None)
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        consumer.assign(tps)
        if from_start:
            consumer.seek_to_beginning(*tps)
        else:
            consumer.seek_to_end(*tps)
        last = time.monotonic()
        while stop is None or not stop.is_set():
            batch = consumer.poll(timeout_ms=200)
            got = False
            for records in batch.values():
                for r in records:
                    got = True
                    yield r.key, r.value
            if got:
                last = time.monotonic()
            elif not follow and time.monotonic() - last > idle_s:
                return
    finally:
        consumer.close()
