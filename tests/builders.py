"""Event builders and a tiny runner for engine tests (times in hours from T0)."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterable
from typing import Any

from monitor.contracts.alerts import PRIORITY_RANK, Alert
from monitor.contracts.events import EVENT_ADAPTER, Event
from monitor.engine.errors import EventRejected
from monitor.engine.score import explain
from monitor.engine.ward import Ward
from monitor.knowledge.thresholds import ClinicalSettings
from monitor.knowledge.units import CANONICAL_UNIT

T0 = dt.datetime(2026, 2, 2, 0, 0, tzinfo=dt.UTC)
_ids = itertools.count(1)


def at(hours: float) -> str:
    return (T0 + dt.timedelta(hours=hours)).isoformat().replace("+00:00", "Z")


def epoch(hours: float) -> float:
    return (T0 + dt.timedelta(hours=hours)).timestamp()


def event(kind: str, hours: float, pid: str = "p1", **fields: Any) -> Event:
    data = {"event_id": f"e{next(_ids)}", "patient_id": pid, "kind": kind, "time": at(hours)}
    data.update(fields)
    return EVENT_ADAPTER.validate_python(data)


def vital(
    hours: float, code: str, value: float, unit: str | None = None, pid: str = "p1", **kw: Any
) -> Event:
    return event(
        "vital", hours, pid, code=code, value=value, unit=unit or CANONICAL_UNIT[code], **kw
    )


def vitals(
    hours: float,
    pid: str = "p1",
    hr: float | None = None,
    rr: float | None = None,
    sbp: float | None = None,
    dbp: float | None = None,
    temp: float | None = None,
    site: str | None = None,
) -> list[Event]:
    out = []
    for code, value in (
        ("heart_rate", hr),
        ("respiratory_rate", rr),
        ("systolic_bp", sbp),
        ("diastolic_bp", dbp),
    ):
        if value is not None:
            out.append(vital(hours, code, value, pid=pid))
    if temp is not None:
        out.append(vital(hours, "temperature", temp, pid=pid, **({"site": site} if site else {})))
    return out


def baseline(
    start: float,
    end: float,
    pid: str = "p1",
    hr: float = 80,
    rr: float = 16,
    sbp: float = 120,
    dbp: float = 75,
    temp: float = 37.0,
    every: float = 1.0,
) -> list[Event]:
    out: list[Event] = []
    h = start
    while h < end:
        out += vitals(h, pid, hr=hr, rr=rr, sbp=sbp, dbp=dbp, temp=temp)
        h += every
    return out


def med(hours: float, drug: str, pid: str = "p1", action: str = "administered", **kw: Any) -> Event:
    return event("medication", hours, pid, drug=drug, action=action, **kw)


def chart(hours: float, code: str, present: bool = True, pid: str = "p1") -> Event:
    return event("assessment", hours, pid, code=code, present=present)


def gcs(hours: float, value: int, pid: str = "p1") -> Event:
    return event("assessment", hours, pid, code="gcs", value=value)


def lab(hours: float, code: str, value: float, unit: str, pid: str = "p1", **kw: Any) -> Event:
    return event("lab", hours, pid, code=code, value=value, unit=unit, **kw)


def patient(hours: float, action: str = "admit", pid: str = "p1", **kw: Any) -> Event:
    return event("patient", hours, pid, action=action, **kw)


def ack(
    hours: float, alert_id: str, action: str = "acknowledge", pid: str = "p1", **kw: Any
) -> Event:
    return event("ack", hours, pid, alert_id=alert_id, action=action, by="dr-on-call", **kw)


def run(
    events: Iterable[Event],
    cfg: ClinicalSettings | None = None,
    sort: bool = True,
    until: float | None = None,
) -> list[Alert]:
    """Run events through a ward (sorted by time unless told otherwise); optional final tick."""
    ward = Ward(cfg or ClinicalSettings())
    evs = list(events)
    if sort:
        evs.sort(key=lambda e: e.time)
    out: list[Alert] = []
    for e in evs:
        try:
            out.extend(ward.process(e).transitions)
        except EventRejected:
            continue
    if until is not None:
        out.extend(ward.tick_all(epoch(until)))
    return out


def highest(alerts: list[Alert]) -> str | None:
    best: str | None = None
    for a in alerts:
        if PRIORITY_RANK[a.priority] > PRIORITY_RANK[best]:
            best = a.priority
    return best


def met(alert: Alert) -> set[str]:
    return {c.name for c in alert.criteria if c.met}


def findings_at(
    events: Iterable[Event], hours: float, cfg: ClinicalSettings | None = None
) -> dict[str, Any]:
    """Criterion name -> Finding, evaluated at ``hours`` after feeding ``events`` (sorted)."""
    cfg = cfg or ClinicalSettings()
    ward = Ward(cfg)
    for e in sorted(events, key=lambda e: e.time):
        ward.process(e)
    state = next(iter(ward.states.values()))
    ex = explain(state, epoch(hours), cfg)
    return {name: f for name, _, f in ex.findings}
