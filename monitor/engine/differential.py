"""Differential-diagnosis hints carried by an NMS alert (clinical-reference section 6).

- serotonin syndrome (Hunter criteria, Dunkley 2003): serotonergic drug within ~24 h, and/or
  clonus or hyperreflexia charted.
- sepsis / infection: antibiotics given (a proxy for suspected infection); leukocytosis noted.
- parkinsonism-hyperpyrexia: dopaminergic drug withdrawn, or Parkinson disease in the history;
  treatment is to restart the drug.
- malignant hyperthermia: volatile anaesthetic or succinylcholine within 24 h.
- heat stroke: core temperature >= 40 C with no rigidity charted before the fever.
"""

from __future__ import annotations

from monitor.engine.exposure import Withdrawal
from monitor.engine.state import PatientState
from monitor.engine.timeutil import iso
from monitor.knowledge.drugs import DrugClass
from monitor.knowledge.thresholds import HOUR, ClinicalSettings


def _given_within(
    state: PatientState, drug_class: DrugClass, now: float, hours: float, cfg: ClinicalSettings
) -> list[tuple[str, float]]:
    out = []
    for name, rec in state.meds.items():
        if rec.drug_class != drug_class.value and not cfg.drugs.has_class(name, drug_class):
            continue
        times = [d[0] for d in rec.doses if now - hours * HOUR <= d[0] <= now]
        if times:
            out.append((name, max(times)))
    return sorted(out)


def differential(
    state: PatientState,
    withdrawn: list[Withdrawal],
    now: float,
    cfg: ClinicalSettings,
) -> list[tuple[str, str]]:
    """(condition, reason) pairs, in a fixed order."""
    hints: list[tuple[str, str]] = []
    window = cfg.sign_horizon_hours * HOUR

    def charted_present(code: str) -> bool:
        rec = state.charted.get(code)
        return rec is not None and rec[1] and 0 <= now - rec[0] <= window

    sero = _given_within(state, DrugClass.SEROTONERGIC, now, cfg.serotonergic_window_hours, cfg)
    signs = [c for c in ("clonus", "hyperreflexia") if charted_present(c)]
    if sero or signs:
        parts = [f"{name} given {iso(t)}" for name, t in sero]
        parts += [f"{s} charted" for s in signs]
        hints.append(
            (
                "serotonin_syndrome",
                "; ".join(parts) + " (Hunter: clonus, hyperreflexia, tremor and rapid onset favour "
                "serotonin toxicity over lead-pipe rigidity)",
            )
        )
    abx = _given_within(state, DrugClass.ANTIBIOTIC, now, cfg.antibiotic_window_hours, cfg)
    if abx:
        reason = ", ".join(name for name, _ in abx) + " given: infection suspected"
        wbc = [
            r for r in state.labs.get("wbc", ()) if 0 <= now - r[0] <= cfg.ck_window_hours * HOUR
        ]
        if wbc and wbc[-1][1] > cfg.wbc_leukocytosis_10e9_l:
            reason += f"; WBC {wbc[-1][1]:g} x10^9/L"
        hints.append(("sepsis", reason + " (CK usually modest in sepsis)"))
    if withdrawn or "parkinson_disease" in state.history:
        parts = [
            f"{w.drug} {'stopped' if w.how == 'discontinued' else 'dose cut'} {iso(w.stopped_at)}"
            for w in withdrawn
        ]
        if "parkinson_disease" in state.history:
            parts.append("Parkinson disease in history")
        hints.append(
            (
                "parkinsonism_hyperpyrexia",
                "; ".join(parts) + ": restart the dopaminergic drug, do not just stop things",
            )
        )
    mh = _given_within(state, DrugClass.MH_TRIGGER, now, cfg.anaesthetic_window_hours, cfg)
    if mh:
        hints.append(
            (
                "malignant_hyperthermia",
                ", ".join(name for name, _ in mh) + " given: check end-tidal CO2 (> 55 mmHg)",
            )
        )
    core_hot = [
        b
        for h, b in state.temps.items()
        if b.core_max is not None
        and b.core_max >= cfg.heat_stroke_core_c
        and 0 <= now - h * HOUR <= cfg.fever_window_hours * HOUR + HOUR
    ]
    if core_hot:
        first_fever = min(
            (b.first_elevated for b in state.temps.values() if b.first_elevated is not None),
            default=None,
        )
        rigid_since = state.first_present.get("rigidity")
        if rigid_since is None or (first_fever is not None and rigid_since > first_fever):
            top = max(b.core_max for b in core_hot if b.core_max is not None)
            hints.append(
                (
                    "heat_stroke",
                    f"core temperature {top:.1f} C with no rigidity charted before the fever",
                )
            )
    return hints
