"""Where the interoperability tests find their inputs.

Public sample messages and resources stay in the repository's sibling folder
``../shared/fixtures`` exactly as published (see SOURCES.md there; CI has it); the NMS story
messages written for this project are in ``tests/interop/data``.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = (ROOT / ".." / "shared" / "fixtures").resolve()
HL7_FIXTURES = FIXTURES / "hl7v2"
FHIR_FIXTURES = FIXTURES / "fhir"
DATA = Path(__file__).resolve().parent / "data"
STORY = sorted((DATA / "nms_story").glob("*.hl7"))
