"""What an alert tells the clinician: first actions, differential hints and risk factors.

The engine decides which of these apply (``monitor.engine.alert_build``, ``differential``,
``exposure``); the words and the clinical content in them are here, each with its source. Fields
in braces are filled in by the engine (``str.format``); thresholds quoted in a text are settings.

Sources:
- First actions for suspected NMS (stop the antagonist, supportive care, CK and renal
  monitoring): Strawn JR et al., Am J Psychiatry 2007;164:870-876; Pileggi DJ & Cook AM, Ann
  Pharmacother 2016;50:973-981.
- Parkinsonism-hyperpyrexia is treated by restarting the dopaminergic drug; depot exposure lasts
  weeks: docs/clinical-model.md#exposure.
- Criterion 8 needs a documented work-up: docs/clinical-model.md#the-criteria (Gurrera 2011).
- Differential (docs/clinical-model.md#differential-hints): serotonin toxicity by the Hunter
  criteria (Dunkley EJ et al., QJM 2003;96:635-642); CK is usually modest in sepsis; malignant
  hyperthermia: end-tidal CO2 > 55 mmHg; heat stroke: core > 40 C without prodromal rigidity.
- Risk factors (docs/clinical-model.md#exposure): parenteral route and number of IM doses
  (Keck 1989; Viejo 2003), depot, high potency, two antipsychotics, rapid escalation, lithium,
  prior NMS (about 1/3 recur on rechallenge, Pearlman 1986).
"""

from __future__ import annotations

# --- Recommendations, most urgent first -------------------------------------------------------
REEXAMINE = (
    "Re-examine the patient and re-chart: the score rests on charting over a day old: {signs}."
)
REEXAMINE_SIGN = "{sign} (charted {hours:.0f} h ago)"
HOLD_ANTAGONIST = "Review and hold the dopamine antagonist(s) now: {drugs}."
RESTART_DOPAMINERGIC = (
    "Dopaminergic drug stopped or cut ({drugs}): restart it promptly "
    "(parkinsonism-hyperpyrexia); do not just stop things."
)
INVESTIGATIONS = (
    "Measure core temperature, CK, creatinine, electrolytes and urine myoglobin; repeat CK."
)
SUPPORTIVE_CARE = (
    "Supportive care: active cooling, IV fluids, close monitoring in a high-dependency "
    "setting; benzodiazepines, dantrolene or bromocriptine are a senior clinician's decision."
)
LONG_ACTING = (
    "Long-acting injection given: the drug persists for weeks to months (counted until "
    "{until}); plan prolonged monitoring."
)
CONSIDER_DIFFERENTIAL = "Consider the differential: {conditions}."
DOCUMENT_WORKUP = (
    "Document the work-up excluding infectious, toxic, metabolic and neurological "
    "causes (criterion 8)."
)

# --- Differential hints (reason texts) --------------------------------------------------------
SEROTONIN_DRUG = "{drug} given {time}"
SEROTONIN_SIGN = "{sign} charted"
SEROTONIN_HUNTER = (
    " (Hunter: clonus, hyperreflexia, tremor and rapid onset favour serotonin toxicity over "
    "lead-pipe rigidity)"
)
SEPSIS_ANTIBIOTICS = "{drugs} given: infection suspected"
SEPSIS_WBC = "; WBC {wbc:g} x10^9/L"
SEPSIS_CK = " (CK usually modest in sepsis)"
PH_STOPPED = "{drug} stopped {time}"
PH_CUT = "{drug} dose cut {time}"
PH_HISTORY = "Parkinson disease in history"
PH_RESTART = ": restart the dopaminergic drug, do not just stop things"
MH_TRIGGER = "{drugs} given: check end-tidal CO2 (> {etco2:g} mmHg)"
HEAT_STROKE = "core temperature {core:.1f} C with no rigidity charted before the fever"

# --- Risk factors -----------------------------------------------------------------------------
RISK_PARENTERAL = "{n} parenteral (IM/IV) antagonist dose(s) in the last {hours:g} h"
RISK_DEPOT = "long-acting (depot) antipsychotic: exposure persists for weeks"
RISK_HIGH_POTENCY = "high-potency antipsychotic"
RISK_TWO_ANTIPSYCHOTICS = "two or more antipsychotics at once"
RISK_ESCALATION = "rapid dose escalation of {drug}"
RISK_LITHIUM = "lithium co-medication"
RISK_PRIOR_NMS = "prior NMS (about 1/3 recur on rechallenge)"
# Routes that count as parenteral doses (Keck 1989; Viejo 2003).
PARENTERAL_ROUTES = frozenset({"im", "iv"})
