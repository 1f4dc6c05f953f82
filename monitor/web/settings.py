"""Dashboard settings (prefix ``NMS_WEB_``), read from the environment once at the entry point.

``NMS_WEB_HOST`` (127.0.0.1) and ``NMS_WEB_PORT`` (8080; 0 = any free port); authentication from
files: ``NMS_WEB_TOKENS_FILE`` (bearer tokens, ``user:token`` per line) and
``NMS_WEB_USERS_FILE`` (basic-auth users, ``user:scrypt$...`` per line, made with
``python -m monitor.web.passwords``). On an address other than loopback the dashboard refuses to
start unless one of them is configured. ``NMS_WEB_ALLOWED_HOSTS`` (comma-separated ``Host``
names; default: loopback names without authentication, any with it), ``NMS_WEB_CLOCK``
(``wall``, or ``stream`` for a historical feed such as the demo), ``NMS_WEB_TIMEZONE``.
"""

from __future__ import annotations

import ipaddress
import zoneinfo
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


def is_loopback(host: str) -> bool:
    """True for a loopback address or ``localhost``; a host name is never assumed to be one."""
    if host.strip("[]") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class WebSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NMS_WEB_", frozen=True, extra="ignore")

    host: str = Field("127.0.0.1", description="Bind address; not loopback needs authentication.")
    port: int = Field(8080, ge=0, le=65535, description="TCP port; 0 picks a free one.")
    tokens_file: str | None = Field(
        None, description="Bearer tokens, one 'user:token' per line (tokens of 16+ characters)."
    )
    users_file: str | None = Field(
        None, description="Basic-auth users, one 'user:scrypt$...' per line."
    )
    allowed_hosts: str | None = Field(
        None,
        description="Comma-separated Host header values accepted (DNS-rebinding guard). Default: "
        "the loopback names and the bind address without authentication, any host with it.",
    )
    clock: Literal["wall", "stream"] = Field(
        "wall",
        description="'wall': acks and 'time since' use this machine's clock (a live feed). "
        "'stream': the newest event time seen on the alerts topic, advanced by the wall time "
        "since (a historical feed such as the demo, whose event times are in the past).",
    )
    timezone: str = Field("UTC", description="IANA time zone in which times are shown.")
    history_max_alerts: int = Field(
        50_000,
        ge=1,
        description="Closed alerts whose history is kept (the oldest closed ones are forgotten).",
    )
    client_queue: int = Field(
        1000, ge=10, description="Messages queued per browser before a slow one is disconnected."
    )
    ping_interval_s: float = Field(
        5.0, gt=0, description="Keep-alive on the event stream; the page goes 'not live' after 3."
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        try:
            zoneinfo.ZoneInfo(v)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {v!r}") from exc
        return v

    def host_list(self) -> list[str] | None:
        """The Host header values to accept, or None for any."""
        if self.allowed_hosts:
            return [h.strip() for h in self.allowed_hosts.split(",") if h.strip()]
        if self.tokens_file or self.users_file:
            return None
        return sorted({*LOOPBACK_NAMES, self.host})
