"""How values read on the dashboard: labels, units, numbers and times (pure)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from monitor.contracts.alerts import Evidence

CRITERION_LABELS = {
    "exposure": "Dopamine antagonist exposure or dopaminergic withdrawal",
    "hyperthermia": "Hyperthermia",
    "rigidity": "Rigidity",
    "mental_status": "Altered mental status",
    "ck_elevation": "CK elevation",
    "sympathetic_lability": "Sympathetic nervous system lability",
    "hypermetabolism": "Hypermetabolism (tachycardia with tachypnoea)",
    "negative_workup": "Negative work-up for other causes",
}
CODE_LABELS = {
    "temperature": "temperature",
    "heart_rate": "heart rate",
    "respiratory_rate": "respiratory rate",
    "systolic_bp": "systolic BP",
    "diastolic_bp": "diastolic BP",
    "mean_bp": "mean BP",
    "ck": "CK",
    "gcs": "GCS",
    "mental_status": "altered mental status",
    "negative_workup": "negative work-up",
}
UNITS = {"Cel": "°C", "mm[Hg]": "mmHg", "/min": "/min", "U/L": "U/L", "%": "%"}


@dataclass(frozen=True, slots=True)
class When:
    iso: str
    text: str
    ago: str


def duration(seconds: float) -> str:
    """'just now', '12 min', '3 h 20 min', '2 d 4 h'."""
    s = abs(seconds)
    if s < 60:
        return "just now"
    minutes = int(s // 60)
    if minutes < 60:
        text = f"{minutes} min"
    elif minutes < 48 * 60:
        h, m = divmod(minutes, 60)
        text = f"{h} h {m} min" if m else f"{h} h"
    else:
        d, rest = divmod(minutes, 24 * 60)
        h = rest // 60
        text = f"{d} d {h} h" if h else f"{d} d"
    return text


def when(t: dt.datetime, now: dt.datetime, tz: ZoneInfo) -> When:
    delta = (now - t).total_seconds()
    span = duration(delta)
    ago = span if span == "just now" else (f"{span} ago" if delta >= 0 else f"in {span}")
    return When(t.isoformat(), t.astimezone(tz).strftime("%d %b %H:%M"), ago)


def num(v: float) -> str:
    return f"{v:.0f}" if v == int(v) or abs(v) >= 100 else f"{v:.1f}"


def value_text(e: Evidence) -> str:
    if isinstance(e.value, bool):
        return "present" if e.value else "absent"
    if e.value is None:
        return ""
    text = num(e.value) if isinstance(e.value, float) else str(e.value)
    return f"{text} {UNITS.get(e.unit or '', e.unit or '')}".strip()
