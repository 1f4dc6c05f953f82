"""Detection metrics from alert transitions and ground truth (pure functions, no I/O).

Definitions (also in the README, "Evaluation"):
- An alert *reaches* a priority when it is opened or escalated at that priority or above.
- A positive patient (NMS, atypical NMS, parkinsonism-hyperpyrexia) is *detected* at a priority
  when an alert reaches it at or after the patient's first feature onset, or had reached it
  before and is still at it at the onset (detection time = the onset). Sensitivity is
  detected / positive patients.
- A *false* alert at a priority is an alert episode that reaches it in a negative patient, or in a
  positive patient without detecting it (reached and left before any feature began). Rates are
  per 100 patient-days of the whole cohort.
- PPV at a priority: true episodes / all episodes reaching it.
- Lead time: established_at minus the first time the priority was reached (hours; positive is
  early), over detected patients.
- Alarm burden: transitions of every kind per alerted patient-day (a day since admission during
  which an alert was open).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from monitor.evaluation.episodes import PRIORITIES, RANK, Episode, episodes, rank_at
from monitor.evaluation.truth import DAY_S, Mark, PatientTruth
from monitor.evaluation.utility import UtilityWindow, utility


@dataclass(frozen=True, slots=True)
class Quartiles:
    n: int
    q1: float | None
    median: float | None
    q3: float | None


def quartiles(values: list[float]) -> Quartiles:
    if not values:
        return Quartiles(0, None, None, None)
    if len(values) == 1:
        return Quartiles(1, values[0], values[0], values[0])
    q = statistics.quantiles(values, n=4, method="inclusive")
    return Quartiles(len(values), q[0], statistics.median(values), q[2])


@dataclass(slots=True)
class Metrics:
    patients: int
    positives: int
    patient_days: float
    sensitivity: dict[str, float | None]
    detected: dict[str, int]
    false_alerts: dict[str, int]
    false_per_100_patient_days: dict[str, float]
    true_alerts: dict[str, int]
    ppv: dict[str, float | None]
    lead_time_hours: dict[str, Quartiles]
    lead_times: dict[str, list[float]]
    transitions: int
    alerted_patient_days: int
    transitions_per_alerted_patient_day: float | None
    utility: float | None
    by_condition: dict[str, dict[str, int]]


def compute(
    truths: dict[str, PatientTruth],
    marks: dict[str, list[Mark]],
    window: UtilityWindow | None = None,
) -> Metrics:
    """Every figure of the evaluation. Patients with transitions but no truth are an error."""
    unknown = sorted(set(marks) - set(truths))
    if unknown:
        raise ValueError(f"{len(unknown)} patients have alerts but no ground truth: {unknown[:3]}")
    window = window or UtilityWindow()
    detected = dict.fromkeys(PRIORITIES, 0)
    false = dict.fromkeys(PRIORITIES, 0)
    true = dict.fromkeys(PRIORITIES, 0)
    leads: dict[str, list[float]] = {p: [] for p in PRIORITIES}
    by_condition: dict[str, dict[str, int]] = {}
    transitions = 0
    alerted_days = 0
    eps_by_patient: dict[str, list[Episode]] = {}
    for pid, truth in truths.items():
        eps = episodes(pid, marks.get(pid, []))
        eps_by_patient[pid] = eps
        row = by_condition.setdefault(
            truth.condition, {"patients": 0, **dict.fromkeys(PRIORITIES, 0)}
        )
        row["patients"] += 1
        for p in PRIORITIES:
            reached = [ep for ep in eps if p in ep.reached]
            if reached:
                row[p] += 1
            hits: list[float] = []
            for ep in reached:
                hit = _detection(truth, ep, p)
                if hit is None:
                    false[p] += 1
                else:
                    true[p] += 1
                    hits.append(hit)
            if hits:
                detected[p] += 1
                assert truth.established_at is not None
                leads[p].append((truth.established_at - min(hits)) / 3600.0)
        transitions += sum(ep.transitions for ep in eps)
        alerted_days += _alerted_days(truth, eps)
    positives = sum(1 for t in truths.values() if t.positive)
    patient_days = sum(t.days for t in truths.values())
    return Metrics(
        patients=len(truths),
        positives=positives,
        patient_days=patient_days,
        sensitivity={p: (detected[p] / positives if positives else None) for p in PRIORITIES},
        detected=detected,
        false_alerts=false,
        false_per_100_patient_days={
            p: (100.0 * false[p] / patient_days if patient_days else 0.0) for p in PRIORITIES
        },
        true_alerts=true,
        ppv={
            p: (true[p] / (true[p] + false[p]) if true[p] + false[p] else None) for p in PRIORITIES
        },
        lead_time_hours={p: quartiles(v) for p, v in leads.items()},
        lead_times=leads,
        transitions=transitions,
        alerted_patient_days=alerted_days,
        transitions_per_alerted_patient_day=(transitions / alerted_days if alerted_days else None),
        utility=utility(truths, eps_by_patient, window),
        by_condition=by_condition,
    )


def _detection(truth: PatientTruth, ep: Episode, priority: str) -> float | None:
    """When episode ``ep`` detected the syndrome at ``priority``: the time it reached it, or the
    first feature onset if it was already there by then; None for a false alert."""
    onset = truth.first_onset
    if not truth.positive or onset is None:
        return None
    reached = ep.reached[priority]
    if reached >= onset:
        return reached
    still_open = ep.ended is None or ep.ended >= onset
    return onset if still_open and rank_at([ep], onset) >= RANK[priority] else None


def _alerted_days(truth: PatientTruth, eps: list[Episode]) -> int:
    """Days since admission (0, 1, ...) during which an alert of this patient was open."""
    days: set[int] = set()
    for ep in eps:
        end = ep.ended if ep.ended is not None else truth.end_at
        first = math.floor((ep.opened - truth.admitted_at) / DAY_S)
        # A day is [k, k + 1) days after admission: an alert ending exactly at a day's start
        # does not count that day.
        last = max(first, math.ceil((end - truth.admitted_at) / DAY_S) - 1)
        days.update(range(first, last + 1))
    return len(days)
