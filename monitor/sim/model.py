"""The simulated patient: a plan (who, what drugs, which signs when) and its true physiology.

Everything is a pure function of the plan and the time, so a patient's events can be generated
window by window (one day at a time) and any value can be recomputed by the tests. Randomness
lives only in the planner (monitor.sim.cohort) and in the measurement noise of the charting
(monitor.sim.charting), each from its own seeded generator.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import get_args

from monitor.contracts.events import AssessmentCode

HOUR = 3600.0
DAY = 24 * HOUR
INF = math.inf

# Nurse-charted present/absent signs (the contract's assessment codes but GCS and the work-up).
CHARTED_SIGNS = tuple(c for c in get_args(AssessmentCode) if c not in ("gcs", "negative_workup"))
AUTONOMIC = ("tachycardia", "tachypnoea", "hypertension", "bp_lability", "diaphoresis")


@dataclass(frozen=True, slots=True)
class Course:
    """One sign over time: absent before ``onset``, rising linearly to full strength over
    ``rise_h``, full until ``end``, then fading over ``fall_h``. ``size`` is the strength at full
    level in the sign's own unit (see :func:`vital_means`)."""

    onset: float
    rise_h: float
    size: float
    end: float = INF
    fall_h: float = 12.0

    def level(self, t: float) -> float:
        if t <= self.onset:
            return 0.0
        up = self.onset + self.rise_h * HOUR
        if t < up:
            return (t - self.onset) / (self.rise_h * HOUR)
        if t <= self.end:
            return 1.0
        gone = self.end + self.fall_h * HOUR
        return 0.0 if t >= gone else 1.0 - (t - self.end) / (self.fall_h * HOUR)

    @property
    def present_from(self) -> float:
        """When a charted sign is first 'present' (half strength)."""
        return self.onset + 0.5 * self.rise_h * HOUR

    def present(self, t: float) -> bool:
        return self.level(t) >= 0.5


@dataclass(frozen=True, slots=True)
class CkCourse:
    """Creatine kinase as a multiple of the patient's ULN: a log-linear rise from ``onset`` to
    ``peak_mult`` at ``peak_t``, then first-order decay (half-life about 1.5 days, the usual
    figure for CK clearance)."""

    onset: float
    peak_t: float
    peak_mult: float
    half_life_h: float = 36.0

    def multiple(self, t: float, base: float) -> float:
        if t <= self.onset or self.peak_mult <= base:
            return base
        if t < self.peak_t:
            frac = (t - self.onset) / (self.peak_t - self.onset)
            return base * math.exp(frac * math.log(self.peak_mult / base))
        decay: float = 0.5 ** ((t - self.peak_t) / (self.half_life_h * HOUR))
        return base + (self.peak_mult - base) * decay


@dataclass(frozen=True, slots=True)
class Dose:
    """A planned administration (``action`` 'administered') or order stop ('discontinued')."""

    time: float
    drug: str
    action: str = "administered"
    dose: float | None = None
    route: str | None = None


@dataclass(frozen=True, slots=True)
class Baseline:
    """The patient's own normal values (oral-equivalent temperature)."""

    temp_c: float
    hr: float
    sbp: float
    dbp: float
    rr: float
    spo2: float
    ck_mult: float  # resting CK as a multiple of ULN
    wbc: float
    creatinine_umol: float


@dataclass(slots=True)
class PatientPlan:
    """Everything about one simulated patient that the events are generated from."""

    patient_id: str
    index: int
    condition: str
    positive: bool
    sex: str
    birth_year: int
    admit: float
    end: float
    discharged: bool
    icu: bool
    chart_every_h: float
    temp_site: str
    temp_offset_c: float  # what the site reads relative to oral
    fahrenheit: bool
    ck_ukat: bool
    ck_uln_u_l: float
    ck_reference_given: bool
    daily_labs: bool
    history: tuple[str, ...]
    location: str
    baseline: Baseline
    antipsychotic: bool
    courses: dict[str, Course] = field(default_factory=dict)
    ck: CkCourse | None = None
    doses: list[Dose] = field(default_factory=list)
    restraint_at: float | None = None
    # Clinician concern starts closer observation and CK testing (set by the planner).
    concern_from: float = INF
    # How the ward charts this patient: "routine" (every shift, every few hours) or "sparse"
    # (by exception, as case reports read: see monitor.sim.charting).
    charting: str = "routine"
    lab_every_days: int = 1  # sparse charting: bloods every few days

    def ck_multiple(self, t: float) -> float:
        base = self.baseline.ck_mult
        return base if self.ck is None else self.ck.multiple(t, base)

    def true_oral_temp(self, t: float) -> float:
        """Temperature without circadian variation or measurement noise (the truth's fever)."""
        fever = self.courses.get("fever")
        if fever is None:
            return self.baseline.temp_c
        return self.baseline.temp_c + fever.level(t) * (fever.size - self.baseline.temp_c)


def circadian(t: float, peak_hour: float) -> float:
    """A 24 h cosine, 1 at ``peak_hour`` (UTC; the cohort's clock is its local time)."""
    return math.cos(2 * math.pi * ((t / HOUR - peak_hour) / 24.0))


def vital_means(plan: PatientPlan, t: float) -> dict[str, float]:
    """The true (noise-free) value of every vital sign at time ``t``.

    Circadian amplitudes from the usual physiology: temperature +-0.3 C peaking late afternoon,
    heart rate +-5/min and blood pressure +-6 mmHg peaking in the day.
    """
    b = plan.baseline
    c = plan.courses
    temp = plan.true_oral_temp(t) + 0.3 * circadian(t, 17.0)
    day = circadian(t, 14.0)
    hr = b.hr + 5.0 * day
    sbp = b.sbp + 6.0 * day
    dbp = b.dbp + 4.0 * day
    rr = b.rr
    spo2 = b.spo2
    for name, course in c.items():
        lv = course.level(t)
        if lv == 0.0:
            continue
        if name == "tachycardia":
            hr += b.hr * course.size * lv
        elif name == "tachypnoea":
            rr += b.rr * course.size * lv
            spo2 -= 2.0 * lv
        elif name == "hypertension":
            sbp += b.sbp * course.size * lv
            dbp += b.dbp * course.size * lv
        elif name == "hypotension":
            sbp -= b.sbp * course.size * lv
            dbp -= b.dbp * course.size * lv
        elif name == "bp_lability":
            # Labile blood pressure: a swing of +-size mmHg with a period of about 5 h.
            swing = course.size * lv * math.sin(2 * math.pi * t / (5.3 * HOUR) + plan.index)
            sbp += swing
            dbp += 0.7 * swing
        elif name == "fever":
            # Fever drives the heart rate about 10/min per degree (Liebermeister's rule).
            hr += 10.0 * max(0.0, plan.true_oral_temp(t) - b.temp_c)
    return {
        "temperature": temp,
        "heart_rate": hr,
        "systolic_bp": sbp,
        "diastolic_bp": dbp,
        "mean_bp": (sbp + 2 * dbp) / 3,
        "respiratory_rate": rr,
        "spo2": min(100.0, spo2),
    }


def gcs(plan: PatientPlan, t: float) -> int:
    """Glasgow Coma Scale: 15, lowered by an altered mental status course (size = points)."""
    ms = plan.courses.get("mental_status")
    if ms is None or not ms.present(t):
        return 15
    return max(3, 15 - round(ms.size * ms.level(t)))


def first_time(
    start: float, stop: float, test: Callable[[float], bool], step_s: float = 300.0
) -> float:
    """The first multiple of ``step_s`` in [start, stop] where ``test(t)`` holds; inf if none."""
    t = math.ceil(start / step_s) * step_s
    while t <= stop:
        if test(t):
            return t
        t += step_s
    return INF


@dataclass(frozen=True, slots=True)
class Truth:
    """The ground truth of one patient, as ``truth.json`` records it."""

    patient_id: str
    condition: str
    positive: bool
    admitted_at: float
    end_at: float
    discharged: bool
    icu: bool
    antipsychotic: bool
    features: dict[str, float]  # core feature -> onset (epoch s); absent features omitted
    established_at: float | None


def truth_of(plan: PatientPlan) -> Truth:
    """Onsets of the IEC features as the plan makes them, and when the syndrome is established.

    - mental status, rigidity: when the sign is first present (charted from then on);
    - fever: when the true oral-equivalent temperature first exceeds 38.0 C;
    - autonomic: when the first autonomic sign (tachycardia, tachypnoea, hypertension, labile
      blood pressure, diaphoresis) reaches half strength;
    - ck: when CK first reaches 4 x ULN.
    The syndrome is fully established (positive conditions only) when the last of the features
    the trajectory has is present.
    """
    f: dict[str, float] = {}
    for name in ("mental_status", "rigidity"):
        if name in plan.courses:
            f[name] = plan.courses[name].present_from
    fever = plan.courses.get("fever")
    if fever is not None and fever.size > 38.0:
        t = first_time(
            fever.onset,
            fever.onset + fever.rise_h * HOUR + 60.0,  # at full size (> 38 C) by then
            lambda x: plan.true_oral_temp(x) > 38.0,
            60.0,
        )
        if t < INF:
            f["fever"] = t
    auto = [plan.courses[a].present_from for a in AUTONOMIC if a in plan.courses]
    if auto:
        f["autonomic"] = min(auto)
    if plan.ck is not None and plan.ck.peak_mult >= 4.0:
        t = first_time(plan.ck.onset, plan.ck.peak_t, lambda x: plan.ck_multiple(x) >= 4.0, 60.0)
        if t < INF:
            f["ck"] = t
    established = max(f.values()) if plan.positive and f else None
    return Truth(
        patient_id=plan.patient_id,
        condition=plan.condition,
        positive=plan.positive,
        admitted_at=plan.admit,
        end_at=plan.end,
        discharged=plan.discharged,
        icu=plan.icu,
        antipsychotic=plan.antipsychotic,
        features=f,
        established_at=established,
    )
