"""Drug catalogue matching, unit conversion and settings."""

from __future__ import annotations

import pytest

from monitor.knowledge.drugs import CATALOGUE, DrugClass, match_drug
from monitor.knowledge.thresholds import ClinicalSettings
from monitor.knowledge.units import fahrenheit_to_celsius, lab_to_canonical, site_offset_c
from monitor.settings import Settings


@pytest.mark.parametrize(
    ("text", "name", "cls", "long_acting"),
    [
        ("Haloperidol", "haloperidol", DrugClass.FIRST_GENERATION, False),
        ("HALOPERIDOL DECANOATE 100MG/ML", "haloperidol", DrugClass.FIRST_GENERATION, True),
        ("Haldol", "haloperidol", DrugClass.FIRST_GENERATION, False),
        ("Fluphenazine decanoate", "fluphenazine", DrugClass.FIRST_GENERATION, True),
        ("Zuclopenthixol decanoate", "zuclopenthixol", DrugClass.FIRST_GENERATION, True),
        ("Flupentixol decanoate", "flupentixol", DrugClass.FIRST_GENERATION, True),
        ("risperidone long-acting injection", "risperidone", DrugClass.SECOND_GENERATION, True),
        ("Risperdal Consta", "risperidone", DrugClass.SECOND_GENERATION, True),
        ("Paliperidone palmitate", "paliperidone", DrugClass.SECOND_GENERATION, True),
        ("Aripiprazole LAI", "aripiprazole", DrugClass.SECOND_GENERATION, True),
        ("olanzapine pamoate", "olanzapine", DrugClass.SECOND_GENERATION, True),
        ("Quetiapine fumarate XR", "quetiapine", DrugClass.SECOND_GENERATION, False),
        (
            "metoclopramide hydrochloride",
            "metoclopramide",
            DrugClass.NON_PSYCHIATRIC_ANTAGONIST,
            False,
        ),
        (
            "Prochlorperazine maleate",
            "prochlorperazine",
            DrugClass.NON_PSYCHIATRIC_ANTAGONIST,
            False,
        ),
        ("tetrabenazine", "tetrabenazine", DrugClass.DOPAMINE_DEPLETER, False),
        ("Levodopa/Carbidopa 25/100", "levodopa", DrugClass.DOPAMINERGIC, False),
        ("carbidopa-levodopa ER", "levodopa", DrugClass.DOPAMINERGIC, False),
        ("Madopar (levodopa + benserazide)", "levodopa", DrugClass.DOPAMINERGIC, False),
        ("rotigotine transdermal patch", "rotigotine", DrugClass.DOPAMINERGIC, False),
        ("methylene blue", "methylene_blue", DrugClass.SEROTONERGIC, False),
        ("Linezolid", "linezolid", DrugClass.SEROTONERGIC, False),
        ("Sevoflurane", "sevoflurane", DrugClass.MH_TRIGGER, False),
        ("suxamethonium chloride", "succinylcholine", DrugClass.MH_TRIGGER, False),
        ("Ceftriaxone sodium", "ceftriaxone", DrugClass.ANTIBIOTIC, False),
        ("lithium carbonate", "lithium", DrugClass.LITHIUM, False),
    ],
)
def test_drug_matching(text: str, name: str, cls: DrugClass, long_acting: bool) -> None:
    matches = match_drug(text)
    assert [(m.name, m.drug_class, m.long_acting) for m in matches][:1] == [
        (name, cls, long_acting)
    ]


def test_unknown_and_combination_drugs() -> None:
    assert match_drug("paracetamol 1 g") == ()
    names = {m.name for m in match_drug("haloperidol + lorazepam + promethazine")}
    assert names == {"haloperidol", "promethazine"}


def test_every_reference_drug_is_catalogued() -> None:
    # Every drug named in clinical-reference section 3.
    reference = (  # noqa: SIM905 - a word list reads better than 49 quoted strings
        "haloperidol droperidol chlorpromazine fluphenazine perphenazine trifluoperazine "
        "thioridazine thiothixene loxapine flupentixol zuclopenthixol pimozide molindone "
        "levomepromazine sulpiride periciazine amisulpride aripiprazole asenapine "
        "brexpiprazole cariprazine clozapine iloperidone lumateperone lurasidone olanzapine "
        "paliperidone quetiapine risperidone sertindole ziprasidone metoclopramide "
        "prochlorperazine promethazine domperidone trimethobenzamide amoxapine tetrabenazine "
        "deutetrabenazine valbenazine reserpine levodopa amantadine bromocriptine "
        "pramipexole ropinirole rotigotine apomorphine cabergoline"
    ).split()
    missing = [d for d in reference if d not in CATALOGUE]
    assert missing == []


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
