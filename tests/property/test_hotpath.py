"""INCREMENTAL: the engine's incremental evaluation equals a from-scratch evaluation at every step.

``monitor.engine.hotpath.evaluate`` reuses cached criteria while their inputs and windows are
unchanged; ``monitor.engine.score.evaluate`` computes everything again. Random ward stories
(every kind of event, every criterion and differential hint, late and duplicated events, refused
events, states saved and loaded, time passing without events, non-default settings) are fed
event by event, and after each one the two are compared at the patient's clock and at later
times. The alert transitions of the whole story must also be identical, byte for byte, to those
of an engine that evaluates from scratch.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.contracts.alerts import Alert
from monitor.contracts.events import EVENT_ADAPTER, Event
from monitor.engine import core, dumps_state, hotpath, loads_state, new_state, score, step, tick
from monitor.engine.state import PatientState
from monitor.errors import EventRejected
from monitor.knowledge.thresholds import HOUR, ClinicalSettings

T0 = dt.datetime(2026, 3, 2, tzinfo=dt.UTC).timestamp()
PROPS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Settings that move every window off whole hours and change the rules' counts.
SETTINGS = [
    ClinicalSettings(),
    ClinicalSettings(
        vital_window_hours=6.5,
        lability_window_hours=3.25,
        fever_window_hours=10.5,
        fever_occasions=1,
        bp_raised_occasions=1,
        sign_horizon_hours=30.0,
        ck_window_hours=20.0,
        wbc_window_hours=10.0,
        heat_stroke_window_hours=5.5,
        exposure_window_hours=30.0,
        serotonergic_window_hours=7.0,
        anaesthetic_window_hours=3.5,
        antibiotic_window_hours=12.0,
        gcs_lookback_hours=9.0,
        baseline_hours=2.0,
        vital_evaluation_interval_seconds=0.0,
        lability_signs_required=1,
    ),
    ClinicalSettings(
        fever_occasions=3,
        bp_raised_occasions=3,
        fever_occasion_separation_minutes=0.0,
        vital_window_hours=2.0,
        lability_window_hours=30.0,
        allowed_lateness_hours=6.0,
        vital_evaluation_interval_seconds=900.0,
    ),
]
DRUGS = [
    ("haloperidol", 5.0, "oral"),
    ("haloperidol", 10.0, "im"),
    ("Haloperidol decanoate 100 mg", 100.0, "im"),
    ("quetiapine", 50.0, "oral"),
    ("sertraline", 50.0, "oral"),
    ("tramadol", 50.0, "oral"),
    ("ceftriaxone", 2000.0, "iv"),
    ("sevoflurane", None, "other"),
    ("carbidopa/levodopa", 100.0, "oral"),
    ("carbidopa/levodopa", 25.0, "oral"),
    ("lithium", 400.0, "oral"),
]
CHARTED = [
    "rigidity",
    "mental_status",
    "diaphoresis",
    "incontinence",
    "tremor",
    "clonus",
    "hyperreflexia",
    "negative_workup",
]


def _event(rng: random.Random, n: int, hours: float) -> dict[str, object]:
    base: dict[str, object] = {
        "event_id": f"e{n}",
        "patient_id": "p1",
        "time": dt.datetime.fromtimestamp(T0 + hours * HOUR, dt.UTC).isoformat(),
    }
    roll = rng.random()
    if roll < 0.62:
        code, value, unit = rng.choice(
            [
                ("heart_rate", rng.choice([70, 85, 105, 125]), "/min"),
                ("respiratory_rate", rng.choice([14, 18, 26, 30]), "/min"),
                ("systolic_bp", rng.choice([110, 125, 150, 175]), "mm[Hg]"),
                ("diastolic_bp", rng.choice([65, 78, 95, 110]), "mm[Hg]"),
                ("temperature", rng.choice([36.8, 37.6, 38.4, 39.2, 40.6, 33.0]), "Cel"),
                ("spo2", 96, "%"),
                ("heart_rate", 0, "/min"),  # lead-off: refused
            ]
        )
        extra = {"site": rng.choice(["oral", "core", "axillary"])} if code == "temperature" else {}
        return {**base, "kind": "vital", "code": code, "value": value, "unit": unit, **extra}
    if roll < 0.72:
        code, value, unit = rng.choice(
            [("ck", rng.choice([150, 900, 2500, 9000]), "U/L"), ("wbc", 15.5, "10*9/L")]
        )
        result: dict[str, object] = {**base, "kind": "lab", "code": code, "unit": unit}
        if rng.random() < 0.5:  # versions of a few identified results: corrections, withdrawals
            status = rng.choice(["final", "corrected", "corrected", "entered-in-error"])
            result.update(result_id=f"{code}-{rng.randint(1, 3)}", status=status)
            if rng.random() < 0.6:
                issued = T0 + (hours + rng.uniform(0, 30)) * HOUR
                result["issued"] = dt.datetime.fromtimestamp(issued, dt.UTC).isoformat()
            if status == "entered-in-error":
                return result
        return {**result, "value": value}
    if roll < 0.84:
        drug, dose, route = rng.choice(DRUGS)
        action = "discontinued" if rng.random() < 0.15 else "administered"
        med = {"drug": drug, "action": action, "route": route}
        if dose is not None and action == "administered":
            med.update(dose=dose, dose_unit="mg")
        return {**base, "kind": "medication", **med}
    if roll < 0.96:
        if rng.random() < 0.2:
            return {**base, "kind": "assessment", "code": "gcs", "value": rng.choice([9, 13, 15])}
        code = rng.choice(CHARTED)
        return {**base, "kind": "assessment", "code": code, "present": rng.random() < 0.7}
    history = rng.choice([[], ["parkinson_disease"], ["prior_nms"]])
    sex = rng.choice(["male", "female", "unknown"])
    action = rng.choice(["admit", "update", "update", "discharge"])
    return {**base, "kind": "patient", "action": action, "sex": sex, "history": history}


def story(seed: int) -> list[Event]:
    """Events at random times over up to four days, clustered like real charting, in an arrival
    order with delays of up to a few hours and some redelivered."""
    rng = random.Random(seed)
    hours = rng.uniform(24, 96)
    times = sorted(rng.uniform(0, hours) for _ in range(rng.randint(40, 260)))
    # Monitor-like bursts: several readings at the same instant, and readings on the hour.
    times += [float(int(t)) for t in times[:: rng.randint(3, 9)]]
    raw = [_event(rng, n, t) for n, t in enumerate(times)]
    events = [EVENT_ADAPTER.validate_python(r) for r in raw]
    delay = rng.choice([0.0, 0.5, 3.0])
    keyed = sorted(
        ((e.time.timestamp() + rng.uniform(0, delay * HOUR), i, e) for i, e in enumerate(events)),
        key=lambda k: (k[0], k[1]),
    )
    out = [e for _, _, e in keyed]
    for i in sorted(rng.sample(range(len(out)), k=len(out) // 20), reverse=True):
        out.insert(i + rng.randint(0, 5), out[i])
    return out


def _same(state: PatientState, now: float, cfg: ClinicalSettings) -> None:
    assert hotpath.evaluate(state, now, cfg) == score.evaluate(state, now, cfg)


@PROPS
@given(seed=st.integers(0, 2**32 - 1), which=st.integers(0, len(SETTINGS) - 1))
def test_incremental_evaluation_equals_from_scratch_at_every_step(seed: int, which: int) -> None:
    cfg = SETTINGS[which]
    rng = random.Random(seed ^ 0x5EED)
    state = new_state("p1")
    for event in story(seed):
        if rng.random() < 0.03:
            state = loads_state(dumps_state(state))  # caches start empty again
        with contextlib.suppress(EventRejected):  # a refused event changes nothing
            state = step(state, event, cfg).state
        if state.clock is None:
            continue
        _same(state, state.clock, cfg)
        if rng.random() < 0.3:
            # Later instants: windows and horizons expire without new input.
            later = state.clock + rng.choice([1.0, 59.0, 1799.0, HOUR, 3.3 * HOUR, 25 * HOUR])
            _same(state, later, cfg)
        if rng.random() < 0.05:
            tick(state, state.clock + rng.choice([0.5, 6.0, 30.0]) * HOUR, cfg)
            _same(state, max(state.clock, state.last_eval or state.clock), cfg)


def _alerts(events: list[Event], cfg: ClinicalSettings, roundtrip: frozenset[int]) -> list[Alert]:
    state = new_state("p1")
    out: list[Alert] = []
    for i, event in enumerate(events):
        if i in roundtrip:
            state = loads_state(dumps_state(state))
        try:
            result = step(state, event, cfg)
        except EventRejected:
            continue
        state = result.state
        out += result.transitions
    if state.clock is not None:
        out += tick(state, state.clock + 80 * HOUR, cfg)
    return out


@PROPS
@given(seed=st.integers(0, 2**32 - 1), which=st.integers(0, len(SETTINGS) - 1))
def test_the_engine_publishes_what_from_scratch_evaluation_publishes(seed: int, which: int) -> None:
    cfg = SETTINGS[which]
    events = story(seed)
    cuts = frozenset(random.Random(seed).sample(range(len(events)), k=3))
    incremental = _alerts(events, cfg, cuts)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(core, "evaluate", score.evaluate)
        scratch = _alerts(events, cfg, frozenset())
    assert [a.model_dump_json() for a in incremental] == [a.model_dump_json() for a in scratch]


def test_the_stories_reach_every_criterion_and_hint() -> None:
    """Not vacuous: over a fixed set of stories, every criterion is met and every differential
    hint named at some step, with each settings object."""
    for cfg in SETTINGS:
        mask = 0
        hints: set[str] = set()
        for seed in range(40):
            state = new_state("p1")
            for event in story(seed):
                try:
                    state = step(state, event, cfg).state
                except EventRejected:
                    continue
                ev = hotpath.evaluate(state, state.clock or 0.0, cfg)
                mask |= ev.met_mask
                hints.update(ev.differential)
        assert mask == 0xFF, bin(mask)
        assert hints == {
            "serotonin_syndrome",
            "sepsis",
            "parkinsonism_hyperpyrexia",
            "malignant_hyperthermia",
            "heat_stroke",
        }
