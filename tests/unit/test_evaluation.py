"""Evaluation metrics on tiny hand-made cohorts whose right answers are worked out by hand."""

from __future__ import annotations

import pytest

from monitor.evaluation.episodes import episodes
from monitor.evaluation.metrics import compute, quartiles
from monitor.evaluation.sweep import crossings, runs, sweep
from monitor.evaluation.truth import Mark, PatientTruth, Sample, TruthError, parse_truth
from monitor.evaluation.utility import UtilityWindow, hour_utility, utility

H = 3600.0
D = 24 * H


def truth(pid: str, positive: bool, days: float = 10.0, onset_h: float | None = None,
          est_h: float | None = None, condition: str = "x") -> PatientTruth:  # fmt: skip
    features = {"mental_status": onset_h * H} if onset_h is not None else {}
    if est_h is not None:
        features["ck"] = est_h * H
    return PatientTruth(pid, condition, positive, 0.0, days * D, features,
                        est_h * H if est_h is not None else None)  # fmt: skip


def mark(h: float, transition: str, priority: str, seq: int, alert: str = "a1") -> Mark:
    return Mark(h * H, alert, seq, transition, priority, 50)


# Cohort A: 40 patient-days.
#   P1 positive, onset 10 h, established 40 h:  opened low 12 h, escalated medium 20 h,
#      escalated high 38 h, resolved 100 h                     (4 transitions, days 0-4 alerted)
#   P2 positive, onset 10 h, established 30 h:  nothing (missed)
#   N1 negative: opened medium 5 h, resolved 29 h               (2 transitions, days 0-1)
#   N2 negative: opened low 50 h, never resolved before the end (1 transition, days 2-9)
COHORT_A = {
    "P1": truth("P1", True, onset_h=10, est_h=40),
    "P2": truth("P2", True, onset_h=10, est_h=30),
    "N1": truth("N1", False),
    "N2": truth("N2", False),
}
MARKS_A = {
    "P1": [mark(12, "opened", "low", 1), mark(20, "escalated", "medium", 2),
           mark(38, "escalated", "high", 3), mark(100, "resolved", "high", 4)],
    "N1": [mark(5, "opened", "medium", 1, "b1"), mark(29, "resolved", "medium", 2, "b1")],
    "N2": [mark(50, "opened", "low", 1, "c1")],
}  # fmt: skip


def test_metrics_on_hand_made_cohort() -> None:
    m = compute(COHORT_A, MARKS_A)
    assert m.patients == 4 and m.positives == 2
    assert m.patient_days == pytest.approx(40.0)
    assert m.sensitivity == {"low": 0.5, "medium": 0.5, "high": 0.5}
    # low: N1 (opened medium reaches low) and N2 are false; medium: N1; high: none.
    assert m.false_alerts == {"low": 2, "medium": 1, "high": 0}
    assert m.false_per_100_patient_days["low"] == pytest.approx(5.0)
    assert m.false_per_100_patient_days["medium"] == pytest.approx(2.5)
    assert m.ppv == {"low": pytest.approx(1 / 3), "medium": 0.5, "high": 1.0}
    # Lead: established 40 h minus 12 h (low), 20 h (medium), 38 h (high).
    assert m.lead_times == {"low": [28.0], "medium": [20.0], "high": [2.0]}
    # 7 transitions; alerted days: P1 0-4 (5), N1 0-1 (2), N2 2-9 (8) = 15.
    assert m.transitions == 7 and m.alerted_patient_days == 15
    assert m.transitions_per_alerted_patient_day == pytest.approx(7 / 15)
    assert m.by_condition["x"] == {"patients": 4, "low": 3, "medium": 2, "high": 1}


def test_alert_open_before_onset_detects_at_onset() -> None:
    cohort = {"P": truth("P", True, onset_h=10, est_h=30)}
    m = compute(cohort, {"P": [mark(4, "opened", "medium", 1)]})
    assert m.sensitivity["medium"] == 1.0 and m.false_alerts["medium"] == 0
    assert m.lead_times["medium"] == [20.0]  # detected at the onset, 10 h
    gone = compute(
        cohort, {"P": [mark(2, "opened", "medium", 1), mark(8, "resolved", "medium", 2)]}
    )
    assert gone.sensitivity["medium"] == 0.0 and gone.false_alerts["medium"] == 1


def test_alerts_for_unknown_patients_are_an_error() -> None:
    with pytest.raises(ValueError, match="no ground truth"):
        compute(COHORT_A, {"ZZ": [mark(1, "opened", "low", 1)]})


def test_quartiles() -> None:
    q = quartiles([1.0, 2.0, 3.0, 4.0, 5.0])
    assert (q.n, q.q1, q.median, q.q3) == (5, 2.0, 3.0, 4.0)
    assert quartiles([]).median is None


# --- utility -------------------------------------------------------------------------------
W = UtilityWindow()


@pytest.mark.parametrize(
    ("d", "alert", "expected"),
    [
        (-60, True, -0.05),  # too early: a false alarm
        (-60, False, 0.0),
        (-48, True, 0.0),
        (-30, True, 0.5),  # half-way up from -48 to -12
        (-12, True, 1.0),
        (-3, True, 0.5),  # half-way down from -12 to +6
        (-3, False, -1.0),  # silence half-way to the -2 floor
        (6, False, -2.0),
        (7, True, 0.0),
        (7, False, 0.0),
    ],
)
def test_hour_utility_window(d: float, alert: bool, expected: float) -> None:
    assert hour_utility(W, True, d, alert) == pytest.approx(expected)


def test_utility_is_one_for_the_best_and_zero_for_silence() -> None:
    cohort = {"P": truth("P", True, days=5, onset_h=1, est_h=60), "N": truth("N", False, days=5)}
    # Best: medium open from 12 h (= 60 - 48) to the end of the useful window, none for N.
    best = {
        "P": episodes("P", [mark(12.5, "opened", "medium", 1), mark(66.5, "resolved", "medium", 2)])
    }
    assert utility(cohort, best, W) == pytest.approx(1.0)
    assert utility(cohort, {}, W) == pytest.approx(0.0)
    noisy = {**best, "N": episodes("N", [mark(0, "opened", "medium", 1, "n")])}
    assert utility(cohort, noisy, W) < 1.0


# --- sweep ---------------------------------------------------------------------------------
def test_runs_and_crossings() -> None:
    points = [(0, 20, True), (1, 50, True), (2, 50, True), (3, 50, False), (40, 50, True)]
    samples = [Sample(h * H, s, e) for h, s, e in points]
    assert runs(samples) == [(0, 0, 20), (H, 2 * H, 50), (3 * H, 3 * H, 0), (40 * H, 40 * H, 50)]
    assert crossings(runs(samples), 45, 24 * H) == [(H, 2 * H), (40 * H, 40 * H)]
    assert crossings(runs(samples), 45, 48 * H) == [(H, 40 * H)]


def test_sweep_on_hand_made_cohort() -> None:
    cohort = {
        "P": truth("P", True, days=4, onset_h=10, est_h=30),
        "N": truth("N", False, days=4),
    }
    samples = {
        "P": [Sample(h * H, s, True) for h, s in [(0, 20), (12, 50), (20, 80)]],
        "N": [Sample(h * H, s, True) for h, s in [(0, 20), (5, 40)]],
    }
    rows = {r.threshold: r for r in sweep(cohort, samples, range(20, 94, 10))}
    assert rows[30].sensitivity == 1.0 and rows[30].false_alerts == 1  # N at 40
    assert rows[30].median_lead_hours == 18.0  # 30 h - 12 h
    assert rows[30].false_per_100_patient_days == pytest.approx(100 / 8)
    assert rows[50].false_alerts == 0 and rows[50].ppv == 1.0
    assert rows[80].median_lead_hours == 10.0
    assert rows[90].sensitivity == 0.0 and rows[90].ppv is None


# --- truth file ----------------------------------------------------------------------------
def test_parse_truth_errors_name_the_patient() -> None:
    ok = {"patient_id": "A", "condition": "nms", "positive": True,
          "admitted_at": "2026-01-01T00:00:00Z", "end_at": "2026-01-02T00:00:00Z",
          "features": {"fever": "2026-01-01T05:00:00Z"},
          "established_at": "2026-01-01T06:00:00Z"}  # fmt: skip
    assert parse_truth({"patients": [ok]})["A"].established_at is not None
    with pytest.raises(TruthError, match=r"patients\[0\].*established_at"):
        parse_truth({"patients": [{**ok, "established_at": None}]})
    with pytest.raises(TruthError, match="no UTC offset"):
        parse_truth({"patients": [{**ok, "admitted_at": "2026-01-01T00:00:00"}]})
    with pytest.raises(TruthError, match="appears twice"):
        parse_truth({"patients": [ok, ok]})
    with pytest.raises(TruthError, match="'patients' list"):
        parse_truth([])
