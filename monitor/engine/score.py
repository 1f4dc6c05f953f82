"""The International Expert Consensus score of one patient at one instant, and its priority.

Score: the points of the criteria met (``monitor.knowledge.iec``, Gurrera 2011). Priorities
(IEC 60601-1-8 words): ``priority_low``, ``priority_medium`` and ``cutoff`` (settings), all of
them requiring the exposure criterion: without neuroleptic exposure or dopaminergic withdrawal
there is no NMS alert.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from monitor.engine import autonomic as a
from monitor.engine import detectors as d
from monitor.engine.differential import differential
from monitor.engine.exposure import (
    ActiveDrug,
    Withdrawal,
    active_antagonists,
    withdrawn_dopaminergics,
)
from monitor.engine.state import PatientState
from monitor.engine.timeutil import iso
from monitor.knowledge.iec import CRITERIA
from monitor.knowledge.thresholds import ClinicalSettings


class Evaluation(NamedTuple):
    """The cheap summary the lifecycle compares: what is met, the score and the priority.

    A named tuple: one is built per evaluation (every few events), and a frozen dataclass costs
    a ``__setattr__`` per field to build."""

    now: float
    met_mask: int
    score: int
    priority: str | None
    differential: tuple[str, ...]
    drugs: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Explained:
    """Everything an alert shows, computed only when a transition is published."""

    now: float
    findings: tuple[tuple[str, int, d.Finding], ...]
    active: list[ActiveDrug]
    withdrawn: list[Withdrawal]
    differential: list[tuple[str, str]]


def _priority(score: int, exposed: bool, cfg: ClinicalSettings) -> str | None:
    if not exposed:
        return None
    if score >= cfg.cutoff:
        return "high"
    if score >= cfg.priority_medium:
        return "medium"
    if score >= cfg.priority_low:
        return "low"
    return None


def _findings(
    state: PatientState,
    now: float,
    cfg: ClinicalSettings,
    active: list[ActiveDrug],
    withdrawn: list[Withdrawal],
    explain: bool,
) -> tuple[d.Finding, ...]:
    exposed = bool(active or withdrawn)
    exposure = d.Finding(exposed)
    if explain:
        parts = [
            f"{a.drug} ({a.route or 'route not given'}"
            f"{f', long-acting: {a.product}' if a.product else ''}) "
            f"last {iso(a.last_dose)}, counts until {iso(a.until)}"
            for a in active
        ]
        parts += [f"{w.drug} {w.how.replace('_', ' ')} {iso(w.stopped_at)}" for w in withdrawn]
        exposure.detail = (
            "; ".join(parts)
            if parts
            else ("no dopamine antagonist in its exposure window and no dopaminergic withdrawal")
        )
    return (
        exposure,
        d.hyperthermia(state, now, cfg, explain),
        d.charted_sign(state, "rigidity", now, cfg, explain),
        d.mental_status(state, now, cfg, explain),
        d.ck_elevation(state, now, cfg, explain),
        a.sympathetic_lability(state, now, cfg, explain),
        a.hypermetabolism(state, now, cfg, explain),
        d.negative_workup(state, now, cfg, explain),
    )


def evaluate(state: PatientState, now: float, cfg: ClinicalSettings) -> Evaluation:
    """Score the patient at event time ``now`` from scratch, without building an explanation.

    The reference for :func:`monitor.engine.hotpath.evaluate`, which the engine calls and which
    gives the same result incrementally."""
    active = active_antagonists(state, now, cfg)
    withdrawn = withdrawn_dopaminergics(state, now, cfg)
    findings = _findings(state, now, cfg, active, withdrawn, explain=False)
    mask = 0
    score = 0
    for i, (f, (_, points)) in enumerate(zip(findings, CRITERIA, strict=True)):
        if f.met:
            mask |= 1 << i
            score += points
    diff = tuple(c for c, _ in differential(state, withdrawn, now, cfg))
    drugs = tuple(a.drug for a in active) + tuple(w.drug for w in withdrawn)
    return Evaluation(now, mask, score, _priority(score, findings[0].met, cfg), diff, drugs)


def explain(state: PatientState, now: float, cfg: ClinicalSettings) -> Explained:
    """The full explanation at ``now``: every criterion with its detail and evidence."""
    active = active_antagonists(state, now, cfg)
    withdrawn = withdrawn_dopaminergics(state, now, cfg)
    findings = _findings(state, now, cfg, active, withdrawn, explain=True)
    named = tuple((name, pts, f) for (name, pts), f in zip(CRITERIA, findings, strict=True))
    return Explained(now, named, active, withdrawn, differential(state, withdrawn, now, cfg))
