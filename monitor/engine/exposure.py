"""IEC criterion 1: dopamine antagonist given, or dopaminergic drug withdrawn, within 72 h.

Sources: Gurrera 2011 (72 h). A long-acting injectable exposes for as long as its product keeps
the drug in the body: each product's horizon comes from its labelled dosing interval and
pharmacokinetics (the catalogue, ``monitor/knowledge/data/drugs.toml``; overridable with
``lai_horizon_days``), from two-weekly risperidone microspheres to six-monthly paliperidone
palmitate; an injection of no known product counts for ``depot_exposure_days`` (Caroff & Mann
1993: 2-4 weeks; Adityanjee 1999: 8 weeks). The abrupt stop or dose cut of a dopaminergic drug
causes the same syndrome (parkinsonism-hyperpyrexia).
"""

from __future__ import annotations

from dataclasses import dataclass

from monitor.engine.ingest import dose_horizon_s
from monitor.engine.state import Dose, PatientState
from monitor.knowledge import alert_texts as txt
from monitor.knowledge.drugs import ANTAGONIST_CLASSES, ANTIPSYCHOTIC_CLASSES
from monitor.knowledge.thresholds import HOUR, ClinicalSettings

# The catalogue name of lithium, and the contract's history code for a previous episode.
LITHIUM = "lithium"
PRIOR_NMS = "prior_nms"
_ANTAGONIST_VALUES = frozenset(c.value for c in ANTAGONIST_CLASSES)
_ANTIPSYCHOTIC_VALUES = frozenset(c.value for c in ANTIPSYCHOTIC_CLASSES)


@dataclass(frozen=True, slots=True)
class ActiveDrug:
    drug: str
    drug_class: str
    route: str | None
    long_acting: bool
    product: str | None  # the long-acting product counting now, as the catalogue names it
    last_dose: float
    last_dose_eid: str
    until: float
    doses_in_window: int
    im_doses: int
    escalated: bool


@dataclass(frozen=True, slots=True)
class Withdrawal:
    drug: str
    stopped_at: float
    how: str  # "discontinued" or "dose_cut"
    eid: str


def active_antagonists(state: PatientState, now: float, cfg: ClinicalSettings) -> list[ActiveDrug]:
    """Antagonists whose latest qualifying dose is within its exposure window (inclusive)."""
    window = cfg.exposure_window_hours * HOUR
    active: list[ActiveDrug] = []
    for name, rec in state.meds.items():
        if rec.drug_class not in _ANTAGONIST_VALUES:
            continue
        best_until = None
        best_product: str | None = None
        last = None
        for dose in rec.doses:
            if dose[0] > now:
                continue
            until = dose[0] + dose_horizon_s(dose, cfg)
            if until >= now and (best_until is None or until > best_until):
                best_until, best_product = until, dose[3]
            last = dose
        if best_until is None or last is None:
            continue
        recent = [d for d in rec.doses if now - window <= d[0] <= now]
        im = sum(1 for d in recent if d[2] in txt.PARENTERAL_ROUTES)
        amounts = [d[1] for d in recent if d[1] is not None]
        escalated = len(amounts) >= 2 and amounts[-1] >= cfg.rapid_escalation_multiple * amounts[0]
        depot = [
            d[3]
            for d in rec.doses
            if d[3] is not None and d[0] <= now <= d[0] + dose_horizon_s(d, cfg)
        ]
        product = best_product if best_product is not None else (depot[-1] if depot else None)
        active.append(
            ActiveDrug(
                drug=name,
                drug_class=rec.drug_class,
                route=last[2],
                long_acting=product is not None,
                product=cfg.drugs.product_label(product) if product is not None else None,
                last_dose=last[0],
                last_dose_eid=last[4],
                until=best_until,
                doses_in_window=len(recent),
                im_doses=im,
                escalated=escalated,
            )
        )
    active.sort(key=lambda a: a.drug)
    return active


def withdrawn_dopaminergics(
    state: PatientState, now: float, cfg: ClinicalSettings
) -> list[Withdrawal]:
    """Dopaminergic drugs stopped, or cut to <= ``dopaminergic_dose_cut_fraction``, within 72 h."""
    window = cfg.exposure_window_hours * HOUR
    out: list[Withdrawal] = []
    for name, rec in state.meds.items():
        if rec.drug_class != "dopaminergic":
            continue
        given = [d for d in rec.doses if d[0] <= now]
        stop = rec.discontinued_at
        if stop is not None and now - window <= stop <= now:
            restarted = any(d[0] > stop for d in given)
            if not restarted and rec.discontinued_eid is not None:
                out.append(Withdrawal(name, stop, "discontinued", rec.discontinued_eid))
                continue
        cut = _dose_cut(given, cfg.dopaminergic_dose_cut_fraction)
        if cut is not None and now - window <= cut[0] <= now:
            out.append(Withdrawal(name, cut[0], "dose_cut", cut[4]))
    out.sort(key=lambda w: w.drug)
    return out


def _dose_cut(given: list[Dose], fraction: float) -> Dose | None:
    """The latest dose that cut the previous one to <= ``fraction`` of it, unless a later dose
    restored more than that fraction of the level before the cut. A sustained cut (100 mg, then
    25 mg every dose after) stays a withdrawal for the whole window, not only until the next
    reduced dose."""
    cut: Dose | None = None
    level = 0.0
    prev: float | None = None
    for d in given:
        amount = d[1]
        if amount is None:
            continue
        if cut is not None and amount > fraction * level:
            cut = None
        if prev is not None and prev > 0 and amount <= fraction * prev:
            if cut is None:
                level = prev
            cut = d
        prev = amount
    return cut


def risk_factors(
    state: PatientState, active: list[ActiveDrug], now: float, cfg: ClinicalSettings
) -> list[str]:
    """Risk factors worth surfacing (docs/clinical-model.md#exposure; texts and sources in
    ``monitor.knowledge.alert_texts``): parenteral doses, depot, high potency, two
    antipsychotics, rapid escalation, lithium, prior NMS."""
    out: list[str] = []
    im = sum(a.im_doses for a in active)
    if im:
        out.append(txt.RISK_PARENTERAL.format(n=im, hours=cfg.exposure_window_hours))
    if any(a.long_acting for a in active):
        out.append(txt.RISK_DEPOT)
    if any(cfg.drugs.high_potency(a.drug) for a in active):
        out.append(txt.RISK_HIGH_POTENCY)
    if sum(1 for a in active if a.drug_class in _ANTIPSYCHOTIC_VALUES) >= 2:
        out.append(txt.RISK_TWO_ANTIPSYCHOTICS)
    out.extend(txt.RISK_ESCALATION.format(drug=a.drug) for a in active if a.escalated)
    lithium = state.meds.get(LITHIUM)
    window = cfg.exposure_window_hours * HOUR
    if lithium is not None and any(now - window <= d[0] <= now for d in lithium.doses):
        out.append(txt.RISK_LITHIUM)
    if PRIOR_NMS in state.history:
        out.append(txt.RISK_PRIOR_NMS)
    return out
