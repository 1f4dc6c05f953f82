"""Kafka and worker settings, read from the environment once at the entry point.

Kafka (prefix ``NMS_KAFKA_``): ``NMS_KAFKA_BOOTSTRAP=host1:9092,host2:9092`` (unset: ``run``
starts the embedded broker), ``NMS_KAFKA_SECURITY_PROTOCOL`` (PLAINTEXT, SSL, SASL_PLAINTEXT,
SASL_SSL), ``NMS_KAFKA_SSL_CAFILE`` / ``_SSL_CERTFILE`` / ``_SSL_KEYFILE``,
``NMS_KAFKA_SASL_MECHANISM`` (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512), ``NMS_KAFKA_SASL_USERNAME``,
``NMS_KAFKA_SASL_PASSWORD``, ``NMS_KAFKA_PARTITIONS``, ``NMS_KAFKA_REPLICATION_FACTOR``,
``NMS_KAFKA_TOPIC_PREFIX``, ``NMS_KAFKA_GROUP``, ``NMS_KAFKA_STORE``.
Worker (prefix ``NMS_WORKER_``): batching, tick interval, timeouts, data directory.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class KafkaSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NMS_KAFKA_", frozen=True, extra="ignore")

    bootstrap: str | None = Field(
        None, description="Comma-separated host:port list; unset = embedded broker (run only)."
    )
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    ssl_cafile: str | None = Field(None, description="CA bundle to verify the brokers.")
    ssl_certfile: str | None = Field(None, description="Client certificate (mutual TLS).")
    ssl_keyfile: str | None = Field(None, description="Client private key (mutual TLS).")
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    topic_prefix: str = Field("nms", description="Topics are <prefix>.vitals, <prefix>.alerts, ...")
    partitions: int = Field(4, ge=1, description="Partitions of every topic the worker creates.")
    replication_factor: int = Field(1, ge=1, description="Replication of created topics.")
    group: str = Field("nms-monitor", description="Faust app id and consumer group.")
    standby_replicas: int = Field(
        1, ge=0, description="Standby copies of each table partition kept by other workers."
    )
    store: str = Field(
        "memory://",
        description="Table store: memory:// (tests, embedded) or rocksdb:// (production).",
    )
    fetch_max_wait_ms: int = Field(
        50,
        ge=1,
        description="Consumer fetch wait. Faust hard-codes 1,500 ms; the embedded broker answers a "
        "waiting fetch only at its deadline, so latency follows this (its defect 1 in "
        "docs/operations.md).",
    )
    session_timeout_s: float = Field(
        8.0,
        gt=0,
        description="Group session timeout: a dead worker's partitions move after about this "
        "long, plus the join (about half of it on the embedded broker). Faust's 60 s makes "
        "fail-over slow; Kafka's minimum is 6 s.",
    )
    heartbeat_interval_s: float = Field(
        1.0,
        gt=0,
        description="Heartbeats also tell a survivor that a rebalance began: a short interval "
        "starts the takeover soon after the session expires.",
    )
    commit_interval_s: float = Field(
        5.0,
        gt=0,
        description="How often input offsets are committed. Faust flushes the producer and pauses "
        "fetching while it commits (20,000-event run on the embedded broker: p99 latency 340 ms "
        "at 1 s, 200 ms at 5 s); a longer interval only means more redelivery after a crash, "
        "which stored offsets skip exactly.",
    )
    recovery_consistency_check: bool = Field(
        True,
        description="Refuse to recover a rocksdb:// table partition whose local store is ahead "
        "of the changelog's end (Faust's check: the changelog lost data). Turn it off only on "
        "the embedded broker with several rocksdb:// workers: it under-reports a partition's "
        "end when the last batch has several records (its defect 3 in docs/operations.md), "
        "which a worker killed in the middle of a state flush leaves behind, so a standby that "
        "applied the whole batch looks ahead of the changelog and recovery stops the worker.",
    )
    producer_max_batch_bytes: int = Field(
        262144,
        ge=1,
        description="Largest producer batch. Patient states reach the changelog in bulk at each "
        "flush, so large batches mean few produce requests; keep it below the brokers' "
        "message.max.bytes (1 MiB by default).",
    )

    @model_validator(mode="after")
    def _sasl_complete(self) -> KafkaSettings:
        if self.security_protocol.startswith("SASL") and not (
            self.sasl_mechanism and self.sasl_username and self.sasl_password
        ):
            raise ValueError("SASL needs sasl_mechanism, sasl_username and sasl_password")
        return self

    def bootstrap_list(self) -> list[str]:
        return [s.strip() for s in (self.bootstrap or "").split(",") if s.strip()]


class WorkerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NMS_WORKER_", frozen=True, extra="ignore")

    batch_size: int = Field(2000, ge=1, description="Messages per processing batch at most.")
    batch_within_s: float = Field(0.02, gt=0, description="Longest wait to fill a batch.")
    tick_interval_s: float = Field(
        30.0, gt=0, description="How often time-driven transitions are checked without events."
    )
    max_future_skew_s: float = Field(
        3600.0,
        ge=0,
        description="Events further ahead of this machine's clock are rejected (future_time); "
        "one bad device clock must not push a patient's event-time clock into the future. 0 = off.",
    )
    max_message_bytes: int = Field(64 * 1024, ge=1024, description="Larger values are rejected.")
    data_dir: str = Field("/tmp/nms-monitor", description="Faust data directory (rocksdb files).")
    web_port: int = Field(6066, ge=0, le=65535, description="Faust web port (only if enabled).")
    web_enabled: bool = Field(False, description="Faust's web server; off: it can expose tables.")
    metrics_port: int = Field(
        9108, ge=0, le=65535, description="Prometheus /metrics and /healthz/*; 0 = off."
    )
    stall_timeout_s: float = Field(
        120.0,
        gt=0,
        description="/healthz/live fails when the event loop has not turned, or a batch, flush "
        "or tick has run, for longer than this (a flush waits for the broker's acks).",
    )
    metrics_host: str = Field(
        "127.0.0.1", description="Bind address for /metrics (0.0.0.0 in containers)."
    )
