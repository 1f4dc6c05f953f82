"""ASGI middleware in front of every route: host check, authentication, cross-site request
checks, security headers and an access log without patient data.

- **Host** (DNS rebinding): with the loopback user, a page on another site that rebinds its name
  to 127.0.0.1 would otherwise read the ward; only the configured ``Host`` names are served.
- **Authentication**: everything except ``/healthz``, ``/metrics`` and ``/static/`` needs a user
  (``monitor.web.auth``); 401 with a challenge otherwise.
- **Cross-site requests**: a state-changing request carrying ambient credentials (basic auth,
  the loopback user) must come from this origin: ``Sec-Fetch-Site`` same-origin (or none: typed
  by the user) and ``Origin``, when sent, naming this host. The ack endpoint also accepts only
  ``application/json``, which a cross-site form cannot send and a cross-site script cannot send
  without a CORS preflight that this server never grants.
- **Log**: method, route name, status and duration; never the path (it holds patient ids),
  the query, a header or a body.
"""

from __future__ import annotations

import logging
import time
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from monitor.web.auth import Authenticator

PUBLIC = ("/healthz", "/metrics", "/static/")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    # Patient ids are in URLs: never send them to another site.
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        b"connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    ),
]
log = logging.getLogger("monitor.web.access")


def cross_site(method: str, headers: Headers) -> str | None:
    """Why a state-changing request with ambient credentials is refused, or None."""
    if method in SAFE_METHODS:
        return None
    site = headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return f"cross-site request refused (Sec-Fetch-Site: {site})"
    origin = headers.get("origin")
    if origin is not None and urlsplit(origin).netloc != headers.get("host", ""):
        return "cross-site request refused (Origin is not this dashboard)"
    return None


class Guard:
    def __init__(self, app: ASGIApp, auth: Authenticator, allowed_hosts: list[str] | None) -> None:
        self.app = app
        self.auth = auth
        self.allowed = None if allowed_hosts is None else {h.lower() for h in allowed_hosts}

    def _host_ok(self, host: str) -> bool:
        if self.allowed is None:
            return True
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        return name.strip("[]").lower() in self.allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0
        public = scope["path"] in ("/healthz", "/metrics") or scope["path"].startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                extra = list(SECURITY_HEADERS)
                if not public:
                    extra.append((b"cache-control", b"no-store"))
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        headers = Headers(scope=scope)
        response: PlainTextResponse | None = None
        if not self._host_ok(headers.get("host", "")):
            response = PlainTextResponse("unknown host", 400)
        elif not public:
            user = self.auth.authenticate(headers.get("authorization"))
            if user is None:
                challenge = {"www-authenticate": self.auth.challenge} if self.auth.challenge else {}
                response = PlainTextResponse("authentication required", 401, challenge)
            else:
                scope["nms_user"] = user
                refused = cross_site(scope["method"], headers) if user.ambient else None
                if refused:
                    response = PlainTextResponse(refused, 403)
        try:
            if response is not None:
                await response(scope, receive, send_with_headers)
            else:
                await self.app(scope, receive, send_with_headers)
        finally:
            endpoint = scope.get("endpoint")
            name = getattr(endpoint, "__name__", "-")
            ms = (time.perf_counter() - started) * 1000
            log.info("%s %s %d %.1f ms", scope["method"], name, status, ms)
