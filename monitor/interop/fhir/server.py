"""The FHIR HTTP server (Starlette): ingest in, DetectedIssue out. Built by :func:`create_app`
from injected parts (sink, alert store, metrics), so tests swap any of them.

- ``POST /fhir/Bundle``, ``/fhir/Observation``, ``/fhir/MedicationAdministration``: validated,
  converted and published; answered only after the broker acknowledged the events (200 with an
  OperationOutcome, or a batch-response Bundle); refused with an OperationOutcome and a 4xx
  (400 invalid, 401 no or wrong token, 413 too large, 415 not JSON, 422 unusable), 503 when the
  broker did not acknowledge.
- ``GET /fhir/DetectedIssue?patient=ID``: the current alerts of that patient; without a patient
  parameter a 400 (nothing is served about patients unless asked for one).
- ``GET /fhir/metadata`` (CapabilityStatement), ``GET /health`` and ``GET /metrics`` (no patient
  data; not behind the token).
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Lifespan

from monitor.interop.fhir.alerts import AlertStore
from monitor.interop.fhir.convert import FhirContext
from monitor.interop.fhir.detectedissue import detected_issue
from monitor.interop.fhir.ingest import ingest
from monitor.interop.fhir.outcome import Issue, operation_outcome
from monitor.interop.fhir.validate import FhirInputError, parse_json
from monitor.interop.metrics import InteropMetrics
from monitor.interop.publish import PublishError, Sink

log = logging.getLogger(__name__)
FHIR_JSON = "application/fhir+json"
ADAPTER = "fhir"
JSON_TYPES = ("application/fhir+json", "application/json", "application/json+fhir")


def fhir_response(body: dict[str, Any], status: int = 200, **headers: str) -> Response:
    return Response(orjson.dumps(body), status, headers=headers, media_type=FHIR_JSON)


def refusal(status: int, issues: list[Issue], **headers: str) -> Response:
    return fhir_response(operation_outcome(issues), status, **headers)


def create_app(
    *,
    ctx: FhirContext,
    sink: Sink,
    store: AlertStore,
    metrics: InteropMetrics,
    token: SecretStr | None,
    max_body_bytes: int,
    publish_timeout_s: float,
    health: Callable[[], dict[str, Any]] = dict,
    lifespan: Lifespan[Starlette] | None = None,
) -> Starlette:
    expected = f"Bearer {token.get_secret_value()}".encode() if token is not None else None

    def authorised(request: Request) -> bool:
        if expected is None:
            return True
        given = request.headers.get("authorization", "").encode()
        return hmac.compare_digest(given, expected)

    def guarded(
        route: str, handler: Callable[[Request], Awaitable[Response]]
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            if not authorised(request):
                issue = Issue("error", "unauthorized", "a valid bearer token is required")
                response = refusal(401, [issue], **{"WWW-Authenticate": "Bearer"})
            else:
                response = await handler(request)
            metrics.requests.labels(route, str(response.status_code)).inc()
            return response

        return endpoint

    async def read_body(request: Request) -> bytes:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_body_bytes:
            raise FhirInputError(413, [Issue("error", "too_large", _too_large(max_body_bytes))])
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > max_body_bytes:
                raise FhirInputError(413, [Issue("error", "too_large", _too_large(max_body_bytes))])
        return bytes(body)

    def post(resource_type: str) -> Callable[[Request], Awaitable[Response]]:
        async def handler(request: Request) -> Response:
            try:
                media = request.headers.get("content-type", "").split(";")[0].strip().lower()
                if media not in JSON_TYPES:
                    text = f"content type {media or 'none'!r}: send {FHIR_JSON}"
                    raise FhirInputError(415, [Issue("error", "not_supported", text)])
                data = parse_json(await read_body(request))
                # Validating a large Bundle takes a while: off the event loop.
                result = await run_in_threadpool(ingest, data, ctx, resource_type)
            except FhirInputError as exc:
                metrics.messages.labels(ADAPTER, "refused").inc()
                return refusal(exc.status, exc.issues)
            metrics.count_skipped(ADAPTER, result.skipped)
            try:
                await sink.publish(result.events, publish_timeout_s)
            except PublishError as exc:
                log.warning("fhir request not acknowledged by the broker: %s", exc)
                metrics.messages.labels(ADAPTER, "failed").inc()
                issue = Issue("error", "unavailable", f"{exc}; nothing is promised: send it again")
                return refusal(503, [issue], **{"Retry-After": "5"})
            metrics.messages.labels(ADAPTER, "accepted").inc()
            for ev in result.events:
                metrics.events.labels(ADAPTER, ev.kind).inc()
            return fhir_response(result.response())

        return handler

    async def detected_issues(request: Request) -> Response:
        patient = request.query_params.get("patient", "").strip()
        if not patient:
            text = (
                "the patient parameter is required (nothing is served about patients unless asked)"
            )
            return refusal(400, [Issue("error", "missing_field", text, "patient")])
        if "|" in patient:  # a token: system|value
            system, _, patient = patient.partition("|")
            if system and ctx.patient_system and system != ctx.patient_system:
                patient = ""
        patient = patient.removeprefix("Patient/")
        alerts = store.for_patient(patient) if patient else []
        base = str(request.base_url).rstrip("/") + "/fhir"
        bundle = {
            "resourceType": "Bundle",
            "type": "searchset",
            "total": len(alerts),
            "entry": [
                {
                    "fullUrl": f"{base}/DetectedIssue/{issue['id']}",
                    "resource": issue,
                    "search": {"mode": "match"},
                }
                for issue in (detected_issue(a, ctx.patient_system) for a in alerts)
            ],
        }
        if not alerts:
            bundle.pop("entry")
        return fhir_response(bundle)

    async def metadata(request: Request) -> Response:
        return fhir_response(capability_statement())

    async def health_page(request: Request) -> Response:
        status = health()
        ok = all(v is not False for v in status.values())
        return Response(orjson.dumps({"ok": ok, **status}), 200 if ok else 503)

    async def metrics_page(request: Request) -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    async def not_found(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        text = {404: "no such endpoint", 405: "method not allowed here"}.get(status, "error")
        reason = "not_found" if status == 404 else "not_supported"
        return refusal(
            status, [Issue("error", reason, f"{request.method} {request.url.path}: {text}")]
        )

    routes = [
        Route(f"/fhir/{t}", guarded(t, post(t)), methods=["POST"])
        for t in ("Bundle", "Observation", "MedicationAdministration")
    ]
    routes += [
        Route("/fhir/DetectedIssue", guarded("DetectedIssue", detected_issues), methods=["GET"]),
        Route("/fhir/metadata", metadata, methods=["GET"]),
        Route("/health", health_page, methods=["GET"]),
        Route("/metrics", metrics_page, methods=["GET"]),
    ]
    return Starlette(
        routes=routes,
        exception_handlers={404: not_found, 405: not_found},
        lifespan=lifespan,
    )


def _too_large(limit: int) -> str:
    return f"the body exceeds the limit of {limit} bytes"


def capability_statement() -> dict[str, Any]:
    """What this server does, as FHIR clients ask it (GET /fhir/metadata)."""
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-03-01",
        "kind": "instance",
        "software": {"name": "nms-monitor"},
        "implementation": {"description": "nms-monitor FHIR ingest and DetectedIssue"},
        "fhirVersion": "4.0.1",
        "format": [FHIR_JSON],
        "rest": [
            {
                "mode": "server",
                "resource": [
                    {"type": "Observation", "interaction": [{"code": "create"}]},
                    {"type": "MedicationAdministration", "interaction": [{"code": "create"}]},
                    {
                        "type": "DetectedIssue",
                        "interaction": [{"code": "search-type"}],
                        "searchParam": [{"name": "patient", "type": "reference"}],
                    },
                ],
                "interaction": [{"code": "batch"}, {"code": "transaction"}],
            }
        ],
    }
