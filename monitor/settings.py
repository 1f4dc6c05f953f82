"""Application settings: one frozen object, read from the environment once, at the entry point.

Environment variables use the prefix ``NMS_`` and ``__`` for nesting, e.g.
``NMS_CLINICAL__CUTOFF=70`` or ``NMS_CLINICAL__FEVER_THRESHOLD_C=38.2``.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from monitor.knowledge.thresholds import ClinicalSettings


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="NMS_", env_nested_delimiter="__", frozen=True, extra="ignore"
    )

    clinical: ClinicalSettings = Field(default_factory=ClinicalSettings)


def load_settings() -> Settings:
    """Read the environment (call once, from a command's entry point)."""
    return Settings()
