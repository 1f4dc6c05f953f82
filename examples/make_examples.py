"""Regenerate the bundled example files (deterministic; no patient data, all invented).

    python examples/make_examples.py

ward.ndjson (also copied to monitor/data/, which `run --demo` feeds): one classic NMS case
(haloperidol, mental status -> rigidity -> fever -> autonomic, CK resulted late) and one quiet
patient on quetiapine. dirty.ndjson: the same kinds of mistakes integration feeds make (bad JSON,
naive time, wrong unit, implausible value, duplicate).
"""

from __future__ import annotations

import datetime as dt
import json
import random
import shutil
from pathlib import Path
from typing import Any

START = dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.UTC)
HERE = Path(__file__).parent


def ts(hours: float) -> str:
    return (START + dt.timedelta(hours=hours)).isoformat().replace("+00:00", "Z")


class Feed:
    def __init__(self, patient: str) -> None:
        self.patient = patient
        self.n = 0
        self.events: list[dict[str, Any]] = []

    def add(self, kind: str, hours: float, **fields: Any) -> None:
        self.n += 1
        self.events.append(
            {"event_id": f"{self.patient}-{self.n:04d}", "patient_id": self.patient, "kind": kind,
             "time": ts(hours), **fields}
        )  # fmt: skip

    def vitals(
        self, hours: float, hr: float, rr: float, sbp: float, dbp: float, temp: float
    ) -> None:
        self.add("vital", hours, code="heart_rate", value=round(hr), unit="/min", source="monitor")
        self.add("vital", hours, code="respiratory_rate", value=round(rr), unit="/min")
        self.add("vital", hours, code="systolic_bp", value=round(sbp), unit="mm[Hg]")
        self.add("vital", hours, code="diastolic_bp", value=round(dbp), unit="mm[Hg]")
        self.add("vital", hours, code="temperature", value=round(temp, 1), unit="Cel", site="oral")


def nms_case(rng: random.Random) -> list[dict[str, Any]]:
    f = Feed("demo-nms-1")
    f.add("patient", 0, action="admit", sex="male", birth_date="1991-05-14",
          location="ICU-2 bed 14", history=["schizophrenia"])  # fmt: skip
    for h, dose, route in ((0.5, 5, "im"), (6, 10, "im"), (12, 10, "oral"), (24, 10, "oral"),
                           (36, 20, "oral"), (48, 20, "oral")):  # fmt: skip
        f.add("medication", h, drug="Haloperidol", action="administered", dose=dose,
              dose_unit="mg", route=route)  # fmt: skip
    for h in range(0, 73, 2):
        fever = h >= 42
        autonomic = h >= 44
        hr = (112 if autonomic else 80) + rng.uniform(-4, 4)
        rr = (26 if autonomic else 16) + rng.uniform(-1, 1)
        swing = 20 if (autonomic and h % 4 == 0) else 0
        sbp = (140 + swing if autonomic else 124) + rng.uniform(-3, 3)
        dbp = (92 + swing / 2 if autonomic else 78) + rng.uniform(-2, 2)
        temp = (38.4 + min(h - 42, 10) * 0.08 if fever else 36.9) + rng.uniform(-0.1, 0.1)
        f.vitals(h, hr, rr, sbp, dbp, temp)
    # Nursing charting every 8 h (each shift) once the signs appear.
    for h in range(30, 73, 8):
        f.add("assessment", h, code="mental_status", present=True, source="nursing")
        f.add("assessment", h, code="gcs", value=13 if h < 46 else 11)
        if h >= 38:
            f.add("assessment", h, code="rigidity", present=True, source="nursing")
        if h >= 46:
            f.add("assessment", h, code="diaphoresis", present=True)
    f.add("lab", 47, code="wbc", value=14.2, unit="10*9/L")
    f.add("lab", 47, code="ck", value=2650, unit="U/L", reference_high=308)
    f.add("lab", 47, code="creatinine", value=1.4, unit="mg/dL")
    return f.events


def quiet_case(rng: random.Random) -> list[dict[str, Any]]:
    f = Feed("demo-quiet-1")
    f.add("patient", 0, action="admit", sex="female", location="Ward 7 bed 3")
    for day in range(3):
        f.add("medication", 21 + 24 * day, drug="Quetiapine", action="administered", dose=200,
              dose_unit="mg", route="oral")  # fmt: skip
    for h in range(0, 73, 4):
        f.vitals(h, 74 + rng.uniform(-6, 6), 15 + rng.uniform(-1, 1), 118 + rng.uniform(-6, 6),
                 74 + rng.uniform(-4, 4), 36.7 + rng.uniform(-0.2, 0.2))  # fmt: skip
    f.add("assessment", 10, code="mental_status", present=False)
    f.add("lab", 24, code="ck", value=140, unit="U/L")
    return f.events


def main() -> None:
    rng = random.Random(7)
    events = nms_case(rng) + quiet_case(rng)
    # Labs are resulted hours after sampling: write them last, out of time order.
    events.sort(key=lambda e: (e["kind"] == "lab", e["time"]))
    with open(HERE / "ward.ndjson", "w", encoding="utf-8") as fh:
        for e in events:
            fh.write(json.dumps(e, separators=(",", ":")) + "\n")
    # `run --demo` feeds the copy shipped inside the package (a wheel has no examples/).
    shutil.copyfile(HERE / "ward.ndjson", HERE.parent / "monitor" / "data" / "ward.ndjson")
    good = events[5]
    dirty = [
        json.dumps(good, separators=(",", ":")),
        json.dumps(good, separators=(",", ":")),  # exact redelivery
        '{"event_id": "x1", "patient_id": "demo-nms-1", "kind": "vital", "time": ',
        json.dumps({**good, "event_id": "x2", "time": "2026-03-02T09:00:00"}),
        json.dumps({**good, "event_id": "x3", "kind": "ventilator"}),
        json.dumps({"event_id": "x4", "patient_id": "demo-nms-1", "kind": "vital",
                    "time": ts(3), "code": "heart_rate", "value": 0, "unit": "/min"}),
        json.dumps({"event_id": "x5", "patient_id": "demo-nms-1", "kind": "vital",
                    "time": ts(3), "code": "heart_rate", "value": 88, "unit": "mm[Hg]"}),
    ]  # fmt: skip
    (HERE / "dirty.ndjson").write_text("\n".join(dirty) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
