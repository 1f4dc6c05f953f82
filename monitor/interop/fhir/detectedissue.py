"""An alert (its latest transition) as a FHIR R4 DetectedIssue: pure, no I/O.

- ``severity``: high -> high, medium -> moderate, low -> low (IEC 60601-1-8 priorities);
  ``status``: preliminary while the alert fires (it may still change), final once resolved.
- ``code``: ICD-10 G21.0 (malignant neuroleptic syndrome), with the criteria named in text.
- ``evidence``: one per criterion met, its ``detail`` referencing the observations and
  administrations behind it by identifier (system ``urn:nms-monitor:event-id``, value the
  contract ``event_id``, which for HL7 and FHIR input is derived from the message or resource);
  an hourly mean of vital signs has no single source and is referenced by its description.
- ``mitigation``: an acknowledgement, a snooze or a clinician's resolve, with who and when.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from monitor.contracts.alerts import Alert

ALERT_SYSTEM = "urn:nms-monitor:alert-id"
EVENT_SYSTEM = "urn:nms-monitor:event-id"
PATIENT_SYSTEM = "urn:nms-monitor:patient-id"
CRITERION_SYSTEM = "urn:nms-monitor:criterion"
SEVERITY = {"high": "high", "medium": "moderate", "low": "low"}
_FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")


def resource_id(alert_id: str) -> str:
    """The alert id when it is a valid FHIR id, else a stable hash of it."""
    if _FHIR_ID.fullmatch(alert_id):
        return alert_id
    return "nms-" + hashlib.sha256(alert_id.encode()).hexdigest()[:40]


def _evidence(alert: Alert) -> list[dict[str, Any]]:
    out = []
    for c in alert.criteria:
        if not c.met:
            continue
        kind = "MedicationAdministration" if c.name == "exposure" else "Observation"
        details = []
        for ev in c.evidence:
            value = "" if ev.value is None else f" {ev.value}"
            unit = f" {ev.unit}" if ev.unit else ""
            display = f"{ev.code}{value}{unit} at {ev.time.isoformat()}"
            if ev.note:
                display += f" ({ev.note})"
            ref: dict[str, Any] = {"type": kind, "display": display[:1000]}
            if ev.event_id:
                ref["identifier"] = {"system": EVENT_SYSTEM, "value": ev.event_id}
            details.append(ref)
        entry: dict[str, Any] = {
            "code": [
                {
                    "coding": [{"system": CRITERION_SYSTEM, "code": c.name}],
                    "text": f"{c.name.replace('_', ' ')} ({c.points} points): {c.detail}"[:1000],
                }
            ]
        }
        if details:
            entry["detail"] = details
        out.append(entry)
    return out


def _mitigation(alert: Alert) -> list[dict[str, Any]]:
    items: list[tuple[str, str | None]] = []
    if alert.acknowledged_by:
        items.append(("acknowledged", alert.acknowledged_by))
    if alert.snoozed_until is not None:
        items.append((f"snoozed until {alert.snoozed_until.isoformat()}", alert.acknowledged_by))
    if alert.transition == "resolved" and alert.reason:
        items.append((f"resolved: {alert.reason}", None))
    out = []
    for action, by in items:
        m: dict[str, Any] = {"action": {"text": action}, "date": alert.time.isoformat()}
        if by:
            m["author"] = {"display": by}
        out.append(m)
    return out


def detected_issue(alert: Alert, patient_system: str | None = None) -> dict[str, Any]:
    met = [c.name.replace("_", " ") for c in alert.criteria if c.met]
    detail = (
        f"Neuroleptic malignant syndrome suspected: IEC score {alert.score}/100 (cutoff "
        f"{alert.cutoff}; at most {alert.max_computable_score} computable from streams), "
        f"priority {alert.priority}, last transition {alert.transition} at "
        f"{alert.time.isoformat()}. Criteria met: {', '.join(met) or 'none'}."
    )
    if alert.differential:
        detail += " Consider: " + "; ".join(
            f"{d.condition} ({d.reason})" for d in alert.differential
        )
    if alert.recommendations:
        detail += " Recommended: " + " ".join(alert.recommendations)
    resource: dict[str, Any] = {
        "resourceType": "DetectedIssue",
        "id": resource_id(alert.alert_id),
        "identifier": [{"system": ALERT_SYSTEM, "value": alert.alert_id}],
        "status": "final" if alert.status == "resolved" else "preliminary",
        "code": {
            "coding": [
                {
                    "system": "http://hl7.org/fhir/sid/icd-10",
                    "code": "G21.0",
                    "display": "Malignant neuroleptic syndrome",
                }
            ],
            "text": "Neuroleptic malignant syndrome (International Expert Consensus criteria)",
        },
        "severity": SEVERITY[alert.priority],
        "patient": {
            "identifier": {"system": patient_system or PATIENT_SYSTEM, "value": alert.patient_id}
        },
        "identifiedDateTime": alert.opened_at.isoformat(),
        "author": {"display": "nms-monitor"},
        "detail": detail,
    }
    implicated = [
        {
            "type": "MedicationAdministration",
            "display": f"{d.drug} ({d.route or 'route unknown'}), last dose "
            f"{d.last_dose_time.isoformat()}",
        }
        for d in alert.exposure.drugs
    ]
    if implicated:
        resource["implicated"] = implicated
    if evidence := _evidence(alert):
        resource["evidence"] = evidence
    if mitigation := _mitigation(alert):
        resource["mitigation"] = mitigation
    return resource
