"""Synthetic alert transitions for the dashboard's tests and benchmark (no engine needed)."""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from typing import Any

from monitor.contracts.alerts import Alert

T0 = dt.datetime(2026, 3, 4, 6, 0, tzinfo=dt.UTC)
CRITERIA = [
    ("exposure", 20),
    ("hyperthermia", 18),
    ("rigidity", 17),
    ("mental_status", 13),
    ("ck_elevation", 10),
    ("sympathetic_lability", 10),
    ("hypermetabolism", 5),
    ("negative_workup", 7),
]
SCORES = {"low": 33, "medium": 50, "high": 83}
MET = {
    "low": {"exposure", "mental_status"},
    "medium": {"exposure", "mental_status", "hyperthermia"},
    "high": {
        "exposure",
        "mental_status",
        "hyperthermia",
        "rigidity",
        "ck_elevation",
        "hypermetabolism",
    },
}


def _id(*parts: object) -> str:
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:24]


def _criteria(priority: str, at: dt.datetime) -> list[dict[str, Any]]:
    out = []
    for name, weight in CRITERIA:
        met = name in MET[priority]
        evidence = []
        if met and name == "hyperthermia":
            evidence = [
                {
                    "event_id": "t1",
                    "time": at.isoformat(),
                    "code": "temperature",
                    "value": 38.9,
                    "unit": "Cel",
                    "threshold": 38.0,
                    "note": "highest of the hour",
                }
            ]
        if met and name == "hypermetabolism":
            evidence = [
                {
                    "event_id": None,
                    "time": at.isoformat(),
                    "code": "heart_rate",
                    "value": 121.0,
                    "unit": "/min",
                    "threshold": 100.0,
                    "baseline": 80.0,
                }
            ]
        if met and name == "ck_elevation":
            evidence = [
                {
                    "event_id": "ck1",
                    "time": at.isoformat(),
                    "code": "ck",
                    "value": 2650.0,
                    "unit": "U/L",
                    "threshold": 1232.0,
                }
            ]
        out.append(
            {
                "name": name,
                "met": met,
                "points": weight if met else 0,
                "weight": weight,
                "detail": f"{name} {'met' if met else 'not met'}",
                "evidence": evidence,
            }
        )
    return out


def trends(end: dt.datetime, seed: int = 0) -> dict[str, Any]:
    start = end.replace(minute=0, second=0, microsecond=0) - dt.timedelta(hours=71)

    def series(base: float, amp: float, every: int = 1) -> list[float | None]:
        return [
            round(base + amp * math.sin((i + seed) / 6), 1) if i % every == 0 else None
            for i in range(72)
        ]

    return {
        "start": start.isoformat(),
        "hours": 72,
        "temperature": series(37.4, 1.2),
        "heart_rate": series(95, 20, 2),
        "respiratory_rate": series(18, 5, 2),
        "systolic_bp": series(135, 20, 2),
        "diastolic_bp": series(80, 12, 2),
        "ck": [
            {"time": (end - dt.timedelta(hours=30)).isoformat(), "value": 420.0, "uln": 308.0},
            {"time": (end - dt.timedelta(hours=2)).isoformat(), "value": 2650.0, "uln": 308.0},
        ],
        "ck_uln_multiple": 4.0,
    }


def alert(
    patient: str = "p-1",
    priority: str = "high",
    transition: str = "opened",
    sequence: int = 1,
    at: dt.datetime = T0,
    opened_at: dt.datetime | None = None,
    alert_id: str | None = None,
    **extra: Any,
) -> Alert:
    """One transition; ``extra`` overrides any field (status, acknowledged_by, snoozed_until,
    reason, differential, location, ...)."""
    aid = alert_id or f"nms-{_id(patient)[:20]}"
    data: dict[str, Any] = {
        "alert_id": aid,
        "transition_id": _id(aid, sequence, transition, at.isoformat()),
        "sequence": sequence,
        "patient_id": patient,
        "condition": "nms",
        "location": f"ICU bed {patient}",
        "transition": transition,
        "status": "firing",
        "priority": priority,
        "time": at.isoformat(),
        "opened_at": (opened_at or at).isoformat(),
        "score": SCORES[priority],
        "cutoff": 74,
        "max_computable_score": 93,
        "criteria": _criteria(priority, at),
        "exposure": {
            "drugs": [
                {
                    "drug": "haloperidol",
                    "drug_class": "first_generation_antipsychotic",
                    "route": "im",
                    "long_acting": False,
                    "last_dose_time": (at - dt.timedelta(hours=5)).isoformat(),
                    "exposure_until": (at + dt.timedelta(hours=67)).isoformat(),
                    "doses_in_window": 3,
                    "im_doses_in_window": 2,
                }
            ],
            "risk_factors": ["high-potency antipsychotic"],
        },
        "differential": [],
        "recommendations": ["Review and hold the dopamine antagonist(s) now: haloperidol."],
        "trends": trends(at),
    }
    data.update(extra)
    return Alert.model_validate(data)


def story(patient: str, start: dt.datetime = T0) -> list[Alert]:
    """opened low -> escalated medium -> updated -> escalated high -> acknowledged."""
    h = dt.timedelta(hours=1)
    kw = {"patient": patient, "opened_at": start}
    return [
        alert(priority="low", transition="opened", sequence=1, at=start, **kw),
        alert(priority="medium", transition="escalated", sequence=2, at=start + 2 * h, **kw),
        alert(priority="medium", transition="updated", sequence=3, at=start + 3 * h, **kw),
        alert(priority="high", transition="escalated", sequence=4, at=start + 5 * h, **kw),
        alert(
            priority="high",
            transition="acknowledged",
            sequence=5,
            at=start + 6 * h,
            acknowledged_by="dr.kim",
            reason="acknowledged by dr.kim",
            **kw,
        ),
    ]
