"""The drug catalogue: matching real order strings and codes, long-acting products, site files.

``tests/data/order_strings.csv`` holds 684 medication names and codes as real systems write them
(RxNorm, NHS dm+d, FDA labels and NDC directory, Canadian and Australian brands, MIMIC-IV order
strings, hospital order exports), with the expected ingredient, class and long-acting flag. It
was compiled from public material, not from the catalogue (sources per row and in
``tests/data/ORDER_STRINGS_SOURCES.md``): an independent check of the catalogue, not a copy.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from pydantic import ValidationError

from monitor.contracts.decode import DecodeError, decode_event
from monitor.engine import new_state, step
from monitor.knowledge.catalogue import DrugClass
from monitor.knowledge.drugs import match_drug
from monitor.knowledge.thresholds import ClinicalSettings
from tests.builders import med

TABLE = Path(__file__).parent.parent / "data" / "order_strings.csv"
with TABLE.open(newline="", encoding="utf-8") as _fh:
    ROWS = list(csv.DictReader(_fh))
# The same substance under its other international name (INN / USAN / salt): the table writes
# INNs, the catalogue files each substance once.
SAME = {
    "suxamethonium": "succinylcholine",
    "pethidine": "meperidine",
    "benzathine benzylpenicillin": "benzylpenicillin",
}
# Ingredients the catalogue finds beyond the table's list, checked by hand: genuinely present.
EXTRA_OK = {
    "hyoscyamine sulfate 0.12 MG / methenamine 81.6 MG / methylene blue": (
        "methenamine is an antibacterial (WHO ATC J01XX05); the table lists only methylene blue"
    ),
}
CFG = ClinicalSettings()


def _codes(row: dict[str, str]) -> tuple[tuple[str, str], ...]:
    system = row["code_system"]
    return ((system, row["code"]),) if system in ("atc", "rxnorm", "snomed") else ()


@pytest.mark.parametrize(
    "row", ROWS, ids=[f"{i}:{(r['text'] or r['code'])[:40]}" for i, r in enumerate(ROWS)]
)
def test_real_order_strings_and_codes(row: dict[str, str]) -> None:
    matches = match_drug(row["text"], _codes(row))
    found = {m.name for m in matches}
    classed = {m.name for m in matches if m.drug_class != DrugClass.OTHER}
    expected = [SAME.get(i, i) for i in row["ingredients"].split("+") if i]
    if not expected:  # a drug of no class: nothing the engine uses may match
        assert classed == set(), f"{row['text']!r} matched {classed}"
        return
    assert set(expected) <= found, f"{row['text'] or row['code']!r}: {found}"
    first = next(m for m in matches if m.name == expected[0])
    assert first.drug_class.value == row["drug_class"]
    extra = classed - set(expected)
    assert not extra or any(row["text"].startswith(k) for k in EXTRA_OK), extra
    assert any(m.long_acting for m in matches) is (row["long_acting"] == "true")


def test_the_table_is_what_the_issue_asks_for() -> None:
    assert len(ROWS) >= 300
    assert sum(1 for r in ROWS if r["long_acting"] == "true") >= 40
    assert sum(1 for r in ROWS if not r["text"]) >= 40  # code-only identification
    assert {r["drug_class"] for r in ROWS} >= {c.value for c in DrugClass} - {"other"}
    assert all(r["source"] for r in ROWS)


@pytest.mark.parametrize(
    ("text", "dose", "product"),
    [
        ("Invega Sustenna", None, "paliperidone_palmitate_monthly"),
        ("Xeplion 100 mg", None, "paliperidone_palmitate_monthly"),
        ("Invega Trinza", None, "paliperidone_palmitate_3_monthly"),
        ("Byannli", None, "paliperidone_palmitate_6_monthly"),
        ("paliperidone palmitate", 819.0, "paliperidone_palmitate_3_monthly"),
        ("paliperidone palmitate", 1560.0, "paliperidone_palmitate_6_monthly"),
        # 234 mg is a strength of two monthly products (same horizon): both are named.
        ("paliperidone palmitate 234 mg", None,
         "?paliperidone_palmitate_monthly|paliperidone_palmitate_monthly_erzofri"),
        ("aripiprazole for extended-release injectable suspension", 400.0,
         "aripiprazole_monohydrate_monthly"),
        ("Abilify Asimtufii 960 mg", None, "aripiprazole_2_monthly"),
        ("Aristada 1064 mg", None, "aripiprazole_lauroxil"),
        ("Risperdal Consta 37.5 mg", None, "risperidone_microspheres_2_weekly"),
        ("0.8 ML risperidone 150 MG/ML Prefilled Syringe", None, "risperidone_perseris_monthly"),
        ("HALOPERIDOL DECANOATE 100 MG/ML IM SOLN", None, "haloperidol_decanoate"),
        ("Depixol 20mg/1ml solution for injection ampoules", None, "flupentixol_decanoate"),
    ],
)  # fmt: skip
def test_long_acting_products_are_identified(text: str, dose: float | None, product: str) -> None:
    (m,) = [m for m in match_drug(text, (), dose) if m.drug_class != DrugClass.OTHER]
    assert m.long_acting and m.product == product


@pytest.mark.parametrize(
    "text",
    ["Invega 6 mg extended-release tablet", "quetiapine ER 300 mg tab", "Seroquel XR 50",
     "HALOPERIDOL LACTATE 5 MG/ML INJ", "olanzapine 10 MG Injection", "Depixol 3mg tablets",
     "Abilify 9.75 MG/1.3ML injection"],
)  # fmt: skip
def test_tablets_and_short_acting_injections_are_not_long_acting(text: str) -> None:
    matches = [m for m in match_drug(text) if m.drug_class != DrugClass.OTHER]
    assert matches and not any(m.long_acting for m in matches)


def test_every_reference_drug_is_catalogued() -> None:
    """Every drug the International Expert Consensus literature names as an exposure or a
    withdrawal trigger (the classes of the engine) is in the catalogue."""
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
    missing = [d for d in reference if not any(m.drug_class != "other" for m in match_drug(d))]
    assert missing == []


def test_unrecognised_medications_are_reported_not_dropped() -> None:
    state = new_state("p1")
    assert step(state, med(0, "Xyzzorin 10 mg tablet"), CFG).unrecognised == (
        "Xyzzorin 10 mg tablet"
    )
    assert step(state, med(1, "paracetamol 1 g"), CFG).unrecognised is None  # known, no class
    assert step(state, med(2, "Thorazine 25 mg"), CFG).unrecognised is None
    assert "chlorpromazine" in state.meds


def test_a_medication_may_be_identified_by_code_alone() -> None:
    event = decode_event(
        b'{"event_id":"m1","patient_id":"p1","kind":"medication","time":"2026-02-02T00:00:00Z",'
        b'"action":"administered","codes":[{"system":"atc","code":"N05AD01"}]}'
    )
    state = new_state("p1")
    assert step(state, event, CFG).unrecognised is None
    assert "haloperidol" in state.meds


@pytest.mark.parametrize(
    ("codes", "reason"),
    [
        ('[{"system":"atc","code":"N5AD1"}]', "not like N05AD01"),
        ('[{"system":"rxnorm","code":"R5093"}]', "must be digits"),
        ('[{"system":"ndc","code":"0143-9296-01"}]', "system"),
        ("[]", "needs drug"),
    ],
)
def test_bad_codes_are_refused_with_a_reason(codes: str, reason: str) -> None:
    raw = (
        '{"event_id":"m1","patient_id":"p1","kind":"medication","time":"2026-02-02T00:00:00Z",'
        f'"action":"administered","codes":{codes}}}'
    )
    with pytest.raises(DecodeError) as exc:
        decode_event(raw.encode())
    assert reason in exc.value.rejection.detail


def test_a_site_file_adds_names_codes_and_horizons(tmp_path: Path) -> None:
    site = tmp_path / "site.toml"
    site.write_text(
        '[[drug]]\ningredient = "haloperidol"\nnames = ["HALDOL HOUSE BRAND"]\n'
        'atc = ["Z99ZZ99"]\n\n'
        '[[drug]]\ningredient = "localpamine"\nclass = "second_generation_antipsychotic"\n'
        'names = ["localpamine"]\n\n'
        "[horizons]\nhaloperidol_decanoate = 35\n"
    )
    cfg = ClinicalSettings(drug_catalogue_file=str(site))
    assert [m.name for m in cfg.drugs.match("Haldol house brand 5 mg")] == ["haloperidol"]
    assert cfg.drugs.match("", (("atc", "Z99ZZ99"),))[0].name == "haloperidol"
    assert cfg.drugs.match("localpamine 2 mg")[0].drug_class == DrugClass.SECOND_GENERATION
    assert cfg.drugs.horizon_days("haloperidol_decanoate", 28) == 35
    assert CFG.drugs.match("localpamine") == ()  # the bundled catalogue is unchanged


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('[[drug]]\ningredient = "x"\nclass = "antacid"\n', "antacid"),
        ('[[long_acting]]\nid = "x"\ningredient = "nothing"\n', "catalogued ingredient"),
        ("[horizons]\nno_such_product = 3\n", "no long-acting product"),
        ("[horizons]\nhaloperidol_decanoate = -1\n", "positive number"),
        ("[tables]\nx = 1\n", "unknown section"),
        ("this is = not [toml", "not valid TOML"),
    ],
)
def test_a_bad_site_file_is_refused_at_start_with_its_reason(
    tmp_path: Path, content: str, message: str
) -> None:
    site = tmp_path / "site.toml"
    site.write_text(content)
    with pytest.raises(ValidationError) as exc:
        ClinicalSettings(drug_catalogue_file=str(site))
    assert message in str(exc.value) and str(site) in str(exc.value)


def test_a_missing_site_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="cannot read"):
        ClinicalSettings(drug_catalogue_file=str(tmp_path / "absent.toml"))
