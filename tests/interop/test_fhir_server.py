"""The FHIR HTTP server in-process (Starlette's test client), with an in-memory sink and alert
store; every answer is checked against the R4 models of fhir.resources."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from fhir.resources.R4B import get_fhir_model_class
from prometheus_client import CollectorRegistry
from pydantic import SecretStr
from starlette.testclient import TestClient

from monitor.contracts.alerts import Alert
from monitor.interop.codes import load_tables
from monitor.interop.fhir.alerts import AlertStore
from monitor.interop.fhir.convert import FhirContext
from monitor.interop.fhir.server import create_app
from monitor.interop.metrics import InteropMetrics
from tests.integration.harness import WARD, replay_alerts
from tests.interop.fakes import FakeSink
from tests.interop.paths import FHIR_FIXTURES
from tests.interop.test_fhir_convert import haloperidol, timed

FHIR = {"content-type": "application/fhir+json"}
TOKEN = "s3cret-token-for-tests-only"


@pytest.fixture(scope="module")
def ward_alerts() -> list[Alert]:
    return [Alert.model_validate(a) for a in replay_alerts(WARD)]


class Server:
    def __init__(self, token: str | None = None, max_body_bytes: int = 1024 * 1024) -> None:
        self.sink = FakeSink()
        self.store = AlertStore()
        self.metrics = InteropMetrics(CollectorRegistry())
        app = create_app(
            ctx=FhirContext(load_tables()),
            sink=self.sink,
            store=self.store,
            metrics=self.metrics,
            token=SecretStr(token) if token else None,
            max_body_bytes=max_body_bytes,
            publish_timeout_s=1.0,
        )
        self.client = TestClient(app, base_url="http://127.0.0.1:8080")

    def post(self, path: str, body: Any, **headers: str) -> Any:
        content = body if isinstance(body, bytes) else orjson.dumps(body)
        return self.client.post(path, content=content, headers={**FHIR, **headers})


@pytest.fixture
def server() -> Iterator[Server]:
    s = Server()
    with s.client:
        yield s


def fhir_valid(body: dict[str, Any]) -> dict[str, Any]:
    """The body, after checking it is a valid R4 resource of its type."""
    get_fhir_model_class(body["resourceType"]).model_validate(body)
    return body


def outcome_text(response: Any) -> str:
    body = fhir_valid(response.json())
    assert body["resourceType"] == "OperationOutcome"
    return " | ".join(i["diagnostics"] for i in body["issue"])


def fixture_bytes(name: str) -> bytes:
    return (FHIR_FIXTURES / name).read_bytes()


def test_an_observation_is_published_and_acknowledged(server: Server) -> None:
    r = server.post("/fhir/Observation", fixture_bytes("observation/observation-satO2-fiO2.json"))
    assert r.status_code == 200 and r.headers["content-type"] == "application/fhir+json"
    assert "1 events published (vital 1)" in outcome_text(r)
    assert [e.code for e in server.sink.events] == ["spo2"]


@pytest.mark.parametrize(
    ("name", "status", "text"),
    [
        ("observation/Observation-heart-rate.json", 422, "1999-07-02 is not a time to the minute"),
        ("observation/Observation-f202.json", 200, "skipped: cancelled 1"),
        ("observation/Observation-f204.json", 200, "skipped: unknown_code 1"),
        ("observation/Observation-vitals-panel.json", 200, "0 events published"),
    ],
)
def test_specification_examples_are_answered_with_an_operation_outcome(
    server: Server, name: str, status: int, text: str
) -> None:
    r = server.post("/fhir/Observation", fixture_bytes(name))
    assert r.status_code == status
    assert text in outcome_text(r)
    assert not server.sink.events


def test_bundles_collection_and_transaction(server: Server) -> None:
    r = server.post("/fhir/Bundle", fixture_bytes("bundle/Bundle-101.json"))
    assert r.status_code == 200 and "1 events published (lab 1)" in outcome_text(r)
    r = server.post("/fhir/Bundle", fixture_bytes("bundle/Bundle-bundle-transaction.json"))
    assert r.status_code == 200 and "other_resource 6" in outcome_text(r)
    assert [e.code for e in server.sink.events] == ["wbc"]


def test_a_batch_answers_per_entry_and_publishes_the_good_ones(server: Server) -> None:
    good = {
        "resource": haloperidol(),
        "request": {"method": "POST", "url": "MedicationAdministration"},
    }
    dated = {
        "resource": json.loads(fixture_bytes("observation/Observation-heart-rate.json")),
        "request": {"method": "POST", "url": "Observation"},
    }
    broken = {
        "resource": {**haloperidol(id="mar-2"), "status": 7},
        "request": {"method": "POST", "url": "MedicationAdministration"},
    }
    r = server.post(
        "/fhir/Bundle", {"resourceType": "Bundle", "type": "batch", "entry": [good, dated, broken]}
    )
    assert r.status_code == 200
    body = fhir_valid(r.json())
    assert body["type"] == "batch-response"
    assert [e["response"]["status"] for e in body["entry"]] == ["200 OK", "422 Error", "400 Error"]
    issue = body["entry"][1]["response"]["outcome"]["issue"][0]
    assert issue["expression"] == ["Bundle.entry[1].resource.effective[x]"]
    assert [e.kind for e in server.sink.events] == ["medication"]


def test_a_transaction_with_one_bad_entry_publishes_nothing(server: Server) -> None:
    entries = [
        {
            "resource": haloperidol(),
            "request": {"method": "POST", "url": "MedicationAdministration"},
        },
        {
            "resource": timed("observation/Observation-heart-rate.json", "2026-03-03T04:00:00"),
            "request": {"method": "POST", "url": "Observation"},
        },
    ]
    r = server.post(
        "/fhir/Bundle", {"resourceType": "Bundle", "type": "transaction", "entry": entries}
    )
    assert r.status_code == 400
    assert "entry 1:" in outcome_text(r)
    assert not server.sink.events


BAD_REQUESTS: list[tuple[str, bytes, dict[str, str], int, str]] = [
    ("/fhir/Observation", b"{not json", {}, 400, "not JSON"),
    ("/fhir/Observation", b"[]", {}, 400, "not a JSON object"),
    (
        "/fhir/Bundle",
        b'{"resourceType": "Observation"}',
        {},
        400,
        "cannot be posted to /fhir/Bundle",
    ),
    ("/fhir/Observation", b'{"resourceType": "Nonsense"}', {}, 400, "a Nonsense cannot be"),
    ("/fhir/Observation", b"{}", {"content-type": "text/plain"}, 415, "type 'text/plain'"),
    ("/fhir/Patient", b"{}", {}, 404, "no such endpoint"),
    ("/fhir/Bundle", b'{"resourceType": "Bundle", "type": "searchset"}', {}, 422, "searchset"),
]


@pytest.mark.parametrize(("path", "body", "headers", "status", "text"), BAD_REQUESTS)
def test_bad_requests_get_an_operation_outcome_and_a_4xx(
    server: Server, path: str, body: bytes, headers: dict[str, str], status: int, text: str
) -> None:
    r = server.post(path, body, **headers)
    assert r.status_code == status
    assert text in outcome_text(r)


def test_a_body_over_the_limit_is_refused() -> None:
    s = Server(max_body_bytes=2048)
    with s.client:
        r = s.post("/fhir/Bundle", fixture_bytes("bundle/Bundle-101.json"))
    assert r.status_code == 413 and "exceeds the limit of 2048 bytes" in outcome_text(r)


def test_a_get_on_an_ingest_route_is_not_allowed(server: Server) -> None:
    r = server.client.get("/fhir/Observation")
    assert r.status_code == 405 and "method not allowed" in outcome_text(r)


def test_broker_failure_is_a_503_and_nothing_is_promised(server: Server) -> None:
    server.sink.fail = True
    r = server.post("/fhir/MedicationAdministration", haloperidol())
    assert r.status_code == 503 and "send it again" in outcome_text(r)
    assert r.headers["retry-after"] == "5"


def test_a_configured_token_is_required_everywhere_under_fhir(ward_alerts: list[Alert]) -> None:
    s = Server(token=TOKEN)
    with s.client:
        for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": TOKEN}):
            r = s.post("/fhir/MedicationAdministration", haloperidol(), **headers)
            assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
            r = s.client.get("/fhir/DetectedIssue?patient=demo-nms-1", headers=headers)
            assert r.status_code == 401
        ok = {"authorization": f"Bearer {TOKEN}"}
        assert s.post("/fhir/MedicationAdministration", haloperidol(), **ok).status_code == 200
        assert s.client.get("/fhir/DetectedIssue?patient=x", headers=ok).status_code == 200
        assert s.client.get("/metrics").status_code == 200  # no patient data: not guarded
        text = s.client.get("/metrics").text
    assert 'nms_fhir_requests_total{route="MedicationAdministration",status="401"} 3.0' in text


def test_detected_issues_of_a_patient_are_its_current_alerts(
    server: Server, ward_alerts: list[Alert]
) -> None:
    for alert in ward_alerts:
        server.store.apply(alert)
    latest = ward_alerts[-1]
    r = server.client.get("/fhir/DetectedIssue", params={"patient": "Patient/demo-nms-1"})
    assert r.status_code == 200
    bundle = fhir_valid(r.json())
    assert (bundle["type"], bundle["total"]) == ("searchset", 1)
    [entry] = bundle["entry"]
    issue = fhir_valid(entry["resource"])
    assert entry["fullUrl"] == f"http://127.0.0.1:8080/fhir/DetectedIssue/{latest.alert_id}"
    assert issue["identifier"] == [{"system": "urn:nms-monitor:alert-id", "value": latest.alert_id}]
    assert (
        issue["severity"] == {"high": "high", "medium": "moderate", "low": "low"}[latest.priority]
    )
    assert issue["patient"]["identifier"]["value"] == "demo-nms-1"
    assert issue["status"] == ("final" if latest.status == "resolved" else "preliminary")
    met = [c for c in latest.criteria if c.met]
    assert [e["code"][0]["coding"][0]["code"] for e in issue["evidence"]] == [c.name for c in met]
    referenced = {
        d["identifier"]["value"]
        for e in issue["evidence"]
        for d in e.get("detail", [])
        if "identifier" in d
    }
    expected = {ev.event_id for c in met for ev in c.evidence if ev.event_id}
    assert referenced == expected and any(i.startswith("demo-nms-1-") for i in referenced)
    assert "mitigation" not in issue
    # Only when asked, only that patient.
    assert server.client.get("/fhir/DetectedIssue?patient=demo-quiet-1").json()["total"] == 0
    r = server.client.get("/fhir/DetectedIssue")
    assert r.status_code == 400 and "patient parameter is required" in outcome_text(r)


def test_an_acknowledged_alert_has_a_mitigation_and_older_transitions_never_win(
    server: Server, ward_alerts: list[Alert]
) -> None:
    latest = ward_alerts[-1]
    acked = latest.model_copy(
        update={
            "sequence": latest.sequence + 1,
            "transition": "acknowledged",
            "acknowledged_by": "nurse-7",
        }
    )
    for alert in [acked, *ward_alerts]:  # redelivered older transitions after the newest
        server.store.apply(alert)
    [entry] = server.client.get("/fhir/DetectedIssue?patient=demo-nms-1").json()["entry"]
    issue = fhir_valid(entry["resource"])
    assert issue["mitigation"] == [
        {
            "action": {"text": "acknowledged"},
            "date": latest.time.isoformat(),
            "author": {"display": "nurse-7"},
        }
    ]


def test_capability_statement_and_the_specification_detected_issues_validate(
    server: Server,
) -> None:
    assert fhir_valid(server.client.get("/fhir/metadata").json())["fhirVersion"] == "4.0.1"
    for name in ("DetectedIssue-ddi.json", "DetectedIssue-lab.json"):
        fhir_valid(json.loads(fixture_bytes(f"detectedissue/{name}")))
