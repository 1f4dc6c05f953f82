"""FHIR OperationOutcome resources: how every refusal and every acceptance is explained.

An issue has a severity (fatal, error, warning, information), a code from the FHIR issue-type
value set (invalid, structure, required, value, not-supported, not-found, security, too-costly,
processing, exception, informational), a readable ``diagnostics`` and, where known, the FHIRPath
``expression`` of the element at fault.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from monitor.interop.events import Problem

Severity = Literal["fatal", "error", "warning", "information"]

# Our stable reasons -> FHIR issue type codes.
ISSUE_TYPES: dict[str, str] = {
    "invalid_json": "structure",
    "structure": "structure",
    "invalid_field": "value",
    "naive_timestamp": "value",
    "missing_field": "required",
    "unknown_unit": "code-invalid",
    "not_supported": "not-supported",
    "not_found": "not-found",
    "too_large": "too-costly",
    "unauthorized": "security",
    "unavailable": "transient",
    "conflict": "conflict",
}


@dataclass(frozen=True, slots=True)
class Issue:
    severity: Severity
    reason: str
    diagnostics: str
    expression: str | None = None

    def as_fhir(self) -> dict[str, Any]:
        issue: dict[str, Any] = {
            "severity": self.severity,
            "code": ISSUE_TYPES.get(self.reason, "processing")
            if self.severity in ("fatal", "error")
            else ("informational" if self.severity == "information" else "processing"),
            "diagnostics": self.diagnostics,
        }
        if self.expression:
            issue["expression"] = [self.expression]
        return issue


def from_problems(problems: Iterable[Problem]) -> list[Issue]:
    return [Issue("error", p.reason, p.message, p.where) for p in problems]


def operation_outcome(issues: Iterable[Issue]) -> dict[str, Any]:
    """An OperationOutcome; with no issue, one informational 'all OK' issue (FHIR requires one)."""
    listed = [i.as_fhir() for i in issues] or [
        Issue("information", "informational", "accepted").as_fhir()
    ]
    return {"resourceType": "OperationOutcome", "issue": listed}
