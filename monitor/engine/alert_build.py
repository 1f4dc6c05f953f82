"""Build the alert contract object for one transition, with its explanation.

Which recommendations apply is decided here; their words and sources are in
``monitor.knowledge.alert_texts``.
"""

from __future__ import annotations

import hashlib

from monitor.contracts.alerts import (
    Alert,
    Criterion,
    Differential,
    Exposure,
    ExposureDrug,
    WithdrawnDrug,
)
from monitor.engine.exposure import risk_factors
from monitor.engine.score import Explained
from monitor.engine.state import AlertState, PatientState
from monitor.engine.timeutil import to_datetime
from monitor.engine.trends import trends
from monitor.knowledge import alert_texts as txt
from monitor.knowledge.iec import MAX_COMPUTABLE, MAX_SCORE
from monitor.knowledge.thresholds import ClinicalSettings


def make_alert_id(patient_id: str, first_seen: float, episode: int) -> str:
    """Stable per patient stay and episode: the same inputs always give the same id."""
    digest = hashlib.sha256(f"{patient_id}|nms|{first_seen:.3f}|{episode}".encode()).hexdigest()
    return f"nms-{digest[:20]}"


def make_transition_id(alert_id: str, seq: int, transition: str, time: float) -> str:
    """Deterministic, so reprocessing after a crash reproduces it (consumers drop duplicates)."""
    digest = hashlib.sha256(f"{alert_id}|{seq}|{transition}|{time:.3f}".encode()).hexdigest()
    return digest[:24]


def recommendations(ex: Explained, withdrawn_only: bool, now: float) -> list[str]:
    """Short first actions for the clinician, most urgent first."""
    out: list[str] = []
    stale = sorted({(code, t) for _, _, f in ex.findings if f.met for code, t in f.stale})
    if stale:
        signs = ", ".join(
            txt.REEXAMINE_SIGN.format(sign=code.replace("_", " "), hours=(now - t) / 3600)
            for code, t in stale
        )
        out.append(txt.REEXAMINE.format(signs=signs))
    if ex.active:
        out.append(txt.HOLD_ANTAGONIST.format(drugs=", ".join(a.drug for a in ex.active)))
    if ex.withdrawn:
        out.append(txt.RESTART_DOPAMINERGIC.format(drugs=", ".join(w.drug for w in ex.withdrawn)))
    out.append(txt.INVESTIGATIONS)
    out.append(txt.SUPPORTIVE_CARE)
    if any(a.long_acting for a in ex.active):
        until = max(a.until for a in ex.active if a.long_acting)
        out.append(txt.LONG_ACTING.format(until=f"{to_datetime(until):%Y-%m-%d}"))
    if ex.differential:
        out.append(
            txt.CONSIDER_DIFFERENTIAL.format(conditions=", ".join(c for c, _ in ex.differential))
        )
    met8 = any(name == "negative_workup" and f.met for name, _, f in ex.findings)
    if not met8 and not withdrawn_only:
        out.append(txt.DOCUMENT_WORKUP)
    return out


def build_alert(
    state: PatientState,
    alert: AlertState,
    transition: str,
    time: float,
    ex: Explained,
    cfg: ClinicalSettings,
    status: str = "firing",
    reason: str | None = None,
) -> Alert:
    """One alert transition; ``alert.seq`` must already be this transition's sequence number."""
    criteria = [
        Criterion(
            name=name,
            met=f.met,
            points=pts if f.met else 0,
            weight=pts,
            detail=f.detail,
            evidence=f.evidence,
        )
        for name, pts, f in ex.findings
    ]
    score = sum(c.points for c in criteria)
    exposure = Exposure(
        drugs=[
            ExposureDrug(
                drug=a.drug,
                drug_class=a.drug_class,
                route=a.route,
                long_acting=a.long_acting,
                product=a.product,
                last_dose_time=to_datetime(a.last_dose),
                exposure_until=to_datetime(a.until),
                doses_in_window=a.doses_in_window,
                im_doses_in_window=a.im_doses,
            )
            for a in ex.active
        ],
        withdrawn_dopaminergics=[
            WithdrawnDrug(drug=w.drug, stopped_at=to_datetime(w.stopped_at), how=w.how)
            for w in ex.withdrawn
        ],
        risk_factors=risk_factors(state, ex.active, time, cfg),
    )
    met8 = any(c.name == "negative_workup" and c.met for c in criteria)
    return Alert(
        alert_id=alert.alert_id,
        transition_id=make_transition_id(alert.alert_id, alert.seq, transition, time),
        sequence=alert.seq,
        patient_id=state.patient_id,
        condition="nms",
        location=state.location,
        transition=transition,
        status=status,
        priority=alert.priority,
        time=to_datetime(time),
        opened_at=to_datetime(alert.opened_at),
        score=score,
        cutoff=cfg.cutoff,
        max_computable_score=MAX_SCORE if met8 else MAX_COMPUTABLE,
        criteria=criteria,
        exposure=exposure,
        differential=[Differential(condition=c, reason=r) for c, r in ex.differential],
        recommendations=recommendations(
            ex, withdrawn_only=not ex.active and bool(ex.withdrawn), now=ex.now
        ),
        acknowledged_by=alert.acknowledged_by,
        snoozed_until=to_datetime(alert.snoozed_until) if alert.snoozed_until else None,
        reason=reason,
        trends=trends(state, ex.now, cfg),
    )
