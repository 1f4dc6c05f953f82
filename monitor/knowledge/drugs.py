"""Which administrations count as exposure, withdrawal or a differential clue.

The catalogue itself is data (``monitor/knowledge/data/drugs.toml``, loaded by
:mod:`monitor.knowledge.catalogue`, every entry with its public sources); this module matches a
medication record against it: by its text (generic names with salts and esters, brand names of the
US, UK, EU, Canada and Australia, combination products, order strings with strength, form and
route) and by its codes (WHO ATC, RxNorm ingredient RXCUI, SNOMED CT substance). A long-acting
injectable is identified by product where the record allows (brand, long official name, ester
form and labelled strength), because products differ in how long one injection lasts.

Classes follow the NMS literature: dopamine antagonists (antipsychotics, antiemetics, depleters)
give exposure (Gurrera 2011, criterion 1); stopping a dopaminergic drug causes the same syndrome
(parkinsonism-hyperpyrexia); serotonergic drugs (Hunter criteria, Dunkley 2003), anaesthetic
triggers of malignant hyperthermia and antibiotics (suspected infection) feed the differential.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from functools import cache

from monitor.knowledge.catalogue import (
    Catalogue,
    DrugClass,
    bundled_document,
    depot_wording,
    dose_in_text,
    parse_catalogue,
    read_toml,
    words,
)

__all__ = [
    "ANTAGONIST_CLASSES",
    "ANTIPSYCHOTIC_CLASSES",
    "DrugClass",
    "DrugMatch",
    "Matcher",
    "bundled",
    "match_drug",
]

ANTAGONIST_CLASSES = frozenset(
    {
        DrugClass.FIRST_GENERATION,
        DrugClass.SECOND_GENERATION,
        DrugClass.NON_PSYCHIATRIC_ANTAGONIST,
        DrugClass.DOPAMINE_DEPLETER,
    }
)
ANTIPSYCHOTIC_CLASSES = frozenset({DrugClass.FIRST_GENERATION, DrugClass.SECOND_GENERATION})
_INJECTION_WORDS = frozenset(
    {"inj", "injection", "injectable", "ampoule", "ampoules", "amp", "im", "vial", "syringe"}
)


@dataclass(frozen=True, slots=True)
class DrugMatch:
    """One catalogue ingredient found in a medication record."""

    name: str
    drug_class: DrugClass
    long_acting: bool = False
    # The long-acting product: an id of the catalogue, or "?id1|id2" when the record fits several
    # (the longest of their horizons counts).
    product: str | None = None

    @property
    def is_antagonist(self) -> bool:
        return self.drug_class in ANTAGONIST_CLASSES


Codes = tuple[tuple[str, str], ...]


class Matcher:
    """A catalogue with its matching rules and a bounded cache of answers."""

    def __init__(self, catalogue: Catalogue, cache_size: int = 4096) -> None:
        self.catalogue = catalogue
        self._cache: OrderedDict[tuple[str, Codes, float | None], tuple[DrugMatch, ...]] = (
            OrderedDict()
        )
        self._cache_size = cache_size

    def match(
        self, text: str | None, codes: Codes = (), dose_mg: float | None = None
    ) -> tuple[DrugMatch, ...]:
        """Every catalogue ingredient named by ``text`` or ``codes`` (OTHER included: known, of
        no class the engine uses); empty when nothing is recognised."""
        key = (text or "", codes, dose_mg)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        found = self._match(text or "", codes, dose_mg)
        self._cache[key] = found
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return found

    def _match(self, text: str, codes: Codes, dose_mg: float | None) -> tuple[DrugMatch, ...]:
        cat = self.catalogue
        tokens = words(text)
        targets = cat.scan(tokens)
        targets += [t for system, code in codes if (t := cat.codes.get((system, code.upper())))]
        depot = depot_wording(tokens)
        injected = not _INJECTION_WORDS.isdisjoint(tokens)
        dose = dose_mg if dose_mg is not None else dose_in_text(text)
        found: dict[str, DrugMatch] = {}
        for target in targets:
            for name in target.ingredients:
                ingredient = cat.ingredients[name]
                candidates = [p for p in target.products if cat.products[p].ingredient == name]
                products = cat.by_ingredient.get(name, ())
                if not candidates and injected:
                    candidates = [p for p in target.injected if cat.products[p].ingredient == name]
                if (
                    not candidates
                    and products
                    and (
                        depot  # "risperidone long-acting injection"
                        or (injected and ingredient.injections_long_acting)
                        or (
                            injected and self._strength_of(products, dose)
                        )  # "olanzapine 405 MG Inj"
                    )
                ):
                    candidates = list(products)
                product = self._choose(candidates, dose) if candidates else None
                old = found.get(name)
                if old is None or (product is not None and old.product is None):
                    found[name] = DrugMatch(
                        name, ingredient.drug_class, product is not None, product
                    )
        return tuple(found.values())

    def _strength_of(self, products: tuple[str, ...], dose: float | None) -> bool:
        """Whether ``dose`` is a labelled strength of one of ``products`` (an injection of a
        drug that also has short-acting injections is long-acting only at a depot strength)."""
        return dose is not None and any(
            dose in self.catalogue.products[p].strengths for p in products
        )

    def _choose(self, candidates: list[str], dose: float | None) -> str:
        """The product among ``candidates`` that the dose identifies; several: all of them."""
        if len(candidates) > 1 and dose is not None:
            fitting = [p for p in candidates if dose in self.catalogue.products[p].strengths]
            candidates = fitting or candidates
        if len(candidates) == 1:
            return candidates[0]
        return "?" + "|".join(sorted(candidates))

    def _ids(self, product: str) -> list[str]:
        if product.startswith("?"):
            return product[1:].split("|")
        if product.startswith("*"):  # any product of the ingredient (older states)
            return list(self.catalogue.by_ingredient.get(product[1:], ()))
        return [product]

    def horizon_days(self, product: str, fallback: float) -> float:
        """One injection's exposure horizon; for several candidates the longest of them, and
        ``fallback`` for a product the catalogue does not know."""
        known = [
            self.catalogue.products[p].horizon_days
            for p in self._ids(product)
            if p in self.catalogue.products
        ]
        return max(known, default=fallback)

    def product_label(self, product: str) -> str:
        labels = [
            self.catalogue.products[p].label
            for p in self._ids(product)
            if p in self.catalogue.products
        ]
        if len(labels) == 1:
            return labels[0]
        if not labels:
            return "long-acting injection of no catalogued product"
        return "product not identified (one of " + "; ".join(labels) + "): the longest horizon"

    def has_class(self, name: str, drug_class: DrugClass) -> bool:
        ingredient = self.catalogue.ingredients.get(name)
        if ingredient is None:
            return False
        return ingredient.drug_class == drug_class or drug_class in ingredient.secondary

    def high_potency(self, name: str) -> bool:
        ingredient = self.catalogue.ingredients.get(name)
        return ingredient is not None and ingredient.high_potency


@cache
def bundled() -> Matcher:
    """The bundled catalogue (read once from the package data)."""
    return Matcher(parse_catalogue([("drugs.toml", bundled_document())]))


@cache
def with_site(path: str | None, horizons: tuple[tuple[str, float], ...]) -> Matcher:
    """The bundled catalogue extended by a site file and horizon overrides (validated here:
    :class:`monitor.knowledge.catalogue.CatalogueError` names what is wrong)."""
    if path is None and not horizons:
        return bundled()
    docs = [("drugs.toml", bundled_document())]
    if path is not None:
        docs.append((path, read_toml(path)))
    if horizons:
        docs.append(("NMS_CLINICAL__LAI_HORIZON_DAYS", {"horizons": dict(horizons)}))
    return Matcher(parse_catalogue(docs))


def match_drug(text: str, codes: Codes = (), dose_mg: float | None = None) -> tuple[DrugMatch, ...]:
    """Match against the bundled catalogue (tools and tests; the engine uses its settings').

    >>> [m.name for m in match_drug("Levodopa/Carbidopa 100/25 mg") if m.drug_class != "other"]
    ['levodopa']
    >>> match_drug("Haloperidol decanoate")[0].long_acting
    True
    """
    return bundled().match(text, codes, dose_mg)
