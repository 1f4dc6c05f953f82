"""The code tables of the adapters: coding systems, observation codes, units and routes as data.

The bundled tables are ``monitor/interop/data/codes.toml`` (every entry names its public sources).
A site extends or overrides them with a file of the same shape (``NMS_INTEROP_CODES_FILE``),
validated when a listener or an import starts: :class:`CodesError` names the file and the entry.

A code is looked up together with its coding system, never alone: the same digits mean other
things in other systems (LOINC 2157-6 is creatine kinase; 2157-6 is also a CDC race code).
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any, Literal, get_args

from monitor.contracts.events import Route, TemperatureSite
from monitor.errors import CatalogueError
from monitor.knowledge.catalogue import read_toml
from monitor.knowledge.units import LAB_UNITS, VITAL_UNITS

Kind = Literal["vital", "lab"]
_TARGETS: dict[str, Kind] = {
    **dict.fromkeys(VITAL_UNITS, "vital"),
    **dict.fromkeys(LAB_UNITS, "lab"),
}
_UNITS: dict[str, frozenset[str]] = {**VITAL_UNITS, **LAB_UNITS}
_SITES = frozenset(get_args(TemperatureSite))
_ROUTES = frozenset(get_args(Route))


class CodesError(ValueError):
    """A code table that cannot be used; the message names the file and the entry."""


@dataclass(frozen=True, slots=True)
class Target:
    """What an observation code means in the contract."""

    kind: Kind
    code: str  # the contract's code: temperature, heart_rate, ..., ck, wbc, ...
    site: str | None = None  # temperature only
    name: str = ""


@dataclass(frozen=True, slots=True)
class UnitRule:
    """A unit spelling turned into a contract unit: value x ``factor`` in ``to``."""

    to: str
    factor: float = 1.0


@dataclass(frozen=True)
class CodeTables:
    systems: dict[str, str] = field(default_factory=dict)  # lower-case spelling -> system
    observations: dict[tuple[str, str], Target] = field(default_factory=dict)
    units: dict[tuple[str, str], UnitRule] = field(default_factory=dict)  # (target, spelling)
    routes: dict[str, str] = field(default_factory=dict)  # lower-case spelling -> route

    def system(self, spelling: str | None) -> str | None:
        """The canonical name (loinc, mdc, ucum, atc, rxnorm, snomed, ...) of a system spelling."""
        if not spelling:
            return None
        return self.systems.get(spelling.strip().lower())

    def observation(self, system: str | None, code: str) -> Target | None:
        """The contract meaning of ``code`` in the system spelled ``system``; None if unknown."""
        canonical = self.system(system)
        if canonical is None or not code:
            return None
        return self.observations.get((canonical, code.strip()))

    def unit(self, target: str, spellings: Iterable[str | None]) -> UnitRule | None:
        """The first of ``spellings`` known for the contract code ``target``."""
        for s in spellings:
            if s and (rule := self.units.get((target, s.strip()))) is not None:
                return rule
        return None

    def known_units(self, target: str) -> list[str]:
        return sorted(s for t, s in self.units if t == target)

    def route(self, spellings: Iterable[str | None]) -> str | None:
        for s in spellings:
            if s and (r := self.routes.get(s.strip().lower())) is not None:
                return r
        return None


def _entries(doc: Mapping[str, Any], key: str, name: str) -> list[dict[str, Any]]:
    value = doc.get(key, [])
    if not isinstance(value, list) or not all(isinstance(e, dict) for e in value):
        raise CodesError(f"{name}: [[{key}]] must be a list of tables")
    return value


def _text(entry: Mapping[str, Any], key: str, where: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value.strip():
        raise CodesError(f"{where}: {key} must be a non-empty string")
    return value.strip()


def _strings(entry: Mapping[str, Any], key: str, where: str) -> list[str]:
    value = entry.get(key)
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise CodesError(f"{where}: {key} must be a non-empty list of strings")
    return [v.strip() for v in value]


def parse_tables(docs: Iterable[tuple[str, Mapping[str, Any]]]) -> CodeTables:
    """Merge the documents in order (later ones extend and override earlier ones)."""
    tables = CodeTables()
    for name, doc in docs:
        systems = doc.get("systems", {})
        if not isinstance(systems, dict):
            raise CodesError(f"{name}: [systems] must be a table")
        for system, spellings in systems.items():
            for s in _strings({"s": spellings}, "s", f"{name}: systems.{system}"):
                tables.systems[s.lower()] = system
            tables.systems[system.lower()] = system
        for i, e in enumerate(_entries(doc, "observation", name), start=1):
            where = f"{name}: observation {i} ({e.get('system')} {e.get('code')})"
            system, code = _text(e, "system", where), _text(e, "code", where)
            if system not in set(tables.systems.values()):
                raise CodesError(f"{where}: system {system!r} is not in [systems]")
            target = _text(e, "target", where)
            if target not in _TARGETS:
                raise CodesError(f"{where}: target {target!r} is not one of {sorted(_TARGETS)}")
            kind = _text(e, "kind", where)
            if kind != _TARGETS[target]:
                raise CodesError(f"{where}: {target} is a {_TARGETS[target]}, not a {kind}")
            site = e.get("site")
            if site is not None and (target != "temperature" or site not in _SITES):
                raise CodesError(f"{where}: site {site!r} needs temperature and one of {_SITES}")
            label = str(e.get("name", ""))
            tables.observations[(system, code)] = Target(_TARGETS[target], target, site, label)
            if system == "mdc" and label.startswith("MDC_"):
                tables.observations[(system, label)] = Target(_TARGETS[target], target, site, label)
        for i, e in enumerate(_entries(doc, "unit", name), start=1):
            where = f"{name}: unit {i} ({e.get('to')})"
            to = _text(e, "to", where)
            targets = _strings(e, "for", where)
            factor = e.get("factor", 1.0)
            if not isinstance(factor, int | float) or isinstance(factor, bool) or factor <= 0:
                raise CodesError(f"{where}: factor must be a positive number")
            for t in targets:
                if to not in _UNITS.get(t, ()):
                    raise CodesError(f"{where}: {to!r} is not a contract unit of {t!r}")
                for s in _strings(e, "spellings", where):
                    tables.units[(t, s)] = UnitRule(to, float(factor))
        for i, e in enumerate(_entries(doc, "route", name), start=1):
            where = f"{name}: route {i} ({e.get('route')})"
            route = _text(e, "route", where)
            if route not in _ROUTES:
                raise CodesError(f"{where}: route {route!r} is not one of {sorted(_ROUTES)}")
            for s in _strings(e, "spellings", where):
                tables.routes[s.lower()] = route
    return tables


def _read(path: str) -> dict[str, Any]:
    """The drug catalogue's reader (its messages name the file and what is wrong)."""
    try:
        return read_toml(path)
    except CatalogueError as exc:
        raise CodesError(str(exc)) from None


def _bundled() -> dict[str, Any]:
    data = resources.files("monitor.interop").joinpath("data/codes.toml").read_bytes()
    return tomllib.loads(data.decode("utf-8"))


@cache
def load_tables(site_file: str | None = None) -> CodeTables:
    """The bundled tables, extended by a site file (validated: :class:`CodesError`)."""
    docs: list[tuple[str, Mapping[str, Any]]] = [("codes.toml", _bundled())]
    if site_file:
        docs.append((site_file, _read(site_file)))
    return parse_tables(docs)
