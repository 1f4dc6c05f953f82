"""The International Expert Consensus (IEC) criteria for NMS and their weights.

Source: Gurrera RJ et al., "An International Consensus Study of Neuroleptic Malignant Syndrome
Diagnostic Criteria Using the Delphi Method", J Clin Psychiatry 2011;72(9):1222-1228
(docs/clinical-model.md#the-criteria): eight criteria, 100 points in all. Their operational
definitions and thresholds are settings (:class:`monitor.knowledge.thresholds.ClinicalSettings`);
the diagnostic cutoff (74, Gurrera 2017) is the ``cutoff`` setting.

Criterion 8 (negative work-up) cannot be computed from event streams: a score from streams
reaches at most :data:`MAX_COMPUTABLE` unless a clinician charts the work-up.
"""

from __future__ import annotations

# (name, points), in the IEC's order; a criterion's bit in an evaluation's mask is its index.
CRITERIA: tuple[tuple[str, int], ...] = (
    ("exposure", 20),  # 1: dopamine antagonist given, or agonist withdrawn, within 72 h
    ("hyperthermia", 18),  # 2: > 38.0 C oral on at least 2 occasions
    ("rigidity", 17),  # 3
    ("mental_status", 13),  # 4: reduced or fluctuating level of consciousness
    ("ck_elevation", 10),  # 5: at least 4 x the upper limit of normal
    ("sympathetic_lability", 10),  # 6: at least 2 of raised BP, fluctuating BP, sweating, ...
    ("hypermetabolism", 5),  # 7: HR >= 25 % and RR >= 50 % above baseline
    ("negative_workup", 7),  # 8: infectious, toxic, metabolic, neurologic causes excluded
)
MAX_SCORE = sum(points for _, points in CRITERIA)
# Items 1-7: the most a score from streams can reach without a charted work-up.
MAX_COMPUTABLE = MAX_SCORE - dict(CRITERIA)["negative_workup"]
