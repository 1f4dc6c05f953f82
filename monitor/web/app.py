"""The dashboard's app factory and routes (Starlette).

``create_app(dashboard)`` builds one ASGI app around a ``Dashboard``: its store, live hub, ack
publisher, authenticator and clock, all injected, so the API tests run it with a fake publisher
and no broker. Routes:

- ``GET /``: the ward view; ``GET /patients/{patient_id}``: one patient's alert history;
- ``GET /events?view=ward|patient&patient=ID&since=V``: server-sent events (``monitor.web.live``);
- ``POST /api/acks``: acknowledge, snooze or resolve (``monitor.web.acks``); 202 once the broker
  has the ack, and the page changes when the worker's transition comes back;
- ``GET /api/alerts``: the open alerts' latest transitions as JSON;
- ``GET /alerts/{alert_id}``: redirects to the alert's patient (the link in pages, which carry
  no patient identifier);
- ``GET /healthz``: the feed's status (no patient data, no authentication);
- ``GET /metrics``: Prometheus metrics (no patient data, no authentication);
- ``/static/``: the style sheet and the script.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import re
import secrets
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import jinja2
import orjson
from markupsafe import Markup
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from monitor.contracts.alerts import Alert
from monitor.web import viewmodel as vm
from monitor.web.acks import MAX_BODY_BYTES, AckPublisher, AckRequest, PublishError, ack_event
from monitor.web.acks import encode as encode_ack
from monitor.web.auth import Authenticator, User
from monitor.web.guards import Guard
from monitor.web.live import Hub, Renderers, stream
from monitor.web.metrics import DashboardMetrics
from monitor.web.settings import WebSettings
from monitor.web.store import AlertStore

HERE = Path(__file__).resolve().parent
# Whitespace between tags on separate template lines: text nodes the browser must style.
_BETWEEN_TAGS = re.compile(r">\s*\n\s*<")
log = logging.getLogger(__name__)


@dataclass
class Dashboard:
    """Everything the routes use; built once by the server (or a test)."""

    web: WebSettings
    store: AlertStore
    publisher: AckPublisher
    auth: Authenticator
    wall: Callable[[], float] = time.time
    epoch: str = field(default_factory=lambda: secrets.token_hex(4))
    on_start: list[Callable[[asyncio.AbstractEventLoop], None]] = field(default_factory=list)
    on_stop: list[Callable[[], None]] = field(default_factory=list)
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.tz = ZoneInfo(self.web.timezone)
        self.metrics = DashboardMetrics(self.registry)
        self.templates = jinja2.Environment(
            loader=jinja2.FileSystemLoader(HERE / "templates"),
            autoescape=True,
            trim_blocks=True,
            lstrip_blocks=True,
            undefined=jinja2.StrictUndefined,
        )
        self._cards: dict[str, tuple[tuple[str, dt.datetime], Markup]] = {}
        self._warming: asyncio.Task[None] | None = None
        self.templates.filters["q"] = lambda s: quote(str(s), safe="")
        self.templates.globals["snooze_choices"] = vm.SNOOZE_CHOICES
        self.hub = Hub(
            self.store,
            Renderers(self._card_message, self._ward_message, self._patient_message),
            self.epoch,
            self.web.client_queue,
        )

    def now(self) -> dt.datetime:
        """The clock of 'time since' and of acks: this machine's, or the stream's."""
        wall = self.wall()
        if self.web.clock == "stream":
            stream_now = self.store.stream_now(wall)
            if stream_now is not None:
                return stream_now
        return dt.datetime.fromtimestamp(wall, dt.UTC)

    def now_ms(self) -> int:
        return int(self.now().timestamp() * 1000)

    def apply(self, batch: list[tuple[Alert, bytes]], wall_s: float) -> None:
        """A batch from the feed (on the event loop thread)."""
        changes = self.store.apply(batch, wall_s)
        self.metrics.transitions.inc(len(batch))
        self.hub.publish(changes)
        if self.hub.status == "live":
            # Render on arrival, so a page load finds every card ready.
            for alert_id in {c.alert_id for c in changes}:
                s = self.store.summary(alert_id)
                if s is not None:
                    self.card_html(s)

    def set_status(self, status: str) -> None:
        """The feed's status (on the event loop thread). Once it has read the history, the open
        alerts' cards are rendered in the background, a few per turn of the loop."""
        was = self.hub.status
        self.hub.set_status(status)
        if status == "live" and was != "live":
            self._warming = asyncio.get_running_loop().create_task(self._warm())

    async def _warm(self) -> None:
        for i, s in enumerate(self.store.open_alerts()):
            if self.store.summary(s.latest.alert_id) is not None:
                self.card_html(s)
            if i % 20 == 19:
                await asyncio.sleep(0)

    def render(self, name: str, **context: Any) -> str:
        return self.templates.get_template(name).render(**context)

    def card_html(self, s: vm.AlertSummary) -> Markup:
        """One alert's card, rendered once per transition and kept while the alert is open.
        Its relative times ('3 h ago') are as of that render; the page refreshes them from the
        ``datetime`` attributes every few seconds and whenever it changes."""
        a = s.latest
        cached = self._cards.get(a.alert_id)
        if cached is not None and cached[0] == (a.transition_id, s.priority_since):
            return cached[1]
        c = vm.card(a, s.priority_since, self.now(), self.tz)
        html = Markup(_BETWEEN_TAGS.sub("><", self.render("card.html", c=c)))
        self._cards[a.alert_id] = ((a.transition_id, s.priority_since), html)
        return html

    def _card_message(self, alert_id: str) -> dict[str, object] | None:
        s = self.store.summary(alert_id)
        if s is None:
            self._cards.pop(alert_id, None)
            return None
        a = s.latest
        html = self.card_html(s)
        return {
            "id": a.alert_id,
            "group": vm.group_of(a),
            "key": vm.sort_key(a, s.priority_since),
            "html": html,
        }

    def ward(self) -> dict[str, object]:
        """The ward view's sections (``viewmodel.ward_order``) with each card's HTML."""
        open_alerts = self.store.open_alerts()
        ids = {s.latest.alert_id for s in open_alerts}
        for stale in [k for k in self._cards if k not in ids]:
            del self._cards[stale]
        sections = [
            {"group": g, "title": vm.GROUP_TITLES[g], "cards": [self.card_html(s) for s in ss]}
            for g, ss in vm.ward_order(open_alerts)
        ]
        return {"sections": sections, "total": len(open_alerts)}

    def _ward_message(self) -> dict[str, object]:
        return {"html": self.render("ward_body.html", ward=self.ward()), "now": self.now_ms()}

    def patient_view(self, patient_id: str) -> vm.PatientView:
        return vm.patient(patient_id, self.store.history(patient_id), self.now(), self.tz)

    def _patient_message(self, patient_id: str) -> dict[str, object]:
        view = self.patient_view(patient_id)
        return {"html": self.render("patient_body.html", p=view), "now": self.now_ms()}


def _user(request: Request) -> User:
    user = request.scope.get("nms_user")
    assert isinstance(user, User), "the Guard middleware authenticates every non-public route"
    return user


def _error(status: int, message: str, **extra: object) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status)


def create_app(d: Dashboard) -> Starlette:
    async def ward_page(request: Request) -> HTMLResponse:
        html = d.render(
            "ward.html",
            ward=d.ward(),
            user=_user(request),
            since=d.hub.event_id(),
            now_ms=d.now_ms(),
            status=d.hub.status,
            ping_ms=int(d.web.ping_interval_s * 1000),
        )
        return HTMLResponse(html)

    async def patient_page(request: Request) -> HTMLResponse:
        patient_id = request.path_params["patient_id"]
        if not d.store.has_patient(patient_id):
            return HTMLResponse(
                d.render("not_found.html", user=_user(request), status=d.hub.status), 404
            )
        html = d.render(
            "patient.html",
            p=d.patient_view(patient_id),
            user=_user(request),
            since=d.hub.event_id(),
            now_ms=d.now_ms(),
            status=d.hub.status,
            ping_ms=int(d.web.ping_interval_s * 1000),
        )
        return HTMLResponse(html)

    async def events(request: Request) -> Response:
        view = request.query_params.get("view", "ward")
        patient = request.query_params.get("patient")
        if view not in ("ward", "patient") or (view == "patient") != (patient is not None):
            return _error(400, "view=ward, or view=patient with patient=ID")
        since = request.headers.get("last-event-id") or request.query_params.get("since")
        sub, first = d.hub.subscribe(patient, since)
        body = stream(d.hub, sub, first, d.web.ping_interval_s, d.now_ms)
        return StreamingResponse(
            body,
            media_type="text/event-stream",
            headers={"x-accel-buffering": "no", "cache-control": "no-store"},
        )

    async def post_ack(request: Request) -> Response:
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype != "application/json":
            return _error(415, "send application/json")
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY_BYTES:
                return _error(413, f"body larger than {MAX_BODY_BYTES} bytes")
        try:
            raw = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return _error(400, "body is not JSON")
        try:
            req = AckRequest.model_validate(raw)
        except ValidationError as exc:
            problems = [
                {"field": ".".join(str(p) for p in e["loc"]) or "body", "problem": e["msg"]}
                for e in exc.errors(include_url=False, include_input=False)
            ]
            return _error(422, "invalid ack", problems=problems)
        patient_id = d.store.patient_of(req.alert_id)
        if patient_id is None:
            d.metrics.acks.labels("refused").inc()
            return _error(404, "no such alert")
        if d.store.summary(req.alert_id) is None:
            d.metrics.acks.labels("refused").inc()
            return _error(409, "the alert is closed")
        event = ack_event(req, patient_id, _user(request).name, d.now())
        try:
            await run_in_threadpool(d.publisher.publish, patient_id.encode(), encode_ack(event))
        except PublishError as exc:
            log.warning("ack not published: %s", exc)
            d.metrics.acks.labels("broker_error").inc()
            return _error(503, "the broker did not take the ack; try again")
        log.info("ack published: %s", req.action)
        d.metrics.acks.labels("sent").inc()
        return JSONResponse({"status": "sent", "event_id": event.event_id}, 202)

    async def open_alerts(request: Request) -> Response:
        rows = [s.latest.model_dump(mode="json") for s in d.store.open_alerts()]
        return Response(orjson.dumps(rows), media_type="application/json")

    async def alert_link(request: Request) -> Response:
        patient_id = d.store.patient_of(request.path_params["alert_id"])
        if patient_id is None:
            return HTMLResponse(
                d.render("not_found.html", user=_user(request), status=d.hub.status), 404
            )
        return RedirectResponse(f"/patients/{quote(patient_id, safe='')}", 303)

    async def metrics(request: Request) -> Response:
        body = d.metrics.exposition(d.store, d.hub.status)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    async def healthz(request: Request) -> JSONResponse:
        alerts, transitions = d.store.counts
        return JSONResponse(
            {"status": "ok", "feed": d.hub.status, "alerts": alerts, "transitions": transitions}
        )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        for start in d.on_start:
            start(loop)
        try:
            yield
        finally:
            d.hub.close()
            for stop in d.on_stop:
                stop()

    routes = [
        Route("/", ward_page),
        Route("/patients/{patient_id:path}", patient_page),
        Route("/events", events),
        Route("/api/acks", post_ack, methods=["POST"]),
        Route("/api/alerts", open_alerts),
        Route("/alerts/{alert_id}", alert_link),
        Route("/healthz", healthz),
        Route("/metrics", metrics),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    middleware = [Middleware(Guard, auth=d.auth, allowed_hosts=d.web.host_list())]
    return Starlette(routes=routes, middleware=middleware, lifespan=lifespan)
