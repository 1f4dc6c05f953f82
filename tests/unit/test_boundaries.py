"""Boundary tests: every threshold of the clinical reference, just below and at/above it."""

from __future__ import annotations

import pytest

from monitor.engine.errors import EventRejected
from monitor.engine.score import _priority
from monitor.engine.ward import Ward
from monitor.knowledge.thresholds import ClinicalSettings
from tests.builders import (
    baseline,
    chart,
    findings_at,
    gcs,
    lab,
    med,
    patient,
    run,
    vital,
    vitals,
)

CFG = ClinicalSettings()
HALDOL = [med(0, "haloperidol", route="oral", dose=5)]


# --- IEC 2: hyperthermia > 38.0 C oral on >= 2 occasions ---------------------------------
@pytest.mark.parametrize(
    ("value", "unit", "site", "met"),
    [
        (37.99, "Cel", None, False),
        (38.0, "Cel", None, False),  # "> 38.0": equal is not fever
        (38.01, "Cel", None, True),
        (100.4, "[degF]", None, False),  # = 38.0 C
        (100.5, "[degF]", None, True),  # = 38.06 C
        (37.5, "Cel", "axillary", False),  # + 0.5 = 38.0
        (37.6, "Cel", "axillary", True),  # + 0.5 = 38.1
        (38.5, "Cel", "core", False),  # - 0.5 = 38.0
        (38.6, "Cel", "core", True),
        (38.6, "Cel", "rectal", True),
        (38.5, "Cel", "tympanic", False),
    ],
)
def test_fever_threshold_units_and_sites(
    value: float, unit: str, site: str | None, met: bool
) -> None:
    kw = {"site": site} if site else {}
    evs = [vital(10, "temperature", value, unit, **kw), vital(11, "temperature", value, unit, **kw)]
    f = findings_at(evs, 11)["hyperthermia"]
    assert f.met is met
    if met:
        assert f.evidence and f.evidence[0].threshold == 38.0
        if site or unit != "Cel":
            assert "oral-equivalent" in (f.evidence[0].note or "")


def test_fever_needs_two_occasions() -> None:
    assert not findings_at([vital(10, "temperature", 39.0)], 10)["hyperthermia"].met


@pytest.mark.parametrize(("minutes", "met"), [(29, False), (30, True)])
def test_fever_occasions_must_be_separated(minutes: int, met: bool) -> None:
    evs = [vital(10, "temperature", 38.6), vital(10 + minutes / 60, "temperature", 38.7)]
    assert findings_at(evs, 11)["hyperthermia"].met is met


def test_fever_separation_zero_counts_any_two_readings() -> None:
    cfg = ClinicalSettings(fever_occasion_separation_minutes=0)
    evs = [vital(10, "temperature", 38.6), vital(10 + 1 / 60, "temperature", 38.7)]
    assert findings_at(evs, 11, cfg)["hyperthermia"].met


@pytest.mark.parametrize(("hours_later", "met"), [(24.5, True), (26.0, False)])
def test_fever_window_expires(hours_later: float, met: bool) -> None:
    # An hour apart: the consecutive-readings rule needs the later one inside the window too.
    evs = [vital(10, "temperature", 38.6), vital(11, "temperature", 38.7)]
    assert findings_at(evs, 10 + hours_later, CFG)["hyperthermia"].met is met


@pytest.mark.parametrize(
    ("gap_h", "between", "met"),
    [
        (30.0, None, True),
        (48.0, None, True),  # at most 48 h apart: inclusive
        (48 + 1 / 60, None, False),
        (30.0, 37.2, False),  # a normal reading between: not consecutive
        (30.0, 38.4, True),  # a raised one between: the last two are raised
        (0.4, None, False),  # under 30 min apart: one occasion
    ],
)
def test_fever_on_consecutive_ward_readings(gap_h: float, between: float | None, met: bool) -> None:
    """Temperatures charted every 8-24 h: two consecutive charted readings > 38.0 C are the
    IEC's two occasions even when more than the 24 h window apart (a clinician reading the
    chart sees a fever on two rounds)."""
    later = 10 + gap_h
    evs = [vital(10, "temperature", 38.6), vital(later, "temperature", 38.7)]
    if between is not None:
        evs.append(vital(10 + gap_h / 2, "temperature", between))
    f = findings_at(evs, later + 1)["hyperthermia"]
    assert f.met is met
    if met and between is None and gap_h > 25:
        assert "consecutive" in f.detail and len(f.evidence) == 2


@pytest.mark.parametrize(("after", "met"), [(24.0, True), (24 + 1 / 60, False)])
def test_fever_on_consecutive_readings_needs_a_recent_one(after: float, met: bool) -> None:
    evs = [vital(0, "temperature", 38.6), vital(30, "temperature", 38.7)]
    assert findings_at(evs, 30 + after)["hyperthermia"].met is met


# --- IEC 5: CK >= 4 x ULN ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "unit", "ref", "sex", "met"),
    [
        (399, "U/L", 100.0, None, False),  # 3.99 x lab ULN
        (400, "U/L", 100.0, None, True),  # 4.0 x lab ULN
        (1231, "U/L", None, "male", False),  # male default 308 -> 1232
        (1232, "U/L", None, "male", True),
        (767, "U/L", None, "female", False),  # female default 192 -> 768
        (768, "U/L", None, "female", True),
        (767, "U/L", None, None, False),  # unknown sex: the lower default
        (768, "U/L", None, None, True),
        (20.53, "ukat/L", None, "male", False),  # 1231.8 U/L
        (20.54, "ukat/L", None, "male", True),  # 1232.4 U/L
        (256020, "U/L", None, "male", True),  # never capped
    ],
)
def test_ck_multiple_of_uln(
    value: float, unit: str, ref: float | None, sex: str | None, met: bool
) -> None:
    evs = [lab(5, "ck", value, unit, **({"reference_high": ref} if ref else {}))]
    if sex:
        evs.append(patient(0, sex=sex))
    f = findings_at(evs, 6)["ck_elevation"]
    assert f.met is met
    assert f.evidence[0].value == pytest.approx(value * (60 if unit == "ukat/L" else 1), abs=0.1)


def test_ck_window_expires() -> None:
    evs = [lab(0, "ck", 5000, "U/L")]
    assert findings_at(evs, 72, CFG)["ck_elevation"].met
    assert not findings_at(evs, 72.1, CFG)["ck_elevation"].met


# --- IEC 7: hypermetabolism: HR >= 25 % and RR >= 50 % above baseline ---------------------
BASE = baseline(0, 12, hr=80, rr=16, sbp=120, dbp=80)


@pytest.mark.parametrize(
    ("hr", "rr", "met"),
    [
        (99.92, 24, False),  # HR 24.9 % above 80
        (100, 24, True),  # HR 25 %, RR 50 %
        (100, 23.98, False),  # RR 49.9 %
        (130, 30, True),
    ],
)
def test_hypermetabolism_boundaries(hr: float, rr: float, met: bool) -> None:
    evs = BASE + vitals(20, hr=hr, rr=rr)
    f = findings_at(evs, 20.5)["hypermetabolism"]
    assert f.met is met
    if met:
        assert f.evidence[0].baseline == 80 and f.evidence[1].baseline == 16


# --- IEC 6: sympathetic lability (2 of 4) ------------------------------------------------
@pytest.mark.parametrize(
    ("sbp", "met_a"),
    [(149.88, False), (150, True)],  # 24.9 % vs 25 % above a 120 baseline
)
def test_bp_above_baseline_sign(sbp: float, met_a: bool) -> None:
    # With diaphoresis as the second sign, lability is met exactly when sign (a) is.
    # Sign (b) must not fire: keep the fluctuation below 25 mmHg by a stable hour before.
    evs = [
        *baseline(0, 12, sbp=128, dbp=80),
        *vitals(20, sbp=sbp),
        *vitals(21, sbp=sbp),
        chart(20, "diaphoresis"),
    ]
    cfg = ClinicalSettings(baseline_sbp_max=120)  # clamps the 128 baseline to 120
    f = findings_at(evs, 21.5, cfg)["sympathetic_lability"]
    assert f.met is met_a
    assert "above 120" in f.detail or not met_a


@pytest.mark.parametrize(("occasions", "met"), [(1, False), (2, True)])
def test_bp_above_baseline_needs_two_raised_hours(occasions: int, met: bool) -> None:
    """6a on two occasions (the repeated-observation rule): one raised hourly mean is not
    enough; two raised hours are, also when the hours are not adjacent."""
    # A baseline of 128 clamped to 120: 150 is raised, and 150 - 128 is no (b) fluctuation.
    raised = [v for h in (14, 20)[:occasions] for v in vitals(h, sbp=150)]
    evs = [*baseline(0, 12, sbp=128, dbp=80), *raised, chart(20, "diaphoresis")]
    cfg = ClinicalSettings(baseline_sbp_max=120)
    assert findings_at(evs, 20.5, cfg)["sympathetic_lability"].met is met
    one = ClinicalSettings(baseline_sbp_max=120, bp_raised_occasions=1)
    assert findings_at(evs, 20.5, one)["sympathetic_lability"].met


@pytest.mark.parametrize(
    ("gap_h", "between", "met"),
    [(36.0, None, True), (48.0, None, True), (48 + 1 / 60, None, False), (36.0, 140.0, False)],
)
def test_bp_raised_on_consecutive_ward_readings(
    gap_h: float, between: float | None, met: bool
) -> None:
    """Ward charting every 8-24 h: two consecutive charted readings >= 25 % above baseline are
    two occasions, up to ``consecutive_max_gap_hours`` (48 h) apart, nothing charted between."""
    later = 24 + gap_h
    evs = [
        vital(0, "systolic_bp", 120),  # population baseline (too few own readings): 120 -> 150
        vital(24, "systolic_bp", 155),
        vital(later, "systolic_bp", 156),
        chart(later, "diaphoresis"),
    ]
    if between is not None:
        evs.append(vital(24 + gap_h / 2, "systolic_bp", between))
    f = findings_at(evs, later + 0.5)["sympathetic_lability"]
    assert f.met is met
    if met:
        assert "consecutive" in f.detail


@pytest.mark.parametrize(
    ("code", "low", "high", "met"),
    [
        ("systolic_bp", 120, 144.9, False),
        ("systolic_bp", 120, 145, True),
        ("diastolic_bp", 80, 99.9, False),
        ("diastolic_bp", 80, 100, True),
    ],
)
def test_bp_fluctuation_within_24h(code: str, low: float, high: float, met: bool) -> None:
    # Baseline high enough that sign (a) cannot fire; incontinence is the second sign.
    cfg = ClinicalSettings(
        baseline_sbp_normal=200, baseline_dbp_normal=200, baseline_min_readings=99
    )
    evs = [vital(10, code, low), vital(20, code, high), chart(20, "incontinence")]
    assert findings_at(evs, 20.5, cfg)["sympathetic_lability"].met is met


def test_bp_fluctuation_outside_24h_does_not_count() -> None:
    cfg = ClinicalSettings(baseline_sbp_normal=200, baseline_min_readings=99)
    evs = [vital(0, "systolic_bp", 100), vital(30, "systolic_bp", 160), chart(30, "incontinence")]
    assert not findings_at(evs, 30.5, cfg)["sympathetic_lability"].met


def test_charted_signs_alone_make_lability() -> None:
    evs = [chart(5, "diaphoresis"), chart(5, "incontinence")]
    assert findings_at(evs, 6)["sympathetic_lability"].met
    assert not findings_at([chart(5, "diaphoresis")], 6)["sympathetic_lability"].met


def test_baseline_falls_back_to_population_normal() -> None:
    evs = [vital(1, "heart_rate", 60), vital(2, "heart_rate", 60)]  # 2 < 3 readings
    f = findings_at(evs + vitals(20, hr=100, rr=24), 20.5)["hypermetabolism"]
    assert f.met and "population normal" in f.detail


def test_tachycardic_baseline_is_clamped() -> None:
    evs = baseline(0, 12, hr=120, rr=16) + vitals(20, hr=125, rr=24)
    f = findings_at(evs, 20.5)["hypermetabolism"]
    assert f.met and "clamped" in f.detail


# --- IEC 1: exposure 72 h; depot weeks; dopaminergic withdrawal ---------------------------
@pytest.mark.parametrize(
    ("hours", "met"), [(71 + 59 / 60, True), (72.0, True), (72 + 1 / 60, False)]
)
def test_exposure_72h(hours: float, met: bool) -> None:
    assert findings_at(HALDOL, hours)["exposure"].met is met


@pytest.mark.parametrize(
    ("drug", "hours", "met"),
    [
        ("Haloperidol decanoate", 72 + 1 / 60, True),  # long-acting after 72 h
        ("Paliperidone palmitate", 10 * 24, True),
        ("risperidone long-acting injection", 20 * 24, True),
        ("Metoclopramide", 71, True),
        ("Metoclopramide", 73, False),
    ],
)
def test_exposure_long_acting(drug: str, hours: float, met: bool) -> None:
    assert findings_at([med(0, drug, route="im")], hours)["exposure"].met is met


def _record_for(pid: str) -> str:
    """A medication text that the catalogue identifies as exactly this product: a brand or name
    alone, or with one of the product's labelled strengths."""
    cat = CFG.drugs.catalogue
    product = cat.products[pid]
    texts = [k for k, t in cat.phrases.items() if pid in t.products]
    for words in sorted(texts, key=len):
        base = " ".join(words)
        for text in [base, *(f"{base} {s:g} mg" for s in sorted(product.strengths))]:
            if [m.product for m in CFG.drugs.match(text)] == [pid]:
                return text
    raise AssertionError(f"no record text identifies {pid}")


@pytest.mark.parametrize("pid", sorted(CFG.drugs.catalogue.products))
def test_every_long_acting_product_counts_for_its_own_horizon(pid: str) -> None:
    """One injection of each product counts until its horizon (inclusive) and not a minute
    longer: from two-weekly microspheres to six-monthly palmitate, not 28 days for all."""
    horizon_h = CFG.drugs.catalogue.products[pid].horizon_days * 24
    events = [med(0, _record_for(pid), route="im")]
    assert findings_at(events, 72 + 1 / 60)["exposure"].met  # beyond any oral window
    assert findings_at(events, horizon_h)["exposure"].met
    assert not findings_at(events, horizon_h + 1 / 60)["exposure"].met


def test_a_product_horizon_can_be_overridden() -> None:
    cfg = ClinicalSettings(lai_horizon_days={"paliperidone_palmitate_3_monthly": 100})
    events = [med(0, "Invega Trinza 819 mg", route="im")]
    assert findings_at(events, 100 * 24, cfg)["exposure"].met
    assert not findings_at(events, 100 * 24 + 1 / 60, cfg)["exposure"].met


def test_an_unidentified_product_counts_for_the_longest_of_its_drug() -> None:
    """'paliperidone palmitate' with no dose could be the 1-, 3- or 6-monthly product: the
    exposure lasts as long as the longest of them, and the alert says which were possible."""
    longest = max(
        p.horizon_days
        for p in CFG.drugs.catalogue.products.values()
        if p.ingredient == "paliperidone"
    )
    events = [med(0, "paliperidone palmitate", route="im")]
    found = findings_at(events, longest * 24)["exposure"]
    assert found.met and "product not identified" in found.detail
    assert not findings_at(events, longest * 24 + 1 / 60)["exposure"].met
    # Five weeks after a 3-monthly injection: exposed (the single 28-day window said not).
    assert findings_at([med(0, "Invega Trinza 546 mg", route="im")], 35 * 24)["exposure"].met


def test_dopaminergic_stop_is_exposure_for_72h() -> None:
    evs = [med(0, "levodopa/carbidopa", dose=100), med(10, "Sinemet", action="discontinued")]
    assert findings_at(evs, 11)["exposure"].met
    assert findings_at(evs, 82)["exposure"].met
    assert not findings_at(evs, 82.1)["exposure"].met
    restarted = [*evs, med(20, "levodopa", dose=100)]
    assert not findings_at(restarted, 21)["exposure"].met


@pytest.mark.parametrize(("dose", "met"), [(51, False), (50, True)])
def test_dopaminergic_dose_cut(dose: float, met: bool) -> None:
    evs = [med(0, "ropinirole", dose=100), med(8, "ropinirole", dose=dose)]
    assert findings_at(evs, 9)["exposure"].met is met


def test_sustained_dopaminergic_dose_cut_counts_for_72h() -> None:
    """Found by the ward simulator: 100 mg, then 25 mg at every later dose is one withdrawal
    that lasts 72 h from the cut, not only until the next reduced dose."""
    evs = [med(0, "levodopa", dose=100), *[med(h, "levodopa", dose=25) for h in range(6, 90, 6)]]
    assert findings_at(evs, 30)["exposure"].met
    assert findings_at(evs, 78)["exposure"].met
    assert not findings_at(evs, 78.1)["exposure"].met
    # Restoring more than half the earlier level ends the withdrawal.
    restored = [
        med(0, "levodopa", dose=100),
        med(6, "levodopa", dose=25),
        med(12, "levodopa", dose=75),
    ]
    assert not findings_at(restored, 13)["exposure"].met


def test_no_exposure_for_unrelated_drugs() -> None:
    evs = [med(0, "paracetamol"), med(0, "sertraline"), med(1, "ceftriaxone")]
    assert not findings_at(evs, 2)["exposure"].met


# --- IEC 3/4: charted signs and GCS --------------------------------------------------------
@pytest.mark.parametrize(
    ("hours", "met"), [(167 + 59 / 60, True), (168.0, True), (168 + 1 / 60, False)]
)
@pytest.mark.parametrize("code", ["rigidity", "mental_status"])
def test_charted_sign_persists_until_the_horizon(code: str, hours: float, met: bool) -> None:
    """A sign charted present counts until charted absent or for ``sign_horizon_hours``."""
    assert findings_at([chart(0, code)], hours)[code].met is met


@pytest.mark.parametrize(("hours", "met"), [(168.0, True), (168 + 1 / 60, False)])
def test_charted_lability_signs_persist_until_the_horizon(hours: float, met: bool) -> None:
    evs = [chart(0, "diaphoresis"), chart(0, "incontinence")]
    assert findings_at(evs, hours)["sympathetic_lability"].met is met


@pytest.mark.parametrize(("hours", "met"), [(168.0, True), (168 + 1 / 60, False)])
def test_gcs_counts_until_the_horizon(hours: float, met: bool) -> None:
    assert findings_at([gcs(0, 12)], hours)["mental_status"].met is met


@pytest.mark.parametrize(("hours", "stale"), [(24.0, False), (24 + 1 / 60, True)])
def test_charting_older_than_a_day_says_so(hours: float, stale: bool) -> None:
    f = findings_at([chart(0, "rigidity")], hours)["rigidity"]
    assert f.met
    assert bool(f.stale) is stale
    assert ("re-examine" in f.detail) is stale
    assert ("re-examine" in (f.evidence[0].note or "")) is stale


def test_stale_charting_is_named_in_the_alert_with_a_recommendation() -> None:
    """An alert resting on a day-old charting says so; fresh charting of the same sign clears
    the recommendation."""
    evs = [
        med(0, "haloperidol", dose=5),
        chart(1, "rigidity"),
        chart(1, "mental_status"),
        *[med(h, "haloperidol", dose=5) for h in (24, 48)],
        lab(30, "ck", 4000, "U/L"),  # a material change at 30 h: an 'updated' transition
    ]
    last = run(evs)[-1]
    assert (last.transition, last.priority, last.score) == ("updated", "medium", 60)
    assert any("Re-examine" in r and "rigidity (charted 29 h ago)" in r
               for r in last.recommendations)  # fmt: skip
    fresh = run([*evs, chart(29, "rigidity"), chart(29, "mental_status")])[-1]
    assert fresh.transition == "updated"
    assert not any("Re-examine" in r for r in fresh.recommendations)


def test_later_absent_clears_sign() -> None:
    assert not findings_at([chart(0, "rigidity"), chart(2, "rigidity", False)], 3)["rigidity"].met
    # Charting arrives out of order: the later event time still wins.
    assert not findings_at([chart(2, "rigidity", False), chart(0, "rigidity")], 3)["rigidity"].met


@pytest.mark.parametrize(
    ("values", "met"),
    [([14], False), ([13], True), ([15, 14], False), ([15, 13], True), ([12, 11], True)],
)
def test_gcs_threshold_and_drop(values: list[int], met: bool) -> None:
    evs = [gcs(i, v) for i, v in enumerate(values)]
    assert findings_at(evs, len(values))["mental_status"].met is met


# --- Score -> priority ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("score", "exposed", "priority"),
    [
        (30, True, None),  # exposure + CK alone, or + lability alone: not even low
        (31, True, "low"),
        (44, True, "low"),
        (45, True, "medium"),
        (73, True, "medium"),
        (74, True, "high"),
        (93, False, None),  # no exposure: never an NMS alert
    ],
)
def test_priority_thresholds(score: int, exposed: bool, priority: str | None) -> None:
    assert _priority(score, exposed, CFG) == priority


def test_priority_settings_must_be_ordered() -> None:
    with pytest.raises(ValueError, match="low <= medium <= cutoff"):
        ClinicalSettings(priority_low=50, priority_medium=45)


# --- Plausibility and lateness ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("code", "value", "ok"),
    [
        ("heart_rate", 0, False),  # ECG lead-off, not asystole
        ("heart_rate", 1, True),
        ("heart_rate", 299, True),
        ("heart_rate", 300, False),
        ("temperature", 24.9, False),
        ("temperature", 25, True),
        ("temperature", 45, True),
        ("temperature", 45.1, False),
        ("systolic_bp", 399, True),
        ("systolic_bp", 400, False),
        ("diastolic_bp", 300, False),
        ("mean_bp", 29, False),
        ("mean_bp", 200, True),
        ("respiratory_rate", 80, False),
        ("spo2", 100, True),
        ("spo2", 100.1, False),
    ],
)
def test_plausibility_limits(code: str, value: float, ok: bool) -> None:
    ward = Ward(CFG)
    if ok:
        assert not ward.process(vital(1, code, value)).duplicate
    else:
        with pytest.raises(EventRejected) as exc:
            ward.process(vital(1, code, value))
        assert exc.value.rejection.reason == "implausible_value"
        assert not ward.states  # nothing was stored for a rejected first event


def test_displaced_probe_is_rejected_not_recovery() -> None:
    ward = Ward(CFG)
    ward.process(vital(1, "temperature", 38.5))
    with pytest.raises(EventRejected) as exc:
        ward.process(vital(1.5, "temperature", 33.0))
    assert exc.value.rejection.reason == "displaced_probe"
    ward.process(vital(3, "temperature", 33.0))  # long after: a real (if odd) reading


@pytest.mark.parametrize(("behind", "ok"), [(48.0, True), (48 + 1 / 3600, False)])
def test_lateness_boundary(behind: float, ok: bool) -> None:
    ward = Ward(CFG)
    ward.process(vital(100, "heart_rate", 80))
    late = vital(100 - behind, "heart_rate", 80)
    if ok:
        ward.process(late)
    else:
        with pytest.raises(EventRejected) as exc:
            ward.process(late)
        assert exc.value.rejection.reason == "too_late"
