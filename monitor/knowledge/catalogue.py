"""The drug catalogue as data: ingredients, brands, combinations, codes and long-acting products.

The bundled catalogue is ``monitor/knowledge/data/drugs.toml`` (every entry names its public
sources: WHO ATC index, drug labels, national formularies). A site adds its own local names,
codes and horizon overrides with a file of the same shape (``NMS_CLINICAL__DRUG_CATALOGUE_FILE``),
validated when the settings are read, with an error that names the file and the entry.

Matching (:meth:`Catalogue.match`) works on words: a record's text is split into lower-case words
and the longest known phrase at each position wins ("Invega Sustenna" is the monthly product
before "Invega" is the oral brand). Strength, form and route words match nothing, so
"HALOPERIDOL LACTATE 5 MG/ML INJ" is haloperidol and "quetiapine ER 300 mg tab" quetiapine.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from importlib import resources
from typing import Any

from monitor.errors import CatalogueError

CODE_SYSTEMS = ("atc", "rxnorm", "snomed")


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
    OTHER = "other"  # known, and of no class the engine uses: not reported as unrecognised


@dataclass(frozen=True, slots=True)
class Ingredient:
    name: str
    drug_class: DrugClass
    secondary: frozenset[DrugClass] = frozenset()
    high_potency: bool = False
    injections_long_acting: bool = False  # every injection of it is a long-acting product


@dataclass(frozen=True, slots=True)
class LaiProduct:
    """A long-acting injectable product and how long one injection counts as exposure."""

    id: str
    ingredient: str
    label: str  # e.g. "Invega Trinza (paliperidone palmitate, every 3 months)"
    strengths: frozenset[float]  # labelled strengths, mg of the form or of the drug
    horizon_days: float
    rule: str


@dataclass(frozen=True, slots=True)
class Target:
    """What a phrase names: ingredients, and for a long-acting product or form its products
    (``injected``: products it names only with injection wording, for a brand that is also the
    tablets, such as "Depixol")."""

    ingredients: tuple[str, ...]
    products: tuple[str, ...] = ()
    injected: tuple[str, ...] = ()

    def merged(self, other: Target) -> Target:
        return Target(
            tuple(dict.fromkeys(self.ingredients + other.ingredients)),
            tuple(dict.fromkeys(self.products + other.products)),
            tuple(dict.fromkeys(self.injected + other.injected)),
        )


_WORD = re.compile(r"[a-z0-9]+")
# Words and phrases that make an antipsychotic order a long-acting injection (ester forms, depot
# and extended-release injectable wording of US and EU labels). An ER *tablet* is not one.
_DEPOT_WORDS = frozenset(
    {"decanoate", "enanthate", "enantate", "palmitate", "pamoate", "lauroxil", "depot",
     "lai", "microspheres", "microsphere", "dekanoat", "decanoas"}
)  # fmt: skip
_DEPOT_PHRASES = (
    ("extended", "release", "injectable"),
    ("extended", "release", "injection"),
    ("extended", "release", "suspension"),
    ("prolonged", "release", "suspension"),
    ("prolonged", "release", "injection"),
    ("long", "acting", "injection"),
    ("long", "acting", "injectable"),
)
_MG = re.compile(r"(\d+(?:\.\d+)?)\s*mg(?!\s*/)")
# RxNorm's "1.5 ML aripiprazole 200 MG/ML Prefilled Syringe": volume times concentration.
_VOLUME_CONC = re.compile(r"(\d+(?:\.\d+)?)\s*ml\b\D*?(\d+(?:\.\d+)?)\s*mg\s*/\s*ml")


def words(text: str) -> tuple[str, ...]:
    return tuple(_WORD.findall(text.lower()))


def depot_wording(tokens: tuple[str, ...]) -> bool:
    if any(t in _DEPOT_WORDS for t in tokens):
        return True
    return any(
        tokens[i : i + len(p)] == p for p in _DEPOT_PHRASES for i in range(len(tokens) - len(p) + 1)
    )


def dose_in_text(text: str) -> float | None:
    """The dose an order string states: 'N mg' (not 'N mg/mL', a concentration), or a volume
    times a concentration ('0.8 ML risperidone 150 MG/ML')."""
    lowered = text.lower()
    m = _MG.search(lowered)
    if m:
        return float(m.group(1))
    vc = _VOLUME_CONC.search(lowered)
    return round(float(vc.group(1)) * float(vc.group(2)), 3) if vc else None


@dataclass(slots=True)
class Catalogue:
    ingredients: dict[str, Ingredient] = field(default_factory=dict)
    phrases: dict[tuple[str, ...], Target] = field(default_factory=dict)
    codes: dict[tuple[str, str], Target] = field(default_factory=dict)
    products: dict[str, LaiProduct] = field(default_factory=dict)
    by_ingredient: dict[str, tuple[str, ...]] = field(default_factory=dict)  # LAI product ids
    longest_phrase: int = 1
    sources: tuple[str, ...] = ()

    def scan(self, tokens: tuple[str, ...]) -> list[Target]:
        """The phrases of ``tokens``, longest first at each position, left to right."""
        out: list[Target] = []
        i = 0
        while i < len(tokens):
            for n in range(min(self.longest_phrase, len(tokens) - i), 0, -1):
                hit = self.phrases.get(tokens[i : i + n])
                if hit is not None:
                    out.append(hit)
                    i += n
                    break
            else:
                i += 1
        return out


def _as_list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise CatalogueError(f"{where}: expected a list, got {type(value).__name__}")
    return value


def _brand_names(entry: Mapping[str, Any], where: str) -> list[str]:
    out = []
    for b in _as_list(entry.get("brands"), f"{where}.brands"):
        name = b.get("name") if isinstance(b, dict) else b
        if not isinstance(name, str) or not name.strip():
            raise CatalogueError(f"{where}.brands: every brand needs a name")
        out.append(name)
    return out


def _codes(entry: Mapping[str, Any], where: str) -> list[tuple[str, str]]:
    out = []
    for system in CODE_SYSTEMS:
        key = "rxcui" if system == "rxnorm" else system
        for code in _as_list(entry.get(key), f"{where}.{key}"):
            if not isinstance(code, str) or not code.strip():
                raise CatalogueError(f"{where}.{key}: codes are non-empty strings")
            out.append((system, code.strip().upper()))
    return out


class _Builder:
    """Accumulates entries from one or more files into a :class:`Catalogue`."""

    def __init__(self, cat: Catalogue) -> None:
        self.cat = cat

    def phrase(self, text: str, target: Target, where: str, replace: bool = False) -> None:
        key = words(text)
        if not key:
            raise CatalogueError(f"{where}: name {text!r} has no letters or digits")
        old = self.cat.phrases.get(key)
        if old is not None and not replace and old != target:
            # A product's name is that product, whatever else lists it ("Haldol Decanoate" is
            # also among haloperidol's brands); otherwise names merge (a combination).
            if target.products and not old.products:
                target = Target(target.ingredients, target.products, old.injected)
            elif old.products and not target.products:
                target = Target(old.ingredients, old.products, old.injected + target.injected)
            else:
                target = old.merged(target)
        self.cat.phrases[key] = target
        self.cat.longest_phrase = max(self.cat.longest_phrase, len(key))

    def code(self, system: str, code: str, target: Target) -> None:
        old = self.cat.codes.get((system, code))
        if old is not None and old != target:
            target = old.merged(target)
        self.cat.codes[(system, code)] = target

    def drug(self, e: Mapping[str, Any], where: str) -> None:
        name = e.get("ingredient")
        if not isinstance(name, str) or not name:
            raise CatalogueError(f"{where}: needs an ingredient name")
        try:
            cls = DrugClass(e.get("class", "other"))
            secondary = frozenset(DrugClass(c) for c in _as_list(e.get("secondary_classes"), where))
        except ValueError as exc:
            raise CatalogueError(f"{where} ({name}): {exc}") from None
        old = self.cat.ingredients.get(name)
        if old is not None and "class" not in e:  # a site file adding names to a known drug
            cls, secondary = old.drug_class, old.secondary | secondary
        self.cat.ingredients[name] = Ingredient(
            name,
            cls,
            secondary,
            bool(e.get("high_potency", old.high_potency if old else False)),
            bool(e.get("injections_long_acting", old.injections_long_acting if old else False)),
        )
        target = Target((name,))
        for text in [name, *_as_list(e.get("names"), f"{where}.names"), *_brand_names(e, where)]:
            self.phrase(text, target, f"{where} ({name})")
        for system, code in _codes(e, where):
            self.code(system, code, target)

    def combination(self, e: Mapping[str, Any], where: str) -> None:
        name = e.get("name")
        parts = _as_list(e.get("ingredients"), f"{where}.ingredients")
        if not isinstance(name, str) or not parts:
            raise CatalogueError(f"{where}: a combination needs a name and its ingredients")
        known = tuple(p for p in parts if p in self.cat.ingredients)
        target = Target(known)
        for text in [name, *_as_list(e.get("aliases"), f"{where}.aliases")]:
            self.phrase(text, target, f"{where} ({name})")
        for system, code in _codes(e, where):
            self.code(system, code, target)

    def long_acting(self, e: Mapping[str, Any], where: str) -> None:
        pid, ingredient = e.get("id"), e.get("ingredient")
        if not isinstance(pid, str) or ingredient not in self.cat.ingredients:
            raise CatalogueError(f"{where}: needs an id and a catalogued ingredient")
        horizon = e.get("horizon_days")
        if not isinstance(horizon, int | float) or horizon <= 0:
            raise CatalogueError(f"{where} ({pid}): horizon_days must be a positive number")
        brands = _brand_names(e, where)
        strengths = [
            float(s)
            for key in ("strengths_mg", "strengths_mg_eq")
            for s in _as_list(e.get(key), f"{where}.{key}")
        ]
        label = f"{brands[0]} ({e.get('form', ingredient)})" if brands else str(e.get("form", pid))
        self.cat.products[pid] = LaiProduct(
            pid, ingredient, label, frozenset(strengths), float(horizon), str(e.get("horizon_rule"))
        )
        self.cat.by_ingredient[ingredient] = (*self.cat.by_ingredient.get(ingredient, ()), pid)
        target = Target((ingredient,), (pid,))
        for text in [*_as_list(e.get("names"), f"{where}.names"), *brands]:
            self.phrase(text, target, f"{where} ({pid})")
        for text in _as_list(e.get("injection_brands"), f"{where}.injection_brands"):
            self.phrase(text, Target((ingredient,), (), (pid,)), f"{where} ({pid})")
        form = e.get("form")
        if isinstance(form, str) and re.fullmatch(r"[a-z]+ [a-z]+", form):
            # The ester form names every product made of it ("paliperidone palmitate").
            self.phrase(form, Target((ingredient,), (pid,)), f"{where} ({pid}).form")

    def other(self, names: Iterable[Any], where: str) -> None:
        for text in names:
            if not isinstance(text, str):
                raise CatalogueError(f"{where}: names are strings")
            if words(text) not in self.cat.phrases:
                self.cat.ingredients.setdefault(
                    text.lower(), Ingredient(text.lower(), DrugClass.OTHER)
                )
                self.phrase(text, Target((text.lower(),)), where)

    def horizons(self, table: Mapping[str, Any], where: str) -> None:
        for pid, days in table.items():
            found = self.cat.products.get(pid)
            if found is None:
                raise CatalogueError(f"{where}: no long-acting product {pid!r}")
            if not isinstance(days, int | float) or days <= 0:
                raise CatalogueError(f"{where}.{pid}: a horizon is a positive number of days")
            self.cat.products[pid] = LaiProduct(
                found.id, found.ingredient, found.label, found.strengths, float(days),
                f"site override ({days:g} days)",
            )  # fmt: skip

    def load(self, doc: Mapping[str, Any], name: str) -> None:
        known = {"sources", "drug", "combination", "long_acting", "other", "horizons"}
        unknown = set(doc) - known
        if unknown:
            raise CatalogueError(f"{name}: unknown section(s) {sorted(unknown)}")
        for i, e in enumerate(_as_list(doc.get("drug"), f"{name}: drug")):
            self.drug(e, f"{name}: drug[{i}]")
        # Known drugs of no class before combinations, which may contain them.
        other = doc.get("other", {})
        self.other(_as_list(other.get("names"), f"{name}: other.names"), f"{name}: other")
        for i, e in enumerate(_as_list(doc.get("combination"), f"{name}: combination")):
            self.combination(e, f"{name}: combination[{i}]")
        for i, e in enumerate(_as_list(doc.get("long_acting"), f"{name}: long_acting")):
            self.long_acting(e, f"{name}: long_acting[{i}]")
        self.horizons(doc.get("horizons", {}), f"{name}: horizons")
        self.cat.sources = (*self.cat.sources, name)


def parse_catalogue(documents: Iterable[tuple[str, Mapping[str, Any]]]) -> Catalogue:
    """A catalogue from decoded TOML documents, applied in order (bundled, then site files)."""
    cat = Catalogue()
    builder = _Builder(cat)
    for name, doc in documents:
        builder.load(doc, name)
    return cat


def read_toml(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except OSError as exc:
        raise CatalogueError(f"{path}: cannot read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise CatalogueError(f"{path}: not valid TOML: {exc}") from None


def bundled_document() -> dict[str, Any]:
    data = resources.files("monitor.knowledge").joinpath("data/drugs.toml").read_bytes()
    return tomllib.loads(data.decode("utf-8"))
