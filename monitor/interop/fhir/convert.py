"""FHIR R4 Observation and MedicationAdministration to contract events: pure functions, no I/O.

- Observation.status: final, amended and corrected are published (an amended or corrected
  result gets an event id of its own: a new value, not a repeat); preliminary is held back,
  registered has no result, entered-in-error and cancelled are dropped. A lab Observation with
  an identifier or id is published with that identity and its ``issued`` time (contract version
  3): amended and corrected replace the value of the result, entered-in-error withdraws it.
- Observation.code and each component's code: the first coding the tables know (system and
  code together); unknown codes are skipped and counted. valueQuantity in the tables' units;
  referenceRange[0].high becomes a lab's ``reference_high``.
- Time: effectiveDateTime, effectiveInstant or effectivePeriod.start, else the effective time of
  a DiagnosticReport of the same Bundle listing the observation in ``result``, else ``issued``;
  to the minute, with its UTC offset (FHIR requires one with a time).
- MedicationAdministration: completed, in-progress and stopped are administrations; not-done is
  skipped; entered-in-error dropped. medicationCodeableConcept (or a contained or bundled
  Medication's code): ATC, RxNorm and SNOMED CT codings become ``codes``, its text or first
  display the ``drug``; dosage.dose and dosage.route as in the contract.
- The patient: subject.identifier (of the configured system), or the identifier of the Patient
  it references (contained, or in the Bundle), or else the id of a ``Patient/<id>`` reference.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from monitor.interop.codes import CodeTables, Target
from monitor.interop.events import (
    Conversion,
    ResultVersion,
    build_event,
    event_id,
    medication_codes,
    observation_event,
    valid_codes,
)
from monitor.knowledge.units import lab_to_canonical

OBS_PUBLISH = frozenset({"final", "amended", "corrected"})
OBS_SKIP = {
    "preliminary": "preliminary",
    "registered": "no_result",
    "entered-in-error": "cancelled",
    "cancelled": "cancelled",
    "unknown": "no_result",
}
# Observation.status of an identified lab result in the contract's terms (version 3).
OBS_VERSION = {
    "final": "final",
    "amended": "corrected",
    "corrected": "corrected",
    "entered-in-error": "entered-in-error",
    "cancelled": "corrected",  # published without a value: the result has none now
}
MED_GIVEN = frozenset({"completed", "in-progress", "stopped"})
MED_SKIP = {
    "not-done": "not_administered",
    "entered-in-error": "cancelled",
    "on-hold": "no_result",
    "unknown": "no_result",
}
_MINUTE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
Json = Mapping[str, Any]


@dataclass
class Resolver:
    """What references can reach inside one request: a Bundle's entries by fullUrl and by
    ``Type/id``, and the observations a DiagnosticReport dates."""

    by_ref: dict[str, Json] = field(default_factory=dict)
    report_time: dict[str, str] = field(default_factory=dict)

    @classmethod
    def for_entries(cls, entries: list[dict[str, Any]]) -> Resolver:
        res = cls()
        for e in entries:
            r = e.get("resource")
            if not isinstance(r, dict):
                continue
            if isinstance(e.get("fullUrl"), str):
                res.by_ref[e["fullUrl"]] = r
            if "id" in r:
                res.by_ref[f"{r['resourceType']}/{r['id']}"] = r
        for r in list(res.by_ref.values()):
            if r.get("resourceType") == "DiagnosticReport":
                when = _effective(r)
                for ref in r.get("result", []):
                    if when and isinstance(ref.get("reference"), str):
                        res.report_time[ref["reference"]] = when
        return res

    def find(self, ref: str, container: Json) -> Json | None:
        if ref.startswith("#"):
            return next((c for c in container.get("contained", []) if c.get("id") == ref[1:]), None)
        if ref in self.by_ref:
            return self.by_ref[ref]
        tail = "/".join(ref.rstrip("/").split("/")[-2:])  # an absolute URL: Type/id at its end
        return self.by_ref.get(tail)


@dataclass(frozen=True, slots=True)
class FhirContext:
    tables: CodeTables
    patient_system: str | None = None


def _effective(r: Json) -> str | None:
    for key in ("effectiveDateTime", "effectiveInstant"):
        if isinstance(r.get(key), str):
            return str(r[key])
    period = r.get("effectivePeriod")
    if isinstance(period, dict) and isinstance(period.get("start"), str):
        return str(period["start"])
    return None


def parse_time(text: str, where: str, out: Conversion) -> dt.datetime | None:
    if not _MINUTE.match(text):
        out.problem(where, "invalid_field", f"{text} is not a time to the minute")
        return None
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        out.problem(where, "invalid_field", f"{text} is not a date and time")
        return None
    if when.tzinfo is None:
        out.problem(where, "naive_timestamp", f"{text} has no UTC offset")
        return None
    return when


def _identity(r: Json, rtype: str, full_url: str | None) -> str:
    """A stable name of the resource: its first identifier, id, fullUrl, else a content hash."""
    for ident in r.get("identifier", []):
        if ident.get("value"):
            return f"{ident.get('system', '')}|{ident['value']}"
    if r.get("id"):
        return f"{rtype}/{r['id']}"
    if full_url:
        return full_url
    blob = orjson.dumps(r, option=orjson.OPT_SORT_KEYS)
    return "sha256:" + hashlib.sha256(blob).hexdigest()[:32]


def patient_id(
    r: Json, ctx: FhirContext, resolver: Resolver, out: Conversion, where: str
) -> str | None:
    subject = r.get("subject") or {}
    system = ctx.patient_system

    def from_identifiers(idents: list[Json]) -> str | None:
        for i in idents:
            if i.get("value") and (system is None or i.get("system") == system):
                return str(i["value"])
        return None

    if isinstance(subject.get("identifier"), dict):
        found = from_identifiers([subject["identifier"]])
        if found:
            return found
    ref = subject.get("reference")
    if isinstance(ref, str):
        patient = resolver.find(ref, r)
        if patient is not None and patient.get("resourceType") == "Patient":
            found = from_identifiers(patient.get("identifier", []))
            if found or system is not None:
                if not found:
                    out.problem(where, "missing_field", f"Patient {ref} has no {system} identifier")
                return found
        if system is None and re.fullmatch(r"(?:.*/)?Patient/[A-Za-z0-9\-.]{1,64}", ref):
            return ref.rsplit("/", 1)[1]
    wanted = f"an identifier of system {system}" if system else "a Patient reference or identifier"
    out.problem(where, "missing_field", f"subject has no {wanted}")
    return None


def _codings(concept: Json | None) -> Iterator[tuple[str | None, str | None]]:
    for c in (concept or {}).get("coding", []):
        yield c.get("system"), c.get("code")


def _target(tables: CodeTables, concept: Json | None) -> Target | None:
    return next((t for s, c in _codings(concept) if c and (t := tables.observation(s, c))), None)


def _parts(r: Json) -> list[tuple[Json, str, str]]:
    """The observation and its components: (element, FHIRPath, event id suffix)."""
    parts: list[tuple[Json, str, str]] = [(r, "Observation", "")]
    for i, comp in enumerate(r.get("component", [])):
        code = next((c for _, c in _codings(comp.get("code")) if c), str(i))
        parts.append((comp, f"Observation.component[{i}]", f"#{code}"))
    return parts


def _stable_identity(r: Json) -> str | None:
    """The Observation's identity in every version of it (its first identifier, else its id);
    None when it has neither (a fullUrl or content hash names one version only)."""
    identity = _identity(r, "Observation", None)
    return None if identity.startswith("sha256:") else identity


def _issued(r: Json) -> dt.datetime | None:
    """When this version was issued: ``issued``, else ``meta.lastUpdated`` (with an offset)."""
    meta = r.get("meta")
    for text in (r.get("issued"), meta.get("lastUpdated") if isinstance(meta, dict) else None):
        if isinstance(text, str):
            with contextlib.suppress(ValueError):
                when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
                if when.tzinfo is not None:
                    return when
    return None


def _has_value(element: Json) -> bool:
    return any(key.startswith("value") for key in element)


def convert_observation(
    r: Json, ctx: FhirContext, resolver: Resolver, full_url: str | None = None
) -> Conversion:
    out = Conversion()
    known: list[tuple[Json, str, str, Target]] = []
    for element, where, suffix in _parts(r):
        target = _target(ctx.tables, element.get("code"))
        if target is not None:
            known.append((element, where, suffix, target))
        elif _has_value(element):
            out.skipped["unknown_code"] += 1
    status = r.get("status")
    if not known:
        return out
    stable = _stable_identity(r)
    # entered-in-error and cancelled of a named result withdraw it (its value is not used)
    withdrawn = status in ("entered-in-error", "cancelled") and stable is not None
    if status not in OBS_PUBLISH and not withdrawn:
        if status in OBS_SKIP:
            out.skipped[OBS_SKIP[status]] += len(known)
        else:
            out.problem("Observation.status", "invalid_field", f"unknown status {status!r}")
        return out
    valued: list[tuple[Json, str, str, Target, bool]] = []
    for element, where, suffix, target in known:
        quantity = element.get("valueQuantity")
        number = isinstance(quantity, dict) and quantity.get("value") is not None
        # A correction without a number (dataAbsentReason, a text) withdraws the old one.
        takes_back = withdrawn or (not number and status != "final" and stable is not None)
        if takes_back and target.kind == "lab":
            valued.append((element, where, suffix, target, True))
        elif withdrawn:  # vital signs are kept as hourly summaries: nothing to withdraw from
            out.skipped["cancelled"] += 1
        elif number:
            valued.append((element, where, suffix, target, False))
        else:
            out.skipped["non_numeric" if _has_value(element) else "no_value"] += 1
    if not valued:
        return out
    patient = patient_id(r, ctx, resolver, out, "Observation.subject")
    own = f"Observation/{r['id']}" if r.get("id") else ""
    text = (
        _effective(r)
        or resolver.report_time.get(own)
        or resolver.report_time.get(full_url or "")
        or r.get("issued")
    )
    if not isinstance(text, str) and withdrawn:
        out.skipped["cancelled"] += len(valued)  # no time to place it: dropped, as before
        return out
    if not isinstance(text, str):
        out.problem("Observation.effective[x]", "missing_field", "no effective time or issued")
        return out
    when = parse_time(text, "Observation.effective[x]", out)
    if patient is None or when is None:
        return out
    identity = stable if stable is not None else _identity(r, "Observation", full_url)
    issued = _issued(r)
    meta = r.get("meta")
    revision = [issued.isoformat() if issued else None, meta.get("versionId") if meta else None]
    for element, where, suffix, target, takes_back in valued:
        quantity = element.get("valueQuantity") or {}
        value = None if takes_back else float(quantity["value"])
        units = [quantity.get("code"), quantity.get("unit")]
        ident = identity + suffix
        if status != "final":  # a new version: an event of its own
            blob = orjson.dumps([status, value, units, text, *revision])
            ident += f"@{hashlib.sha256(blob).hexdigest()[:10]}"
        version = (
            None
            if stable is None
            else ResultVersion(event_id("fhir", stable + suffix), OBS_VERSION[str(status)], issued)
        )
        ev = observation_event(
            ctx.tables,
            target,
            ident=event_id("fhir", ident),
            patient_id=patient,
            time=when,
            value=value,
            units=units,
            reference_high=_reference_high(ctx.tables, target, element, quantity),
            source="FHIR Observation",
            where=f"{where}.valueQuantity",
            out=out,
            version=version,
        )
        if ev is not None:
            out.events.append(ev)
    return out


def _reference_high(tables: CodeTables, target: Target, comp: Json, quantity: Json) -> float | None:
    """referenceRange[0].high of a lab, in the unit of its value (converted through the
    canonical unit when the range is written in another one; a range without a unit is taken to
    share the value's)."""
    ranges = comp.get("referenceRange") or []
    high = ranges[0].get("high") if ranges and isinstance(ranges[0], dict) else None
    if target.kind != "lab" or not isinstance(high, dict) or high.get("value") is None:
        return None
    value_rule = tables.unit(target.code, [quantity.get("code"), quantity.get("unit")])
    if value_rule is None:
        return None  # the value's unit is reported as a problem
    if not (high.get("code") or high.get("unit")):
        return float(high["value"])
    high_rule = tables.unit(target.code, [high.get("code"), high.get("unit")])
    if high_rule is None:
        return None
    canonical = lab_to_canonical(target.code, float(high["value"]) * high_rule.factor, high_rule.to)
    return canonical / lab_to_canonical(target.code, value_rule.factor, value_rule.to)


def convert_administration(
    r: Json, ctx: FhirContext, resolver: Resolver, full_url: str | None = None
) -> Conversion:
    out = Conversion()
    status = r.get("status")
    if status not in MED_GIVEN:
        if status in MED_SKIP:
            out.skipped[MED_SKIP[status]] += 1
        else:
            out.problem(
                "MedicationAdministration.status", "invalid_field", f"unknown status {status!r}"
            )
        return out
    concept = r.get("medicationCodeableConcept")
    if concept is None:
        ref = (r.get("medicationReference") or {}).get("reference")
        med = resolver.find(ref, r) if isinstance(ref, str) else None
        if med is None or med.get("resourceType") != "Medication":
            out.problem(
                "MedicationAdministration.medicationReference",
                "not_found",
                f"{ref} cannot be resolved: send medicationCodeableConcept, or the Medication "
                "contained or in the same Bundle",
            )
            return out
        concept = med.get("code") or _ingredients(med)
    patient = patient_id(r, ctx, resolver, out, "MedicationAdministration.subject")
    text = _effective(r)
    if text is None:
        out.problem("MedicationAdministration.effective[x]", "missing_field", "no effective time")
    when = parse_time(text, "MedicationAdministration.effective[x]", out) if text else None
    if patient is None or when is None:
        return out
    codes = valid_codes(medication_codes(ctx.tables, _codings(concept)), out)
    displays = [c.get("display") for c in concept.get("coding", [])]
    drug = next(
        (t for t in [concept.get("text"), *displays] if isinstance(t, str) and t.strip()), None
    )
    dosage = r.get("dosage") or {}
    dose = dosage.get("dose") or {}
    route_concept = dosage.get("route")
    route = None
    if route_concept:
        spellings = [c for _, c in _codings(route_concept)]
        spellings += [c.get("display") for c in route_concept.get("coding", [])]
        route = ctx.tables.route([*spellings, route_concept.get("text")]) or "other"
    raw: dict[str, Any] = {
        "event_id": event_id("fhir", _identity(r, "MedicationAdministration", full_url)),
        "patient_id": patient,
        "kind": "medication",
        "time": when,
        "drug": drug.strip()[:200] if drug else None,
        "codes": codes or None,
        "action": "administered",
        "dose": dose.get("value"),
        "dose_unit": (dose.get("code") or dose.get("unit"))
        if dose.get("value") is not None
        else None,
        "route": route,
        "source": "FHIR MedicationAdministration",
    }
    if (ev := build_event(raw, "MedicationAdministration", out)) is not None:
        out.events.append(ev)
    return out


def _ingredients(med: Json) -> dict[str, Any]:
    """A Medication without a code: its ingredients' codings as one concept."""
    coding = [
        c
        for ing in med.get("ingredient", [])
        for c in (ing.get("itemCodeableConcept") or {}).get("coding", [])
    ]
    return {"coding": coding}


def convert_resource(
    r: Json, ctx: FhirContext, resolver: Resolver, full_url: str | None = None
) -> Conversion:
    """Events of one validated resource; other resource types are skipped and counted."""
    rtype = r.get("resourceType")
    if rtype == "Observation":
        return convert_observation(r, ctx, resolver, full_url)
    if rtype == "MedicationAdministration":
        return convert_administration(r, ctx, resolver, full_url)
    out = Conversion()
    out.skipped["other_resource"] += 1
    return out
