"""Hospital interoperability: HL7 v2 over MLLP and FHIR R4 in, FHIR DetectedIssue out.

Adapters parse, transports move bytes: ``hl7/`` (MLLP framing, parsing, conversion, ACKs, the
listener) and ``fhir/`` (validation, conversion, the HTTP server, DetectedIssue); the code tables
are data (``data/codes.toml``) that a site extends without code.
"""
