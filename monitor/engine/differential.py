"""Differential-diagnosis hints carried by an NMS alert (docs/clinical-model.md#differential-hints).

- serotonin syndrome (Hunter criteria, Dunkley 2003): serotonergic drug within
  ``serotonergic_window_hours``, and/or clonus or hyperreflexia charted.
- sepsis / infection: antibiotics given within ``antibiotic_window_hours`` (a proxy for suspected
  infection); a WBC above ``wbc_leukocytosis_10e9_l`` within ``wbc_window_hours`` is quoted.
- parkinsonism-hyperpyrexia: dopaminergic drug withdrawn, or Parkinson disease in the history;
  treatment is to restart the drug.
- malignant hyperthermia: volatile anaesthetic or succinylcholine within
  ``anaesthetic_window_hours``.
- heat stroke: core temperature >= ``heat_stroke_core_c`` within ``heat_stroke_window_hours``,
  with no rigidity charted before the fever.
The thresholds are settings; the texts and their sources are in
``monitor.knowledge.alert_texts``.
"""

from __future__ import annotations

from monitor.engine.exposure import Withdrawal
from monitor.engine.state import PatientState
from monitor.engine.timeutil import iso
from monitor.knowledge import alert_texts as txt
from monitor.knowledge.drugs import DrugClass
from monitor.knowledge.thresholds import HOUR, ClinicalSettings

# The history code of the contract (PatientEvent.history) that names Parkinson disease.
PARKINSON_DISEASE = "parkinson_disease"


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
    return drug_hints(state, withdrawn, now, cfg) + heat_stroke_hint(state, now, cfg)


def drug_hints(
    state: PatientState,
    withdrawn: list[Withdrawal],
    now: float,
    cfg: ClinicalSettings,
) -> list[tuple[str, str]]:
    """The hints from drugs, labs, charted signs and history: serotonin syndrome, sepsis,
    parkinsonism-hyperpyrexia, malignant hyperthermia (in that order)."""
    hints: list[tuple[str, str]] = []
    window = cfg.sign_horizon_hours * HOUR

    def charted_present(code: str) -> bool:
        rec = state.charted.get(code)
        return rec is not None and rec[1] and 0 <= now - rec[0] <= window

    sero = _given_within(state, DrugClass.SEROTONERGIC, now, cfg.serotonergic_window_hours, cfg)
    signs = [c for c in ("clonus", "hyperreflexia") if charted_present(c)]
    if sero or signs:
        parts = [txt.SEROTONIN_DRUG.format(drug=name, time=iso(t)) for name, t in sero]
        parts += [txt.SEROTONIN_SIGN.format(sign=s) for s in signs]
        hints.append(("serotonin_syndrome", "; ".join(parts) + txt.SEROTONIN_HUNTER))
    abx = _given_within(state, DrugClass.ANTIBIOTIC, now, cfg.antibiotic_window_hours, cfg)
    if abx:
        reason = txt.SEPSIS_ANTIBIOTICS.format(drugs=", ".join(name for name, _ in abx))
        wbc = [
            r for r in state.labs.get("wbc", ()) if 0 <= now - r[0] <= cfg.wbc_window_hours * HOUR
        ]
        if wbc and wbc[-1][1] > cfg.wbc_leukocytosis_10e9_l:
            reason += txt.SEPSIS_WBC.format(wbc=wbc[-1][1])
        hints.append(("sepsis", reason + txt.SEPSIS_CK))
    if withdrawn or PARKINSON_DISEASE in state.history:
        parts = [
            (txt.PH_STOPPED if w.how == "discontinued" else txt.PH_CUT).format(
                drug=w.drug, time=iso(w.stopped_at)
            )
            for w in withdrawn
        ]
        if PARKINSON_DISEASE in state.history:
            parts.append(txt.PH_HISTORY)
        hints.append(("parkinsonism_hyperpyrexia", "; ".join(parts) + txt.PH_RESTART))
    mh = _given_within(state, DrugClass.MH_TRIGGER, now, cfg.anaesthetic_window_hours, cfg)
    if mh:
        reason = txt.MH_TRIGGER.format(
            drugs=", ".join(name for name, _ in mh), etco2=cfg.mh_end_tidal_co2_mmhg
        )
        hints.append(("malignant_hyperthermia", reason))
    return hints


def heat_stroke_hint(
    state: PatientState, now: float, cfg: ClinicalSettings
) -> list[tuple[str, str]]:
    """Heat stroke: a core temperature at or above ``heat_stroke_core_c`` in the window, and no
    rigidity charted before the first fever."""
    hints: list[tuple[str, str]] = []
    core_hot = [
        b
        for h, b in state.temps.items()
        if b.core_max is not None
        and b.core_max >= cfg.heat_stroke_core_c
        and 0 <= now - h * HOUR <= cfg.heat_stroke_window_hours * HOUR + HOUR
    ]
    if core_hot:
        first_fever = min(
            (b.first_elevated for b in state.temps.values() if b.first_elevated is not None),
            default=None,
        )
        rigid_since = state.first_present.get("rigidity")
        if rigid_since is None or (first_fever is not None and rigid_since > first_fever):
            top = max(b.core_max for b in core_hot if b.core_max is not None)
            hints.append(("heat_stroke", txt.HEAT_STROKE.format(core=top)))
    return hints
