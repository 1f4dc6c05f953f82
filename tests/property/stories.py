"""Hypothesis strategies: patient stories with known shape, and arrival orders."""

from __future__ import annotations

import random
from dataclasses import dataclass

from hypothesis import strategies as st

from monitor.contracts.events import Event
from tests.builders import chart, gcs, lab, med, patient, vital, vitals

DRUGS = ["haloperidol", "Clozapine", "Haloperidol decanoate", "metoclopramide", None]
FEATURES = ["mental_status", "rigidity", "fever", "autonomic", "ck", "diaphoresis"]


@dataclass(frozen=True)
class Story:
    drug: str | None
    onset: float  # hours
    features: frozenset[str]
    cadence: float  # hours between charted vital signs
    hours: float
    seed: int


stories = st.builds(
    Story,
    drug=st.sampled_from(DRUGS),
    onset=st.floats(min_value=14, max_value=40),
    features=st.frozensets(st.sampled_from(FEATURES)),
    cadence=st.sampled_from([0.5, 1.0, 2.0, 4.0]),
    hours=st.floats(min_value=48, max_value=72),
    seed=st.integers(min_value=0, max_value=2**16),
)


def build(story: Story, pid: str = "p1") -> list[Event]:
    """A monotone story: features appear at or after onset and persist (re-charted q8h)."""
    rng = random.Random(story.seed)
    evs: list[Event] = [patient(0, pid=pid, sex=rng.choice(["male", "female"]))]
    if story.drug:
        step = 24 * 14 if "decanoate" in story.drug else 12
        h = 0.0
        while h < story.hours:
            evs.append(med(h, story.drug, pid=pid, route="im" if h == 0 else "oral", dose=5))
            h += step
    h = 0.0
    while h < story.hours:
        sick = h >= story.onset
        auto = sick and "autonomic" in story.features
        fever = sick and "fever" in story.features
        evs += vitals(
            h,
            pid,
            hr=(118 if auto else 80) + rng.randint(-4, 4),
            rr=(27 if auto else 16) + rng.randint(-1, 1),
            sbp=(160 if auto else 120) + rng.randint(-6, 6),
            dbp=(98 if auto else 76) + rng.randint(-4, 4),
            temp=round((38.7 if fever else 36.9) + rng.uniform(-0.2, 0.2), 2),
        )
        h += story.cadence
    for code in ("mental_status", "rigidity", "diaphoresis"):
        if code in story.features:
            c = story.onset
            while c < story.hours:
                evs.append(chart(c, code, pid=pid))
                c += 8
    if "mental_status" in story.features:
        evs.append(gcs(story.onset, 12, pid=pid))
    if "ck" in story.features:
        evs.append(lab(story.onset + 6, "ck", 3000 + rng.randint(0, 2000), "U/L", pid=pid))
    evs.append(lab(2, "ck", 120, "U/L", pid=pid))
    evs.append(vital(1, "spo2", 97, pid=pid))
    return evs


def arrival_order(events: list[Event], max_delay_h: float, seed: int) -> list[Event]:
    """Arrival order where each event is delayed by up to ``max_delay_h`` after its time, so no
    event is ever more than ``max_delay_h`` behind the clock when it arrives."""
    rng = random.Random(seed)
    keyed = [
        (e.time.timestamp() + rng.uniform(0, max_delay_h * 3600), i, e)
        for i, e in enumerate(events)
    ]
    keyed.sort(key=lambda k: (k[0], k[1]))
    return [e for _, _, e in keyed]
