"""Unit conversion and settings (the drug catalogue: test_drug_catalogue.py)."""

from __future__ import annotations

import pytest

from monitor.knowledge.thresholds import ClinicalSettings
from monitor.knowledge.units import fahrenheit_to_celsius, lab_to_canonical, site_offset_c
from monitor.settings import Settings


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
