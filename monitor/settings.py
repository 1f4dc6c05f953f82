"""Application settings: one frozen object, read from the environment once, at the entry point.

Clinical thresholds use the prefix ``NMS_CLINICAL__`` (e.g. ``NMS_CLINICAL__CUTOFF=70``); Kafka
settings ``NMS_KAFKA_`` (e.g. ``NMS_KAFKA_BOOTSTRAP=kafka-1:9092``) and worker settings
``NMS_WORKER_`` (see ``monitor.stream.settings``); dashboard settings ``NMS_WEB_`` (see
``monitor.web.settings``).
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from monitor.knowledge.thresholds import ClinicalSettings
from monitor.stream.settings import KafkaSettings, WorkerSettings
from monitor.web.settings import WebSettings


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="NMS_", env_nested_delimiter="__", frozen=True, extra="ignore"
    )

    clinical: ClinicalSettings = Field(default_factory=ClinicalSettings)
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    web: WebSettings = Field(default_factory=WebSettings)


def load_settings() -> Settings:
    """Read the environment (call once, from a command's entry point)."""
    return Settings()
