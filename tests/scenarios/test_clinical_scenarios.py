"""Clinical scenarios as data: each story is a timeline of events and the alert behaviour expected.

Times are hours from admission. Vital signs are charted every 2 hours unless the drawing says
otherwise; the first 12 hours are the baseline (HR 80, RR 16, BP 120/75, T 37.0) unless noted.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from monitor.contracts.alerts import Alert
from monitor.contracts.events import Event
from tests.builders import (
    chart,
    gcs,
    highest,
    lab,
    med,
    met,
    patient,
    run,
    vitals,
)


def every(start: float, end: float, step: float, **v: float) -> list[Event]:
    """Vital signs from ``start`` to ``end`` (exclusive) every ``step`` hours."""
    out: list[Event] = []
    h = start
    while h < end:
        out += vitals(h, **v)  # type: ignore[arg-type]
        h += step
    return out


def doses(drug: str, start: float, end: float, step: float, **kw: object) -> list[Event]:
    out = []
    h = start
    while h < end:
        out.append(med(h, drug, **kw))  # type: ignore[arg-type]
        h += step
    return out


NORMAL = {"hr": 80, "rr": 16, "sbp": 120, "dbp": 75, "temp": 37.0}
AUTONOMIC = {"hr": 118, "rr": 28, "sbp": 165, "dbp": 100}


@dataclass
class Scenario:
    name: str
    events: list[Event]
    until: float
    max_priority: str | None
    sequence: list[tuple[str, str]] | None = None  # exact (transition, priority) order
    peak_met: set[str] = field(default_factory=set)  # criteria met at the highest transition
    peak_unmet: set[str] = field(default_factory=set)
    differential: set[str] = field(default_factory=set)
    recommendation: str | None = None
    long_acting: bool | None = None


SCENARIOS = [
    # Classic NMS, in the typical order (Velamoor 1994): mental status -> rigidity -> fever ->
    # autonomic; CK later.
    #  h: 0 ...... 12 ....... 24 ...... 30 ...... 36 38 40 ........ 44 ........ 48
    #     haloperidol 10 mg q12h (IM at 0) ---------------------------------------
    #     baseline ---|
    #                          MS+ GCS12
    #                                   rigidity+
    #                                            T38.6 T38.9 (then fever)
    #                                                  HR118 RR28 BP165/100 diaphoresis
    #                                                              CK 3000 U/L
    #  expect: opened low @24 -> escalated medium @30 -> updated @38 (fever)
    #          -> escalated high @40 -> updated @44 (CK)
    Scenario(
        name="classic NMS: mental status -> rigidity -> fever -> autonomic",
        events=[
            patient(0, sex="male", location="ICU-1 bed 3"),
            med(0, "haloperidol", route="im", dose=10),
            *doses("haloperidol", 12, 48, 12, route="oral", dose=10),
            *every(0, 36, 2, **NORMAL),
            chart(24, "mental_status"),
            gcs(24, 12),
            chart(30, "rigidity"),
            chart(36, "rigidity"),
            chart(36, "mental_status"),
            *every(36, 40, 2, **{**NORMAL, "temp": 38.6}),
            *every(38, 40, 2, temp=38.9),
            chart(40, "diaphoresis"),  # charting before vital signs at the same time, as replay
            *every(40, 48, 2, **AUTONOMIC, temp=39.2),
            lab(44, "ck", 3000, "U/L"),
        ],
        until=48,
        max_priority="high",
        sequence=[
            ("opened", "low"),
            ("escalated", "medium"),
            ("updated", "medium"),
            ("escalated", "high"),
            ("updated", "high"),
        ],
        peak_met={
            "exposure",
            "hyperthermia",
            "rigidity",
            "mental_status",
            "ck_elevation",
            "sympathetic_lability",
            "hypermetabolism",
        },
        recommendation="hold the dopamine antagonist",
    ),
    # Atypical NMS on clozapine: no rigidity at all; the score still reaches the cutoff.
    #  h: 0 ... 24 ...... 30 32 .... 34 ......... 36
    #     clozapine 100 mg q12h
    #           MS+      T38.4 T38.7  HR120 RR28 BP165/100 diaphoresis  CK 2400
    Scenario(
        name="atypical NMS without rigidity (clozapine)",
        events=[
            *doses("Clozapine", 0, 40, 12, route="oral", dose=100),
            *every(0, 30, 2, **NORMAL),
            chart(24, "mental_status"),
            *every(30, 34, 2, **{**NORMAL, "temp": 38.4}),
            vitals(32, temp=38.7)[0],
            *every(34, 40, 2, **AUTONOMIC, temp=38.8),
            chart(34, "diaphoresis"),
            chart(34, "rigidity", present=False),
            lab(36, "ck", 2400, "U/L"),
        ],
        until=40,
        max_priority="high",
        peak_met={"hyperthermia", "mental_status", "ck_elevation", "sympathetic_lability"},
        peak_unmet={"rigidity"},
    ),
    # NMS that never reaches 38 C: rigidity, mental status, CK and autonomic signs carry it.
    #  h: 0 ... 20 ..... 24 ..... 28 ........ 30
    #     haloperidol q12h; T 37.6-37.9 throughout
    #           rigidity+ MS+      HR118 RR28 BP165/100 diaphoresis  CK 5200
    Scenario(
        name="NMS without reaching 38 C",
        events=[
            *doses("haloperidol", 0, 36, 12, route="oral", dose=5),
            *every(0, 28, 2, **{**NORMAL, "temp": 37.6}),
            chart(20, "rigidity"),
            chart(24, "mental_status"),
            *every(28, 36, 2, **AUTONOMIC, temp=37.9),
            chart(28, "diaphoresis"),
            lab(30, "ck", 5200, "U/L"),
        ],
        until=36,
        max_priority="high",
        peak_met={
            "rigidity",
            "mental_status",
            "ck_elevation",
            "sympathetic_lability",
            "hypermetabolism",
        },
        peak_unmet={"hyperthermia"},
    ),
    # Metoclopramide in a non-psychiatric (post-operative) patient.
    #  h: 0 ... (metoclopramide 10 mg IV q8h) ... 20 MS+, 22 rigidity+, 24/26 T38.7, 26 autonomic
    Scenario(
        name="metoclopramide in a non-psychiatric patient",
        events=[
            patient(0, sex="female", location="Surgical ward 4"),
            *doses("Metoclopramide hydrochloride", 0, 30, 8, route="iv", dose=10),
            *every(0, 24, 2, **NORMAL),
            chart(20, "mental_status"),
            chart(22, "rigidity"),
            *every(24, 26, 2, **{**NORMAL, "temp": 38.7}),
            *every(26, 32, 2, **AUTONOMIC, temp=38.9),
            chart(26, "diaphoresis"),
        ],
        until=32,
        max_priority="high",
        peak_met={"exposure", "rigidity", "mental_status", "hyperthermia"},
    ),
    # Long-acting injection: one depot dose on day 0; NMS from day 10 (far beyond 72 h).
    #  day: 0 haloperidol decanoate 100 mg IM ... 10 MS+ rigidity+ ... 10.5 fever, autonomic
    Scenario(
        name="long-acting injection, NMS on day 10",
        events=[
            med(0, "Haloperidol decanoate", route="im", dose=100),
            *every(0, 240, 6, **NORMAL),
            chart(240, "mental_status"),
            chart(240, "rigidity"),
            *every(240, 244, 2, **{**NORMAL, "temp": 38.8}),
            *every(244, 250, 2, **AUTONOMIC, temp=39.0),
            chart(244, "diaphoresis"),
        ],
        until=250,
        max_priority="high",
        peak_met={"exposure", "rigidity", "mental_status", "hyperthermia"},
        long_acting=True,
        recommendation="persists for weeks",
    ),
    # Dopaminergic withdrawal (parkinsonism-hyperpyrexia): no antagonist at all.
    #  h: 0 levodopa/carbidopa q8h ... 30 discontinued (nil by mouth) ... 40 rigidity, MS,
    #     42/44 T38.9, 44 autonomic
    Scenario(
        name="dopaminergic withdrawal in Parkinson disease",
        events=[
            patient(0, history=["parkinson_disease"]),
            *doses("Levodopa/Carbidopa 100/25 mg", 0, 30, 8, route="oral", dose=100),
            med(30, "levodopa/carbidopa", action="discontinued"),
            *every(0, 42, 2, **NORMAL),
            chart(40, "rigidity"),
            chart(40, "mental_status"),
            *every(42, 44, 2, **{**NORMAL, "temp": 38.9}),
            *every(44, 50, 2, **AUTONOMIC, temp=39.1),
            chart(44, "diaphoresis"),
        ],
        until=50,
        max_priority="high",
        peak_met={"exposure", "rigidity", "hyperthermia"},
        differential={"parkinsonism_hyperpyrexia"},
        recommendation="restart it promptly",
    ),
    # Mimic: sepsis on an antipsychotic. Fever, tachycardia, tachypnoea, delirium and a fall
    # in blood pressure, antibiotics started, CK modest: medium at most, never high.
    #  h: 0 quetiapine daily ... 18 T38.8 HR120 RR28 SBP 90 ... 20 piperacillin, MS+ ... CK 400
    Scenario(
        name="mimic: sepsis on an antipsychotic",
        events=[
            *doses("Quetiapine", 0, 48, 24, route="oral", dose=200),
            *every(0, 18, 2, **NORMAL),
            *every(18, 36, 2, hr=122, rr=28, sbp=90, dbp=55, temp=38.9),
            med(20, "Piperacillin/tazobactam", route="iv", dose=4.5),
            chart(20, "mental_status"),
            lab(20, "wbc", 18.5, "10*9/L"),
            lab(20, "ck", 400, "U/L"),
        ],
        until=36,
        max_priority="medium",
        peak_unmet={"rigidity", "ck_elevation"},
        differential={"sepsis"},
    ),
    # Mimic: isolated CK rise after IM injections and restraint. CK alone is rhabdomyolysis,
    # not NMS (Scott 2024): exposure + CK = 30 is below 'low' (31), so no alert at all.
    #  h: 0 haloperidol 10 mg IM x2 (restraint) ... 12 CK 3500 U/L ... vitals normal
    Scenario(
        name="mimic: isolated CK rise after IM injection and restraint",
        events=[
            med(0, "haloperidol", route="im", dose=10),
            med(1, "haloperidol", route="im", dose=10),
            *every(0, 36, 2, **NORMAL),
            lab(12, "ck", 3500, "U/L"),
            chart(12, "rigidity", present=False),
            chart(12, "mental_status", present=False),
        ],
        until=36,
        max_priority=None,
    ),
    # Mimic: serotonin syndrome without any neuroleptic: no NMS alert at all.
    #  h: 0 sertraline ... 10 tramadol ... 12 clonus, hyperreflexia, MS+, fever, autonomic
    Scenario(
        name="mimic: serotonin syndrome without a neuroleptic",
        events=[
            med(0, "sertraline", dose=100),
            med(10, "tramadol", dose=100),
            *every(0, 12, 2, **NORMAL),
            chart(12, "clonus"),
            chart(12, "hyperreflexia"),
            chart(12, "mental_status"),
            chart(12, "diaphoresis"),
            *every(12, 24, 1, **AUTONOMIC, temp=39.0),
            lab(14, "ck", 2000, "U/L"),
        ],
        until=24,
        max_priority=None,
    ),
    # Mimic: heat stroke in a patient on olanzapine (heat wave; abrupt core 41 C, no prodromal
    # rigidity, dry skin): medium at most, with heat stroke in the differential.
    #  h: 0 olanzapine daily ... 30 core T 41.2, 31 core 40.8, MS+, HR130 RR30
    Scenario(
        name="mimic: heat stroke on olanzapine",
        events=[
            patient(0, sex="male"),
            *doses("Olanzapine", 0, 48, 24, route="oral", dose=10),
            *every(0, 30, 2, **NORMAL),
            *vitals(30, hr=130, rr=30, sbp=110, dbp=65, temp=41.2, site="core"),
            *vitals(31, hr=128, rr=30, sbp=112, dbp=66, temp=40.8, site="core"),
            *every(32, 40, 2, hr=110, rr=22, sbp=118, dbp=70, temp=38.4),
            chart(30, "mental_status"),
            chart(30, "diaphoresis", present=False),
            lab(32, "ck", 900, "U/L"),
        ],
        until=40,
        max_priority="medium",
        peak_unmet={"rigidity"},
        differential={"heat_stroke"},
    ),
    # Differential: serotonin toxicity in a patient on an antipsychotic (linezolid added).
    Scenario(
        name="serotonergic drug on top of an antipsychotic",
        events=[
            *doses("risperidone", 0, 48, 24, dose=2),
            med(20, "Linezolid", route="iv", dose=600),
            *every(0, 24, 2, **NORMAL),
            chart(24, "clonus"),
            chart(24, "mental_status"),
            *every(24, 30, 2, **AUTONOMIC, temp=38.7),
        ],
        until=30,
        max_priority="medium",
        differential={"serotonin_syndrome", "sepsis"},
    ),
    # Differential: malignant hyperthermia after anaesthesia (droperidol as antiemetic).
    Scenario(
        name="volatile anaesthetic and succinylcholine",
        events=[
            med(10, "sevoflurane"),
            med(10, "Suxamethonium chloride", route="iv"),
            med(11, "droperidol", route="iv", dose=1.25),
            *every(0, 12, 2, **NORMAL),
            chart(12, "rigidity"),
            *every(12, 16, 1, **AUTONOMIC, temp=39.5),
        ],
        until=16,
        max_priority="medium",
        differential={"malignant_hyperthermia"},
    ),
    # A quiet patient on antipsychotics: nothing at all.
    Scenario(
        name="quiet patient on antipsychotics",
        events=[
            *doses("aripiprazole", 0, 96, 24, dose=15),
            *doses("haloperidol", 6, 96, 24, dose=5),
            *every(0, 96, 4, **NORMAL),
            chart(12, "mental_status", present=False),
            lab(24, "ck", 150, "U/L"),
        ],
        until=96,
        max_priority=None,
    ),
]


def _peak(alerts: list[Alert]) -> Alert:
    top = highest(alerts)
    firing = [a for a in alerts if a.priority == top and a.status == "firing"]
    return max(firing, key=lambda a: a.score)


@pytest.mark.parametrize("sc", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_scenario(sc: Scenario) -> None:
    alerts = run(sc.events, until=sc.until)
    assert highest(alerts) == sc.max_priority, [(a.transition, a.priority, a.score) for a in alerts]
    if sc.max_priority is None:
        assert alerts == []
        return
    if sc.sequence is not None:
        assert [(a.transition, a.priority) for a in alerts] == sc.sequence
    peak = _peak(alerts)
    assert sc.peak_met <= met(peak), met(peak)
    assert not (sc.peak_unmet & met(peak)), met(peak)
    diffs = {d.condition for a in alerts for d in a.differential}
    assert sc.differential <= diffs, diffs
    if sc.recommendation:
        assert any(sc.recommendation in r for r in peak.recommendations), peak.recommendations
    if sc.long_acting is not None:
        assert any(d.long_acting for d in peak.exposure.drugs) is sc.long_acting
    # One alert per episode: every transition of the run shares the alert id.
    assert len({a.alert_id for a in alerts}) == 1
    assert [a.sequence for a in alerts] == list(range(1, len(alerts) + 1))


def test_classic_alert_explains_itself() -> None:
    alerts = run(SCENARIOS[0].events, until=48)
    top = alerts[-1]
    by = {c.name: c for c in top.criteria}
    assert top.score == 93 and top.max_computable_score == 93 and top.cutoff == 74
    assert by["hyperthermia"].evidence[0].threshold == 38.0
    assert by["ck_elevation"].evidence[0].value == 3000
    assert by["ck_elevation"].evidence[0].threshold == 4 * 308
    hm = by["hypermetabolism"].evidence
    assert hm[0].baseline == 80 and hm[0].code == "heart_rate"
    assert "not computable" in by["negative_workup"].detail
    assert top.location == "ICU-1 bed 3"
    assert top.exposure.drugs[0].drug == "haloperidol"
    assert any("parenteral" in r for r in top.exposure.risk_factors)
