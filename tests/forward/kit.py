"""Receivers, settings and transitions for the forwarder's tests (no network, no broker)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from pydantic import SecretStr

from monitor.contracts.alerts import Alert
from monitor.forward.delivery import Record
from monitor.forward.settings import ForwardSettings, Receiver, ReceiverSet, Routes
from tests.web.factory import T0, alert

ROUTING_KEY = "R0UTING0KEY0OF0THE0ONCALL0SERVICE"
HMAC_SECRET = "webhook-hmac-secret-0123456789"
H = dt.timedelta(hours=1)


def receiver(name: str, kind: str, url: str = "http://127.0.0.1:9/x") -> Receiver:
    return Receiver(
        name=name,
        kind=kind,  # type: ignore[arg-type]
        url=SecretStr(url),
        routing_key=SecretStr(ROUTING_KEY) if kind == "pagerduty" else None,
        secret=SecretStr(HMAC_SECRET) if kind == "webhook" else None,
        timeout_s=5.0,
    )


def receivers(routes: Routes | None = None) -> ReceiverSet:
    """page (PagerDuty) for high, am (Alertmanager) for high and medium, hook for medium."""
    return ReceiverSet(
        receivers={
            "page": receiver("page", "pagerduty"),
            "am": receiver("am", "alertmanager", "http://127.0.0.1:9/"),
            "hook": receiver("hook", "webhook"),
        },
        routes=routes or Routes(high=("page", "am"), medium=("am", "hook"), low=()),
    )


def settings(**kw: object) -> ForwardSettings:
    return ForwardSettings(dashboard_url="https://nms.example.org", **kw)  # type: ignore[arg-type]


def record(a: Alert, offset: int = 0, partition: int = 0, timestamp: float = 0.0) -> Record:
    return Record(
        "nms.alerts",
        partition,
        offset,
        a.patient_id.encode(),
        a.model_dump_json().encode(),
        timestamp,
    )


def lifecycle(patient: str = "p-1") -> list[Alert]:
    """opened low, escalated medium, escalated high, acknowledged, deescalated medium,
    resolved."""
    kw = {"patient": patient, "opened_at": T0, "location": "ICU-2 bed 14"}
    return [
        alert(priority="low", transition="opened", sequence=1, at=T0, **kw),
        alert(priority="medium", transition="escalated", sequence=2, at=T0 + H, **kw),
        alert(priority="high", transition="escalated", sequence=3, at=T0 + 2 * H, **kw),
        alert(
            priority="high",
            transition="acknowledged",
            sequence=4,
            at=T0 + 3 * H,
            acknowledged_by="dr.kim",
            **kw,
        ),
        alert(priority="medium", transition="deescalated", sequence=5, at=T0 + 9 * H, **kw),
        alert(
            priority="medium",
            transition="resolved",
            sequence=6,
            at=T0 + 40 * H,
            status="resolved",
            reason="score below low for 24 h",
            **kw,
        ),
    ]


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path
