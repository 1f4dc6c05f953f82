"""Unit conversion, settings, the IEC weights and the alert texts (the drug catalogue:
test_drug_catalogue.py)."""

from __future__ import annotations

import pytest

from monitor.contracts.events import Event
from monitor.engine.differential import differential
from monitor.engine.exposure import active_antagonists, risk_factors
from monitor.engine.ward import Ward
from monitor.knowledge.iec import CRITERIA, MAX_COMPUTABLE, MAX_SCORE
from monitor.knowledge.thresholds import ClinicalSettings
from monitor.knowledge.units import fahrenheit_to_celsius, lab_to_canonical, site_offset_c
from monitor.settings import Settings
from tests.builders import epoch, lab, med, patient, vital


def test_unit_conversions() -> None:
    assert fahrenheit_to_celsius(100.4) == pytest.approx(38.0)
    assert lab_to_canonical("ck", 10, "ukat/L") == 600
    assert lab_to_canonical("creatinine", 1.0, "mg/dL") == pytest.approx(88.4)
    assert lab_to_canonical("myoglobin", 80, "ng/mL") == 80
    assert lab_to_canonical("wbc", 12, "10*3/uL") == 12
    assert lab_to_canonical("ck", 256020, "U/L") == 256020  # never capped


def test_site_offsets_are_configurable() -> None:
    cfg = ClinicalSettings(temp_offset_axillary_c=0.3)
    assert site_offset_c("axillary", cfg) == 0.3
    assert site_offset_c("core", ClinicalSettings()) == -0.5


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NMS_CLINICAL__CUTOFF", "70")
    monkeypatch.setenv("NMS_CLINICAL__FEVER_THRESHOLD_C", "38.3")
    s = Settings()
    assert s.clinical.cutoff == 70 and s.clinical.fever_threshold_c == 38.3
    with pytest.raises(ValueError):
        s.clinical.cutoff = 60  # type: ignore[misc]  # frozen


def test_every_setting_is_documented() -> None:
    undocumented = [n for n, f in ClinicalSettings.model_fields.items() if not f.description]
    assert undocumented == []


def test_iec_weights_are_the_consensus_points() -> None:
    """Gurrera 2011: eight criteria, 100 points; 93 without the work-up (criterion 8)."""
    assert dict(CRITERIA) == {
        "exposure": 20,
        "hyperthermia": 18,
        "rigidity": 17,
        "mental_status": 13,
        "ck_elevation": 10,
        "sympathetic_lability": 10,
        "hypermetabolism": 5,
        "negative_workup": 7,
    }
    assert (MAX_SCORE, MAX_COMPUTABLE) == (100, 93)


def _differential(events: list[Event], hours: float, cfg: ClinicalSettings) -> dict[str, str]:
    ward = Ward(cfg)
    for e in sorted(events, key=lambda e: e.time):
        ward.process(e)
    state = ward.states["p1"]
    return dict(differential(state, [], epoch(hours), cfg))


@pytest.mark.parametrize(("window", "quoted"), [(72.0, False), (96.0, True)])
def test_wbc_window_is_its_own_setting(window: float, quoted: bool) -> None:
    """The WBC quoted with the sepsis hint no longer borrows the CK window."""
    cfg = ClinicalSettings(wbc_window_hours=window, ck_window_hours=72.0)
    events = [patient(0), lab(1, "wbc", 18.5, "10*9/L"), med(80, "ceftriaxone", dose=2000)]
    reason = _differential(events, 81, cfg)["sepsis"]
    assert ("WBC 18.5 x10^9/L" in reason) is quoted
    assert reason.startswith("ceftriaxone given: infection suspected")
    assert reason.endswith(" (CK usually modest in sepsis)")


def test_malignant_hyperthermia_hint_quotes_the_setting() -> None:
    events = [patient(0), med(1, "sevoflurane")]
    assert _differential(events, 2, ClinicalSettings())["malignant_hyperthermia"] == (
        "sevoflurane given: check end-tidal CO2 (> 55 mmHg)"
    )
    cfg = ClinicalSettings(mh_end_tidal_co2_mmhg=60)
    assert "(> 60 mmHg)" in _differential(events, 2, cfg)["malignant_hyperthermia"]


@pytest.mark.parametrize(("window", "hinted"), [(24.0, False), (36.0, True)])
def test_heat_stroke_window_is_its_own_setting(window: float, hinted: bool) -> None:
    cfg = ClinicalSettings(heat_stroke_window_hours=window)
    events = [
        patient(0),
        vital(1, "temperature", 40.6, site="core"),
        vital(1.5, "temperature", 40.4, site="core"),
        vital(30, "temperature", 37.0),
    ]
    hints = _differential(events, 30, cfg)
    assert ("heat_stroke" in hints) is hinted
    if hinted:
        assert hints["heat_stroke"] == (
            "core temperature 40.6 C with no rigidity charted before the fever"
        )


def test_rapid_escalation_multiple_is_a_setting() -> None:
    events = [patient(0), med(1, "haloperidol", dose=2), med(10, "haloperidol", dose=5)]
    state_cfg = [(ClinicalSettings(), True), (ClinicalSettings(rapid_escalation_multiple=3), False)]
    for cfg, escalated in state_cfg:
        ward = Ward(cfg)
        for e in events:
            ward.process(e)
        active = active_antagonists(ward.states["p1"], epoch(11), cfg)
        assert active[0].escalated is escalated
        factors = risk_factors(ward.states["p1"], active, epoch(11), cfg)
        assert ("rapid dose escalation of haloperidol" in factors) is escalated
