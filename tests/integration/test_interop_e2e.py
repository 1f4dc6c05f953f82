"""The adapters end to end on the embedded broker with a real worker: an NMS story sent as HL7 v2
over a real MLLP connection ends as alerts on nms.alerts; with the broker gone, no AA.

The same story as FHIR R4 resources through fhir-listen ends as a DetectedIssue, and
import-fhir publishes files. One broker and one worker serve the tests of this module that need
them (each test uses its own patients), so the suite stays fast on two cores.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx2
import orjson
import pytest
from fhir.resources.R4B import get_fhir_model_class

from monitor.contracts.events import EVENT_ADAPTER, Event, LabEvent, MedicationEvent, VitalEvent
from monitor.interop.codes import load_tables
from monitor.interop.hl7.convert import Hl7Context, convert_message
from monitor.interop.hl7.message import Message
from monitor.stream.broker import EmbeddedBroker
from monitor.stream.kafka_io import ensure_topics
from monitor.stream.settings import KafkaSettings
from tests.integration.harness import ROOT, TopicReader, WorkerProcess, replay_alerts, wait_for
from tests.integration.listeners import ListenerProcess, MllpClient, ack_code
from tests.interop.paths import FHIR_FIXTURES, STORY


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[EmbeddedBroker, Path]]:
    """One embedded broker with the topics and one worker, for the whole module."""
    tmp = tmp_path_factory.mktemp("interop")
    with EmbeddedBroker() as broker:
        ensure_topics(KafkaSettings(bootstrap=broker.bootstrap))
        worker = WorkerProcess(broker.bootstrap, tmp, "w1").start()
        try:
            yield broker, tmp
        finally:
            worker.stop()


def story_events(tmp: Path) -> Path:
    """The story's events as the listener converts them, for ``replay``."""
    ctx = Hl7Context(load_tables(), ZoneInfo("UTC"))
    path = tmp / "story.ndjson"
    with path.open("wb") as fh:
        for msg in STORY:
            for ev in convert_message(Message.from_bytes(msg.read_bytes()), ctx).events:
                fh.write(EVENT_ADAPTER.dump_json(ev, exclude_none=True) + b"\n")
    return path


def test_nms_story_over_mllp_is_acknowledged_and_alerts(stack: tuple[EmbeddedBroker, Path]) -> None:
    broker, tmp = stack
    expected = replay_alerts(story_events(tmp))
    assert [(a["transition"], a["priority"]) for a in expected][:2] == [
        ("opened", "low"),
        ("escalated", "medium"),
    ]  # what the story is: exposure, fever, lability, hypermetabolism, then CK
    listener = ListenerProcess("hl7-listen", broker.bootstrap, tmp).start()
    alerts = TopicReader(broker.bootstrap, "nms.alerts")
    try:
        client = MllpClient(listener.port)
        try:
            # As an interface engine sends: CR between segments, one message at a time.
            codes = [ack_code(client.send(m.read_bytes().replace(b"\r\n", b"\r"))) for m in STORY]
        finally:
            client.close()
        assert codes == ["AA"] * len(STORY), listener.log()[-3000:]

        def story_alerts() -> list[dict[str, Any]]:
            return [a for a in alerts.fresh_values() if a["patient_id"] == "STORY-1"]

        # The worker reads each kind from its own topic, so its batches interleave the kinds
        # differently from replay's event-time order, and vital signs re-evaluate at most every
        # 5 minutes of event time: the transitions may differ in timing, not in what is reached.
        wait_for(
            lambda: any(a["priority"] == "medium" for a in story_alerts()), 90, "a medium alert"
        )
        got = story_alerts()
        assert {a["priority"] for a in got} == {a["priority"] for a in expected}
        medium = next(a for a in got if a["priority"] == "medium")
        met = {c["name"] for c in medium["criteria"] if c["met"]}
        assert {"exposure", "hyperthermia"} <= met
        assert medium["location"] == "ICU-2 14 1 TESTHOSP"
        [drug] = medium["exposure"]["drugs"]
        assert (drug["drug"], drug["route"]) == ("haloperidol", "im")
        assert "STORY-1" not in "\n".join(
            line for line in listener.log().splitlines() if "[INFO]" in line
        )
    finally:
        alerts.close()
        assert listener.stop() == 0


def test_with_the_broker_down_no_message_is_accepted(tmp_path: Path) -> None:
    broker = EmbeddedBroker().start()
    listener = None
    try:
        ensure_topics(KafkaSettings(bootstrap=broker.bootstrap))
        listener = ListenerProcess(
            "hl7-listen", broker.bootstrap, tmp_path, NMS_HL7_PUBLISH_TIMEOUT_S="3"
        ).start()
        client = MllpClient(listener.port)
        try:
            assert ack_code(client.send(STORY[0].read_bytes())) == "AA"
            broker.stop()
            answers = [client.send(m.read_bytes()) for m in STORY[1:3]]
        finally:
            client.close()
        assert [ack_code(a) for a in answers] == ["AR", "AR"], listener.log()[-3000:]
        assert all(b"did not acknowledge" in a or b"failed" in a for a in answers if a)
    finally:
        if listener is not None:
            listener.stop()
        broker.stop()


LOINC = {
    "temperature": "8310-5", "heart_rate": "8867-4", "systolic_bp": "8480-6",
    "diastolic_bp": "8462-4", "mean_bp": "8478-0", "respiratory_rate": "9279-1",
    "spo2": "59408-5", "ck": "2157-6", "wbc": "6690-2", "creatinine": "2160-0",
}  # fmt: skip


def as_fhir(event: Event, patient: str) -> dict[str, Any] | None:
    """The story's events written as FHIR R4 resources (what an EHR's FHIR feed would send)."""
    subject = {"reference": f"Patient/{patient}"}
    ident = [{"system": "urn:example:story", "value": event.event_id}]
    if isinstance(event, VitalEvent | LabEvent):
        quantity = {"value": event.value, "system": "http://unitsofmeasure.org", "code": event.unit}
        obs: dict[str, Any] = {
            "resourceType": "Observation", "identifier": ident, "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": LOINC[event.code]}]},
            "subject": subject, "effectiveDateTime": event.time.isoformat(),
            "valueQuantity": quantity,
        }  # fmt: skip
        if isinstance(event, LabEvent) and event.reference_high:
            obs["referenceRange"] = [{"high": {**quantity, "value": event.reference_high}}]
        return obs
    if isinstance(event, MedicationEvent):
        codes = [
            {"system": {"atc": "http://www.whocc.no/atc", "rxnorm":
             "http://www.nlm.nih.gov/research/umls/rxnorm"}[c.system], "code": c.code}
            for c in event.codes or []
        ]  # fmt: skip
        return {
            "resourceType": "MedicationAdministration", "identifier": ident,
            "status": "completed", "subject": subject,
            "medicationCodeableConcept": {"coding": codes, "text": event.drug},
            "effectiveDateTime": event.time.isoformat(),
            "dosage": {"route": {"text": "intramuscular"},
                       "dose": {"value": event.dose, "unit": "mg"}},
        }  # fmt: skip
    return None


def test_fhir_story_in_and_detected_issue_out(stack: tuple[EmbeddedBroker, Path]) -> None:
    broker, tmp = stack
    ctx = Hl7Context(load_tables(), ZoneInfo("UTC"))
    events = [
        ev
        for msg in STORY
        for ev in convert_message(Message.from_bytes(msg.read_bytes()), ctx).events
    ]
    resources = [r for ev in events if (r := as_fhir(ev, "FHIR-STORY-1")) is not None]
    bundle = {
        "resourceType": "Bundle", "type": "transaction",
        "entry": [{"resource": r, "request": {"method": "POST", "url": r["resourceType"]}}
                  for r in resources],
    }  # fmt: skip
    token_file = tmp / "fhir-token"
    token_file.write_text("a-long-enough-test-token\n")
    listener = ListenerProcess(
        "fhir-listen", broker.bootstrap, tmp, NMS_FHIR_TOKEN_FILE=str(token_file)
    ).start()
    base = f"http://127.0.0.1:{listener.port}/fhir"
    auth = {"authorization": "Bearer a-long-enough-test-token"}
    try:
        with httpx2.Client(timeout=30) as http:
            assert http.post(f"{base}/Bundle", json=bundle).status_code == 401
            r = http.post(
                f"{base}/Bundle", content=orjson.dumps(bundle),
                headers={**auth, "content-type": "application/fhir+json"},
            )  # fmt: skip
            assert r.status_code == 200, r.text
            assert f"{len(resources)} events published" in r.text

            def issues() -> list[dict[str, Any]]:
                found = http.get(f"{base}/DetectedIssue?patient=FHIR-STORY-1", headers=auth)
                assert found.status_code == 200
                return [e["resource"] for e in found.json().get("entry", [])]

            wait_for(
                lambda: any(i["severity"] == "moderate" for i in issues()), 90, "a DetectedIssue"
            )
            [issue] = issues()
            get_fhir_model_class("DetectedIssue").model_validate(issue)
            refs = {
                d["identifier"]["value"]
                for e in issue["evidence"]
                for d in e.get("detail", [])
                if "identifier" in d
            }
            assert refs and all(ref.startswith("fhir:urn:example:story|") for ref in refs)
        assert "FHIR-STORY-1" not in listener.log()
    finally:
        assert listener.stop() == 0


def test_import_fhir_files_publishes_and_reports_refusals(
    stack: tuple[EmbeddedBroker, Path],
) -> None:
    broker, tmp = stack
    good = {
        "resourceType": "Observation", "status": "final", "subject": {"reference": "Patient/IMP-1"},
        "code": {"coding": [{"system": "http://loinc.org", "code": "2157-6"}]},
        "effectiveDateTime": "2026-03-03T06:00:00+01:00",
        "valueQuantity": {"value": 5400, "system": "http://unitsofmeasure.org", "code": "U/L"},
    }  # fmt: skip
    dated = {**good, "effectiveDateTime": "2026-03-03"}
    ndjson = tmp / "export.ndjson"
    ndjson.write_bytes(b"\n".join(orjson.dumps(r) for r in (good, dated)) + b"\n")
    bundle = FHIR_FIXTURES / "bundle" / "Bundle-101.json"
    out = subprocess.run(
        [sys.executable, "-m", "monitor.cli.main", "import-fhir", "--bootstrap",
         broker.bootstrap, str(ndjson), str(bundle)],
        capture_output=True, text=True, timeout=120, check=False, cwd=ROOT,
    )  # fmt: skip
    assert out.returncode == 1, out.stderr
    assert f"{ndjson}:2: Observation.effective[x]: invalid_field: 2026-03-03 is not a time" in (
        out.stderr
    )
    assert "import-fhir: 2 events published, 1 resources refused" in out.stderr
    labs = TopicReader(broker.bootstrap, "nms.labs")
    try:

        def imported() -> list[dict[str, Any]]:
            return [v for v in labs.fresh_values() if v["patient_id"] in ("IMP-1", "pat2")]

        wait_for(lambda: len(imported()) == 2, 30, "the imported labs")
        assert sorted((v["patient_id"], v["code"], v["value"]) for v in imported()) == [
            ("IMP-1", "ck", 5400.0),
            ("pat2", "wbc", 4.6),
        ]
    finally:
        labs.close()
