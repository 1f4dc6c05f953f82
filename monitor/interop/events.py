"""What every adapter shares: the result of a conversion, and building contract events from an
observation or an administration whose codes the tables resolved.

Pure functions, no I/O. A *problem* refuses the whole message or resource (the sender is told
why and keeps it); a *skip* is expected (an unknown code, a cancelled result) and only counted.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from monitor.contracts.decode import rejection_from_validation
from monitor.contracts.events import EVENT_ADAPTER, Event, MedicationCode
from monitor.interop.codes import CodeTables, Target
from monitor.knowledge.units import CANONICAL_UNIT

MAX_EVENT_ID = 128
MED_SYSTEMS = ("atc", "rxnorm", "snomed")


@dataclass(frozen=True, slots=True)
class Problem:
    """Why an input cannot be accepted: where (an HL7 location such as ``OBX[2]-5`` or a FHIR
    path), a stable reason and a readable message."""

    where: str
    reason: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass
class Conversion:
    """Events to publish, what was skipped (reason -> count), problems and notes for the sender."""

    events: list[Event] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def problem(self, where: str, reason: str, message: str) -> None:
        self.problems.append(Problem(where, reason, message))


def event_id(*parts: str) -> str:
    """Join ``parts`` with ':'; an id longer than the contract allows keeps its head and a hash."""
    ident = ":".join(parts)
    if len(ident) <= MAX_EVENT_ID:
        return ident
    digest = hashlib.sha256(ident.encode()).hexdigest()[:24]
    return f"{ident[: MAX_EVENT_ID - 25]}~{digest}"


def build_event(raw: dict[str, Any], where: str, out: Conversion) -> Event | None:
    """Validate ``raw`` against the contract; a refusal becomes a problem at ``where``."""
    try:
        return EVENT_ADAPTER.validate_python(raw)
    except ValidationError as exc:
        rej = rejection_from_validation(exc)
        out.problem(where, rej.reason, rej.detail)
        return None


def parse_number(text: str) -> float | None:
    """A decimal number as HL7 NM and FHIR decimal write it ('+1.5', '-0.2', '98.6')."""
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def observation_event(
    tables: CodeTables,
    target: Target,
    *,
    ident: str,
    patient_id: str,
    time: dt.datetime,
    value: float | None,
    units: Iterable[str | None],
    reference_high: float | None,
    source: str | None,
    where: str,
    out: Conversion,
    version: ResultVersion | None = None,
) -> Event | None:
    """One vital or lab event in contract units; an unknown unit is a problem (never guessed).

    A lab result with a ``version`` carries its identity, status and issue time (contract
    version 3), so that a correction replaces it; ``value`` is None only in a withdrawal, whose
    unit is never used and is given as the code's own."""
    spellings = [u for u in units if u]
    if value is None and version is not None:  # a withdrawal: its unit is never used
        spellings = [CANONICAL_UNIT[target.code]]
    rule = tables.unit(target.code, spellings)
    if rule is None:
        shown = " / ".join(repr(s) for s in spellings) or "no unit"
        known = ", ".join(tables.known_units(target.code))
        out.problem(
            where, "unknown_unit", f"{shown} is not a known unit of {target.code} (known: {known})"
        )
        return None
    raw: dict[str, Any] = {
        "event_id": ident,
        "patient_id": patient_id,
        "kind": target.kind,
        "time": time,
        "code": target.code,
        "unit": rule.to,
        "source": source,
    }
    if value is not None:
        raw["value"] = value * rule.factor
    if target.site is not None:
        raw["site"] = target.site
    if target.kind == "lab" and reference_high is not None and reference_high > 0:
        raw["reference_high"] = reference_high * rule.factor
    if target.kind == "lab" and version is not None:
        raw.update(result_id=version.result_id, status=version.status, issued=version.issued)
    return build_event(raw, where, out)


@dataclass(frozen=True, slots=True)
class ResultVersion:
    """Which result a lab observation is a version of (HL7 v2 filler order and test; FHIR
    Observation identity), its status in the contract's terms, and when it was issued."""

    result_id: str
    status: str  # "final", "corrected" or "entered-in-error"
    issued: dt.datetime | None


def medication_codes(
    tables: CodeTables, codings: Iterable[tuple[str | None, str | None]]
) -> list[dict[str, str]]:
    """The contract's ``codes`` from (system spelling, code) pairs: ATC, RxNorm and SNOMED CT
    only, each once; codes of other systems (NDC, CVX, local) name nothing in the catalogue."""
    codes: list[dict[str, str]] = []
    for system, code in codings:
        canonical = tables.system(system)
        if canonical in MED_SYSTEMS and code and code.strip():
            entry = {"system": canonical, "code": code.strip()}
            if entry not in codes:
                codes.append(entry)
    return codes[:16]


def valid_codes(codes: list[dict[str, str]], out: Conversion) -> list[dict[str, str]]:
    """Drop codes whose shape the contract refuses (an ATC code not like N05AD01, a SNOMED or
    RxNorm code with letters), counting them, so one bad code does not lose the dose."""
    kept = []
    for c in codes:
        try:
            MedicationCode.model_validate(c)
        except ValidationError:
            out.skipped["malformed_drug_code"] += 1
            continue
        kept.append(c)
    return kept
