"""One FHIR request (or file) to the events to publish and the answer to give: pure, no I/O.

- A single Observation or MedicationAdministration: validated (400 when it is not valid R4),
  converted (422 when it cannot be used: no time to the minute, an unknown unit of a known code,
  no patient), all or nothing.
- A Bundle of type transaction or collection: every entry validated and converted, all or
  nothing (the error names the entry). A batch: each entry on its own; the answer is a
  batch-response Bundle with a status and an OperationOutcome per entry.
- Resources of other types (Patient, Medication, DiagnosticReport, ...) are used to resolve
  references and otherwise skipped, and entries without a resource (DELETE, GET) are skipped:
  this endpoint ingests observations and administrations; it is not a FHIR store.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from monitor.contracts.events import Event
from monitor.interop.events import Conversion
from monitor.interop.fhir.convert import FhirContext, Resolver, convert_resource
from monitor.interop.fhir.outcome import Issue, from_problems, operation_outcome
from monitor.interop.fhir.validate import (
    INGESTED,
    FhirInputError,
    validate,
    validate_bundle_shell,
)

BUNDLE_TYPES = ("batch", "transaction", "collection")


@dataclass
class EntryResult:
    status: int
    issues: list[Issue] = field(default_factory=list)
    events: int = 0


@dataclass
class Ingest:
    """What to publish, and what to answer once it is published."""

    events: list[Event] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    bundle_type: str | None = None
    entries: list[EntryResult] = field(default_factory=list)

    def summary(self) -> list[Issue]:
        kinds = Counter(e.kind for e in self.events)
        listed = ", ".join(f"{k} {n}" for k, n in sorted(kinds.items()))
        text = f"{len(self.events)} events published" + (f" ({listed})" if listed else "")
        issues = [Issue("information", "informational", text)]
        if self.skipped:
            skipped = ", ".join(f"{k} {n}" for k, n in sorted(self.skipped.items()))
            issues.append(Issue("information", "informational", f"skipped: {skipped}"))
        return issues

    def response(self) -> dict[str, Any]:
        """The body to answer with after publishing: an OperationOutcome, or for a batch a
        batch-response Bundle."""
        if self.bundle_type != "batch":
            return operation_outcome(self.summary())
        return {
            "resourceType": "Bundle",
            "type": "batch-response",
            "entry": [
                {
                    "response": {
                        "status": f"{e.status} {'OK' if e.status < 300 else 'Error'}",
                        "outcome": operation_outcome(
                            e.issues
                            or [Issue("information", "informational", f"{e.events} events")]
                        ),
                    }
                }
                for e in self.entries
            ],
        }


def _in_entry(issues: list[Issue], i: int) -> list[Issue]:
    """Issues of entry ``i``: its number in the text, its place in the expression."""
    prefix = f"Bundle.entry[{i}].resource"
    out = []
    for issue in issues:
        path = issue.expression or ""
        tail = path.split(".", 1)[1] if "." in path else ""
        text = issue.diagnostics
        if not text.startswith("entry "):
            text = f"entry {i}: {text}"
        out.append(
            Issue(issue.severity, issue.reason, text, f"{prefix}.{tail}" if tail else prefix)
        )
    return out


def ingest(data: dict[str, Any], ctx: FhirContext, expected: str | None = None) -> Ingest:
    """Validate and convert one request body; raise :class:`FhirInputError` to refuse it whole."""
    if data.get("resourceType") == "Bundle" and expected in (None, "Bundle"):
        return _bundle(data, ctx)
    rtype = validate(data, expected)
    if rtype not in INGESTED:
        text = f"a {rtype} is not ingested here (Observation, MedicationAdministration, Bundle)"
        raise FhirInputError(422, [Issue("error", "not_supported", text, "resourceType")])
    out = convert_resource(data, ctx, Resolver())
    if out.problems:
        raise FhirInputError(422, from_problems(out.problems))
    return Ingest(out.events, out.skipped)


def _bundle(bundle: dict[str, Any], ctx: FhirContext) -> Ingest:
    entries = validate_bundle_shell(bundle)
    btype = bundle.get("type")
    if btype not in BUNDLE_TYPES:
        text = f"a {btype} Bundle is not ingested here (batch, transaction, collection)"
        raise FhirInputError(422, [Issue("error", "not_supported", text, "Bundle.type")])
    result = Ingest(bundle_type=btype)
    resolver = Resolver.for_entries(entries)
    whole = btype != "batch"
    for i, entry in enumerate(entries):
        resource = entry.get("resource")
        if not isinstance(resource, dict):
            result.skipped["no_resource"] += 1
            note = Issue("information", "informational", "no resource: nothing to ingest")
            result.entries.append(EntryResult(200, [note]))
            continue
        try:
            validate(resource, where=f"entry {i}: ")
        except FhirInputError as exc:
            if whole:
                raise FhirInputError(400, _in_entry(exc.issues, i)) from None
            result.entries.append(EntryResult(400, _in_entry(exc.issues, i)))
            continue
        out: Conversion = convert_resource(resource, ctx, resolver, entry.get("fullUrl"))
        if out.problems:
            issues = _in_entry(from_problems(out.problems), i)
            if whole:
                raise FhirInputError(422, issues)
            result.entries.append(EntryResult(422, issues))
            continue
        result.events.extend(out.events)
        result.skipped.update(out.skipped)
        result.entries.append(EntryResult(200, events=len(out.events)))
    return result
