"""Reading and validating FHIR R4 JSON with ``fhir.resources``.

fhir.resources 8 ships the R4B (4.3.0) models, the maintained line whose Observation,
MedicationAdministration, DetectedIssue, Bundle, Patient, Medication and OperationOutcome have the
R4 (4.0.1) structure; every R4 specification example in the tests validates with them.
A structural error is a 400 with one OperationOutcome issue per element at fault.
"""

from __future__ import annotations

from typing import Any

import orjson
from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from monitor.interop.fhir.outcome import Issue

INGESTED = ("Observation", "MedicationAdministration")


class FhirInputError(Exception):
    """Input refused: an HTTP status and the OperationOutcome issues saying why."""

    def __init__(self, status: int, issues: list[Issue]) -> None:
        super().__init__("; ".join(i.diagnostics for i in issues))
        self.status = status
        self.issues = issues


def parse_json(body: bytes, where: str = "") -> dict[str, Any]:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        issue = Issue("error", "invalid_json", f"{where}not JSON: {exc}")
        raise FhirInputError(400, [issue]) from None
    if not isinstance(data, dict):
        raise FhirInputError(400, [Issue("error", "structure", f"{where}not a JSON object")])
    return data


def _path(resource_type: str, loc: tuple[int | str, ...]) -> str:
    out = resource_type
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def validate(data: dict[str, Any], expected: str | None = None, where: str = "") -> str:
    """Validate one resource against its R4 model; returns its resourceType."""
    rtype = data.get("resourceType")
    if not isinstance(rtype, str):
        raise FhirInputError(400, [Issue("error", "missing_field", f"{where}no resourceType")])
    if expected is not None and rtype != expected:
        text = f"{where}a {rtype} cannot be posted to /fhir/{expected}"
        raise FhirInputError(400, [Issue("error", "structure", text, "resourceType")])
    try:
        model = get_fhir_model_class(rtype)
    except KeyError:
        text = f"{where}{rtype} is not a FHIR R4 resource type"
        raise FhirInputError(400, [Issue("error", "not_supported", text, "resourceType")]) from None
    try:
        model.model_validate(data)
    except ValidationError as exc:
        issues = [
            Issue(
                "error",
                "structure",
                f"{where}{err['msg'].removeprefix('Value error, ')}",
                _path(rtype, tuple(err["loc"])),
            )
            for err in exc.errors(include_url=False)
        ]
        raise FhirInputError(400, issues) from None
    return rtype


def validate_bundle_shell(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    """Validate a Bundle without its entries' resources (validated one by one by the caller, so
    that a batch can refuse one entry and keep the others); returns the entries."""
    entries = bundle.get("entry", [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise FhirInputError(400, [Issue("error", "structure", "entry is not a list", "entry")])
    shell = {**bundle, "entry": [{k: v for k, v in e.items() if k != "resource"} for e in entries]}
    if not entries:
        shell.pop("entry")
    validate(shell, "Bundle")
    return entries
