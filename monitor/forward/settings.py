"""Forwarder settings: the environment (prefix ``NMS_FORWARD_``), read once at the entry point,
and the receivers file it names (TOML, or JSON when the name ends in ``.json``).

The receivers file defines the receivers and which priorities go to which::

    [receivers.page]                      # PagerDuty Events API v2
    kind = "pagerduty"
    routing_key_file = "/run/secrets/pagerduty-oncall"

    [receivers.notify]                    # Prometheus Alertmanager
    kind = "alertmanager"
    url = "http://alertmanager:9093"

    [receivers.integration]               # anything else: the transition JSON, HMAC-signed
    kind = "webhook"
    url = "https://integration.example.org/nms"
    secret_file = "/run/secrets/webhook-hmac"

    [routes]                              # the default: high pages, medium notifies, low nowhere
    high = ["page"]
    medium = ["notify"]
    low = []

Secrets (routing keys, HMAC secrets, bearer tokens, a URL that embeds a token) are read from
files when the forwarder starts, kept as :class:`~pydantic.SecretStr`, and never logged: logs and
metrics name a receiver by its name only.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from monitor.contracts.alerts import Priority

PAGERDUTY_URL = "https://events.pagerduty.com/v2/enqueue"
PRIORITIES: tuple[Priority, ...] = ("high", "medium", "low")


class ReceiversError(ValueError):
    """The receivers file cannot be used: the message says why, never a secret."""


class ForwardSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NMS_FORWARD_", frozen=True, extra="ignore")

    receivers_file: Path | None = Field(
        None, description="TOML (or .json) file of receivers and routes per priority."
    )
    group: str = Field("nms-monitor-forward", description="Consumer group on <prefix>.alerts.")
    first_start: Literal["latest", "earliest"] = Field(
        "latest",
        description="Where a group with no committed offset begins: 'latest' (the history only "
        "tells which alerts are open; replaying it would page for every past alert) or "
        "'earliest' (deliver the whole history).",
    )
    dashboard_url: str | None = Field(
        None, description="Base URL of the dashboard, for the link in every page (/alerts/ID)."
    )
    metrics_host: str = Field("127.0.0.1", description="Bind address of /metrics and /healthz.")
    metrics_port: int = Field(9111, ge=0, le=65535, description="0 turns /metrics off.")
    request_timeout_s: float = Field(10.0, gt=0, description="One delivery attempt at most.")
    retry_initial_s: float = Field(0.5, gt=0, description="First wait after a 429, 5xx or error.")
    retry_max_s: float = Field(60.0, gt=0, description="Longest wait between attempts.")
    alertmanager_resend_s: float = Field(
        60.0,
        gt=0,
        description="Firing alerts are re-sent this often; endsAt is 4 times this ahead, as "
        "Prometheus does with its resend delay.",
    )
    max_pending: int = Field(
        5000, ge=1, description="Transitions read but not yet delivered before reading pauses."
    )
    max_in_flight: int = Field(64, ge=1, description="HTTP requests in flight at most.")
    commit_interval_s: float = Field(
        0.2, gt=0, description="How soon delivered transitions' offsets are committed."
    )
    stall_timeout_s: float = Field(
        60.0, gt=0, description="/healthz/live fails when the loop has not turned for this long."
    )
    restore_timeout_s: float = Field(
        120.0, gt=0, description="Longest time to read a partition's history at assignment."
    )


ReceiverKind = Literal["alertmanager", "pagerduty", "webhook"]


class ReceiverSpec(BaseModel):
    """One receiver as written in the file (paths to secrets, not secrets)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: ReceiverKind
    url: str | None = None
    url_file: Path | None = Field(None, description="The URL, when it embeds a token.")
    routing_key_file: Path | None = None  # pagerduty
    secret_file: Path | None = None  # webhook: the HMAC key
    token_file: Path | None = None  # any: sent as "Authorization: Bearer <token>"
    timeout_s: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _complete(self) -> ReceiverSpec:
        if self.url and self.url_file:
            raise ValueError("give url or url_file, not both")
        if self.kind == "pagerduty" and self.routing_key_file is None:
            raise ValueError("a pagerduty receiver needs routing_key_file")
        if self.kind == "webhook" and self.secret_file is None:
            raise ValueError("a webhook receiver needs secret_file (its bodies are HMAC-signed)")
        if self.kind != "pagerduty" and not (self.url or self.url_file):
            raise ValueError(f"a {self.kind} receiver needs url or url_file")
        if self.kind != "pagerduty" and self.routing_key_file is not None:
            raise ValueError("routing_key_file is for pagerduty receivers")
        if self.kind != "webhook" and self.secret_file is not None:
            raise ValueError("secret_file is for webhook receivers")
        return self


class Routes(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    high: tuple[str, ...] = ("page",)
    medium: tuple[str, ...] = ("notify",)
    low: tuple[str, ...] = ()

    def for_priority(self, priority: str) -> tuple[str, ...]:
        return {"high": self.high, "medium": self.medium, "low": self.low}[priority]


class ReceiversFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    receivers: dict[str, ReceiverSpec]
    routes: Routes = Field(default_factory=Routes)

    @model_validator(mode="after")
    def _routes_name_receivers(self) -> ReceiversFile:
        for priority in PRIORITIES:
            for name in self.routes.for_priority(priority):
                if name not in self.receivers:
                    raise ValueError(f"routes.{priority} names {name!r}, which is not a receiver")
        for name in self.receivers:
            if not name.replace("-", "_").isidentifier():
                raise ValueError(f"receiver name {name!r}: letters, digits, '-' and '_' only")
        return self


class Receiver(BaseModel):
    """A receiver ready to use: its secrets read from their files."""

    model_config = ConfigDict(frozen=True)

    name: str
    kind: ReceiverKind
    url: SecretStr
    routing_key: SecretStr | None = None
    secret: SecretStr | None = None
    token: SecretStr | None = None
    timeout_s: float

    def secrets(self) -> list[str]:
        """Every secret value of this receiver (to redact from anything it answers)."""
        found = [s.get_secret_value() for s in (self.routing_key, self.secret, self.token) if s]
        return [s for s in found if s]


class ReceiverSet(BaseModel):
    model_config = ConfigDict(frozen=True)

    receivers: dict[str, Receiver]
    routes: Routes


def _secret(path: Path, what: str) -> SecretStr:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ReceiversError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    if not text:
        raise ReceiversError(f"{what} {path} is empty")
    return SecretStr(text)


def parse_receivers(text: str, json_format: bool) -> ReceiversFile:
    try:
        raw = json.loads(text) if json_format else tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise ReceiversError(f"not valid {'JSON' if json_format else 'TOML'}: {exc}") from None
    try:
        return ReceiversFile.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(p) for p in first["loc"]) or "file"
        raise ReceiversError(f"{where}: {first['msg']}") from None


def load_receivers(forward: ForwardSettings) -> ReceiverSet:
    """Read the receivers file and every secret it points to (at start, once)."""
    path = forward.receivers_file
    if path is None:
        raise ReceiversError("no receivers: set NMS_FORWARD_RECEIVERS_FILE")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ReceiversError(f"cannot read {path}: {exc.strerror or exc}") from None
    spec = parse_receivers(text, path.suffix.lower() == ".json")
    ready: dict[str, Receiver] = {}
    for name, r in spec.receivers.items():
        if r.url_file is not None:
            url = _secret(r.url_file, f"receiver {name}: url_file")
        else:
            url = SecretStr(r.url or PAGERDUTY_URL)
        ready[name] = Receiver(
            name=name,
            kind=r.kind,
            url=url,
            routing_key=_secret(r.routing_key_file, f"receiver {name}: routing_key_file")
            if r.routing_key_file
            else None,
            secret=_secret(r.secret_file, f"receiver {name}: secret_file")
            if r.secret_file
            else None,
            token=_secret(r.token_file, f"receiver {name}: token_file") if r.token_file else None,
            timeout_s=r.timeout_s or forward.request_timeout_s,
        )
    return ReceiverSet(receivers=ready, routes=spec.routes)
