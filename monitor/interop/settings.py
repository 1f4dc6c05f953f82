"""Settings of the hospital-facing listeners, read from the environment once at the entry point.

HL7 v2 listener (prefix ``NMS_HL7_``): host, port, time zone for times without an offset,
the assigning authority of PID-3, size and time limits. FHIR server (prefix ``NMS_FHIR_``): host,
port, the bearer-token file, the patient identifier system, size and time limits. Code tables
(prefix ``NMS_INTEROP_``): ``NMS_INTEROP_CODES_FILE``, a site file extending the bundled tables.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Hl7Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NMS_HL7_", frozen=True, extra="ignore")

    host: str = Field("127.0.0.1", description="Address the MLLP listener binds.")
    port: int = Field(2575, ge=0, le=65535, description="MLLP port (2575 is HL7's registered).")
    timezone: str = Field(
        "UTC",
        description="IANA zone for HL7 times without a UTC offset (the ACK says it was assumed).",
    )
    assigning_authority: str | None = Field(
        None,
        description="Take the PID-3 identifier of this assigning authority (CX-4 namespace or "
        "universal id); unset: the first MR identifier, else the first.",
    )
    max_message_bytes: int = Field(
        1024 * 1024, ge=1024, description="Larger messages are refused (AR) and discarded."
    )
    idle_timeout_s: float = Field(
        300.0, gt=0, description="A connection silent this long between messages is closed."
    )
    frame_timeout_s: float = Field(
        30.0, gt=0, description="A message must arrive whole within this long of its first byte."
    )
    publish_timeout_s: float = Field(
        10.0, gt=0, description="Longest wait for the broker's acknowledgement before AR."
    )
    max_connections: int = Field(64, ge=1, description="Further connections are closed at once.")
    dedupe_size: int = Field(
        100_000, ge=0, description="Message ids remembered to acknowledge a resend without "
        "publishing it twice (the engine also drops repeated event ids)."
    )  # fmt: skip
    metrics_host: str = Field("127.0.0.1", description="Bind address for /metrics.")
    metrics_port: int = Field(9110, ge=0, le=65535, description="Prometheus /metrics; 0 = off.")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r} (an IANA name such as Europe/Paris)"
            ) from None
        return value


class FhirSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NMS_FHIR_", frozen=True, extra="ignore")

    host: str = Field(
        "127.0.0.1", description="Bind address; a non-loopback one needs a bearer token file."
    )
    port: int = Field(8080, ge=0, le=65535, description="HTTP port of the FHIR server.")
    token_file: Path | None = Field(
        None, description="File holding the bearer token every request must present."
    )
    patient_system: str | None = Field(
        None,
        description="Identifier system of the patient id (subject.identifier or a Patient's "
        "identifier); unset: the identifier or the id of the subject reference.",
    )
    max_body_bytes: int = Field(16 * 1024 * 1024, ge=1024, description="Larger bodies: 413.")
    publish_timeout_s: float = Field(
        10.0, gt=0, description="Longest wait for the broker's acknowledgement before 503."
    )

    def token(self) -> SecretStr | None:
        """The bearer token from ``token_file`` (read at start; surrounding whitespace dropped)."""
        if self.token_file is None:
            return None
        text = self.token_file.read_text(encoding="utf-8").strip()
        if len(text) < 16:
            raise ValueError(f"{self.token_file}: the bearer token needs at least 16 characters")
        return SecretStr(text)


class InteropSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NMS_INTEROP_", frozen=True, extra="ignore")

    codes_file: str | None = Field(None, description="Site code table extending the bundled one.")
    hl7: Hl7Settings = Field(default_factory=Hl7Settings)
    fhir: FhirSettings = Field(default_factory=FhirSettings)


def load_interop_settings() -> InteropSettings:
    """Read the environment (call once, from a command's entry point)."""
    return InteropSettings()
