"""A deterministic synthetic multi-patient stream for benchmarks (not the ward simulator).

Every patient has 1/min monitor numerics (heart rate, respiratory rate, systolic and diastolic
pressure, SpO2), a temperature every 15 minutes, doses and labs a few times a day and nursing
charting every 4 hours; one patient in ten develops an NMS-like picture so the alert path runs.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from typing import Any

START = dt.datetime(2026, 1, 5, 0, 0, tzinfo=dt.UTC)


def _ts(minutes: float) -> str:
    return (START + dt.timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def patient_events(
    pid: str, minutes: int, sick: bool, rng: random.Random
) -> Iterator[dict[str, Any]]:
    n = 0

    def ev(kind: str, minute: float, **fields: Any) -> dict[str, Any]:
        nonlocal n
        n += 1
        return {
            "event_id": f"{pid}-{n}",
            "patient_id": pid,
            "kind": kind,
            "time": _ts(minute),
            **fields,
        }

    yield ev("patient", 0, action="admit", sex=rng.choice(["male", "female"]), location="ICU")
    onset = minutes * 0.4 if sick else float("inf")
    for m in range(minutes):
        ill = m >= onset
        if m % 480 == 0:
            yield ev("medication", m, drug="haloperidol", action="administered", dose=5,
                     dose_unit="mg", route="im" if m == 0 else "oral")  # fmt: skip
        if m % 240 == 10:
            yield ev("assessment", m, code="rigidity", present=ill)
            yield ev("assessment", m, code="mental_status", present=ill)
        if m % 360 == 30:
            yield ev(
                "lab", m, code="ck", value=(2400 if ill else 120) + rng.randint(0, 90), unit="U/L"
            )
        hr = (118 if ill else 78) + rng.randint(-5, 5)
        rr = (27 if ill else 15) + rng.randint(-2, 2)
        yield ev("vital", m, code="heart_rate", value=hr, unit="/min")
        yield ev("vital", m, code="respiratory_rate", value=rr, unit="/min")
        yield ev(
            "vital",
            m,
            code="systolic_bp",
            value=(150 if ill else 122) + rng.randint(-8, 8),
            unit="mm[Hg]",
        )
        yield ev(
            "vital",
            m,
            code="diastolic_bp",
            value=(95 if ill else 76) + rng.randint(-5, 5),
            unit="mm[Hg]",
        )
        yield ev("vital", m, code="spo2", value=96 + rng.randint(-2, 2), unit="%")
        if m % 15 == 0:
            temp = (38.6 if ill else 36.8) + rng.uniform(-0.2, 0.2)
            yield ev("vital", m, code="temperature", value=round(temp, 2), unit="Cel", site="core")


def ward_events(patients: int, minutes: int, seed: int = 1) -> list[dict[str, Any]]:
    """All events of the ward, sorted by event time (as a live feed would deliver them)."""
    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    for i in range(patients):
        out.extend(patient_events(f"bench-{i:05d}", minutes, i % 10 == 0, rng))
    out.sort(key=lambda e: e["time"])
    return out
