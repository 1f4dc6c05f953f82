"""Drug catalogue: which administrations count as exposure, withdrawal or a differential clue.

Source: shared/docs/clinical-reference.md section 3 (dopamine antagonists, depot forms,
dopaminergic drugs; risk factors after Keck 1989, Viejo 2003, Pearlman 1986) and section 6
(serotonergic drugs after the Hunter criteria, Dunkley 2003; malignant-hyperthermia triggers;
antibiotics as a proxy for suspected infection).

Matching is by generic name, tolerant of case, punctuation, salts ("hydrochloride"), depot words
("decanoate", "long-acting injection") and combination products ("levodopa/carbidopa").
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache


class DrugClass(StrEnum):
    FIRST_GENERATION = "first_generation_antipsychotic"
    SECOND_GENERATION = "second_generation_antipsychotic"
    NON_PSYCHIATRIC_ANTAGONIST = "non_psychiatric_dopamine_antagonist"
    DOPAMINE_DEPLETER = "dopamine_depleter"
    DOPAMINERGIC = "dopaminergic"
    SEROTONERGIC = "serotonergic"
    MH_TRIGGER = "malignant_hyperthermia_trigger"
    ANTIBIOTIC = "antibiotic"
    LITHIUM = "lithium"


ANTAGONIST_CLASSES = frozenset(
    {
        DrugClass.FIRST_GENERATION,
        DrugClass.SECOND_GENERATION,
        DrugClass.NON_PSYCHIATRIC_ANTAGONIST,
        DrugClass.DOPAMINE_DEPLETER,
    }
)
ANTIPSYCHOTIC_CLASSES = frozenset({DrugClass.FIRST_GENERATION, DrugClass.SECOND_GENERATION})

_FIRST_GENERATION = (
    "haloperidol droperidol chlorpromazine fluphenazine perphenazine trifluoperazine thioridazine "
    "thiothixene loxapine flupentixol zuclopenthixol pimozide molindone levomepromazine sulpiride "
    "periciazine"
)
_SECOND_GENERATION = (
    "amisulpride aripiprazole asenapine brexpiprazole cariprazine clozapine iloperidone "
    "lumateperone lurasidone olanzapine paliperidone quetiapine risperidone sertindole ziprasidone"
)
_NON_PSYCHIATRIC = (
    "metoclopramide prochlorperazine promethazine domperidone trimethobenzamide amoxapine"
)
_DEPLETERS = "tetrabenazine deutetrabenazine valbenazine reserpine"
_DOPAMINERGIC = (
    "levodopa amantadine bromocriptine pramipexole ropinirole rotigotine apomorphine cabergoline"
)
_SEROTONERGIC = (
    "fluoxetine sertraline paroxetine citalopram escitalopram fluvoxamine venlafaxine "
    "desvenlafaxine duloxetine milnacipran levomilnacipran phenelzine tranylcypromine "
    "isocarboxazid selegiline moclobemide rasagiline linezolid tramadol fentanyl methylene_blue "
    "meperidine pethidine tapentadol dextromethorphan clomipramine imipramine trazodone "
    "vortioxetine vilazodone sumatriptan ondansetron"
)
_MH_TRIGGERS = "sevoflurane desflurane isoflurane halothane enflurane succinylcholine suxamethonium"
_ANTIBIOTICS = (
    "amoxicillin ampicillin piperacillin tazobactam ceftriaxone cefotaxime ceftazidime cefepime "
    "cefazolin cefuroxime cephalexin meropenem imipenem ertapenem vancomycin gentamicin "
    "amikacin tobramycin ciprofloxacin levofloxacin moxifloxacin azithromycin clarithromycin "
    "erythromycin doxycycline clindamycin metronidazole trimethoprim sulfamethoxazole "
    "nitrofurantoin flucloxacillin benzylpenicillin penicillin co_amoxiclav daptomycin "
    "teicoplanin aztreonam colistin"
)

# Depot esters and long-acting injectable words (reference section 3, long-acting injectables).
_DEPOT_WORDS = frozenset(
    {
        "decanoate",
        "enanthate",
        "palmitate",
        "pamoate",
        "lauroxil",
        "monohydrate_lai",
        "depot",
        "lai",
        "consta",
        "maintena",
        "sustenna",
        "trinza",
        "hafyera",
        "aristada",
        "relprevv",
        "perseris",
        "uzedy",
        "rykindo",
        "abilify_asimtufii",
    }
)
_DEPOT_PHRASES = ("long acting", "long-acting", "extended release injectable", "depot injection")

# Salts and forms that say nothing about the drug itself.
_NOISE_WORDS = frozenset(
    {
        "hydrochloride",
        "hcl",
        "dihydrochloride",
        "sodium",
        "potassium",
        "mesylate",
        "maleate",
        "fumarate",
        "tartrate",
        "citrate",
        "sulfate",
        "sulphate",
        "hydrobromide",
        "besylate",
        "succinate",
        "lactate",
        "acetate",
        "phosphate",
        "bromide",
        "chloride",
        "tablet",
        "tablets",
        "tab",
        "oral",
        "solution",
        "injection",
        "inj",
        "iv",
        "im",
        "mg",
        "ml",
        "er",
        "xr",
        "sr",
        "od",
        "odt",
        "orally",
        "disintegrating",
        "syrup",
        "elixir",
        "liquid",
        "patch",
        "transdermal",
        "extended",
        "release",
        "immediate",
        "modified",
        "dispersible",
    }
)

_ALIASES: dict[str, str] = {
    "haldol": "haloperidol",
    "largactil": "chlorpromazine",
    "zyprexa": "olanzapine",
    "seroquel": "quetiapine",
    "risperdal": "risperidone",
    "clozaril": "clozapine",
    "abilify": "aripiprazole",
    "invega": "paliperidone",
    "reglan": "metoclopramide",
    "maxolon": "metoclopramide",
    "stemetil": "prochlorperazine",
    "phenergan": "promethazine",
    "sinemet": "levodopa",
    "madopar": "levodopa",
    "carbidopa": "levodopa",
    "benserazide": "levodopa",
    "co_careldopa": "levodopa",
    "co_beneldopa": "levodopa",
    "methotrimeprazine": "levomepromazine",
    "flupenthixol": "flupentixol",
    "suxamethonium": "succinylcholine",
    "methylthioninium": "methylene_blue",
    "pethidine": "meperidine",
    "tazocin": "piperacillin",
}


@dataclass(frozen=True, slots=True)
class DrugMatch:
    """One catalogue drug found in a free-text drug name."""

    name: str
    drug_class: DrugClass
    long_acting: bool

    @property
    def is_antagonist(self) -> bool:
        return self.drug_class in ANTAGONIST_CLASSES


def _build_catalogue() -> dict[str, DrugClass]:
    table: dict[str, DrugClass] = {}
    for names, cls in (
        (_ANTIBIOTICS, DrugClass.ANTIBIOTIC),
        (_SEROTONERGIC, DrugClass.SEROTONERGIC),
        (_MH_TRIGGERS, DrugClass.MH_TRIGGER),
        (_DOPAMINERGIC, DrugClass.DOPAMINERGIC),
        (_DEPLETERS, DrugClass.DOPAMINE_DEPLETER),
        (_NON_PSYCHIATRIC, DrugClass.NON_PSYCHIATRIC_ANTAGONIST),
        (_SECOND_GENERATION, DrugClass.SECOND_GENERATION),
        (_FIRST_GENERATION, DrugClass.FIRST_GENERATION),
    ):
        for name in names.split():
            table[name] = cls
    table["lithium"] = DrugClass.LITHIUM
    table["suxamethonium"] = DrugClass.MH_TRIGGER
    return table


CATALOGUE: dict[str, DrugClass] = _build_catalogue()

# Drugs with a second class that matters for the differential: linezolid is an antibiotic and an
# MAOI (serotonergic); methylene blue too is an MAOI but is not an antibiotic.
SECONDARY_CLASSES: dict[str, frozenset[DrugClass]] = {
    "linezolid": frozenset({DrugClass.ANTIBIOTIC}),
}


def has_class(name: str, primary: str, drug_class: DrugClass) -> bool:
    """True when the catalogue drug ``name`` (primary class ``primary``) is of ``drug_class``."""
    return primary == drug_class.value or drug_class in SECONDARY_CLASSES.get(name, ())


# Forms that only exist as long-acting injectables of an antipsychotic (reference section 3).
DEPOT_CAPABLE = frozenset(
    {
        "haloperidol",
        "fluphenazine",
        "zuclopenthixol",
        "flupentixol",
        "risperidone",
        "paliperidone",
        "aripiprazole",
        "olanzapine",
    }
)

_SPLIT = re.compile(r"[^a-z0-9]+")


def _tokens(text: str) -> list[str]:
    return [t for t in _SPLIT.split(text.lower()) if t]


@lru_cache(maxsize=4096)
def match_drug(text: str) -> tuple[DrugMatch, ...]:
    """Every catalogue drug named in ``text``; empty when none is recognised.

    >>> [m.name for m in match_drug("Levodopa/Carbidopa 100/25 mg")]
    ['levodopa']
    >>> match_drug("Haloperidol decanoate")[0].long_acting
    True
    """
    lowered = text.lower()
    tokens = _tokens(lowered)
    joined = {f"{a}_{b}" for a, b in itertools.pairwise(tokens)}
    depot = any(t in _DEPOT_WORDS for t in tokens) or any(p in lowered for p in _DEPOT_PHRASES)
    found: dict[str, DrugMatch] = {}
    for token in [*tokens, *joined]:
        if token in _NOISE_WORDS:
            continue
        name = _ALIASES.get(token, token)
        cls = CATALOGUE.get(name)
        if cls is None or name in found:
            continue
        long_acting = depot and name in DEPOT_CAPABLE
        found[name] = DrugMatch(name=name, drug_class=cls, long_acting=long_acting)
    return tuple(found.values())


HIGH_POTENCY = frozenset(
    {"haloperidol", "fluphenazine", "droperidol", "trifluoperazine", "pimozide", "thiothixene"}
)
