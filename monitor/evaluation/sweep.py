"""The operating curve: sensitivity against false-alert rate for every score threshold.

One engine run records the score at event times (``Sample``); a threshold ``T`` then "alerts"
wherever the patient is exposed (criterion 1, which every priority requires) and scores at least
``T``. Crossings closer than ``resolve_gap_hours`` (the lifecycle's resolution time) belong to one
episode, as they would to one alert. This reproduces the lifecycle's open and escalate decisions,
which depend on the score alone; it cannot reproduce clinician resolves and snoozes, which the
simulator does not send. The same definitions as :mod:`monitor.evaluation.metrics` apply.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from dataclasses import dataclass

from monitor.evaluation.truth import PatientTruth, Sample

Run = tuple[float, float, int]  # (first time, last time, effective score)


def runs(samples: list[Sample]) -> list[Run]:
    """Consecutive samples with the same effective score (0 when not exposed), merged."""
    out: list[Run] = []
    for s in sorted(samples, key=lambda s: s.time):
        score = s.score if s.exposed else 0
        if out and out[-1][2] == score:
            out[-1] = (out[-1][0], s.time, score)
        else:
            out.append((s.time, s.time, score))
    return out


def crossings(patient_runs: list[Run], threshold: int, gap_s: float) -> list[tuple[float, float]]:
    """(start, last time at or above) of each episode at or above ``threshold``."""
    eps: list[tuple[float, float]] = []
    for first, last, score in patient_runs:
        if score < threshold:
            continue
        if eps and first - eps[-1][1] <= gap_s:
            eps[-1] = (eps[-1][0], last)
        else:
            eps.append((first, last))
    return eps


@dataclass(frozen=True, slots=True)
class SweepRow:
    threshold: int
    sensitivity: float | None
    false_per_100_patient_days: float
    ppv: float | None
    median_lead_hours: float | None
    detected: int
    false_alerts: int


def sweep(
    truths: dict[str, PatientTruth],
    samples: Mapping[str, list[Sample]],
    thresholds: range = range(20, 94),
    resolve_gap_hours: float = 24.0,
) -> list[SweepRow]:
    patient_runs = {pid: runs(samples.get(pid, [])) for pid in truths}
    positives = sum(1 for t in truths.values() if t.positive)
    patient_days = sum(t.days for t in truths.values())
    gap = resolve_gap_hours * 3600.0
    rows: list[SweepRow] = []
    for threshold in thresholds:
        detected = false = true = 0
        leads: list[float] = []
        for pid, truth in truths.items():
            eps = crossings(patient_runs[pid], threshold, gap)
            if not eps:
                continue
            onset = truth.first_onset
            # As in the metrics: an episode detects when it starts at or after the first onset,
            # or is still above the threshold then (detection time = the onset).
            good = [
                max(start, onset)
                for start, last in eps
                if truth.positive and onset is not None and last >= onset
            ]
            false += len(eps) - len(good)
            true += len(good)
            if good:
                detected += 1
                assert truth.established_at is not None
                leads.append((truth.established_at - good[0]) / 3600.0)
        rows.append(
            SweepRow(
                threshold=threshold,
                sensitivity=detected / positives if positives else None,
                false_per_100_patient_days=100.0 * false / patient_days if patient_days else 0.0,
                ppv=true / (true + false) if true + false else None,
                median_lead_hours=statistics.median(leads) if leads else None,
                detected=detected,
                false_alerts=false,
            )
        )
    return rows
