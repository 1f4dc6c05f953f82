"""Plan a simulated cohort: who is on the ward, on which drugs, with which trajectory.

Trajectory timings follow the NMS literature (docs/clinical-model.md, docs/evaluation.md): most
cases begin within the first week of a start or dose increase; the typical order is mental status,
rigidity, hyperthermia, autonomic dysfunction (Velamoor 1994); CK peaks about two days after the
fever (Nisijima 2013); the mimics follow the differential in docs/clinical-model.md. The mix is
enriched far above real incidence (NMS is 0.01-0.02 % of antipsychotic-treated patients) so that a
2,000-patient cohort has enough cases to measure sensitivity; false-alert rates are per
patient-day and do not depend on that enrichment.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from monitor.sim.model import DAY, HOUR, Baseline, CkCourse, Course, Dose, PatientPlan

# Fractions of the cohort (documented in the README, "Ward simulator").
DEFAULT_MIX: dict[str, float] = {
    "nms": 0.025,  # classic NMS on a first- or second-generation antipsychotic
    "atypical_nms": 0.01,  # clozapine/olanzapine NMS without rigidity, never above 38 C
    "parkinsonism_hyperpyrexia": 0.0075,  # dopaminergic drug stopped in Parkinson's disease
    "sepsis": 0.05,  # pneumonia/urosepsis on an antipsychotic, treated with antibiotics
    "ck_after_im": 0.06,  # agitation: IM doses and restraint, CK rises alone
    "serotonin_syndrome": 0.015,  # SSRI plus tramadol or linezolid
    "heat_stroke": 0.01,  # exertional/environmental heat, abrupt
    "postop_fever": 0.04,  # fever in the first 48 h after surgery, perioperative antiemetics
    "quiet_antipsychotic": 0.5825,  # psychiatric patients on antipsychotics, nothing happens
    "quiet_medical": 0.20,  # medical patients, some with PRN metoclopramide
}
POSITIVE = frozenset({"nms", "atypical_nms", "parkinsonism_hyperpyrexia"})

ORAL_AP = (
    ("haloperidol", 5.0),
    ("risperidone", 2.0),
    ("olanzapine", 10.0),
    ("quetiapine", 200.0),
    ("aripiprazole", 15.0),
    ("amisulpride", 400.0),
    ("chlorpromazine", 100.0),
    ("lurasidone", 40.0),
    ("zuclopenthixol", 20.0),
    ("clozapine", 200.0),
)
HIGH_POTENCY = (("haloperidol", 5.0), ("fluphenazine", 5.0), ("risperidone", 3.0))
ATYPICAL_NMS_DRUGS = (("clozapine", 300.0), ("olanzapine", 15.0), ("quetiapine", 400.0))
LAI = (
    ("paliperidone palmitate", 100.0),
    ("haloperidol decanoate", 50.0),
    ("risperidone long-acting injection", 37.5),
)
SSRI = (("sertraline", 100.0), ("escitalopram", 10.0), ("venlafaxine", 150.0))


def allocate(n: int, mix: dict[str, float]) -> list[str]:
    """Exact counts per condition (largest remainder), in a fixed order before shuffling."""
    total = sum(mix.values())
    raw = {k: n * v / total for k, v in mix.items()}
    counts = {k: int(v) for k, v in raw.items()}
    left = n - sum(counts.values())
    for k in sorted(raw, key=lambda k: (counts[k] - raw[k], k))[:left]:
        counts[k] += 1
    return [k for k in mix for _ in range(counts[k])]


def _u(rng: random.Random, lo: float, hi: float) -> float:
    return rng.uniform(lo, hi)


def _daily(
    plan: PatientPlan,
    drug: str,
    dose: float,
    first: float,
    until: float,
    times_h: tuple[float, ...] = (9.0,),
    route: str = "oral",
    escalate_at: float | None = None,
) -> None:
    """Scheduled doses at the given clock hours from ``first`` until ``until`` (doubled from
    ``escalate_at``)."""
    day0 = int(first // DAY) * DAY
    d = day0
    while d < until:
        for h in times_h:
            t = d + h * HOUR
            if first <= t < until:
                amount = dose * (2 if escalate_at is not None and t >= escalate_at else 1)
                plan.doses.append(Dose(t, drug, dose=amount, route=route))
        d += DAY


def _baseline(rng: random.Random, sex: str) -> Baseline:
    return Baseline(
        temp_c=_u(rng, 36.4, 37.1),
        hr=_u(rng, 62, 92),
        sbp=_u(rng, 105, 138) + (5 if sex == "male" else 0),
        dbp=_u(rng, 62, 84),
        rr=_u(rng, 12, 18),
        spo2=_u(rng, 95, 99),
        ck_mult=_u(rng, 0.2, 0.7),
        wbc=_u(rng, 4.5, 9.5),
        creatinine_umol=_u(rng, 55, 105),
    )


CHARTING_PROFILES = ("routine", "sparse", "mix")


def charting_profile(seed: int, index: int, profile: str, sparse_fraction: float = 0.5) -> str:
    """The charting of one patient: the profile itself, or for ``mix`` sparse for about
    ``sparse_fraction`` of patients (its own generator: the plans are the same in every profile)."""
    if profile != "mix":
        return profile
    return (
        "sparse"
        if random.Random(f"{seed}:charting:{index}").random() < sparse_fraction
        else ("routine")
    )


def _sparse(plan: PatientPlan, seed: int) -> None:
    """Case-report-like charting: ward observations every 8-24 h, bloods every 2-4 days."""
    rng = random.Random(f"{seed}:sparse:{plan.index}")
    plan.charting = "sparse"
    if not plan.icu:
        plan.chart_every_h = rng.choice((8.0, 12.0, 12.0, 24.0))
    plan.lab_every_days = rng.choice((2, 3, 4))


def plan_patient(
    index: int,
    condition: str,
    seed: int,
    start: float,
    days: float,
    icu_fraction: float,
    charting: str = "routine",
) -> PatientPlan:
    """One patient's plan; deterministic for (seed, index, condition, charting)."""
    rng = random.Random(f"{seed}:plan:{index}")
    sex = rng.choice(("female", "male"))
    admit = start + _u(rng, 0, 6) * HOUR
    end = start + days * DAY
    icu = rng.random() < icu_fraction or (condition == "heat_stroke" and rng.random() < 0.5)
    site = "core" if icu and rng.random() < 0.5 else rng.choice(
        ("oral", "oral", "oral", "axillary", "tympanic", "temporal")
    )  # fmt: skip
    offset = {"oral": 0.0, "temporal": 0.0, "axillary": -_u(rng, 0.3, 0.6)}.get(
        site, _u(rng, 0.3, 0.6)
    )
    plan = PatientPlan(
        patient_id=f"SIM-{seed % 1000:03d}-{index:05d}",
        index=index,
        condition=condition,
        positive=condition in POSITIVE,
        sex=sex,
        birth_year=rng.randint(1940, 2005),
        admit=admit,
        end=end,
        discharged=False,
        icu=icu,
        chart_every_h=1.0 if icu else rng.choice((1.0, 2.0, 4.0, 4.0, 4.0)),
        temp_site=site,
        temp_offset_c=offset,
        fahrenheit=rng.random() < 0.1,
        ck_ukat=rng.random() < 0.15,
        ck_uln_u_l=308.0 if sex == "male" else 192.0,
        ck_reference_given=rng.random() < 0.5,
        daily_labs=icu or rng.random() < 0.6,
        history=(),
        location="ICU" if icu else rng.choice(("Psychiatry A", "Psychiatry B", "Medicine 3")),
        baseline=_baseline(rng, sex),
        antipsychotic=False,
    )
    PLANNERS[condition](plan, rng)
    if charting == "sparse":
        _sparse(plan, seed)
    if not plan.positive and rng.random() < 0.15:
        plan.discharged = True
        plan.end = admit + _u(rng, 0.4, 0.95) * (end - admit)
    plan.doses.sort(key=lambda d: (d.time, d.drug))
    plan.doses = [d for d in plan.doses if plan.admit <= d.time < plan.end]
    return plan


def _on_antipsychotic(
    plan: PatientPlan,
    rng: random.Random,
    choices: tuple[tuple[str, float], ...] = ORAL_AP,
    escalate: float = 0.3,
    prn_im: float = 0.15,
    lai: float = 0.08,
) -> tuple[str, float]:
    """A regular oral antipsychotic, sometimes escalated, sometimes with PRN IM doses or a depot."""
    plan.antipsychotic = True
    drug, dose = rng.choice(choices)
    bid = rng.random() < 0.4
    esc = plan.admit + _u(rng, 24, 96) * HOUR if rng.random() < escalate else None
    stop = plan.end
    if rng.random() < 0.08:
        stop = plan.admit + _u(rng, 48, 144) * HOUR
        plan.doses.append(Dose(stop, drug, action="discontinued"))
    times = (9.0, 21.0) if bid else (9.0,)
    _daily(plan, drug, dose / (2 if bid else 1), plan.admit, stop, times, escalate_at=esc)
    if rng.random() < prn_im:
        for _ in range(rng.randint(1, 2)):
            im = rng.choice(("haloperidol", "olanzapine"))
            plan.doses.append(Dose(plan.admit + _u(rng, 2, 150) * HOUR, im, dose=5.0, route="im"))
    if rng.random() < lai:
        name, amount = rng.choice(LAI)
        plan.doses.append(Dose(plan.admit + _u(rng, 4, 72) * HOUR, name, dose=amount, route="im"))
    if rng.random() < 0.1:
        _daily(plan, "lithium carbonate", 400.0, plan.admit, plan.end, (9.0, 21.0))
    return drug, dose


def _quiet_antipsychotic(plan: PatientPlan, rng: random.Random) -> None:
    _on_antipsychotic(plan, rng)
    if rng.random() < 0.2:
        name, dose = rng.choice(SSRI)
        _daily(plan, name, dose, plan.admit, plan.end)


def _quiet_medical(plan: PatientPlan, rng: random.Random) -> None:
    if rng.random() < 0.2:  # PRN antiemetic: a dopamine antagonist outside psychiatry
        drug = rng.choice(("metoclopramide", "prochlorperazine"))
        for _ in range(rng.randint(1, 4)):
            t = plan.admit + _u(rng, 1, 160) * HOUR
            plan.doses.append(Dose(t, drug, dose=10.0, route=rng.choice(("oral", "iv"))))
    if rng.random() < 0.1:
        plan.history = ("parkinson_disease",)
        _daily(plan, "carbidopa/levodopa", 100.0, plan.admit, plan.end, (6.0, 12.0, 18.0))


def _nms(plan: PatientPlan, rng: random.Random) -> None:
    """Classic NMS (Velamoor 1994 order; Nisijima 2013 CK peak about 2 days after fever)."""
    plan.antipsychotic = True
    drug, dose = rng.choice(HIGH_POTENCY)
    esc = plan.admit + _u(rng, 6, 36) * HOUR
    for k in range(rng.randint(0, 3)):  # IM doses for agitation: a risk factor (Keck 1989)
        plan.doses.append(Dose(esc + (2 + 5 * k) * HOUR, "haloperidol", dose=5.0, route="im"))
    latest = max(plan.admit + 20 * HOUR, plan.end - 96 * HOUR)
    ms = min(esc + _u(rng, 12, 72) * HOUR, latest)
    rig = ms + _u(rng, 4, 24) * HOUR
    fever_on = rig + _u(rng, 4, 24) * HOUR
    auto = fever_on + _u(rng, 0, 12) * HOUR
    peak_t = fever_on + _u(rng, 36, 60) * HOUR
    _syndrome(plan, rng, ms, rig, fever_on, auto, peak_t, peak_temp=_u(rng, 38.6, 40.8))
    stop = auto + _u(rng, 6, 30) * HOUR  # recognised late, as it often is
    _daily(plan, drug, dose, plan.admit, stop, (9.0, 21.0), escalate_at=esc)
    plan.doses.append(Dose(stop, drug, action="discontinued"))
    _treat(plan, rng, stop)
    plan.ck = CkCourse(rig, peak_t, _u(rng, 8, 150))
    plan.concern_from = fever_on + _u(rng, 0, 6) * HOUR


def _syndrome(
    plan: PatientPlan,
    rng: random.Random,
    ms: float,
    rig: float | None,
    fever_on: float,
    auto: float,
    peak_t: float,
    peak_temp: float,
) -> None:
    resolve = peak_t + _u(rng, 24, 72) * HOUR
    c = plan.courses
    c["mental_status"] = Course(ms, _u(rng, 1, 4), _u(rng, 3, 6), resolve, 24)
    if rig is not None:
        c["rigidity"] = Course(rig, _u(rng, 2, 6), 1.0, resolve + 24 * HOUR, 48)
    c["fever"] = Course(fever_on, _u(rng, 4, 10), peak_temp, resolve, 24)
    c["tachycardia"] = Course(auto, _u(rng, 2, 8), _u(rng, 0.3, 0.6), resolve, 24)
    c["tachypnoea"] = Course(auto, _u(rng, 2, 8), _u(rng, 0.55, 0.9), resolve, 24)
    c["bp_lability"] = Course(auto, _u(rng, 2, 6), _u(rng, 15, 30), resolve, 24)
    if rng.random() < 0.6:
        c["hypertension"] = Course(auto, _u(rng, 3, 8), _u(rng, 0.22, 0.4), resolve, 24)
    c["diaphoresis"] = Course(auto + _u(rng, 0, 4) * HOUR, 2, 1.0, resolve, 12)
    if rng.random() < 0.5:
        c["incontinence"] = Course(auto + _u(rng, 0, 12) * HOUR, 2, 1.0, resolve, 12)
    c["leukocytosis"] = Course(fever_on, 12, _u(rng, 4, 15), resolve, 48)


def _treat(plan: PatientPlan, rng: random.Random, at: float) -> None:
    """Supportive treatment once recognised (not dopamine antagonists, so nothing is scored)."""
    _daily(plan, "dantrolene", 70.0, at, at + 3 * DAY, (0.0, 8.0, 16.0), route="iv")
    if rng.random() < 0.5:
        _daily(plan, "lorazepam", 1.0, at, at + 3 * DAY, (9.0, 21.0), route="iv")


def _atypical_nms(plan: PatientPlan, rng: random.Random) -> None:
    """Atypical NMS (clozapine, olanzapine): no rigidity, temperature stays at or below 38 C
    (rigidity must not be mandatory: docs/clinical-model.md)."""
    plan.antipsychotic = True
    drug, dose = rng.choice(ATYPICAL_NMS_DRUGS)
    esc = plan.admit + _u(rng, 6, 36) * HOUR
    latest = max(plan.admit + 20 * HOUR, plan.end - 96 * HOUR)
    ms = min(esc + _u(rng, 12, 72) * HOUR, latest)
    auto = ms + _u(rng, 4, 24) * HOUR
    peak_t = auto + _u(rng, 24, 48) * HOUR
    _syndrome(plan, rng, ms, None, auto, auto, peak_t, peak_temp=_u(rng, 37.5, 37.9))
    stop = auto + _u(rng, 12, 36) * HOUR
    _daily(plan, drug, dose, plan.admit, stop, (9.0, 21.0), escalate_at=esc)
    plan.doses.append(Dose(stop, drug, action="discontinued"))
    mult = _u(rng, 5, 40) if rng.random() < 0.7 else _u(rng, 1.5, 3.5)
    plan.ck = CkCourse(ms, peak_t, mult)
    plan.concern_from = auto + _u(rng, 0, 12) * HOUR


def _parkinsonism_hyperpyrexia(plan: PatientPlan, rng: random.Random) -> None:
    """Parkinsonism-hyperpyrexia: levodopa stopped (nil by mouth, admission error) or cut."""
    plan.history = ("parkinson_disease",)
    stop = plan.admit + _u(rng, 8, 48) * HOUR
    _daily(plan, "carbidopa/levodopa", 100.0, plan.admit, stop, (6.0, 12.0, 18.0))
    cut = rng.random() < 0.3
    if cut:  # dose cut to a quarter (below the engine's half-dose rule)
        before = len(plan.doses)
        _daily(plan, "carbidopa/levodopa", 25.0, stop, plan.end, (6.0, 12.0, 18.0))
        reduced = plan.doses[before:]
        # A cut is charted only with its first reduced dose, up to 12 h after the decision;
        # the course runs from that dose, so the record shows the exposure before the first
        # sign, as a discontinued order does (seed 2271 once had rigidity before the cut).
        cut = bool(reduced)
        if cut:
            stop = reduced[0].time
    if not cut:
        plan.doses.append(Dose(stop, "carbidopa/levodopa", action="discontinued"))
    rig = stop + _u(rng, 8, 24) * HOUR
    ms = rig + _u(rng, 0, 8) * HOUR
    fever_on = ms + _u(rng, 2, 12) * HOUR
    auto = fever_on + _u(rng, 0, 8) * HOUR
    peak_t = fever_on + _u(rng, 24, 48) * HOUR
    _syndrome(plan, rng, ms, rig, fever_on, auto, peak_t, peak_temp=_u(rng, 38.5, 40.0))
    plan.ck = CkCourse(rig, peak_t, _u(rng, 5, 60))
    plan.concern_from = fever_on + _u(rng, 0, 6) * HOUR
    if not cut:  # restarted once recognised (the treatment is the opposite of NMS)
        restart = auto + _u(rng, 12, 36) * HOUR
        _daily(plan, "carbidopa/levodopa", 100.0, restart, plan.end, (6.0, 12.0, 18.0))


def _sepsis(plan: PatientPlan, rng: random.Random) -> None:
    """Pneumonia or urosepsis on an antipsychotic: fever, tachycardia, tachypnoea, low blood
    pressure, delirium in some, leukocytosis, antibiotics; CK usually modest (reference 6)."""
    _on_antipsychotic(plan, rng, escalate=0.1, prn_im=0.1, lai=0.05)
    on = plan.admit + _u(rng, 12, 120) * HOUR
    abx = on + _u(rng, 2, 8) * HOUR
    resolve = abx + _u(rng, 24, 72) * HOUR
    c = plan.courses
    c["fever"] = Course(on, _u(rng, 2, 6), _u(rng, 38.4, 40.0), resolve, 24)
    c["tachycardia"] = Course(on, 3, _u(rng, 0.2, 0.5), resolve, 24)
    c["tachypnoea"] = Course(on, 3, _u(rng, 0.4, 0.8), resolve, 24)
    c["hypotension"] = Course(on + 2 * HOUR, 4, _u(rng, 0.1, 0.25), resolve, 24)
    c["leukocytosis"] = Course(on, 8, _u(rng, 6, 16), resolve, 48)
    if rng.random() < 0.4:
        c["mental_status"] = Course(on + _u(rng, 2, 12) * HOUR, 2, _u(rng, 2, 4), resolve, 12)
    if rng.random() < 0.3:
        c["diaphoresis"] = Course(on, 2, 1.0, on + 12 * HOUR, 6)
    if rng.random() < 0.15:
        plan.ck = CkCourse(on, on + 36 * HOUR, _u(rng, 2, 6))
    drug = rng.choice(("piperacillin/tazobactam", "ceftriaxone", "co-amoxiclav"))
    _daily(plan, drug, 1000.0, abx, resolve + 3 * DAY, (abx % DAY / HOUR,), route="iv")
    plan.concern_from = on + 2 * HOUR


def _ck_after_im(plan: PatientPlan, rng: random.Random) -> None:
    """Agitation: IM antipsychotic (and restraint); CK rises alone (Scott 2024: 13.8 % of
    psychiatric admissions reach >= 4 x ULN without NMS)."""
    _on_antipsychotic(plan, rng, prn_im=0.0)
    at = plan.admit + _u(rng, 1, 48) * HOUR
    for k in range(rng.randint(1, 3)):
        drug = rng.choice(("haloperidol", "olanzapine", "zuclopenthixol acetate"))
        plan.doses.append(Dose(at + k * _u(rng, 1, 4) * HOUR, drug, dose=5.0, route="im"))
    plan.doses.append(Dose(at, "lorazepam", dose=2.0, route="im"))
    if rng.random() < 0.5:
        plan.restraint_at = at
    plan.courses["tachycardia"] = Course(at - HOUR, 1, _u(rng, 0.1, 0.25), at + 4 * HOUR, 4)
    if rng.random() < 0.3:  # sedated after the injection: charted drowsy for a few hours
        plan.courses["mental_status"] = Course(at + HOUR, 1, 2.0, at + 6 * HOUR, 2)
    plan.ck = CkCourse(at, at + _u(rng, 12, 36) * HOUR, _u(rng, 4.5, 25))
    plan.concern_from = at


def _serotonin_syndrome(plan: PatientPlan, rng: random.Random) -> None:
    """Serotonin toxicity (Hunter): SSRI plus tramadol or linezolid; clonus, hyperreflexia,
    tremor, agitation, diaphoresis, fever in some; rapid onset and resolution."""
    name, dose = rng.choice(SSRI)
    _daily(plan, name, dose, plan.admit, plan.end)
    if rng.random() < 0.3:
        _on_antipsychotic(plan, rng, choices=(("quetiapine", 100.0), ("olanzapine", 5.0)))
    add = plan.admit + _u(rng, 12, 96) * HOUR
    second = rng.choice(("tramadol", "linezolid", "fentanyl"))
    _daily(plan, second, 50.0, add, add + 2 * DAY, (add % DAY / HOUR,), route="oral")
    on = add + _u(rng, 2, 12) * HOUR
    resolve = on + _u(rng, 24, 48) * HOUR
    c = plan.courses
    for sign in ("clonus", "hyperreflexia", "tremor", "diaphoresis"):
        c[sign] = Course(on, 1, 1.0, resolve, 6)
    c["tachycardia"] = Course(on, 2, _u(rng, 0.3, 0.5), resolve, 12)
    c["hypertension"] = Course(on, 2, _u(rng, 0.1, 0.3), resolve, 12)
    c["tachypnoea"] = Course(on, 2, _u(rng, 0.3, 0.6), resolve, 12)
    if rng.random() < 0.5:
        c["mental_status"] = Course(on, 1, _u(rng, 1, 3), resolve, 6)
    if rng.random() < 0.6:
        c["fever"] = Course(on, 3, _u(rng, 38.2, 39.5), resolve, 12)
    plan.concern_from = on + HOUR


def _heat_stroke(plan: PatientPlan, rng: random.Random) -> None:
    """Heat stroke: abrupt core temperature above 40 C, confusion, no prodromal rigidity;
    cooled within hours. Antipsychotics impair heat loss, so half are on one."""
    if rng.random() < 0.5:
        _on_antipsychotic(plan, rng)
    on = plan.admit + _u(rng, 24, 120) * HOUR
    cooled = on + _u(rng, 2, 5) * HOUR
    c = plan.courses
    c["fever"] = Course(on, _u(rng, 0.5, 1.5), _u(rng, 40.2, 41.5), cooled, 4)
    c["mental_status"] = Course(on, 0.5, _u(rng, 3, 7), cooled + 12 * HOUR, 12)
    c["tachycardia"] = Course(on, 1, _u(rng, 0.4, 0.6), cooled, 6)
    c["tachypnoea"] = Course(on, 1, _u(rng, 0.5, 0.8), cooled, 6)
    c["hypotension"] = Course(on, 1, _u(rng, 0.1, 0.25), cooled, 6)
    plan.ck = CkCourse(on, on + _u(rng, 12, 30) * HOUR, _u(rng, 3, 30))
    plan.concern_from = on


def _postop_fever(plan: PatientPlan, rng: random.Random) -> None:
    """Post-operative fever in the first 48 h, after a volatile anaesthetic (and sometimes
    succinylcholine); droperidol or metoclopramide as antiemetics give 'exposure'."""
    if rng.random() < 0.4:
        _on_antipsychotic(plan, rng, prn_im=0.05, lai=0.0)
    op = plan.admit + _u(rng, 6, 48) * HOUR
    plan.doses.append(Dose(op, "sevoflurane", route="other"))
    if rng.random() < 0.3:
        plan.doses.append(Dose(op, "succinylcholine", dose=100.0, route="iv"))
    plan.doses.append(Dose(op, "cefazolin", dose=2000.0, route="iv"))
    for k in range(rng.randint(1, 3)):
        drug = rng.choice(("droperidol", "metoclopramide", "ondansetron"))
        plan.doses.append(Dose(op + (1 + 6 * k) * HOUR, drug, dose=1.0, route="iv"))
    on = op + _u(rng, 8, 40) * HOUR
    resolve = on + _u(rng, 8, 30) * HOUR
    plan.courses["fever"] = Course(on, 4, _u(rng, 38.2, 38.9), resolve, 12)
    plan.courses["tachycardia"] = Course(on, 4, _u(rng, 0.1, 0.25), resolve, 12)
    if rng.random() < 0.15:  # post-operative delirium
        plan.courses["mental_status"] = Course(op + 4 * HOUR, 2, 2.0, op + 40 * HOUR, 12)
    plan.ck = CkCourse(op, op + 24 * HOUR, _u(rng, 1.5, 4.5))
    plan.concern_from = on


PLANNERS: dict[str, Callable[[PatientPlan, random.Random], None]] = {
    "nms": _nms,
    "atypical_nms": _atypical_nms,
    "parkinsonism_hyperpyrexia": _parkinsonism_hyperpyrexia,
    "sepsis": _sepsis,
    "ck_after_im": _ck_after_im,
    "serotonin_syndrome": _serotonin_syndrome,
    "heat_stroke": _heat_stroke,
    "postop_fever": _postop_fever,
    "quiet_antipsychotic": _quiet_antipsychotic,
    "quiet_medical": _quiet_medical,
}
assert set(PLANNERS) == set(DEFAULT_MIX)
