"""Turn a patient plan into the events a hospital would send, one time window at a time.

What is charted and how often follows ward practice, in two profiles. ``routine``: monitor
numerics every few minutes in ICU, nurse observations every 1-4 h on the ward (hourly once a
patient worries the staff), nursing assessments every shift (every 4 h when worried), morning
bloods resulted hours after sampling, and medication administration records. ``sparse``, as case
reports read: ward observations every 8-24 h (4-hourly when worried), assessments by exception
(a sign is charted when it appears and when it goes), bloods with a CK every 2-4 days (daily when
worried), and one administration in ten missing from the chart; ICU monitors are unchanged.

Real-world dirt is added on purpose: measurement noise, missed rounds and values, duplicated
messages, ECG lead-off zeros, arterial-line flush spikes, displaced temperature probes,
Fahrenheit and non-oral sites, CK in ukat/L.

Each event comes with its arrival time (when the source would send it): labs arrive hours after
their sample time, charted observations minutes after they were taken.
"""

from __future__ import annotations

import math
import random
import time as _time
from collections.abc import Callable
from dataclasses import dataclass

import orjson

from monitor.sim.model import CHARTED_SIGNS, DAY, HOUR, PatientPlan, gcs, vital_means

Arrival = tuple[float, bytes]  # (arrival time, NDJSON line)

VITAL_UNIT = {
    "temperature": "Cel",
    "heart_rate": "/min",
    "systolic_bp": "mm[Hg]",
    "diastolic_bp": "mm[Hg]",
    "mean_bp": "mm[Hg]",
    "respiratory_rate": "/min",
    "spo2": "%",
}
# Measurement noise (standard deviation): bedside monitors are steadier than manual charting.
MONITOR_SD = {"heart_rate": 2.0, "systolic_bp": 4.0, "diastolic_bp": 3.0, "mean_bp": 3.0,
              "respiratory_rate": 1.5, "spo2": 0.7}  # fmt: skip
CHARTED_SD = {"heart_rate": 4.0, "systolic_bp": 8.0, "diastolic_bp": 6.0, "mean_bp": 5.0,
              "respiratory_rate": 1.5, "spo2": 1.0, "temperature": 0.12}  # fmt: skip
NUMERICS = ("heart_rate", "systolic_bp", "diastolic_bp", "mean_bp", "respiratory_rate", "spo2")
WARD_OBS = ("temperature", "heart_rate", "systolic_bp", "diastolic_bp", "respiratory_rate", "spo2")


@dataclass(frozen=True, slots=True)
class ChartOptions:
    """Charting cadence and dirt; the defaults are the documented ward mix."""

    numerics_minutes: float = 5.0
    duplicate_rate: float = 0.005
    missed_round_rate: float = 0.05
    missing_value_rate: float = 0.03
    artifacts: bool = True


def iso(t: float) -> str:
    return _time.strftime("%Y-%m-%dT%H:%M:%SZ", _time.gmtime(int(t)))


class _Out:
    """Collects one window's events with arrival times and occasional duplicates."""

    def __init__(self, plan: PatientPlan, rng: random.Random, opts: ChartOptions) -> None:
        self.pid = plan.patient_id
        self.rng = rng
        self.opts = opts
        self.items: list[Arrival] = []

    def add(self, arrival: float, event: dict[str, object]) -> None:
        # orjson hands back a bytes object on a ~4 KiB allocation; an exact-size copy keeps a
        # day of a 2,000-patient ward at ~150 MB instead of ~2 GB.
        line = bytes(memoryview(orjson.dumps(event)))
        self.items.append((arrival, line))
        if self.rng.random() < self.opts.duplicate_rate:  # re-sent by an interface engine
            self.items.append((arrival + self.rng.uniform(1, 600), line))

    def vital(self, t: float, delay: float, code: str, value: float, plan: PatientPlan,
              site: str | None = None) -> None:  # fmt: skip
        ev: dict[str, object] = {
            "kind": "vital",
            "event_id": f"{self.pid}/v/{code}/{int(t)}",
            "patient_id": self.pid,
            "time": iso(t),
            "code": code,
        }
        if code == "temperature":
            if plan.fahrenheit:
                ev["value"], ev["unit"] = round(value * 9 / 5 + 32, 1), "[degF]"
            else:
                ev["value"], ev["unit"] = round(value, 1), "Cel"
            ev["site"] = site
        else:
            ev["value"], ev["unit"] = float(round(value)), VITAL_UNIT[code]
        self.add(t + delay, ev)


def window_events(
    plan: PatientPlan, t0: float, t1: float, seed: int, opts: ChartOptions
) -> list[Arrival]:
    """Every event of ``plan`` whose event time falls in [t0, t1), with its arrival time."""
    lo, hi = max(t0, plan.admit), min(t1, plan.end)
    if lo >= hi and not (t0 <= plan.end < t1):
        return []
    rng = random.Random(f"{seed}:events:{plan.index}:{int(t0)}")
    out = _Out(plan, rng, opts)
    if t0 <= plan.admit < t1:
        out.add(plan.admit, _admit(plan))
    if lo < hi:
        _vitals(plan, lo, hi, rng, out)
        _assessments(plan, lo, hi, rng, out)
        _labs(plan, lo, hi, rng, out)
        _medications(plan, lo, hi, rng, out)
    if plan.discharged and t0 <= plan.end < t1:
        ev = _base(plan, "patient", f"{plan.patient_id}/discharge", plan.end)
        ev["action"] = "discharge"
        out.add(plan.end, ev)
    return out.items


def _base(plan: PatientPlan, kind: str, event_id: str, t: float) -> dict[str, object]:
    return {"kind": kind, "event_id": event_id, "patient_id": plan.patient_id, "time": iso(t)}


def _admit(plan: PatientPlan) -> dict[str, object]:
    ev = _base(plan, "patient", f"{plan.patient_id}/admit", plan.admit)
    ev.update(
        action="admit",
        sex=plan.sex,
        birth_date=f"{plan.birth_year}-06-15",
        location=plan.location,
        history=list(plan.history),
    )
    return ev


def _grid(lo: float, hi: float, every_s: float, phase: float = 0.0) -> list[float]:
    if not lo < hi:
        return []
    first = math.ceil((lo - phase) / every_s) * every_s + phase
    n = max(0, math.ceil((hi - first) / every_s))
    return [first + k * every_s for k in range(n)]


def _worried(plan: PatientPlan, t: float) -> bool:
    return plan.concern_from <= t < plan.concern_from + 4 * DAY


def _vitals(plan: PatientPlan, lo: float, hi: float, rng: random.Random, out: _Out) -> None:
    gauss, rand = rng.gauss, rng.random
    miss = out.opts.missing_value_rate
    if plan.icu:
        step = out.opts.numerics_minutes * 60.0
        for t in _grid(lo, hi, step):
            true = vital_means(plan, t)
            for code in NUMERICS:
                if rand() < miss:
                    continue
                value = true[code] + gauss(0.0, MONITOR_SD[code])
                if code == "spo2":
                    value = min(100.0, value)
                if out.opts.artifacts:
                    value = _monitor_artifact(code, value, rand)
                out.vital(t, rand() * 5, code, value, plan)
        temp_every = 15 * 60.0 if plan.temp_site == "core" else HOUR
        for t in _grid(lo, hi, temp_every):
            _temperature(plan, t, rand() * 60, rng, out)
        return
    phase = (plan.index % 4) * 900.0
    # Hourly once the staff are worried; every 4 h on a sparsely charted ward.
    worried_every = 4 if plan.charting == "sparse" else 1
    for slot in _grid(lo, hi, HOUR, phase):
        k = int((slot - plan.admit) // HOUR)
        due = k % max(1, int(plan.chart_every_h)) == 0
        take = due or (_worried(plan, slot) and k % worried_every == 0)
        if not take or rand() < out.opts.missed_round_rate:
            continue
        t = slot + rng.uniform(-600, 600)
        if not lo <= t < hi:
            continue
        true = vital_means(plan, t)
        delay = rng.uniform(60, 1200)  # charted minutes after it was taken
        for code in WARD_OBS:
            if rand() < miss:
                continue
            if code == "temperature":
                _temperature(plan, t, delay, rng, out)
            else:
                value = true[code] + gauss(0.0, CHARTED_SD[code])
                out.vital(t, delay, code, min(100.0, value) if code == "spo2" else value, plan)


def _monitor_artifact(code: str, value: float, rand: Callable[[], float]) -> float:
    if code == "heart_rate" and rand() < 0.002:
        return 0.0  # ECG lead off: the monitor sends zero
    if code in ("systolic_bp", "diastolic_bp", "mean_bp") and rand() < 0.002:
        return {"systolic_bp": 300.0, "diastolic_bp": 290.0, "mean_bp": 295.0}[code]  # flush
    return value


def _temperature(plan: PatientPlan, t: float, delay: float, rng: random.Random, out: _Out) -> None:
    true = vital_means(plan, t)["temperature"] + plan.temp_offset_c
    value = true + rng.gauss(0.0, CHARTED_SD["temperature"])
    if out.opts.artifacts and plan.temp_site == "core" and rng.random() < 0.004:
        value = rng.uniform(30.0, 33.0)  # probe displaced: reads the room, not the patient
    out.vital(t, delay, "temperature", value, plan, site=plan.temp_site)


def _assessments(plan: PatientPlan, lo: float, hi: float, rng: random.Random, out: _Out) -> None:
    if plan.charting == "sparse":
        _assessments_by_exception(plan, lo, hi, rng, out)
        return
    every = 4 * HOUR if plan.icu else 8 * HOUR
    for slot in _grid(lo, hi, 4 * HOUR, 8 * HOUR):
        worried = _worried(plan, slot)
        if (slot % every and not worried) or rng.random() < out.opts.missed_round_rate:
            continue
        t = slot + rng.uniform(0, 2700)
        if not lo <= t < hi:
            continue
        delay = rng.uniform(60, 1800)
        pid = plan.patient_id
        signs: list[tuple[str, bool]] = [("mental_status", _present(plan, "mental_status", t))]
        if plan.antipsychotic or plan.history or worried or "rigidity" in plan.courses:
            signs.append(("rigidity", _present(plan, "rigidity", t)))
        for sign in CHARTED_SIGNS:
            if sign in ("mental_status", "rigidity"):
                continue
            present = _present(plan, sign, t)
            if present or (worried and rng.random() < 0.5):
                signs.append((sign, present))
        for sign, present in signs:
            ev = _base(plan, "assessment", f"{pid}/a/{sign}/{int(t)}", t)
            ev.update(code=sign, present=present)
            out.add(t + delay, ev)
        if plan.icu or worried or signs[0][1]:
            ev = _base(plan, "assessment", f"{pid}/a/gcs/{int(t)}", t)
            ev.update(code="gcs", value=float(gcs(plan, t)))
            out.add(t + delay, ev)


ADMISSION_ASSESSMENT_S = HOUR  # the admission nursing assessment, an hour after arrival


def _assessments_by_exception(
    plan: PatientPlan, lo: float, hi: float, rng: random.Random, out: _Out
) -> None:
    """Charting by exception, as case reports read: an admission assessment, then a sign is
    charted only at the first round where it has appeared or gone (rounds every 8 h, 4 h in ICU
    or when worried; no round is missed, so no change goes uncharted). GCS with every round in
    ICU, and on the ward when mental status changes."""
    watched = ["mental_status"]
    if plan.antipsychotic or plan.history or "rigidity" in plan.courses:
        watched.append("rigidity")
    watched += [s for s in CHARTED_SIGNS if s not in ("mental_status", "rigidity")]
    pid = plan.patient_id
    first = plan.admit + ADMISSION_ASSESSMENT_S
    if lo <= first < hi:
        for i, sign in enumerate(watched):
            present = _present(plan, sign, first)
            if i < 2 or present:
                ev = _base(plan, "assessment", f"{pid}/a/{sign}/{int(first)}", first)
                ev.update(code=sign, present=present)
                out.add(first + 600, ev)
        if plan.icu or _present(plan, "mental_status", first):
            ev = _base(plan, "assessment", f"{pid}/a/gcs/{int(first)}", first)
            ev.update(code="gcs", value=float(gcs(plan, first)))
            out.add(first + 600, ev)
    for slot in _grid(lo, hi, 4 * HOUR, 8 * HOUR):
        t = _round_time(plan, slot, first)
        if t is None or not lo <= t < hi:
            continue
        before = _previous_round(plan, slot, first)
        delay = rng.uniform(60, 1800)
        changed = [
            (sign, now)
            for sign in watched
            if (now := _present(plan, sign, t)) != _present(plan, sign, before)
        ]
        for sign, present in changed:
            ev = _base(plan, "assessment", f"{pid}/a/{sign}/{int(t)}", t)
            ev.update(code=sign, present=present)
            out.add(t + delay, ev)
        if plan.icu or any(sign == "mental_status" for sign, _ in changed):
            ev = _base(plan, "assessment", f"{pid}/a/gcs/{int(t)}", t)
            ev.update(code="gcs", value=float(gcs(plan, t)))
            out.add(t + delay, ev)


def _round_time(plan: PatientPlan, slot: float, first: float) -> float | None:
    """When the sparse nursing round of ``slot`` took place (None: no round then). Its own
    generator per slot, so the previous round's time can be recomputed exactly."""
    every = 4 * HOUR if plan.icu or _worried(plan, slot) else 8 * HOUR
    if slot % every or slot <= first:
        return None
    return slot + random.Random(f"round:{plan.index}:{int(slot)}").uniform(0, 2700)


def _previous_round(plan: PatientPlan, slot: float, first: float) -> float:
    """The time of the round before ``slot`` (or the admission assessment)."""
    back = slot - 4 * HOUR
    while back > first:
        t = _round_time(plan, back, first)
        if t is not None:
            return t
        back -= 4 * HOUR
    return first


def _present(plan: PatientPlan, sign: str, t: float) -> bool:
    course = plan.courses.get(sign)
    return course is not None and course.present(t)


def _labs(plan: PatientPlan, lo: float, hi: float, rng: random.Random, out: _Out) -> None:
    times: list[tuple[float, bool]] = []  # (sample time, CK ordered)
    if plan.admit >= lo:  # admission bloods
        times.append(
            (plan.admit + rng.uniform(600, 3600), plan.antipsychotic or rng.random() < 0.3)
        )
    sparse = plan.charting == "sparse"
    for slot in _grid(lo, hi, DAY, 6 * HOUR):
        if sparse:  # bloods with a CK every few days, daily once worried
            day = int((slot - plan.admit) // DAY)
            if day > 0 and (day % plan.lab_every_days == 0 or _worried(plan, slot)):
                times.append((slot + rng.uniform(0, 3600), True))
        elif plan.daily_labs or _worried(plan, slot):
            times.append((slot + rng.uniform(0, 3600), rng.random() < 0.3))
    if not sparse:
        start = max(lo, plan.concern_from)
        for slot in _grid(start, min(hi, plan.concern_from + 4 * DAY), 12 * HOUR, 18 * HOUR):
            times.append((slot + rng.uniform(0, 3600), True))  # CK every 12 h when worried
    for t, with_ck in times:
        if not lo <= t < hi:
            continue
        arrival = t + rng.uniform(1, 6) * HOUR  # resulted hours later: arrives out of order
        if with_ck or _worried(plan, t):
            out.add(arrival, _ck(plan, t, rng))
        if plan.daily_labs or _worried(plan, t) or sparse:
            wbc = plan.baseline.wbc
            lk = plan.courses.get("leukocytosis")
            if lk is not None:
                wbc += lk.size * lk.level(t)
            ev = _base(plan, "lab", f"{plan.patient_id}/l/wbc/{int(t)}", t)
            ev.update(code="wbc", value=round(wbc * rng.uniform(0.95, 1.05), 1), unit="10*9/L")
            out.add(arrival, ev)
            ev = _base(plan, "lab", f"{plan.patient_id}/l/creatinine/{int(t)}", t)
            crea = plan.baseline.creatinine_umol * rng.uniform(0.95, 1.05)
            ev.update(code="creatinine", value=round(crea), unit="umol/L")
            out.add(arrival, ev)


def _ck(plan: PatientPlan, t: float, rng: random.Random) -> dict[str, object]:
    u_l = plan.ck_multiple(t) * plan.ck_uln_u_l * rng.uniform(0.95, 1.05)
    ev = _base(plan, "lab", f"{plan.patient_id}/l/ck/{int(t)}", t)
    if plan.ck_ukat:
        ev.update(code="ck", value=round(u_l / 60.0, 2), unit="ukat/L")
        if plan.ck_reference_given:
            ev["reference_high"] = round(plan.ck_uln_u_l / 60.0, 2)
    else:
        ev.update(code="ck", value=float(round(u_l)), unit="U/L")
        if plan.ck_reference_given:
            ev["reference_high"] = plan.ck_uln_u_l
    return ev


def _medications(plan: PatientPlan, lo: float, hi: float, rng: random.Random, out: _Out) -> None:
    for k, dose in enumerate(plan.doses):
        if not lo <= dose.time < hi:
            continue
        if plan.charting == "sparse" and dose.action == "administered" and _missed_dose(plan, k):
            continue
        ev = _base(plan, "medication", f"{plan.patient_id}/m/{k}", dose.time)
        ev.update(drug=dose.drug, action=dose.action)
        if dose.dose is not None:
            ev.update(dose=dose.dose, dose_unit="mg")
        if dose.route is not None:
            ev["route"] = dose.route
        out.add(dose.time + rng.uniform(60, 1200), ev)


MISSED_DOSE_RATE = 0.1  # sparse charting: administrations missing from the chart


def _missed_dose(plan: PatientPlan, k: int) -> bool:
    """Whether dose ``k`` is missing from a sparsely kept chart (its own generator per dose,
    so a window boundary never changes the answer)."""
    return random.Random(f"missed:{plan.index}:{k}").random() < MISSED_DOSE_RATE
