"""A whole cohort: plans, the event stream in arrival order, and the ground-truth document."""

from __future__ import annotations

import datetime as dt
import heapq
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from monitor.sim.charting import Arrival, ChartOptions, iso, window_events
from monitor.sim.cohort import DEFAULT_MIX, POSITIVE, allocate, charting_profile, plan_patient
from monitor.sim.model import DAY, PatientPlan, Truth, truth_of

TRUTH_VERSION = 1
DEFAULT_START = dt.datetime(2026, 1, 5, tzinfo=dt.UTC).timestamp()


@dataclass(frozen=True, slots=True)
class SimSpec:
    patients: int
    days: float
    seed: int
    start: float = DEFAULT_START
    icu_fraction: float = 0.1
    mix: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_MIX))
    chart: ChartOptions = field(default_factory=ChartOptions)
    charting: str = "routine"  # routine, sparse or mix (monitor.sim.cohort.CHARTING_PROFILES)


def plan_cohort(spec: SimSpec) -> list[PatientPlan]:
    conditions = allocate(spec.patients, spec.mix)
    random.Random(f"{spec.seed}:mix").shuffle(conditions)
    return [
        plan_patient(
            i,
            c,
            spec.seed,
            spec.start,
            spec.days,
            spec.icu_fraction,
            charting_profile(spec.seed, i, spec.charting),
        )
        for i, c in enumerate(conditions)
    ]


def cohort_stream(spec: SimSpec, plans: list[PatientPlan]) -> Iterator[Arrival]:
    """Every event of the cohort in arrival order, generated one day at a time.

    Events of a window have arrival times at or after the window's start, so everything that
    arrived before the window's end is final once the window is generated.
    """
    pending: list[Arrival] = []
    t0 = spec.start
    stop = spec.start + spec.days * DAY
    while t0 <= stop:
        t1 = t0 + DAY
        for plan in plans:
            pending.extend(window_events(plan, t0, t1, spec.seed, spec.chart))
        pending.sort()
        cut = 0
        while cut < len(pending) and pending[cut][0] < t1:
            cut += 1
        yield from pending[:cut]
        del pending[:cut]
        t0 = t1
    heapq.heapify(pending)
    while pending:
        yield heapq.heappop(pending)


def truth_document(spec: SimSpec, plans: list[PatientPlan]) -> dict[str, Any]:
    return {
        "version": TRUTH_VERSION,
        "generator": {
            "patients": spec.patients,
            "days": spec.days,
            "seed": spec.seed,
            "start": iso(spec.start),
            "icu_fraction": spec.icu_fraction,
            "numerics_minutes": spec.chart.numerics_minutes,
            "mix": spec.mix,
            "charting": spec.charting,
        },
        "positive_conditions": sorted(POSITIVE),
        "patients": [{**truth_json(truth_of(p)), "charting": p.charting} for p in plans],
    }


def truth_json(t: Truth) -> dict[str, Any]:
    return {
        "patient_id": t.patient_id,
        "condition": t.condition,
        "positive": t.positive,
        "admitted_at": iso(t.admitted_at),
        "end_at": iso(t.end_at),
        "discharged": t.discharged,
        "icu": t.icu,
        "antipsychotic": t.antipsychotic,
        "features": {k: iso(v) for k, v in sorted(t.features.items())},
        "established_at": iso(t.established_at) if t.established_at is not None else None,
    }
