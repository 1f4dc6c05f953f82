"""FHIR R4: validation, conversion to events, DetectedIssue, the HTTP server and file import."""
